// SPDX-License-Identifier: Apache-2.0
// Harness API tests with the offline model (no network): async twins, the pull-style event
// range, backend registry, construction errors, max_turns, callbacks that throw.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>

#include "cppflue/cppflue.hpp"
#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;

namespace {

class AgentTest : public ::testing::Test {
 protected:
  std::string script(const std::string& name, const std::string& body) {
    auto p = dir_.path() / name;
    write_file(p, body);
    return "test:" + p.string();
  }
  InitOptions options(const std::string& model = "test:echo") {
    InitOptions o;
    o.root = dir_.path().string();
    o.model = model;
    return o;
  }
  TempDir dir_;
};

ToolDefinition counter_tool(std::atomic<int>& calls) {
  ToolDefinition t;
  t.name = "count";
  t.description = "Counts.";
  t.execute = [&calls](const json&, ToolContext&) -> json { return ++calls; };
  return t;
}

TEST_F(AgentTest, AsyncPromptWithDefaultOptionsFromACoroutine) {
  // Regression: `co_await s.async_prompt("...")` once destroyed a default-argument temporary
  // twice (GCC 12); it must work with and without options, many times.
  auto runtime = std::make_shared<Runtime>();
  auto o = options();
  o.runtime = runtime;
  auto agent = init(o);
  auto session = agent.session("async");
  auto body = [&session]() -> boost::asio::awaitable<std::string> {
    std::string last;
    for (int i = 0; i < 20; ++i) {
      auto r = co_await session.async_prompt("ping " + std::to_string(i));
      last = r.text;
    }
    PromptOptions opts;
    opts.model = "test:echo";
    auto r2 = co_await session.async_prompt("with options", opts);
    auto r3 = co_await session.async_stream("streamed", [](const Event&) {});
    co_return last + "|" + r2.text + "|" + r3.text;
  };
  auto fut = boost::asio::co_spawn(runtime->executor(), body(), boost::asio::use_future);
  std::string out = fut.get();
  EXPECT_NE(out.find("You said: ping 19"), std::string::npos) << out;
  EXPECT_NE(out.find("You said: with options"), std::string::npos) << out;
  EXPECT_NE(out.find("You said: streamed"), std::string::npos) << out;
  EXPECT_EQ(session.history().size(), 44u);
}

TEST_F(AgentTest, SyncCallFromARuntimeThreadIsRefused) {
  auto runtime = std::make_shared<Runtime>();
  auto o = options();
  o.runtime = runtime;
  auto agent = init(o);
  auto session = agent.session("s");
  std::promise<std::string> message;
  boost::asio::post(runtime->executor(), [&] {
    try {
      session.prompt("hi");
      message.set_value("no error");
    } catch (const Exception& e) {
      message.set_value(e.what());
    }
  });
  EXPECT_NE(message.get_future().get().find("deadlock"), std::string::npos);
}

TEST_F(AgentTest, PullStreamYieldsEventsInOrderAndResult) {
  auto agent = init(options());
  auto session = agent.session("pull");
  auto stream = session.stream("hello world");
  std::vector<std::string> types;
  std::string text;
  for (const Event& e : stream) {
    types.push_back(e.type);
    if (e.type == "text_delta") text += e.data.at("text").as_string();
  }
  EXPECT_EQ(types.front(), "operation_start");
  EXPECT_EQ(types.back(), "operation");
  EXPECT_EQ(text, "[offline test model] You said: hello world");
  EXPECT_EQ(stream.result().text, text);
}

TEST_F(AgentTest, PullStreamThrowsAtTheEndWhenTheOperationFails) {
  auto o = options(script("loop.json", R"({"turns":[
      {"tool_calls":[{"name":"count","arguments":{}}]},
      {"tool_calls":[{"name":"count","arguments":{}}]},
      {"tool_calls":[{"name":"count","arguments":{}}]}]})"));
  std::atomic<int> calls{0};
  o.tools = {counter_tool(calls)};
  o.max_turns = 2;
  auto agent = init(o);
  auto session = agent.session("fail");
  auto stream = session.stream("go");
  std::vector<std::string> types;
  json error_event;
  try {
    for (const Event& e : stream) {
      types.push_back(e.type);
      if (e.type == "error") error_event = to_json(e);
    }
    FAIL() << "expected max_turns_exceeded";
  } catch (const Exception& e) {
    EXPECT_EQ(e.type(), ErrorType::max_turns_exceeded) << e.what();
  }
  EXPECT_NE(std::find(types.begin(), types.end(), "error"), types.end());
  // The wire form keeps the event type and carries the error's own type beside it.
  ASSERT_TRUE(error_event.is_object());
  EXPECT_EQ(error_event.at("type"), "error");
  EXPECT_EQ(error_event.at("error_type"), "max_turns_exceeded");
  EXPECT_EQ(calls.load(), 2);
  // History stays answerable: every tool call has its result.
  auto h = session.history();
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(h.back().role, Role::tool);
}

