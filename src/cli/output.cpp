// SPDX-License-Identifier: Apache-2.0
// How the command line reports errors: a line on stderr, styled only for a terminal that wants
// it, and in JSON mode (--json, --stream) also one JSON object on stdout.
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "cli.hpp"

namespace cppflue::cli {

namespace {
std::atomic<bool> g_json_errors{false};
}  // namespace

bool styled(int fd) {
  const char* no_color = std::getenv("NO_COLOR");  // https://no-color.org: set and not empty
  if (no_color != nullptr && *no_color != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return isatty(fd) == 1;
}

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the UTF-8 sequence lead byte `c` starts (0: not a lead byte).
std::size_t utf8_length(unsigned char c) {
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

// Whether `next` may follow the bytes of `partial` (a sequence begun, not complete): a
// continuation byte, within the ranges that exclude overlong forms, surrogates and code points
// above U+10FFFF.
bool continues(const std::string& partial, unsigned char next) {
  if (next < 0x80 || next > 0xBF) return false;
  if (partial.size() != 1) return true;
  const auto lead = static_cast<unsigned char>(partial[0]);
  if (lead == 0xE0) return next >= 0xA0;
  if (lead == 0xED) return next <= 0x9F;
  if (lead == 0xF0) return next >= 0x90;
  if (lead == 0xF4) return next <= 0x8F;
  return true;
}

}  // namespace

void TerminalFilter::text_byte(unsigned char c, std::string& out) {
  if (c == 0x1B) {
    state_ = State::escape;
  } else if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F)) {
    out += static_cast<char>(c);
  } else if (std::size_t length = utf8_length(c); length > 0) {
    partial_.assign(1, static_cast<char>(c));
    expected_ = length;
  } else if (c >= 0x80) {
    out += kReplacement;  // a byte that starts no UTF-8 character
  }
  // Other C0 controls (CR, BS, BEL, ...) and DEL are dropped.
}

std::string TerminalFilter::feed(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!partial_.empty()) {
      if (!continues(partial_, c)) {
        out += kReplacement;  // a sequence cut short: the byte is read again on its own
        partial_.clear();
        continue;
      }
      partial_ += static_cast<char>(c);
      ++i;
      if (partial_.size() == expected_) {
        // U+0080..U+009F (C2 80..C2 9F) are the C1 controls: U+009B is a CSI on its own.
        const bool c1 = static_cast<unsigned char>(partial_[0]) == 0xC2 &&
                        static_cast<unsigned char>(partial_[1]) <= 0x9F;
        if (!c1) out += partial_;
        partial_.clear();
      }
      continue;
    }
    switch (state_) {
      case State::text:
        text_byte(c, out);
        break;
      case State::escape:
        if (c == '[') {
          state_ = State::csi;
        } else if (c == ']' || c == 'P' || c == '_' || c == '^' || c == 'X') {
          state_ = State::string;  // OSC, DCS, APC, PM, SOS: up to BEL or ESC backslash
        } else if (c >= 0x20 && c < 0x7F) {
          state_ = State::text;  // a two-character sequence (ESC c resets the terminal)
        } else {
          state_ = State::text;  // not a sequence after all: the byte is read again as text
          continue;
        }
        break;
      case State::csi:  // parameter and intermediate bytes 0x20..0x3F, then a final byte
        if (c >= 0x40 && c <= 0x7E) {
          state_ = State::text;
        } else if (c < 0x20 || c > 0x7E) {
          state_ = State::text;  // cut short: the byte is read again as text
          continue;
        }
        break;
      case State::string:
        if (c == 0x07) state_ = State::text;
        if (c == 0x1B) state_ = State::string_escape;
        if (c == '\n') {
          // A line break ends what is dropped, so that a string never closed cannot hide the
          // rest of the answer.
          state_ = State::text;
          out += '\n';
        }
        break;
      case State::string_escape:
        state_ = c == '\\' ? State::text : State::string;
        if (c == '\n') {
          state_ = State::text;
          out += '\n';
        }
        break;
    }
    ++i;
  }
  return out;
}

std::string TerminalFilter::finish() {
  std::string out = partial_.empty() ? std::string() : std::string(kReplacement);
  partial_.clear();
  state_ = State::text;
  return out;
}

std::string terminal_safe(std::string_view text) {
  TerminalFilter filter;
  std::string out = filter.feed(text);
  return out + filter.finish();
}

std::string usd_text(double usd) {
  return usd < 1 ? fmt::format("${:.4f}", usd) : fmt::format("${:.2f}", usd);
}

std::string for_terminal(int fd, std::string_view text) {
  return isatty(fd) == 1 ? terminal_safe(text) : std::string(text);
}

std::string error_prefix() {
  if (styled(STDERR_FILENO)) return "cppflue: \033[1;31merror:\033[0m ";
  return "cppflue: error: ";
}

void set_json_errors(bool on) {
  g_json_errors = on;
}

bool json_errors() {
  return g_json_errors.load();
}

json error_object(const Error& e) {
  return json_object{{"error", json_object{{"type", wire_name(e.type)}, {"message", e.message}}}};
}

int report_error(const Error& error) {
  if (json_errors()) std::cout << dump(error_object(error)) << std::endl;
  std::cerr << error_prefix() << for_terminal(STDERR_FILENO, error.message) << std::endl;
  return 1;
}

int report_error(ErrorType type, const std::string& message) {
  return report_error(make_error(type, message));
}

int report_error(const std::string& message) {
  return report_error(ErrorType::invalid_input, message);
}

}  // namespace cppflue::cli
