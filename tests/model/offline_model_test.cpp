// SPDX-License-Identifier: Apache-2.0
// The scripted offline `test:` model: built-in scripts, templating, streaming, delays and
// cancellation, script files (valid and broken), and turn selection within a prompt.
#include "cppflue/model/offline_model.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cppflue/core/runtime.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

namespace cppflue {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using cppflue::testing::assistant;
using cppflue::testing::TempDir;
using cppflue::testing::tool_result;
using cppflue::testing::user;
using cppflue::testing::write_file;

bool contains(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

ToolSpec tool(std::string name) {
  ToolSpec t;
  t.name = std::move(name);
  t.description = "a tool";
  return t;
}

// A plain coroutine function: its parameters live in the coroutine frame.
asio::awaitable<Result<ModelResponse>> call(std::shared_ptr<ModelClient> model, ModelRequest req,
                                            DeltaCallback on_delta, CancelToken cancel) {
  co_return co_await model->complete(std::move(req), std::move(on_delta), std::move(cancel));
}

class OfflineModelTest : public ::testing::Test {
 protected:
  std::future<Result<ModelResponse>> start(std::shared_ptr<ModelClient> model, ModelRequest req,
                                           DeltaCallback on_delta = {}, CancelToken cancel = {}) {
    return asio::co_spawn(
        rt_.executor(),
        call(std::move(model), std::move(req), std::move(on_delta), std::move(cancel)),
        asio::use_future);
  }
  Result<ModelResponse> complete(std::shared_ptr<ModelClient> model, ModelRequest req,
                                 DeltaCallback on_delta = {}, CancelToken cancel = {}) {
    auto f = start(std::move(model), std::move(req), std::move(on_delta), std::move(cancel));
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      ADD_FAILURE() << "the offline model did not answer within 5 s";
      return fail(ErrorType::internal, "test: hung");
    }
    return f.get();
  }

  static std::shared_ptr<ModelClient> model(std::string_view name) {
    auto script = load_offline_script(name);
    EXPECT_TRUE(script.has_value()) << (script ? "" : script.error().message);
    if (!script) return nullptr;
    return make_offline_model(std::move(*script), "test:" + std::string(name));
  }

  static std::shared_ptr<ModelClient> model_from(const std::string& script_json) {
    auto j = parse_json(script_json);
    EXPECT_TRUE(j.has_value());
    auto script = parse_offline_script(*j, "inline");
    EXPECT_TRUE(script.has_value()) << (script ? "" : script.error().message);
    return make_offline_model(std::move(*script), "test:inline");
  }

  static ModelRequest request(std::vector<Message> messages, std::vector<ToolSpec> tools = {},
                              bool stream = false) {
    ModelRequest r;
    r.model = "demo";
    r.messages = std::move(messages);
    r.tools = std::move(tools);
    r.stream = stream;
    return r;
  }

  Runtime rt_;
};

// ---- built-in scripts ----

TEST_F(OfflineModelTest, DemoWithoutToolsAnswersDirectly) {
  auto r = complete(model("demo"), request({user("hi there")}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const std::string& text = r->message.text;
  EXPECT_EQ(text.rfind(std::string(kOfflineMarker), 0), 0u) << text;
  EXPECT_TRUE(contains(text, "You said: \"hi there\"")) << text;
  EXPECT_TRUE(contains(text, "No tool was offered")) << text;
  EXPECT_TRUE(r->message.tool_calls.empty());
  EXPECT_EQ(r->message.role, Role::assistant);
  EXPECT_EQ(r->finish_reason, FinishReason::stop);
  EXPECT_EQ(r->model, "test:demo");
  EXPECT_GT(r->usage.input, 0);
  EXPECT_GT(r->usage.output, 0);
  EXPECT_EQ(r->usage.total_tokens, r->usage.input + r->usage.output);
}

TEST_F(OfflineModelTest, DemoWithGlobToolRunsAToolCallThenReportsTheResult) {
  auto m = model("demo");
  std::vector<ToolSpec> tools{tool("read"), tool("glob")};
  auto first = complete(m, request({user("what is here?")}, tools));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_EQ(first->message.tool_calls.size(), 1u);
  const ToolCall& call = first->message.tool_calls[0];
  EXPECT_EQ(call.name, "glob");
  EXPECT_FALSE(call.id.empty());
  EXPECT_EQ(call.arguments, (json_object{{"pattern", "*"}}));
  auto raw = parse_json(call.raw_arguments);
  ASSERT_TRUE(raw.has_value()) << "raw_arguments must be JSON: " << call.raw_arguments;
  EXPECT_EQ(*raw, call.arguments);
  EXPECT_EQ(first->finish_reason, FinishReason::tool_calls);
  EXPECT_TRUE(contains(first->message.text, std::string(kOfflineMarker)));

  auto second = complete(m, request({user("what is here?"), first->message,
                                     tool_result(call.id, "glob", "a.txt\nb.txt")},
                                    tools));
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_TRUE(second->message.tool_calls.empty());
  EXPECT_EQ(second->finish_reason, FinishReason::stop);
  EXPECT_TRUE(contains(second->message.text, "a.txt\nb.txt")) << second->message.text;
  EXPECT_NE(first->id, second->id) << "each answer has its own id";
}

TEST_F(OfflineModelTest, RequiresToolTurnsAreSkippedWhenTheToolIsNotOffered) {
  // Offering other tools (but not glob) behaves like offering none.
  auto r = complete(model("demo"), request({user("x")}, {tool("read"), tool("grep")}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->message.tool_calls.empty());
  EXPECT_TRUE(contains(r->message.text, "You said: \"x\"")) << r->message.text;
}

TEST_F(OfflineModelTest, EchoRepeatsThePrompt) {
  auto r = complete(model("echo"), request({user("ping 123")}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.text, std::string(kOfflineMarker) + " You said: ping 123");
}

TEST_F(OfflineModelTest, RunningPastTheScriptSaysSo) {
  auto m = model("echo");
  auto r = complete(m, request({user("a"), assistant("one"), assistant("two")}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(contains(r->message.text, "no more turns")) << r->message.text;
  EXPECT_TRUE(contains(r->message.text, std::string(kOfflineMarker)));
}

// ---- templating ----

TEST_F(OfflineModelTest, TemplatesAreFilledIn) {
  auto m = model_from(R"({"turns": [
      {"text": "P={{prompt}} P2={{prompt}} T=[{{tools}}]", "tool_calls": [{"name": "t1"}]},
      {"text": "R=[{{tool_result}}] T=[{{tools}}]"}]})");
  auto first = complete(m, request({user("hello")}, {tool("alpha"), tool("beta")}));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->message.text, std::string(kOfflineMarker) + " P=hello P2=hello T=[alpha, beta]");

  // Two results of parallel calls, joined in order; no tools offered → "(none)".
  auto second = complete(m, request({user("hello"), assistant("", first->message.tool_calls),
                                     tool_result("c1", "t1", "first result"),
                                     tool_result("c2", "t1", "second result")}));
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->message.text,
            std::string(kOfflineMarker) + " R=[first result\nsecond result] T=[(none)]");
}

TEST_F(OfflineModelTest, ToolResultIsEmptyWithoutToolMessages) {
  auto m = model_from(R"({"turns": [{"text": "R=[{{tool_result}}]"}]})");
  auto r = complete(m, request({user("q")}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->message.text, std::string(kOfflineMarker) + " R=[]");
}

// Placeholders are expanded in one pass: a prompt or tool result that itself contains
// "{{tools}}" / "{{tool_result}}" is inserted verbatim (this used to be rewritten: test:echo
// with the prompt "{{tools}}" answered "You said: (none)").
TEST_F(OfflineModelTest, PromptAndToolResultsAreInsertedLiterally) {
  auto echo = complete(model("echo"),
                       request({user("show {{tools}} and {{tool_result}} as is")}, {tool("glob")}));
  ASSERT_TRUE(echo.has_value()) << echo.error().message;
  EXPECT_EQ(echo->message.text,
            std::string(kOfflineMarker) + " You said: show {{tools}} and {{tool_result}} as is");

  auto m = model_from(
      R"({"turns": [{"text": "", "tool_calls": [{"name": "read"}]}, {"text": "R={{tool_result}}"}]})");
  auto r = complete(
      m, request({user("q"), assistant(""), tool_result("c1", "read", "a file about {{tools}}")},
                 {tool("read")}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.text, std::string(kOfflineMarker) + " R=a file about {{tools}}");
}

TEST_F(OfflineModelTest, PromptIsTheLastUserMessage) {
  auto m = model("echo");
  auto r = complete(m, request({user("old"), assistant("answer"), user("new one")}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->message.text, std::string(kOfflineMarker) + " You said: new one");
}

// ---- turn selection ----

TEST_F(OfflineModelTest, TurnIndexCountsAssistantMessagesSinceTheLastUserMessage) {
  auto m = model_from(R"({"turns": [{"text": "zero", "tool_calls": [{"name": "t"}]},
                                    {"text": "one", "tool_calls": [{"name": "t"}]},
                                    {"text": "two"}]})");
  auto text_of = [&](std::vector<Message> msgs) {
    auto r = complete(m, request(std::move(msgs)));
    EXPECT_TRUE(r.has_value());
    return r ? r->message.text : std::string();
  };
  const std::string mk = std::string(kOfflineMarker) + " ";
  EXPECT_EQ(text_of({user("a")}), mk + "zero");
  EXPECT_EQ(text_of({user("a"), assistant("zero"), tool_result("1", "t", "r")}), mk + "one");
  EXPECT_EQ(text_of({user("a"), assistant("zero"), tool_result("1", "t", "r"), assistant("one"),
                     tool_result("2", "t", "r")}),
            mk + "two");
  // A new user message restarts the script, whatever came before it.
  EXPECT_EQ(text_of({user("a"), assistant("zero"), tool_result("1", "t", "r"), assistant("one"),
                     tool_result("2", "t", "r"), assistant("two"), user("b")}),
            mk + "zero");
}

TEST_F(OfflineModelTest, ToolCallIdsAreGeneratedUnlessScripted) {
  auto m = model_from(R"({"turns": [{"text": "x", "tool_calls": [
      {"name": "a", "arguments": {"n": 1}},
      {"name": "b", "id": "my_id"},
      {"name": "a"}]}]})");
  auto r = complete(m, request({user("q")}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const auto& calls = r->message.tool_calls;
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].id, "my_id");
  EXPECT_FALSE(calls[0].id.empty());
  EXPECT_FALSE(calls[2].id.empty());
  EXPECT_NE(calls[0].id, calls[2].id) << "parallel calls need distinct ids";
  EXPECT_EQ(calls[0].arguments, (json_object{{"n", 1}}));
  EXPECT_TRUE(calls[1].arguments.is_object());
  EXPECT_EQ(r->finish_reason, FinishReason::tool_calls);
}