TEST_F(AgentTest, DestroyingAStreamEarlyAbortsTheOperation) {
  auto agent = init(options(script("slow.json", R"({"turns":[{"text":"slow","delay_ms":5000}]})")));
  auto session = agent.session("early");
  auto t0 = std::chrono::steady_clock::now();
  {
    auto stream = session.stream("hi");
    auto it = stream.begin();  // operation_start
    EXPECT_EQ(it->type, "operation_start");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_FALSE(session.busy());
}

TEST_F(AgentTest, ThrowingEventCallbackDoesNotBreakTheOperation) {
  auto o = options();
  o.on_event = [](const Event&) { throw std::runtime_error("observer bug"); };
  auto agent = init(o);
  auto session = agent.session("cb");
  EXPECT_NE(session.prompt("still works").text.find("still works"), std::string::npos);
}

TEST_F(AgentTest, UnknownHarnessListsAvailableOnes) {
  auto o = options();
  o.harness = "nope";
  try {
    init(o);
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(std::string(e.what()).find("native"), std::string::npos) << e.what();
  }
}

TEST_F(AgentTest, CustomHarnessBackendIsUsed) {
  class OneShot final : public HarnessBackend {
   public:
    boost::asio::awaitable<Result<ModelResponse>> run(TurnContext& ctx) override {
      auto r = co_await ctx.call_model();
      if (!r) co_return r;
      r->message.text = "custom: " + r->message.text;
      if (auto a = ctx.append(r->message); !a) co_return fail(a.error());
      co_return r;
    }
  };
  register_harness("one-shot", [] { return std::make_shared<OneShot>(); });
  auto names = harness_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "native"), names.end());
  auto o = options();
  o.harness = "one-shot";
  auto agent = init(o);
  auto session = agent.session("custom");
  EXPECT_EQ(session.prompt("x").text.rfind("custom: ", 0), 0u);
}

TEST_F(AgentTest, ToolNameClashesAreConstructionErrors) {
  std::atomic<int> calls{0};
  auto o = options();
  o.tools = {counter_tool(calls), counter_tool(calls)};
  EXPECT_THROW(init(o), Exception);
  o.tools = {counter_tool(calls)};
  o.tools[0].name = "bad name!";
  EXPECT_THROW(init(o), Exception);
  o.tools[0].name = "ok";
  o.tools[0].execute = nullptr;
  EXPECT_THROW(init(o), Exception);
  // A per-call tool clashing with an agent tool fails the call, not the process.
  o.tools = {counter_tool(calls)};
  auto agent = init(o);
  auto session = agent.session("clash");
  PromptOptions po;
  po.tools = {counter_tool(calls)};
  EXPECT_THROW(session.prompt("x", po), Exception);
  EXPECT_FALSE(session.busy());
}

TEST_F(AgentTest, UnknownProviderFailsAtInitListingKnownOnes) {
  try {
    init(options("nosuch:model"));
    FAIL();
  } catch (const Exception& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("unknown provider 'nosuch'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("openai"), std::string::npos) << msg;
    EXPECT_NE(msg.find("anthropic"), std::string::npos) << msg;
  }
}

TEST_F(AgentTest, BadToolArgumentsAreShownToTheModel) {
  auto o = options(script("bad-args.json", R"({"turns":[
      {"tool_calls":[{"name":"needs_city","arguments":{}}]},
      {"text":"saw: {{tool_result}}"}]})"));
  ToolDefinition t;
  t.name = "needs_city";
  t.parameters = json_object{{"type", "object"},
                             {"properties", json_object{{"city", json_object{{"type", "string"}}}}},
                             {"required", json_array{"city"}}};
  bool ran = false;
  t.execute = [&ran](const json&, ToolContext&) -> json {
    ran = true;
    return "x";
  };
  o.tools = {t};
  auto agent = init(o);
  auto r = agent.session("args").prompt("go");
  EXPECT_FALSE(ran);
  EXPECT_NE(r.text.find("missing required property \"city\""), std::string::npos) << r.text;
}

