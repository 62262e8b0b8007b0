// SPDX-License-Identifier: Apache-2.0
// cppflue/net/sse.hpp — incremental Server-Sent Events parser.
//
// Bytes arrive in arbitrary chunks; complete events come out. Follows the WHATWG rules:
// `data:` lines are joined with "\n", `event:`/`id:`/`retry:` fields, `:` comments ignored,
// CR, LF and CRLF line endings, one optional space after the colon, a blank line dispatches.
// A line longer than `max_line_bytes` is an error naming the byte offset.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"

namespace cppflue {

struct SseEvent {
  std::string event;  // empty means the default type "message"
  std::string data;
  std::string id;  // last event id in effect when dispatched
  std::optional<long> retry_ms;
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_line_bytes = 16 * 1024 * 1024);
  // Appends every event completed by `bytes` to `out`. On an over-long line the whole chunk is
  // still consumed: the line and the rest of its event are dropped (parsing resumes after the
  // next blank line), events completed before and after it are appended, and the first such
  // error is returned.
  Result<void> feed(std::string_view bytes, std::vector<SseEvent>& out);
  // End of input: a final event not terminated by a blank line is dispatched too (providers
  // sometimes omit the last blank line); returns true if such an event was flushed.
  bool finish(std::vector<SseEvent>& out);
  const std::string& last_event_id() const { return last_id_; }
  std::size_t bytes_seen() const { return offset_; }

 private:
  void process_line(std::string_view line, std::vector<SseEvent>& out);
  void dispatch(std::vector<SseEvent>& out);

  std::size_t max_line_;
  std::string line_;
  bool pending_cr_ = false;
  std::size_t offset_ = 0;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
  std::optional<long> retry_;
  // Recovery after an over-long line: skip the rest of that line, then the rest of its event.
  enum class Skip : unsigned char { none, line, event };
  Skip skip_ = Skip::none;
  bool at_start_ = true;  // no line completed yet: a leading UTF-8 BOM is stripped
};

}  // namespace cppflue