// ---- streaming ----

TEST_F(OfflineModelTest, StreamingDeltasConcatenateToTheText) {
  auto m = model_from(R"({"turns": [{"text": "The quick  brown fox\njumps.", "thinking": "hmm",
                                     "tool_calls": [{"name": "first"}, {"name": "second"}]}]})");
  std::string text, thinking;
  std::vector<std::string> tool_names;
  int text_deltas = 0;
  auto r = complete(m, request({user("go")}, {}, /*stream=*/true), [&](const ModelDelta& d) {
    switch (d.kind) {
      case ModelDelta::Kind::text:
        text += d.text;
        ++text_deltas;
        break;
      case ModelDelta::Kind::thinking:
        thinking += d.text;
        break;
      case ModelDelta::Kind::tool_call:
        tool_names.push_back(d.text);
        EXPECT_EQ(d.index, static_cast<int>(tool_names.size()) - 1);
        break;
    }
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(text, r->message.text);
  EXPECT_GT(text_deltas, 3) << "text is streamed in word-sized pieces";
  EXPECT_EQ(thinking, "hmm");
  EXPECT_EQ(r->message.thinking, "hmm");
  EXPECT_EQ(tool_names, (std::vector<std::string>{"first", "second"}));
}

TEST_F(OfflineModelTest, NonStreamingRequestsGetNoDeltas) {
  int deltas = 0;
  auto r = complete(model("echo"), request({user("a b c")}, {}, /*stream=*/false),
                    [&](const ModelDelta&) { ++deltas; });
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(deltas, 0);
}

// ---- delays and cancellation ----

TEST_F(OfflineModelTest, DelayIsHonoured) {
  auto m = model_from(R"({"turns": [{"text": "late", "delay_ms": 200}]})");
  auto t0 = Clock::now();
  auto r = complete(m, request({user("q")}));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_GE(ms, 190);
  EXPECT_LT(ms, 1500);
}

TEST_F(OfflineModelTest, DelayIsCancellable) {
  auto m = model_from(R"({"turns": [{"text": "never", "delay_ms": 5000}]})");
  CancelSource source;
  int deltas = 0;
  auto f = start(
      m, request({user("q")}, {}, true), [&](const ModelDelta&) { ++deltas; }, source.token());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto t0 = Clock::now();
  source.cancel();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(2)), std::future_status::ready)
      << "cancel did not interrupt the delay";
  auto r = f.get();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
  EXPECT_LT(ms, 500);
  EXPECT_EQ(deltas, 0);
}

