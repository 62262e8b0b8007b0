// SPDX-License-Identifier: Apache-2.0
// The pretty format of `cppflue logs` (src/cli/event_lines.hpp), event by event.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../../src/cli/event_lines.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue::cli {
namespace {

json ev(std::int64_t index, const std::string& type, json data,
        const std::string& timestamp = "2026-12-06T11:25:28.606Z") {
  return json_object{
      {"event_index", index}, {"type", type}, {"timestamp", timestamp}, {"data", std::move(data)}};
}

// Every line the events give, flushed at the end.
std::vector<std::string> render(const std::vector<json>& events) {
  PrettyEvents pretty;
  std::vector<std::string> out;
  for (const auto& e : events) {
    for (auto& line : pretty.add(e)) out.push_back(std::move(line));
  }
  for (auto& line : pretty.flush()) out.push_back(std::move(line));
  return out;
}

TEST(EventLines, DeltasAreJoinedIntoOneLine) {
  auto lines =
      render({ev(1, "text_delta", {{"text", "Hel"}}), ev(2, "text_delta", {{"text", "lo\nthere"}}),
              ev(3, "thinking_delta", {{"text", "hmm"}}), ev(4, "text_delta", {{"text", "!"}}),
              ev(5, "turn_end", json_object{})});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "[1-2] 11:25:28.606 assistant: Hello\\nthere");
  EXPECT_EQ(lines[1], "[3] 11:25:28.606 thinking: hmm");
  EXPECT_EQ(lines[2], "[4] 11:25:28.606 assistant: !");
  EXPECT_EQ(lines[3], "[5] 11:25:28.606 turn_end");
  // Held back until something else comes (or flush).
  PrettyEvents pretty;
  EXPECT_TRUE(pretty.add(ev(1, "text_delta", {{"text", "a"}})).empty());
  EXPECT_EQ(pretty.flush().size(), 1u);
  EXPECT_TRUE(pretty.flush().empty());
}

TEST(EventLines, ToolCallsShowArgumentsResultAndDuration) {
  auto lines = render(
      {ev(7, "tool_start",
          {{"toolName", "bash"}, {"toolCallId", "c1"}, {"args", {{"command", "ls -la"}}}},
          "2026-12-06T11:25:28.100Z"),
       ev(8, "tool_end",
          {{"toolName", "bash"}, {"toolCallId", "c1"}, {"isError", true}, {"result", "no\nway"}},
          "2026-12-06T11:25:29.400Z"),
       ev(9, "tool_end", {{"toolName", "glob"}, {"toolCallId", "c9"}, {"result", "a"}})});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], R"([7] 11:25:28.100 -> bash({"command":"ls -la"}))");
  EXPECT_EQ(lines[1], "[8] 11:25:29.400 <- bash error (1.3 s): no\\nway");
  EXPECT_EQ(lines[2], "[9] 11:25:28.606 <- glob: a");  // its start was not seen
}

TEST(EventLines, NumbersAreWrittenNormally) {
  json usage = {{"input", 1200}, {"output", 30}, {"cost", {{"input", 0.0}, {"total", 0.0125}}}};
  auto lines = render({ev(1, "turn", {{"turn_id", "t"}, {"model", "m"}, {"usage", usage}}),
                       ev(2, "log", {{"level", "info"}, {"message", "m"}, {"ratio", 0.5}}),
                       ev(3, "turn", {{"model", "m"}, {"usage", {{"cost", {{"total", 0.0}}}}}})});
  EXPECT_EQ(lines[0], "[1] 11:25:28.606 turn model=m tokens in=1200 out=30 cost=$0.0125");
  EXPECT_EQ(lines[1], "[2] 11:25:28.606 log info: m ratio=0.5");
  EXPECT_EQ(lines[2], "[3] 11:25:28.606 turn model=m tokens in=0 out=0 cost=$0.0000");
}

TEST(EventLines, RunsAndOtherEvents) {
  json error = {{"type", "provider_error"}, {"message", "rate limited"}};
  auto lines = render(
      {ev(1, "run_start",
          {{"run_id", "r"}, {"agent", "helper"}, {"agent_id", "u1"}, {"session_id", "u1:s"}}),
       ev(2, "operation", {{"operation_kind", "prompt"}, {"duration_ms", 2300}}),
       ev(3, "run_end", {{"status", "completed"}, {"result", {{"text", "Done."}}}}),
       ev(4, "run_end", {{"status", "failed"}, {"is_error", true}, {"error", error}}),
       ev(5, "my_event", {{"session_id", "s"}, {"n", 1}}), ev(6, "idle", {{"session_id", "s"}}),
       ev(7, "error", {{"message", "bad"}, {"error_type", "internal_error"}})});
  EXPECT_EQ(lines[0], "[1] 11:25:28.606 run_start agent=helper/u1 session=u1:s");
  EXPECT_EQ(lines[1], "[2] 11:25:28.606 operation prompt 2.3 s");
  EXPECT_EQ(lines[2], "[3] 11:25:28.606 run_end completed: Done.");
  EXPECT_EQ(lines[3], "[4] 11:25:28.606 run_end failed: provider_error: rate limited");
  EXPECT_EQ(lines[4], R"([5] 11:25:28.606 my_event {"n":1})");
  EXPECT_EQ(lines[5], "[6] 11:25:28.606 idle");
  EXPECT_EQ(lines[6], "[7] 11:25:28.606 error internal_error: bad");
}

TEST(EventLines, LongValuesAreCutWithAMarker) {
  EXPECT_EQ(one_line("abcdef", 10), "abcdef");
  EXPECT_EQ(one_line("abcdef", 4), "abcd… [+2 chars]");
  EXPECT_EQ(one_line("a\tb\r\nc\x01", 10), "a\\tb\\r\\nc?");
  // Characters, not bytes: a multi-byte character is never split.
  EXPECT_EQ(one_line("ééééé", 2), "éé… [+3 chars]");
  std::string big(5000, 'y');
  auto lines = render({ev(1, "tool_start", {{"toolName", "write"}, {"args", {{"text", big}}}})});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), kMaxValueChars + 60);
  EXPECT_NE(lines[0].find("chars])"), std::string::npos) << lines[0];
}

TEST(EventLines, TimesAndDurations) {
  EXPECT_EQ(iso_millis("1970-01-01T00:00:01.250Z"), 1250);
  EXPECT_EQ(iso_millis("1970-01-02T00:00:00Z"), 86'400'000);
  EXPECT_EQ(*iso_millis("2026-12-06T11:25:29.350Z") - *iso_millis("2026-12-05T23:59:59.999Z"),
            41'129'351);
  EXPECT_FALSE(iso_millis("yesterday").has_value());
  EXPECT_FALSE(iso_millis("2026-02-30T00:00:00Z").has_value());
  EXPECT_EQ(human_duration(850), "850 ms");
  EXPECT_EQ(human_duration(12'400), "12.4 s");
  EXPECT_EQ(human_duration(185'000), "3m 05s");
  EXPECT_EQ(human_duration(3'720'000), "1h 02m");
}

}  // namespace
}  // namespace cppflue::cli