TEST_F(AgentTest, UnknownToolCallIsAnErrorResult) {
  auto agent = init(options(script("unknown.json", R"({"turns":[
      {"tool_calls":[{"name":"ghost","arguments":{}}]},
      {"text":"saw: {{tool_result}}"}]})")));
  auto r = agent.session("ghost").prompt("go");
  EXPECT_NE(r.text.find("unknown tool 'ghost'"), std::string::npos) << r.text;
}

TEST_F(AgentTest, EntriesAreDurableAndStructured) {
  std::atomic<int> calls{0};
  auto o = options(script("tool.json", R"({"turns":[
      {"text":"calling","tool_calls":[{"name":"count","arguments":{}}]},
      {"text":"done"}]})"));
  o.tools = {counter_tool(calls)};
  auto agent = init(o);
  agent.session("durable").prompt("go");
  // A separate store connection (as another process would open) sees every entry.
  auto store = open_sqlite_store(dir_.path() / ".cppflue" / "state.db");
  ASSERT_TRUE(store.has_value());
  auto entries = (*store)->entries("durable");
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].role, "user");
  EXPECT_EQ((*entries)[1].role, "assistant");
  EXPECT_EQ((*entries)[2].role, "tool");
  EXPECT_EQ((*entries)[3].role, "assistant");
  auto m = message_from_json((*entries)[1].content);
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->tool_calls.size(), 1u);
  EXPECT_EQ(m->tool_calls[0].name, "count");
}

TEST_F(AgentTest, InvalidSessionIdIsRejected) {
  auto agent = init(options());
  EXPECT_THROW(agent.session(""), Exception);
  EXPECT_THROW(agent.session(std::string(300, 'x')), Exception);
}

}  // namespace

// A process that died during a tool call left calls without results: loading the session
// answers them (stored, with is_error), so the next request is a valid conversation.
TEST(AgentRecovery, OpenToolCallsOfACrashedProcessAreAnsweredOnLoad) {
  TempDir dir;
  auto store = open_sqlite_store(dir.path() / ".cppflue" / "state.db");
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE((*store)->open_session("crashed", SessionInit{}).has_value());
  Message user;
  user.role = Role::user;
  user.text = "list files";
  Message assistant;
  assistant.role = Role::assistant;
  assistant.tool_calls.push_back(ToolCall{"call_1", "glob", json_object{{"pattern", "*"}}});
  assistant.tool_calls.push_back(ToolCall{"call_2", "read", json_object{{"path", "a"}}});
  Message answered;
  answered.role = Role::tool;
  answered.tool_call_id = "call_1";
  answered.tool_name = "glob";
  answered.text = "a";
  for (const auto& m : {user, assistant, answered}) {
    Entry e;
    e.kind = "message";
    e.role = std::string(role_name(m.role));
    e.content = to_json(m);
    ASSERT_TRUE((*store)->append_entry("crashed", e).has_value());
  }
  InitOptions o;
  o.root = dir.path().string();
  o.model = "test:echo";
  o.store = *store;
  auto agent = init(o);
  auto history = agent.session("crashed").history();
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[3].role, Role::tool);
  EXPECT_EQ(history[3].tool_call_id, "call_2");
  EXPECT_TRUE(history[3].is_error);
  EXPECT_NE(history[3].text.find("interrupted"), std::string::npos);
  auto stored = (*store)->entries("crashed");
  ASSERT_EQ(stored->size(), 4u);
  EXPECT_EQ(stored->back().source, "repair");
  // A complete conversation is left alone, and the session works.
  auto result = agent.session("crashed").prompt("again");
  EXPECT_FALSE(result.text.empty());
}