TEST_F(OfflineModelTest, AlreadyCancelledRequestFails) {
  CancelSource source;
  source.cancel();
  auto r = complete(model("echo"), request({user("q")}), {}, source.token());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
}

// ---- script files ----

TEST_F(OfflineModelTest, LoadsAValidScriptFile) {
  TempDir dir;
  auto path = dir.path() / "script.json";
  write_file(path, R"({"turns": [
    {"text": "calling", "thinking": "plan", "tool_calls": [{"name": "read", "arguments": {"path": "a"}}]},
    {"text": "done: {{tool_result}}", "delay_ms": 0, "requires_tool": "read"}
  ]})");
  auto script = load_offline_script(path.string());
  ASSERT_TRUE(script.has_value()) << script.error().message;
  ASSERT_EQ(script->turns.size(), 2u);
  EXPECT_EQ(script->turns[0].text, "calling");
  EXPECT_EQ(script->turns[0].thinking, "plan");
  ASSERT_EQ(script->turns[0].tool_calls.size(), 1u);
  EXPECT_EQ(script->turns[0].tool_calls[0].name, "read");
  EXPECT_EQ(script->turns[0].tool_calls[0].arguments, (json_object{{"path", "a"}}));
  EXPECT_EQ(script->turns[1].requires_tool, "read");

  // Any existing file works, whatever its extension.
  auto other = dir.path() / "script.txt";
  write_file(other, R"({"turns": [{"text": "t"}]})");
  auto s2 = load_offline_script(other.string());
  ASSERT_TRUE(s2.has_value()) << s2.error().message;
  EXPECT_EQ(s2->turns.size(), 1u);
}

