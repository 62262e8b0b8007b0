// SPDX-License-Identifier: Apache-2.0
// Subagent tasks, compaction and Command tools, end to end against the scripted fake provider
// (Chat Completions wire format): what the model is sent, what is stored, which events fire.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "cppflue/cppflue.hpp"
#include "cppflue/store/store.hpp"
#include "support/conversation.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"
#include "support/wire_script.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;

namespace {

constexpr WireApi kApi = WireApi::openai_chat;

class Harness : public ::testing::Test {
 protected:
  void SetUp() override { config_ = "[sandbox]\nisolation = \"none\"\n"; }

  Agent make_agent(InitOptions o = {}) {
    write_file(dir_.path() / "cppflue.toml",
               "[providers.fake]\napi = \"openai-chat\"\nbase_url = \"" + fake_.base_url() +
                   "/v1\"\napi_key = \"sk-test\"\n" + config_);
    o.model = "fake:fake-model";
    o.root = dir_.path().string();
    if (o.sandbox.empty()) o.sandbox = "none";
    o.on_event = [this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
    o.retry = RetryPolicy{.max_attempts = 1, .base_delay = 1ms, .max_delay = 2ms};
    return init(std::move(o));
  }

  void reply(const ScriptedTurn& t, int delay_ms = 0) {
    FakeReply r;
    r.chunks = {response_json(kApi, t)};
    r.initial_delay_ms = delay_ms;
    fake_.enqueue(std::move(r));
  }

  std::vector<ConversationView> views() const {
    std::vector<ConversationView> out;
    for (const auto& r : fake_.requests()) {
      auto v = view_request(kApi, r.json_body, r.target);
      EXPECT_EQ(check_invariants(v), "") << dump(r.json_body);
      out.push_back(std::move(v));
    }
    return out;
  }

  std::vector<Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

  std::vector<std::string> types_of(std::string_view prefix) {
    std::vector<std::string> out;
    for (const auto& e : events()) {
      if (e.type.rfind(prefix, 0) == 0) out.push_back(e.type);
    }
    return out;
  }

  TempDir dir_;
  FakeProvider fake_;
  std::string config_;
  std::mutex mu_;
  std::vector<Event> events_;
};

// ---- tasks ----

TEST_F(Harness, TwoTaskCallsInOneTurnRunConcurrentlyAndStoreChildHistories) {
  auto agent = make_agent();
  reply(calls_turn({tool_call("c1", "task", json_object{{"prompt", "Research A"}}),
                    tool_call("c2", "task", json_object{{"prompt", "Research B"}})}));
  // Each child's answer is held back 400 ms: the two children must be waiting at once.
  reply(text_turn("child answer"), 400);
  reply(text_turn("child answer"), 400);
  reply(text_turn("Both done."));
  auto s = agent.session("boss");
  auto r = s.prompt("Split the work");
  EXPECT_EQ(r.text, "Both done.");

  // Both task_start events precede the first task_end: the tasks overlapped.
  auto order = types_of("task_");
  ASSERT_EQ(order, (std::vector<std::string>{"task_start", "task_start", "task_end", "task_end"}));
  // The agent-wide callback sees each child event once (it arrives through the parent).
  for (const char* child : {"boss:task:1", "boss:task:2"}) {
    int starts = 0, ends = 0;
    for (const auto& e : events()) {
      if (e.data.at("session_id") != child) continue;
      starts += e.type == "operation_start";
      ends += e.type == "operation";
    }
    EXPECT_EQ(starts, 1) << child;
    EXPECT_EQ(ends, 1) << child;
  }
  auto vs = views();
  ASSERT_EQ(vs.size(), 4u);
  // The parent offers the task tool; the children got their prompts as user messages.
  EXPECT_NE(std::find(vs[0].tool_names.begin(), vs[0].tool_names.end(), "task"),
            vs[0].tool_names.end());
  std::set<std::string> child_prompts{vs[1].items.at(0).text, vs[2].items.at(0).text};
  EXPECT_EQ(child_prompts, (std::set<std::string>{"Research A", "Research B"}));
  // The parent's next request carries both task results.
  ASSERT_EQ(vs[3].roles(), (std::vector<std::string>{"user", "assistant", "tool", "tool"}));
  EXPECT_EQ(vs[3].items[2].text, "child answer");
  EXPECT_EQ(vs[3].items[3].text, "child answer");

  // Child histories are stored as their own sessions, linked to the parent.
  auto store = agent.store();
  for (const char* id : {"boss:task:1", "boss:task:2"}) {
    auto rec = store->get_session(id);
    ASSERT_TRUE(rec && *rec) << id;
    EXPECT_EQ((*rec)->parent_id, "boss");
    EXPECT_EQ((*rec)->metadata.at("task_depth"), 1);
    auto entries = store->entries(id);
    ASSERT_TRUE(entries);
    ASSERT_GE(entries->size(), 2u);
    EXPECT_EQ(entries->at(0).role, "user");
    EXPECT_EQ(entries->at(1).role, "assistant");
  }
  auto parent = store->get_session("boss");
  ASSERT_TRUE(parent && *parent);
  EXPECT_EQ((*parent)->metadata.at("children").as_array().size(), 2u);
  // Child events reach the parent's listeners with the child's session id.
  bool child_event = false;
  for (const auto& e : events()) {
    if (e.type == "turn" && e.data.at("session_id") == "boss:task:1") child_event = true;
  }
  EXPECT_TRUE(child_event);
}

TEST_F(Harness, TaskDepthLimit) {
  auto agent = make_agent(InitOptions{.max_task_depth = 1});
  reply(calls_turn({tool_call("c1", "task", json_object{{"prompt", "go deeper"}})}));
  reply(text_turn("leaf"));
  reply(text_turn("top"));
  auto s = agent.session("d");
  EXPECT_EQ(s.prompt("start").text, "top");
  auto vs = views();
  ASSERT_EQ(vs.size(), 3u);
  // The child is at the limit: it is not offered the task tool...
  EXPECT_EQ(std::find(vs[1].tool_names.begin(), vs[1].tool_names.end(), "task"),
            vs[1].tool_names.end());
  // ...and an explicit task from it is refused with a clear error.
  auto child = agent.session("d:task:1");
  try {
    child.task("one more level");
    FAIL() << "expected a depth error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::policy);
    EXPECT_NE(e.error().message.find("max_task_depth = 1"), std::string::npos) << e.error().message;
  }
  EXPECT_EQ(fake_.request_count(), 3u);  // no request for the refused task

  auto none = make_agent(InitOptions{.max_task_depth = 0});
  EXPECT_THROW(none.session("z").task("x"), Exception);
  auto names = none.tool_names();
  EXPECT_EQ(std::find(names.begin(), names.end(), "task"), names.end());
}

TEST_F(Harness, ExplicitTaskWithProfileRecordsDelegation) {
  SubagentProfile reviewer{.name = "reviewer",
                           .description = "Reviews changes",
                           .instructions = "You are a strict code reviewer.",
                           .model = "",
                           .thinking_level = "",
                           .tools = {}};
  auto agent = make_agent(InitOptions{.subagents = {reviewer}});
  reply(text_turn("Looks good."));
  auto s = agent.session("p");
  auto r = s.task("Review the diff", TaskOptions{.agent = "reviewer"});
  EXPECT_EQ(r.text, "Looks good.");
  EXPECT_EQ(r.session_id, "p:task:1");
  auto vs = views();
  ASSERT_EQ(vs.size(), 1u);
  EXPECT_NE(vs[0].system.find("You are a strict code reviewer."), std::string::npos);
  // The parent keeps a record of the delegation; its own conversation is untouched.
  auto entries = agent.store()->entries("p");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->at(0).kind, "marker");
  EXPECT_EQ(entries->at(0).content.at("event"), "task");
  EXPECT_EQ(entries->at(0).content.at("task_id"), "p:task:1");
  EXPECT_TRUE(s.history().empty());
  EXPECT_EQ(types_of("task_"), (std::vector<std::string>{"task_start", "task_end"}));

