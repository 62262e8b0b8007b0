// SPDX-License-Identifier: Apache-2.0
// How the command line reports errors: a line on stderr, styled only for a terminal that wants
// it, and in JSON mode (--json, --stream) also one JSON object on stdout.
#include <unistd.h>

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

std::string TerminalFilter::feed(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (state_) {
      case State::text:
        if (c == 0x1B) {
          state_ = State::escape;
        } else if (c == 0xC2) {
          state_ = State::c2;
        } else if ((c >= 0x20 && c != 0x7F) || c == '\n' || c == '\t') {
          out += ch;
        }
        break;
      case State::c2:  // U+0080..U+009F (C1 controls, U+009B is CSI) are C2 80..C2 9F
        state_ = State::text;
        if (c >= 0x80 && c <= 0x9F) break;
        out += '\xC2';
        if (c == 0x1B) {
          state_ = State::escape;
        } else if (c == 0xC2) {
          out.pop_back();
          state_ = State::c2;
        } else if ((c >= 0x20 && c != 0x7F) || c == '\n' || c == '\t') {
          out += ch;
        }
        break;
      case State::escape:
        if (ch == '[') {
          state_ = State::csi;
        } else if (ch == ']' || ch == 'P' || ch == '_' || ch == '^' || ch == 'X') {
          state_ = State::string;  // OSC, DCS, APC, PM, SOS: up to BEL or ESC backslash
        } else {
          state_ = State::text;  // a two-byte sequence (ESC c resets the terminal)
        }
        break;
      case State::csi:  // parameters, then a final byte 0x40..0x7E
        if (c >= 0x40 && c <= 0x7E) state_ = State::text;
        break;
      case State::string:
        if (c == 0x07) state_ = State::text;
        if (c == 0x1B) state_ = State::string_escape;
        break;
      case State::string_escape:
        state_ = c == '\\' ? State::text : State::string;
        break;
    }
  }
  return out;
}

std::string terminal_safe(std::string_view text) {
  TerminalFilter filter;
  return filter.feed(text);
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