TEST_F(OfflineModelTest, InvalidJsonNamesTheFileLineAndColumn) {
  TempDir dir;
  auto path = dir.path() / "bad.json";
  write_file(path, "{\"turns\": [\n  {\"text\": \"a\"},\n  {\"text\": oops}\n]}");
  auto r = load_offline_script(path.string());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  const std::string& m = r.error().message;
  EXPECT_TRUE(contains(m, path.string())) << m;
  EXPECT_TRUE(contains(m, "line 3")) << m;
  EXPECT_TRUE(contains(m, "column")) << m;
}

TEST_F(OfflineModelTest, UnknownKeyNamesItsPath) {
  TempDir dir;
  auto path = dir.path() / "typo.json";
  write_file(path, R"({"turns": [{"text": "a"}, {"txet": "b"}]})");
  auto r = load_offline_script(path.string());
  ASSERT_FALSE(r.has_value()) << "a misspelt key was silently ignored";
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  const std::string& m = r.error().message;
  EXPECT_TRUE(contains(m, "/turns/1")) << m;
  EXPECT_TRUE(contains(m, "txet")) << m;
  EXPECT_TRUE(contains(m, path.string())) << m;
}

TEST_F(OfflineModelTest, WrongTypesAreRejectedWithTheirPath) {
  struct Case {
    const char* script;
    const char* where;
  };
  const Case cases[] = {
      {R"({"turns": [{"text": 5}]})", "/turns/0/text"},
      {R"({"turns": [{"thinking": []}]})", "/turns/0/thinking"},
      {R"({"turns": [{"text": "a"}, {"delay_ms": -1}]})", "/turns/1/delay_ms"},
      {R"({"turns": [{"delay_ms": "10"}]})", "/turns/0/delay_ms"},
      {R"({"turns": [{"tool_calls": {}}]})", "/turns/0/tool_calls"},
      {R"({"turns": [{"tool_calls": [{"arguments": {}}]}]})", "/turns/0/tool_calls/0/name"},
      {R"({"turns": [{"tool_calls": [{"name": ""}]}]})", "/turns/0/tool_calls/0/name"},
      {R"({"turns": [{"tool_calls": [{"name": "a"}, {"name": "b", "arguments": [1]}]}]})",
       "/turns/0/tool_calls/1/arguments"},
      {R"({"turns": ["text"]})", "/turns/0"},
      {R"({"turns": [{"requires_tool": 1}]})", "/turns/0/requires_tool"},
  };
  for (const auto& c : cases) {
    auto j = parse_json(c.script);
    ASSERT_TRUE(j.has_value()) << c.script;
    auto r = parse_offline_script(*j, "case");
    ASSERT_FALSE(r.has_value()) << "accepted: " << c.script;
    EXPECT_EQ(r.error().type, ErrorType::invalid_input);
    EXPECT_TRUE(contains(r.error().message, c.where)) << c.script << " → " << r.error().message;
  }
}

