// SPDX-License-Identifier: Apache-2.0
// The `pretty` format of `cppflue logs`: one line per event, `[INDEX] HH:MM:SS.mmm WHAT`, with
//   - a run of text deltas joined into one `assistant: ...` line (`[5-12]`), thinking likewise;
//   - tool calls as `-> tool({"args"})` and their end as `<- tool (12 ms): result`;
//   - numbers as people write them (dump(), not Boost's `0E0`);
//   - each line on one line (newlines written as \n) and long values cut, ending in
//     `… [+N chars]`.
// Events are the stored/API shape: {"event_index", "type", "timestamp", "data": {...}}.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue::cli {

// How many characters of a value a line shows before it is cut.
inline constexpr std::size_t kMaxValueChars = 200;
// ... of the assistant's joined text.
inline constexpr std::size_t kMaxTextChars = 2000;

class PrettyEvents {
 public:
  // The lines `event` completes: none while a run of deltas grows, else the held-back deltas'
  // line (when there is one) and the event's own line.
  std::vector<std::string> add(const json& event);
  // The line of the deltas held back, if any (at the end, or while a followed run is quiet).
  std::vector<std::string> flush();

 private:
  struct Deltas {
    std::string label;  // "assistant" or "thinking"
    std::string text;
    std::int64_t first = 0;
    std::int64_t last = 0;
    std::string time;
  };
  // The text of an event after its index and time.
  std::string line(const std::string& type, const json& data);
  std::string tool_end(const json& data, const std::string& timestamp);

  std::optional<Deltas> deltas_;
  std::map<std::string, std::string> tool_started_;  // toolCallId → tool_start timestamp
};

// `text` on one line (\n, \r, \t written as such; other control characters as '?'), cut after
// `max` characters (code points) with "… [+N chars]".
std::string one_line(std::string_view text, std::size_t max);

// "850 ms", "12.4 s", "3m 05s", "1h 02m": how long something took.
std::string human_duration(std::int64_t ms);

// Milliseconds since the epoch of an ISO-8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.sss]Z).
std::optional<std::int64_t> iso_millis(std::string_view iso);

}  // namespace cppflue::cli
