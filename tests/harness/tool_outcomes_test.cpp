// SPDX-License-Identifier: Apache-2.0
// Tool outcomes (cppflue/harness/tool.hpp): a value, an error the model sees, an error that
// aborts the turn (the operation fails with it, the model is not called again, the other calls
// of the turn are cancelled, the history stays valid); tools written as `-> json` still work.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <thread>

#include "cppflue/cppflue.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;

namespace {

class ToolOutcomes : public ::testing::Test {
 protected:
  InitOptions options(const std::string& script) {
    write_file(dir_.path() / "script.json", script);
    InitOptions o;
    o.root = dir_.path().string();
    o.model = "test:" + (dir_.path() / "script.json").string();
    return o;
  }
  static ToolDefinition plain(std::string name,
                              std::function<ToolResult(const json&, ToolContext&)> fn) {
    ToolDefinition t;
    t.name = std::move(name);
    t.description = "A test tool.";
    t.execute = std::move(fn);
    return t;
  }
  TempDir dir_;
};

struct Recorded {
  std::vector<Event> events;
  int count(std::string_view type) const {
    int n = 0;
    for (const auto& e : events) n += e.type == type;
    return n;
  }
  const Event* first(std::string_view type) const {
    for (const auto& e : events) {
      if (e.type == type) return &e;
    }
    return nullptr;
  }
};

TEST_F(ToolOutcomes, TellModelIsAnErrorResultTheModelSeesAndTheTurnGoesOn) {
  auto o = options(R"({"turns":[
      {"tool_calls":[{"name":"lookup","arguments":{}}]},
      {"text":"saw: {{tool_result}}"}]})");
  o.tools = {plain("lookup", [](const json&, ToolContext&) {
    return ToolResult::tell_model("no such customer");
  })};
  auto agent = init(o);
  Recorded rec;
  PromptOptions po;
  po.on_event = [&](const Event& e) { rec.events.push_back(e); };
  auto r = agent.session("tell").prompt("find ann", po);
  EXPECT_EQ(r.text, "[offline test model] saw: no such customer");
  auto end = event_as<events::ToolEnd>(*rec.first("tool_end"));
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->isError);
  EXPECT_EQ(end->result, "no such customer");
  EXPECT_EQ(rec.count("turn_request"), 2);
  EXPECT_EQ(rec.count("error"), 0);
}

TEST_F(ToolOutcomes, AbortTurnEndsTheOperationWithItsErrorAndTheModelIsNotCalledAgain) {
  auto o = options(R"({"turns":[
      {"tool_calls":[{"name":"save","arguments":{}}]},
      {"text":"this turn must not happen"}]})");
  std::atomic<int> runs{0};
  o.tools = {plain("save", [&](const json&, ToolContext&) {
    ++runs;
    return ToolResult::abort_turn(make_error(ErrorType::store_error, "disk full at /var/db"));
  })};
  auto agent = init(o);
  auto session = agent.session("abort");
  Recorded rec;
  PromptOptions po;
  po.on_event = [&](const Event& e) { rec.events.push_back(e); };
  try {
    session.prompt("save it", po);
    FAIL() << "the prompt should fail";
  } catch (const Exception& e) {
    EXPECT_EQ(e.type(), ErrorType::store_error);
    EXPECT_EQ(e.error().message, "disk full at /var/db");
  }
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(rec.count("turn_request"), 1);
  auto end = event_as<events::ToolEnd>(*rec.first("tool_end"));
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->isError);
  auto failed = event_as<events::Failed>(*rec.first("error"));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->error_type, "store_error");
  auto last = event_as<events::OperationEnd>(rec.events.back());
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->is_error);

  // The stored conversation stays valid, and the model never sees the internal error: the call
  // is answered as interrupted.
  const auto history = session.history();
  bool answered = false;
  for (const auto& m : history) {
    EXPECT_EQ(m.text.find("disk full"), std::string::npos) << m.text;
    if (m.role == Role::tool && m.tool_name == "save") {
      answered = true;
      EXPECT_TRUE(m.is_error);
    }
  }
  EXPECT_TRUE(answered);
  PromptOptions echo;
  echo.model = "test:echo";
  EXPECT_EQ(session.prompt("again", echo).text, "[offline test model] You said: again");
}