  try {
    s.task("x", TaskOptions{.agent = "nobody"});
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("unknown subagent 'nobody' (available: reviewer)"),
              std::string::npos)
        << e.error().message;
  }
}

TEST_F(Harness, AbortingTheParentStopsItsChildren) {
  auto agent = make_agent();
  reply(calls_turn({tool_call("c1", "task", json_object{{"prompt", "slow work"}})}));
  reply(text_turn("too late"), 5000);
  auto s = agent.session("ab");
  auto fut = std::async(std::launch::async, [&] { return s.prompt("go"); });
  // Wait until the child's model request is in flight.
  for (int i = 0; i < 2000 && fake_.request_count() < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(fake_.request_count(), 2u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(s.abort());
  ASSERT_EQ(fut.wait_for(3s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  try {
    fut.get();
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::cancelled);
  }
  // The child's own operation ends promptly too (it is aborted, not left running).
  auto child = agent.session("ab:task:1");
  for (int i = 0; i < 400 && child.busy(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(child.busy());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  auto entries = agent.store()->entries("ab:task:1");
  ASSERT_TRUE(entries);
  ASSERT_FALSE(entries->empty());
  EXPECT_EQ(entries->back().kind, "marker");
  EXPECT_EQ(entries->back().content.at("event"), "interrupted");
}

TEST_F(Harness, TaskCwdScopesTheSharedWorkspace) {
  auto agent = make_agent(InitOptions{.sandbox = "virtual", .allow_write = true});
  auto s = agent.session("w");
  s.write_file("sub/notes.txt", "inside the sub folder");
  s.write_file("secret.txt", "parent only");
  reply(calls_turn({tool_call("r1", "read", json_object{{"path", "notes.txt"}}),
                    tool_call("r2", "read", json_object{{"path", "../secret.txt"}})}));
  reply(text_turn("read it"));
  auto r = s.task("Read notes.txt", TaskOptions{.cwd = "sub"});
  EXPECT_EQ(r.text, "read it");
  auto vs = views();
  ASSERT_EQ(vs.size(), 2u);
  ASSERT_EQ(vs[1].items.size(), 4u);
  EXPECT_NE(vs[1].items[2].text.find("inside the sub folder"), std::string::npos);
  EXPECT_EQ(vs[1].items[3].text.find("parent only"), std::string::npos) << vs[1].items[3].text;
  EXPECT_NE(vs[1].items[3].text.find("outside"), std::string::npos) << vs[1].items[3].text;
  EXPECT_NE(vs[0].system.find("sub"), std::string::npos);
  EXPECT_THROW(s.task("x", TaskOptions{.cwd = "missing"}), Exception);
  EXPECT_THROW(s.task("x", TaskOptions{.cwd = "../.."}), Exception);
}

// ---- compaction ----

std::string words(int n, const std::string& tag) {
  std::string s;
  for (int i = 0; i < n; ++i) s += tag + " ";
  return s;
}

bool is_summary_request(const ConversationView& v) {
  return v.system.find("You summarise the earlier part") != std::string::npos;
}

TEST_F(Harness, ThresholdCompactionSummarisesBeforeTheTurn) {
  // Messages of ~1000 tokens each; the limit is 3000 - 500: crossed by the third prompt.
  config_ +=
      "[compaction]\ncontext_window_tokens = 3000\nreserve_tokens = 500\n"
      "keep_recent_tokens = 1200\n";
  auto agent = make_agent();
  ASSERT_LT(agent.system_prompt().size(), 1200u);  // the arithmetic above needs a short prompt
  auto s = agent.session("c");
  reply(text_turn("ok one"));
  s.prompt(words(667, "alpha"));  // 4002 bytes
  reply(text_turn("ok two"));
  s.prompt(words(800, "beta"));  // 4000 bytes
  EXPECT_TRUE(types_of("compaction").empty());
  reply(text_turn("SUMMARY-1: alpha and beta were discussed."));
  reply(text_turn("ok three"));
  const std::string gamma = words(667, "gamma") + "?";
  s.prompt(gamma);
  auto vs = views();
  ASSERT_EQ(vs.size(), 4u);
  EXPECT_TRUE(is_summary_request(vs[2]));
  EXPECT_NE(vs[2].items.at(0).text.find("alpha alpha"), std::string::npos);
  // After compaction the model sees summary + recent, not the old messages.
  const auto& after = vs[3];
  ASSERT_GE(after.items.size(), 2u);
  EXPECT_NE(after.items[0].text.find("SUMMARY-1"), std::string::npos);
  EXPECT_EQ(after.items.back().text, gamma);
  for (const auto& it : after.items) EXPECT_EQ(it.text.find("alpha alpha"), std::string::npos);
  auto ev = events();
  bool saw_start = false;
  for (const auto& e : ev) {
    if (e.type == "compaction_start") {
      saw_start = true;
      EXPECT_EQ(e.data.at("reason"), "threshold");
      EXPECT_GT(e.data.at("estimatedTokens").to_number<double>(), 400);
    }
    if (e.type == "compaction_end") {
      EXPECT_GT(e.data.at("messagesBefore").to_number<double>(),
                e.data.at("messagesAfter").to_number<double>());
    }
  }
  EXPECT_TRUE(saw_start);
  // All entries are kept in the store; a fresh agent rebuilds summary + recent.
  auto entries = agent.store()->entries("c");
  ASSERT_TRUE(entries);
  int messages = 0, compactions = 0;
  for (const auto& e : *entries) {
    messages += e.kind == "message";
    compactions += e.kind == "compaction";
  }
  EXPECT_EQ(messages, 6);
  EXPECT_EQ(compactions, 1);
  auto again = make_agent();
  auto h = again.session("c").history();
  ASSERT_FALSE(h.empty());
  EXPECT_NE(h[0].text.find("SUMMARY-1"), std::string::npos);
  EXPECT_EQ(h.back().text, "ok three");
}

TEST_F(Harness, OverflowCompactsOnceThenRetries) {
  auto agent = make_agent();
  auto s = agent.session("o");
  reply(text_turn("first"));
  s.prompt("question one " + words(40, "x"));
  reply(text_turn("second"));
  s.prompt("question two");
  fake_.enqueue_error(kApi, 400,
                      "This model's maximum context length is 128000 tokens. However, your "
                      "messages resulted in 130000 tokens.");
  reply(text_turn("SUMMARY-O"));
  reply(text_turn("third"));
  EXPECT_EQ(s.prompt("question three").text, "third");
  auto vs = views();
  ASSERT_EQ(vs.size(), 5u);
  EXPECT_TRUE(is_summary_request(vs[3]));
  EXPECT_NE(vs[4].items[0].text.find("SUMMARY-O"), std::string::npos);
  bool overflow = false;
  for (const auto& e : events()) {
    if (e.type == "compaction_start" && e.data.at("reason") == "overflow") overflow = true;
  }
  EXPECT_TRUE(overflow);

  // A second overflow in the same operation is not retried again.
  fake_.enqueue_error(kApi, 400, "maximum context length exceeded");
  reply(text_turn("SUMMARY-O2"));
  fake_.enqueue_error(kApi, 400, "maximum context length exceeded");
  try {
    s.prompt("question four");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::context_overflow);
  }
}

TEST_F(Harness, ManualCompactionFoldsThePreviousSummary) {
  config_ += "[compaction]\nkeep_recent_tokens = 5\n";
  auto agent = make_agent();
  auto s = agent.session("m");
  for (const char* t : {"one", "two", "three"}) {
    reply(text_turn(std::string("answer ") + t));
    s.prompt(std::string("message ") + t);
  }
  reply(text_turn("FIRST-SUMMARY"));
  auto c1 = s.compact();
  EXPECT_TRUE(c1.compacted);
  EXPECT_EQ(c1.summary, "FIRST-SUMMARY");
  EXPECT_EQ(c1.messages_before, 6);
  EXPECT_EQ(c1.messages_after, 3);  // summary + the last user/assistant pair
  for (const char* t : {"four", "five"}) {
    reply(text_turn(std::string("answer ") + t));
    s.prompt(std::string("message ") + t);
  }
  reply(text_turn("SECOND-SUMMARY"));
  auto c2 = s.compact();
  EXPECT_TRUE(c2.compacted);
  auto vs = views();
  const auto& second = vs.back();
  ASSERT_TRUE(is_summary_request(second));
  // The second summary request contains the first summary (and the messages since).
  EXPECT_NE(second.items.at(0).text.find("FIRST-SUMMARY"), std::string::npos);
  EXPECT_NE(second.items.at(0).text.find("message four"), std::string::npos);
  EXPECT_EQ(second.items.at(0).text.find("message one"), std::string::npos);
  auto h = s.history();
  EXPECT_NE(h.at(0).text.find("SECOND-SUMMARY"), std::string::npos);
  EXPECT_EQ(types_of("operation_start").size(), 7u);  // 5 prompts + 2 compactions
  // A fresh agent, which reads only from the last compaction's first kept entry on, rebuilds
  // the same context, and a prompt after the reload goes on from it.
  reply(text_turn("answer six"));
  s.prompt("message six");
  auto live = s.history();
  auto reloaded = make_agent().session("m").history();
  ASSERT_EQ(reloaded.size(), live.size());
  for (std::size_t i = 0; i < live.size(); ++i) EXPECT_EQ(reloaded[i].text, live[i].text) << i;

  // Nothing to compact: a single exchange.
  auto fresh = agent.session("m2");
  reply(text_turn("hi"));
  fresh.prompt("hello");
  auto c3 = fresh.compact();
  EXPECT_FALSE(c3.compacted);
}

// ---- commands ----

TEST_F(Harness, CommandToolsRunDuringAPrompt) {
  Command greet{
      .name = "greet",
      .description = "Say hello to someone.",
      .command = "echo hello-$WHO",
      .callable = nullptr,
      .schema = json_object{{"type", "object"},
                            {"properties", json_object{{"who", json_object{{"type", "string"}}}}},
                            {"required", json_array{"who"}}},
      .cwd = "",
      .env = {},
      .timeout = std::chrono::seconds(10)};
  Command add{.name = "add",
              .description = "Add two numbers.",
              .command = "",
              .callable = [](const json& a, ToolContext&) -> json {
                return a.at("a").to_number<double>() + a.at("b").to_number<double>();
              },
              .schema = nullptr,
              .cwd = "",
              .env = {},
              .timeout = std::chrono::seconds(120)};
  // Shell is off for the model, yet the developer's command runs (while the prompt holds the
  // session).
  auto agent = make_agent(InitOptions{.sandbox = "virtual", .allow_shell = false});
  reply(calls_turn({tool_call("g1", "greet", json_object{{"who", "bob; rm -rf /"}}),
                    tool_call("a1", "add", json_object{{"a", 2}, {"b", 3}}),
                    tool_call("b1", "bash", json_object{{"command", "echo no"}})}));
  reply(text_turn("done"));
  auto s = agent.session("cmd");
  auto r = s.prompt("use the commands", PromptOptions{.commands = {greet, add}});
  EXPECT_EQ(r.text, "done");
  auto vs = views();
  ASSERT_EQ(vs.size(), 2u);
  auto names = vs[0].tool_names;
  EXPECT_NE(std::find(names.begin(), names.end(), "greet"), names.end());
  const auto& items = vs[1].items;
  ASSERT_EQ(items.size(), 5u);
  EXPECT_FALSE(items[2].is_error) << items[2].text;
  // The argument arrives as a variable: never spliced into the command line.
  EXPECT_NE(items[2].text.find("hello-bob; rm -rf /"), std::string::npos) << items[2].text;
  EXPECT_EQ(items[3].text, "5");
  // bash itself stays refused, and is not offered.
  EXPECT_NE(items[4].text.find("allow_shell is off"), std::string::npos) << items[4].text;
  EXPECT_EQ(std::find(names.begin(), names.end(), "bash"), names.end());
  bool command_event = false;
  for (const auto& e : events()) {
    if (e.type == "command_start" && e.data.at("command") == "echo") command_event = true;
  }
  EXPECT_TRUE(command_event);
}

TEST_F(Harness, BadCommandsAreRefusedAtConstruction) {
  Command both{.name = "x",
               .description = "",
               .command = "ls",
               .callable = [](const json&, ToolContext&) -> json { return nullptr; }};
  EXPECT_THROW(make_agent(InitOptions{.commands = {both}}), Exception);
  Command neither{.name = "y"};
  EXPECT_THROW(make_agent(InitOptions{.commands = {neither}}), Exception);
  Command clash{.name = "bash", .description = "", .command = "ls"};
  try {
    make_agent(InitOptions{.commands = {clash}});
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("built-in"), std::string::npos) << e.error().message;
  }
  Command ok{.name = "ok", .description = "", .command = "ls"};
  auto agent = make_agent(InitOptions{.commands = {ok, "git"}});
  auto names = agent.tool_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "ok"), names.end());
}

}  // namespace
