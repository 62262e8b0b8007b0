// SPDX-License-Identifier: Apache-2.0
// Incremental Server-Sent Events parser: the WHATWG "event stream interpretation", on bytes.
//
// A line that ends inside the caller's chunk is processed in place; only a line that spans chunks
// is copied into `line_`. Line endings are found with memchr, and the next CR and the next LF are
// cached separately, so every chunk is scanned once whatever its line-ending style (LF, CRLF, or
// the CR-only streams where a naive memchr for LF would rescan the rest of the chunk per line).
//
// Choices where the WHATWG text is silent or browser-specific:
// - `retry:` is a connection setting in the spec; here it rides on the next dispatched event
//   (kept across blank lines that dispatch nothing), saturating at LONG_MAX; an empty value is
//   ignored.
// - An over-long line is an error; the line and the rest of its event are dropped and parsing
//   resumes after the next blank line (the `id:` fields already seen in that event still count).
#include "cppflue/net/sse.hpp"

#include <boost/json/object.hpp>
#include <climits>
#include <cstring>
#include <utility>

namespace cppflue {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// First occurrence of `c` in [p, end), or `end`.
const char* find_byte(const char* p, const char* end, char c) {
  const void* hit = std::memchr(p, c, static_cast<std::size_t>(end - p));
  return hit ? static_cast<const char*>(hit) : end;
}

// Only ASCII digits, at least one; saturates instead of overflowing.
std::optional<long> parse_retry(std::string_view value) {
  if (value.empty()) return std::nullopt;
  long n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    n = n > (LONG_MAX - digit) / 10 ? LONG_MAX : n * 10 + digit;
  }
  return n;
}

}  // namespace

SseParser::SseParser(std::size_t max_line_bytes) : max_line_(max_line_bytes) {}

Result<void> SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  if (bytes.empty()) return {};
  const char* const begin = bytes.data();
  const char* const end = begin + bytes.size();
  const std::size_t base = offset_;
  offset_ += bytes.size();

  const char* p = begin;
  if (pending_cr_) {  // the previous chunk ended in CR: an LF here belongs to that line ending
    pending_cr_ = false;
    if (*p == '\n') ++p;
  }

  std::optional<Error> error;
  const char* next_cr = find_byte(p, end, '\r');
  const char* next_lf = find_byte(p, end, '\n');
  while (p < end) {
    if (next_cr < p) next_cr = find_byte(p, end, '\r');
    if (next_lf < p) next_lf = find_byte(p, end, '\n');
    const char* const eol = next_cr < next_lf ? next_cr : next_lf;
    const auto len = static_cast<std::size_t>(eol - p);

    if (skip_ != Skip::line) {
      if (len > max_line_ - line_.size()) {  // line_.size() <= max_line_ always holds
        const std::size_t line_start = base + static_cast<std::size_t>(p - begin) - line_.size();
        if (!error) {
          error = make_error(
              ErrorType::invalid_input,
              "SSE line exceeds " + std::to_string(max_line_) + " bytes at byte offset " +
                  std::to_string(line_start),
              boost::json::object{{"max_line_bytes", max_line_}, {"offset", line_start}});
        }
        line_.clear();
        event_.clear();
        data_.clear();
        has_data_ = false;
        retry_.reset();
        skip_ = Skip::line;
      } else if (eol == end) {
        line_.append(p, len);  // unterminated: wait for the rest of the line
      } else if (line_.empty()) {
        process_line(std::string_view(p, len), out);
      } else {
        line_.append(p, len);
        process_line(line_, out);
        line_.clear();
      }
    }
    if (eol == end) break;

    if (skip_ == Skip::line) {  // the over-long line ends here; skip the rest of its event
      skip_ = Skip::event;
      at_start_ = false;
    }
    if (*eol == '\n') {
      p = eol + 1;
    } else if (eol + 1 == end) {
      pending_cr_ = true;
      p = end;
    } else {
      p = eol + (eol[1] == '\n' ? 2 : 1);
    }
  }

  if (error) return fail(std::move(*error));
  return {};
}

bool SseParser::finish(std::vector<SseEvent>& out) {
  if (skip_ == Skip::none && !line_.empty()) process_line(line_, out);
  bool flushed = false;
  if (skip_ == Skip::none && has_data_) {
    dispatch(out);
    flushed = true;
  }
  line_.clear();
  pending_cr_ = false;
  skip_ = Skip::none;
  event_.clear();
  data_.clear();
  has_data_ = false;
  retry_.reset();
  return flushed;
}

void SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (at_start_) {
    at_start_ = false;
    if (line.starts_with(kBom)) line.remove_prefix(kBom.size());
  }
  if (skip_ == Skip::event) {
    if (line.empty()) skip_ = Skip::none;
    return;
  }
  if (line.empty()) {
    dispatch(out);
    return;
  }
  if (line.front() == ':') return;  // comment

  std::string_view field = line;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }

  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (field == "retry") {
    if (auto ms = parse_retry(value)) retry_ = ms;
  }
  // Any other field is ignored.
}

void SseParser::dispatch(std::vector<SseEvent>& out) {
  if (!has_data_) {  // nothing to dispatch; the event type still resets
    event_.clear();
    return;
  }
  SseEvent& ev = out.emplace_back();
  ev.event = std::move(event_);
  ev.data = std::move(data_);
  ev.id = last_id_;
  ev.retry_ms = retry_;
  event_.clear();
  data_.clear();
  has_data_ = false;
  retry_.reset();
}

}  // namespace cppflue