TEST_F(ToolOutcomes, AbortTurnCancelsTheOtherCallsOfTheTurn) {
  auto o = options(R"({"turns":[
      {"tool_calls":[{"name":"slow","arguments":{}},{"name":"fail","arguments":{}}]},
      {"text":"never"}]})");
  std::atomic<bool> saw_cancel{false};
  std::atomic<bool> started{false};
  o.tools = {
      plain("slow",
            [&](const json&, ToolContext& ctx) -> ToolResult {
              started = true;
              auto deadline = std::chrono::steady_clock::now() + 10s;
              while (!ctx.cancel.cancelled() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(5ms);
              }
              saw_cancel = ctx.cancel.cancelled();
              return "slow done";
            }),
      plain("fail",
            [&](const json&, ToolContext&) -> ToolResult {
              while (!started) std::this_thread::sleep_for(1ms);
              return ToolResult::abort_turn(make_error(ErrorType::internal, "invariant broken"));
            }),
  };
  auto agent = init(o);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(agent.session("siblings").prompt("go"), Exception);
  for (int i = 0; i < 2000 && !saw_cancel; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(saw_cancel.load()) << "the sibling call was not cancelled";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
}

TEST_F(ToolOutcomes, AnAbortMessageIsRedactedInEvents) {
  auto o = options(R"({"turns":[{"tool_calls":[{"name":"leak","arguments":{}}]}]})");
  o.secrets = {{"TOKEN", "s3cr3t-value-123"}};
  o.tools = {plain("leak", [](const json&, ToolContext&) {
    return ToolResult::abort_turn(
        make_error(ErrorType::store_error, "cannot write s3cr3t-value-123"));
  })};
  auto agent = init(o);
  std::vector<Event> events;
  PromptOptions po;
  po.on_event = [&](const Event& e) { events.push_back(e); };
  EXPECT_THROW(agent.session("redact").prompt("go", po), Exception);
  for (const auto& e : events) {
    EXPECT_EQ(dump(to_json(e)).find("s3cr3t-value-123"), std::string::npos) << dump(to_json(e));
  }
}

TEST_F(ToolOutcomes, AsyncToolsReturnOutcomesAndTheOldJsonFormStillCompilesAndRuns) {
  auto o = options(R"({"turns":[
      {"tool_calls":[{"name":"old_async","arguments":{}},{"name":"old_plain","arguments":{}},
                     {"name":"new_async","arguments":{}}]},
      {"text":"done"}]})");
  ToolDefinition old_async;
  old_async.name = "old_async";
  old_async.async_execute = [](json, ToolContext) -> boost::asio::awaitable<json> {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 1ms);
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return json_object{{"old", true}};
  };
  ToolDefinition old_plain;
  old_plain.name = "old_plain";
  old_plain.execute = [](const json&, ToolContext&) -> json { return 42; };
  ToolDefinition new_async;
  new_async.name = "new_async";
  new_async.async_execute = [](json, ToolContext) -> boost::asio::awaitable<ToolResult> {
    co_return ToolResult::tell_model("try again later");
  };
  o.tools = {old_async, old_plain, new_async};
  auto agent = init(o);
  std::map<std::string, events::ToolEnd> ends;
  PromptOptions po;
  po.on_event = [&](const Event& e) {
    if (auto end = event_as<events::ToolEnd>(e)) ends[end->toolName] = *end;
  };
  EXPECT_EQ(agent.session("forms").prompt("go", po).text, "[offline test model] done");
  EXPECT_EQ(ends["old_async"].result, R"({"old":true})");
  EXPECT_FALSE(ends["old_async"].isError);
  EXPECT_EQ(ends["old_plain"].result, "42");
  EXPECT_EQ(ends["new_async"].result, "try again later");
  EXPECT_TRUE(ends["new_async"].isError);
}

TEST_F(ToolOutcomes, ExceptionsAreStillShownToTheModel) {
  auto o = options(R"({"turns":[
      {"tool_calls":[{"name":"boom","arguments":{}}]},
      {"text":"saw: {{tool_result}}"}]})");
  o.tools = {plain("boom", [](const json&, ToolContext&) -> ToolResult {
    throw std::runtime_error("kaput");
  })};
  auto agent = init(o);
  EXPECT_EQ(agent.session("throw").prompt("go").text, "[offline test model] saw: tool 'boom' failed: kaput");
}

TEST(ToolResultType, ValuesConvertImplicitlyAndOutcomesKeepTheirKind) {
  ToolResult text = "hi";
  EXPECT_TRUE(text.is_value());
  EXPECT_EQ(text.value(), "hi");
  ToolResult object = json_object{{"a", 1}};
  EXPECT_TRUE(object.value().is_object());
  ToolResult number = 7;
  EXPECT_EQ(number.value(), 7);
  auto tell = ToolResult::tell_model("nope");
  EXPECT_EQ(tell.kind(), ToolResult::Kind::tell_model);
  EXPECT_EQ(tell.message(), "nope");
  auto abort = ToolResult::abort_turn(make_error(ErrorType::cancelled, "stop"));
  EXPECT_EQ(abort.kind(), ToolResult::Kind::abort_turn);
  EXPECT_EQ(abort.error().type, ErrorType::cancelled);
}

}  // namespace