TEST_F(OfflineModelTest, ScriptWithoutTurnsArrayIsRejected) {
  for (const char* text : {R"({})", R"([])", R"({"turns": {}})", R"("turns")", R"({"turns": 1})"}) {
    auto j = parse_json(text);
    ASSERT_TRUE(j.has_value());
    auto r = parse_offline_script(*j, "origin-name");
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_TRUE(contains(r.error().message, "turns")) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "origin-name")) << r.error().message;
  }
}

TEST_F(OfflineModelTest, MissingScriptFileIsNotFound) {
  TempDir dir;
  auto path = dir.path() / "nope.json";
  auto r = load_offline_script(path.string());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::not_found);
  EXPECT_TRUE(contains(r.error().message, path.string())) << r.error().message;
}

TEST_F(OfflineModelTest, UnknownBuiltinNameListsTheChoices) {
  auto r = load_offline_script("nosuch");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  EXPECT_TRUE(contains(r.error().message, "nosuch")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "test:demo")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "test:echo")) << r.error().message;
}

TEST_F(OfflineModelTest, MakeModelClientBuildsTheOfflineModelForTestProvider) {
  auto resolved = resolve_model("test:echo", {});
  ASSERT_TRUE(resolved.has_value());
  auto client = make_model_client(*resolved, nullptr);
  ASSERT_TRUE(client.has_value()) << client.error().message;
  auto r = complete(*client, request({user("via factory")}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->message.text, std::string(kOfflineMarker) + " You said: via factory");

  auto bad = resolve_model("test:nosuch", {});
  ASSERT_TRUE(bad.has_value());
  auto no_client = make_model_client(*bad, nullptr);
  ASSERT_FALSE(no_client.has_value());
  EXPECT_TRUE(contains(no_client.error().message, "nosuch"));
}

}  // namespace
}  // namespace cppflue
