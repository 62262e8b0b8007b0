// SPDX-License-Identifier: Apache-2.0
// The typed event catalogue (cppflue/harness/event.hpp): payloads encode to the wire fields and
// read back; reading is lenient about extra fields and strict about field types; the events an
// agent really emits read back as their catalogue types.
#include <gtest/gtest.h>

#include <set>

#include "cppflue/cppflue.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;

namespace {

// One payload of every catalogue type, with no field at its default value.
std::vector<EventPayload> samples() {
  events::RunStart background{"run_1", std::nullopt, "helper", "u1", "u1:default"};
  events::RunStart workflow;
  workflow.run_id = "run_2";
  workflow.workflow = "greet";
  return {
      events::OperationStart{"stream"},
      events::AgentStart{},
      events::TurnRequest{"turn_1", "test:echo"},
      events::TextDelta{"Hel"},
      events::ThinkingDelta{"hmm"},
      events::Turn{"turn_1", "echo", json_object{{"input", 3}, {"output", 4}}},
      events::ToolStart{"read", "call_1", json_object{{"path", "a.txt"}}},
      events::ToolEnd{"read", "call_1", true, "no such file"},
      events::CommandStart{"ls", {"-la", "src"}},
      events::CommandEnd{"ls", 124},
      events::TaskStart{"s:task:1", "look", "reviewer", "src", "s"},
      events::TaskEnd{"s:task:1", true, "failed"},
      events::CompactionStart{"threshold", 12000},
      events::CompactionEnd{40, 3},
      events::TurnEnd{},
      events::AbortRequested{"prompt"},
      events::Aborted{"prompt"},
      events::Failed{"boom", "provider_error"},
      events::Idle{},
      events::OperationEnd{"prompt", 17, true},
      background,
      workflow,
      events::Log{"warn", "careful", json_object{{"name", "world"}, {"n", 2}}},
      events::RunEnd{"run_1", "failed", true, nullptr,
                     json_object{{"type", "internal_error"}, {"message", "x"}}},
  };
}

TEST(EventCatalogue, EveryTypeHasAUniqueWireName) {
  std::set<std::string_view> names;
  for (const auto& p : samples()) names.insert(event_type(p));
  EXPECT_EQ(names.size(), std::variant_size_v<EventPayload>);
}

TEST(EventCatalogue, PayloadsEncodeToTheirWireFields) {
  EXPECT_EQ(json(event_fields(events::ToolEnd{"read", "call_1", true, "no such file"})),
            boost::json::parse(R"({"toolName":"read","toolCallId":"call_1","isError":true,)"
                        R"("result":"no such file"})"));
  EXPECT_EQ(json(event_fields(events::CommandStart{"ls", {"-la"}})),
            boost::json::parse(R"({"command":"ls","args":["-la"]})"));
  EXPECT_EQ(json(event_fields(events::Failed{"boom", "rate_limited"})),
            boost::json::parse(R"({"message":"boom","error_type":"rate_limited"})"));
  EXPECT_TRUE(event_fields(events::Idle{}).empty());
  // Absent optional fields are left out; a log's own fields are merged in.
  events::RunStart start;
  start.run_id = "run_1";
  start.workflow = "greet";
  EXPECT_EQ(json(event_fields(start)), boost::json::parse(R"({"run_id":"run_1","workflow":"greet"})"));
  EXPECT_EQ(json(event_fields(events::Log{"info", "hi", json_object{{"user", "ann"}}})),
            boost::json::parse(R"({"level":"info","message":"hi","user":"ann"})"));
}

TEST(EventCatalogue, EveryPayloadReadsBackAsItself) {
  for (const auto& p : samples()) {
    auto back = decode_event(event_type(p), event_fields(p));
    ASSERT_TRUE(back) << event_type(p);
    EXPECT_EQ(back->index(), p.index()) << event_type(p);
    EXPECT_EQ(json(event_fields(*back)), json(event_fields(p))) << event_type(p);
  }
}

TEST(EventCatalogue, ReadingIgnoresUnknownFieldsAndKeepsDefaultsForMissingOnes) {
  auto e = decode_event("tool_end", boost::json::parse(R"({"session_id":"s","operation_id":"op_1",
      "timestamp":"2026-12-06T00:00:00.000Z","toolName":"bash","future_field":[1,2]})"));
  ASSERT_TRUE(e);
  const auto& end = std::get<events::ToolEnd>(*e);
  EXPECT_EQ(end.toolName, "bash");
  EXPECT_EQ(end.toolCallId, "");
  EXPECT_FALSE(end.isError);
}

TEST(EventCatalogue, ReadingRefusesWrongFieldTypesAndUnknownEventTypes) {
  EXPECT_FALSE(decode_event("tool_end", boost::json::parse(R"({"isError":"yes"})")));
  EXPECT_FALSE(decode_event("command_end", boost::json::parse(R"({"exitCode":1.5})")));
  EXPECT_FALSE(decode_event("command_end", boost::json::parse(R"({"exitCode":18446744073709551615})")));
  EXPECT_FALSE(decode_event("command_start", boost::json::parse(R"({"args":["ok",3]})")));
  EXPECT_FALSE(decode_event("log", boost::json::parse(R"({"level":"info","message":7})")));
  EXPECT_FALSE(decode_event("my_workflow_event", json_object{}));
  EXPECT_FALSE(decode_event("", json_object{}));
  // A catalogue type whose data is not an object reads as its defaults.
  auto idle = decode_event("idle", json("not an object"));
  ASSERT_TRUE(idle);
  EXPECT_TRUE(std::holds_alternative<events::Idle>(*idle));
  // event_as checks the type first.
  Event e{"text_delta", json_object{{"text", "hi"}}};
  EXPECT_FALSE(event_as<events::ThinkingDelta>(e));
  ASSERT_TRUE(event_as<events::TextDelta>(e));
  EXPECT_EQ(event_as<events::TextDelta>(e)->text, "hi");
}

TEST(EventCatalogue, TheEventsOfARealOperationReadBackAsTheirTypes) {
  TempDir dir;
  write_file(dir.path() / "s.json", R"({"turns":[
      {"tool_calls":[{"name":"count","arguments":{"by":2}}]},
      {"text":"done"}]})");
  InitOptions o;
  o.root = dir.path().string();
  o.model = "test:" + (dir.path() / "s.json").string();
  ToolDefinition t;
  t.name = "count";
  t.description = "Counts.";
  t.execute = [](const json&, ToolContext&) -> json { return 7; };
  o.tools = {t};
  auto agent = init(o);
  auto session = agent.session("typed");
  std::vector<std::string> seen;
  std::optional<events::ToolStart> start;
  std::optional<events::ToolEnd> end;
  std::optional<events::OperationEnd> last;
  for (const Event& e : session.stream("go")) {
    ASSERT_TRUE(decode_event(e.type, e.data)) << "not in the catalogue: " << dump(to_json(e));
    seen.push_back(e.type);
    if (auto s = event_as<events::ToolStart>(e)) start = s;
    if (auto s = event_as<events::ToolEnd>(e)) end = s;
    if (auto s = event_as<events::OperationEnd>(e)) last = s;
  }
  ASSERT_TRUE(start && end && last) << seen.size();
  EXPECT_EQ(start->toolName, "count");
  EXPECT_EQ(start->args, boost::json::parse(R"({"by":2})"));
  EXPECT_EQ(end->toolCallId, start->toolCallId);
  EXPECT_FALSE(end->isError);
  EXPECT_EQ(end->result, "7");
  EXPECT_EQ(last->operation_kind, "stream");
  EXPECT_FALSE(last->is_error);
}

}  // namespace
