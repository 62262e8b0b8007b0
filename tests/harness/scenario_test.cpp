// SPDX-License-Identifier: Apache-2.0
// Scenario tests: a real agent (harness, model client, HTTP client, SSE parser, codecs, SQLite
// store) against the scripted fake provider, for each of the four wire APIs, streaming and not.
// Every recorded request is checked against the conversation invariants.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "cppflue/cppflue.hpp"
#include "cppflue/store/store.hpp"
#include "support/conversation.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;

namespace {

struct Param {
  WireApi api;
  bool stream;
};

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  std::string n(wire_api_name(info.param.api));
  for (auto& c : n) {
    if (c == '-') c = '_';
  }
  return n + (info.param.stream ? "_stream" : "_json");
}

ToolDefinition weather_tool(std::atomic<int>* calls = nullptr) {
  ToolDefinition t;
  t.name = "get_weather";
  t.description = "Current weather for one city.";
  t.parameters = json_object{{"type", "object"},
                             {"properties", json_object{{"city", json_object{{"type", "string"}}}}},
                             {"required", json_array{"city"}}};
  t.execute = [calls](const json& args, ToolContext&) -> json {
    if (calls) ++*calls;
    return json_object{{"city", args.at("city")}, {"tempC", 21}};
  };
  return t;
}

class Scenario : public ::testing::TestWithParam<Param> {
 protected:
  WireApi api() const { return GetParam().api; }
  bool streaming() const { return GetParam().stream; }

  std::string base_url(const std::string& host) const {
    return api() == WireApi::openai_chat || api() == WireApi::openai_responses ? host + "/v1"
                                                                               : host;
  }

  void write_config(const std::string& base) {
    write_file(dir_.path() / "cppflue.toml",
               "[providers.fake]\napi = \"" + std::string(wire_api_name(api())) +
                   "\"\nbase_url = \"" + base +
                   "\"\napi_key = \"sk-test-123\"\nheaders = { \"X-Team\" = \"blue\" }\n");
    write_file(dir_.path() / "AGENTS.md", "Project rule: answer in one sentence.");
  }

  Agent make_agent(std::vector<ToolDefinition> tools = {}, std::string base = "") {
    write_config(base.empty() ? base_url(fake_.base_url()) : base);
    InitOptions o;
    o.model = "fake:fake-model";
    o.root = dir_.path().string();
    o.sandbox = "none";  // the protocol is under test here, not the built-in tools
    o.max_task_depth = 0;
    o.tools = std::move(tools);
    o.on_event = [this](const Event& e) {
      std::lock_guard lock(events_mu_);
      events_.push_back(e);
    };
    o.retry = RetryPolicy{.max_attempts = 4, .base_delay = 1ms, .max_delay = 5ms};
    return init(std::move(o));
  }

  PromptResult run(Session& s, const std::string& text, PromptOptions opts = {}) {
    if (streaming())
      return s.stream(
          text, [](const Event&) {}, std::move(opts));
    return s.prompt(text, std::move(opts));
  }

  std::vector<ConversationView> views() const {
    std::vector<ConversationView> out;
    for (const auto& r : fake_.requests()) {
      EXPECT_FALSE(r.json_body.is_null()) << "request body is not JSON: " << r.body;
      if (r.json_body.is_null()) continue;
      auto v = view_request(api(), r.json_body, r.target);
      EXPECT_EQ(check_invariants(v), "") << dump(r.json_body);
      EXPECT_EQ(v.stream, streaming()) << r.target;
      out.push_back(std::move(v));
    }
    return out;
  }

  std::vector<std::string> event_types(bool with_deltas = false) {
    std::lock_guard lock(events_mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) {
      if (!with_deltas && (e.type == "text_delta" || e.type == "thinking_delta")) continue;
      out.push_back(e.type);
    }
    return out;
  }

  TempDir dir_;
  FakeProvider fake_;
  std::mutex events_mu_;
  std::vector<Event> events_;
};

TEST_P(Scenario, PlainAnswerWithSystemPromptAuthAndHeaders) {
  auto agent = make_agent();
  fake_.enqueue_turn(api(), text_turn("Paris is the capital of France.", Usage{12, 8, 0, 0, 20}),
                     streaming());
  auto session = agent.session("plain");
  auto r = run(session, "What is the capital of France?");
  EXPECT_EQ(r.text, "Paris is the capital of France.");
  EXPECT_EQ(r.usage.input, 12);
  EXPECT_EQ(r.usage.output, 8);
  EXPECT_EQ(r.session_id, "plain");
  ASSERT_EQ(fake_.request_count(), 1u);
  auto req = fake_.requests()[0];
  auto v = views()[0];
  EXPECT_NE(v.system.find("Project rule: answer in one sentence."), std::string::npos) << v.system;
  ASSERT_EQ(v.items.size(), 1u);
  EXPECT_EQ(v.items[0].role, "user");
  EXPECT_EQ(v.items[0].text, "What is the capital of France?");
  EXPECT_EQ(req.header("X-Team").value_or(""), "blue");
  switch (api()) {
    case WireApi::openai_chat:
    case WireApi::openai_responses:
      EXPECT_EQ(req.header("Authorization").value_or(""), "Bearer sk-test-123");
      break;
    case WireApi::anthropic:
      EXPECT_EQ(req.header("x-api-key").value_or(""), "sk-test-123");
      EXPECT_TRUE(req.header("anthropic-version").has_value());
      break;
    case WireApi::gemini:
      EXPECT_EQ(req.header("x-goog-api-key").value_or(""), "sk-test-123");
      break;
  }
}

TEST_P(Scenario, OneToolCallThenAnswer) {
  std::atomic<int> calls{0};
  auto agent = make_agent({weather_tool(&calls)});
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("call_1", "get_weather", json_object{{"city", "Paris"}})};
  fake_.enqueue_turn(api(), t1, streaming());
  fake_.enqueue_turn(api(), text_turn("It is 21 degrees in Paris."), streaming());
  auto session = agent.session("tool1");
  auto r = run(session, "Weather in Paris?");
  EXPECT_EQ(r.text, "It is 21 degrees in Paris.");
  EXPECT_EQ(calls.load(), 1);
  auto vs = views();
  ASSERT_EQ(vs.size(), 2u);
  // Tool definitions with their JSON Schema.
  ASSERT_EQ(vs[0].tool_names, std::vector<std::string>{"get_weather"});
  EXPECT_NE(dump(vs[0].tools).find("\"city\""), std::string::npos);
  // Second request: user, assistant tool call, tool result (structured, not flattened).
  ASSERT_EQ(vs[1].roles(), (std::vector<std::string>{"user", "assistant", "tool"}));
  EXPECT_EQ(vs[1].items[1].tool_name, "get_weather");
  EXPECT_NE(vs[1].items[2].text.find("21"), std::string::npos) << vs[1].items[2].text;
  EXPECT_EQ(r.metadata.at("turns").as_int64(), 2);
}

TEST_P(Scenario, TwoParallelToolCalls) {
  std::atomic<int> calls{0};
  auto agent = make_agent({weather_tool(&calls)});
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("call_a", "get_weather", json_object{{"city", "Paris"}}),
                   tool_call("call_b", "get_weather", json_object{{"city", "Oslo"}})};
  fake_.enqueue_turn(api(), t1, streaming());
  fake_.enqueue_turn(api(), text_turn("Both are mild."), streaming());
  auto session = agent.session("tool2");
  auto r = run(session, "Paris and Oslo?");
  EXPECT_EQ(r.text, "Both are mild.");
  EXPECT_EQ(calls.load(), 2);
  auto vs = views();
  ASSERT_EQ(vs.size(), 2u);
  ASSERT_EQ(vs[1].roles(), (std::vector<std::string>{"user", "assistant", "tool", "tool"}));
  EXPECT_EQ(vs[1].items[1].call_ids.size(), 2u);
  std::string results = vs[1].items[2].text + vs[1].items[3].text;
  EXPECT_NE(results.find("Paris"), std::string::npos);
  EXPECT_NE(results.find("Oslo"), std::string::npos);
}

TEST_P(Scenario, FailingToolErrorIsSeenByTheModel) {
  ToolDefinition broken;
  broken.name = "flaky";
  broken.description = "Always fails.";
  broken.execute = [](const json&, ToolContext&) -> json {
    throw std::runtime_error("disk on fire");
  };
  auto agent = make_agent({broken});
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("call_x", "flaky", json_object{})};
  fake_.enqueue_turn(api(), t1, streaming());
  fake_.enqueue_turn(api(), text_turn("The tool failed, so I stopped."), streaming());
  auto session = agent.session("broken");
  auto r = run(session, "Try the flaky tool");
  EXPECT_EQ(r.text, "The tool failed, so I stopped.");
  auto vs = views();
  ASSERT_EQ(vs.size(), 2u);
  ASSERT_EQ(vs[1].items.size(), 3u);
  EXPECT_NE(vs[1].items[2].text.find("disk on fire"), std::string::npos) << vs[1].items[2].text;
  if (api() == WireApi::anthropic) {
    EXPECT_TRUE(vs[1].items[2].is_error);
  }
  bool saw_error_end = false;
  for (const auto& e : events_) {
    if (e.type == "tool_end") saw_error_end = e.data.at("isError").as_bool();
  }
  EXPECT_TRUE(saw_error_end);
}

TEST_P(Scenario, ToolArgumentsSplitAcrossManyChunks) {
  json received;
  ToolDefinition echo;
  echo.name = "store_note";
  echo.description = "Stores a note.";
  echo.execute = [&received](const json& args, ToolContext&) -> json {
    received = args;
    return "stored";
  };
  auto agent = make_agent({echo});
  std::string long_text(300, 'x');
  json args = json_object{{"title", "A note with \"quotes\" and unicode é"},
                          {"body", long_text},
                          {"tags", json_array{"a", "b", "c"}}};
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("call_n", "store_note", args)};
  fake_.enqueue_turn(api(), t1, streaming(), /*arg_fragments=*/17);
  fake_.enqueue_turn(api(), text_turn("Saved."), streaming());
  auto session = agent.session("chunks");
  auto r = run(session, "Save a note");
  EXPECT_EQ(r.text, "Saved.");
  EXPECT_EQ(received, args);
}

TEST_P(Scenario, UsageSummedOverTurns) {
  auto agent = make_agent({weather_tool()});
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("call_u", "get_weather", json_object{{"city", "Rome"}})};
  t1.usage = Usage{100, 10, 0, 0, 110};
  fake_.enqueue_turn(api(), t1, streaming());
  fake_.enqueue_turn(api(), text_turn("Warm.", Usage{150, 5, 0, 0, 155}), streaming());
  auto session = agent.session("usage");
  auto r = run(session, "Rome?");
  EXPECT_EQ(r.usage.input, 250);
  EXPECT_EQ(r.usage.output, 15);
  EXPECT_EQ(r.usage.total_tokens, 265);
  std::lock_guard lock(events_mu_);
  int turns = 0;
  for (const auto& e : events_) {
    if (e.type == "turn") {
      ++turns;
      EXPECT_TRUE(e.data.at("usage").as_object().contains("total_tokens"));
    }
  }
  EXPECT_EQ(turns, 2);
}

TEST_P(Scenario, RateLimitedWithRetryAfterThenSuccess) {
  auto agent = make_agent();
  fake_.enqueue_error(api(), 429, "slow down", {{"Retry-After", "1"}});
  fake_.enqueue_turn(api(), text_turn("Finally."), streaming());
  auto session = agent.session("429");
  auto t0 = std::chrono::steady_clock::now();
  auto r = run(session, "hi");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.text, "Finally.");
  EXPECT_EQ(fake_.request_count(), 2u);
  EXPECT_GE(elapsed, 900ms) << "Retry-After was not honoured";
}

TEST_P(Scenario, ServerErrorThenSuccess) {
  auto agent = make_agent();
  fake_.enqueue_error(api(), 500, "transient");
  fake_.enqueue_turn(api(), text_turn("Recovered."), streaming());
  auto session = agent.session("500");
  EXPECT_EQ(run(session, "hi").text, "Recovered.");
  EXPECT_EQ(fake_.request_count(), 2u);
}

TEST_P(Scenario, PromptsThatFailedBeforeAnyAnswerAreNotSentAgain) {
  // 401 (not retried), 429 with the retries exhausted, 400: three prompts fail before the model
  // said anything. The fourth request holds one user message; the failed ones stay stored,
  // marked, and stay out of the context when the session is opened again.
  auto agent = make_agent();
  auto session = agent.session("failing");
  fake_.enqueue_error(api(), 401, "bad key");
  for (int i = 0; i < 4; ++i) fake_.enqueue_error(api(), 429, "slow down");
  fake_.enqueue_error(api(), 400, "bad request");
  for (const char* text : {"first", "second", "third"}) {
    EXPECT_THROW(run(session, text), Exception) << text;
  }
  fake_.enqueue_turn(api(), text_turn("Hello."), streaming());
  EXPECT_EQ(run(session, "fourth").text, "Hello.");
  auto vs = views();
  ASSERT_FALSE(vs.empty());
  const auto& last = vs.back();
  std::vector<std::string> users;
  for (const auto& item : last.items) {
    if (item.role == "user") users.push_back(item.text);
  }
  ASSERT_EQ(users.size(), 1u) << ::testing::PrintToString(users);
  EXPECT_NE(users[0].find("fourth"), std::string::npos);

  // Stored and marked.
  auto entries = agent.store()->entries("failing");
  ASSERT_TRUE(entries);
  int failed_markers = 0;
  for (const auto& e : *entries) {
    if (e.kind == "marker" && get_int(e.content, "dropped_seq")) ++failed_markers;
  }
  EXPECT_EQ(failed_markers, 3);
  int stored_users = 0;
  for (const auto& e : *entries) {
    if (e.kind == "message" && e.role == "user") ++stored_users;
  }
  EXPECT_EQ(stored_users, 4);

  // A fresh agent on the same store loads the same context: user "fourth", assistant "Hello.".
  auto again = make_agent();
  auto reopened = again.session("failing");
  auto history = reopened.history();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].role, Role::user);
  EXPECT_NE(history[0].text.find("fourth"), std::string::npos);
  EXPECT_EQ(history[1].text, "Hello.");
}

TEST_P(Scenario, AFailureAfterAnAnswerKeepsTheConversation) {
  // The model answered with a tool call, then the next call failed: the user message, the call
  // and its result stay in the context (nothing is dropped).
  auto agent = make_agent({weather_tool()});
  auto session = agent.session("partial");
  fake_.enqueue_turn(
      api(), calls_turn({tool_call("call_1", "get_weather", json_object{{"city", "Oslo"}})}),
      streaming());
  fake_.enqueue_error(api(), 400, "bad request");
  EXPECT_THROW(run(session, "weather?"), Exception);
  auto history = session.history();
  ASSERT_GE(history.size(), 3u);
  EXPECT_EQ(history[0].role, Role::user);
  EXPECT_EQ(history[1].role, Role::assistant);
  EXPECT_EQ(history[2].role, Role::tool);
}

TEST_P(Scenario, ServerErrorForeverGivesUpAfterFourAttempts) {
  auto agent = make_agent();
  FakeReply err;
  err.status = 500;
  err.chunks = {error_json(api(), 500, "the model backend is melting")};
  fake_.set_default(err);
  auto session = agent.session("500x");
  try {
    run(session, "hi");
    FAIL() << "expected an error";
  } catch (const Exception& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.type(), ErrorType::provider_error);
    EXPECT_NE(msg.find("500"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the model backend is melting"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4 attempts"), std::string::npos) << msg;
  }
  EXPECT_EQ(fake_.request_count(), 4u);
  // The failure is reported as an event, and the session is usable again.
  auto types = event_types();
  EXPECT_NE(std::find(types.begin(), types.end(), "error"), types.end());
  EXPECT_EQ(types.back(), "operation");
  EXPECT_FALSE(session.busy());
}

TEST_P(Scenario, MalformedResponseIsAClearError) {
  auto agent = make_agent();
  FakeReply bad;
  if (streaming()) {
    bad.content_type = "text/event-stream";
    bad.chunks = {"data: {\"this is\": not json\n\n"};
  } else {
    bad.chunks = {"{\"id\": \"x\", \"choices\": [{\"mess"};
  }
  fake_.enqueue(bad);
  auto session = agent.session("bad");
  try {
    run(session, "hi");
    FAIL() << "expected an error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.type(), ErrorType::provider_error) << e.what();
    EXPECT_FALSE(std::string(e.what()).empty());
  }
  EXPECT_EQ(fake_.request_count(), 1u) << "malformed answers are not retried";
}

TEST_P(Scenario, TruncatedStreamIsAClearError) {
  auto agent = make_agent();
  auto events = response_sse(api(), text_turn("This answer never finishes properly."));
  FakeReply r;
  r.content_type = streaming() ? "text/event-stream" : "application/json";
  if (streaming()) {
    events.resize(events.size() / 2);
    r.chunks = events;
  } else {
    std::string body = response_json(api(), text_turn("cut"));
    r.chunks = {body.substr(0, body.size() / 2)};
  }
  r.truncate = true;
  fake_.enqueue(r);
  fake_.set_default(r);
  auto session = agent.session("trunc");
  EXPECT_THROW(run(session, "hi"), Exception);
}

TEST_P(Scenario, ConnectionRefusedIsAClearError) {
  auto port = closed_port();
  auto agent = make_agent({}, base_url("http://127.0.0.1:" + std::to_string(port)));
  auto session = agent.session("refused");
  try {
    run(session, "hi");
    FAIL() << "expected an error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.type(), ErrorType::connection_error) << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
  }
}

TEST_P(Scenario, AbortDuringSlowAnswerReturnsQuicklyAndKeepsHistoryConsistent) {
  auto agent = make_agent({weather_tool()});
  // First a tool call, then a very slow answer.
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("call_s", "get_weather", json_object{{"city", "Lima"}})};
  fake_.enqueue_turn(api(), t1, streaming());
  if (streaming()) {
    fake_.enqueue_turn(api(), text_turn("one two three four five six seven eight"), true, 3,
                       /*chunk_delay_ms=*/400);
  } else {
    FakeReply slow;
    slow.initial_delay_ms = 3000;
    slow.chunks = {response_json(api(), text_turn("too late"))};
    fake_.enqueue(slow);
  }
  auto session = agent.session("abort");
  std::promise<void> second_turn_started;
  std::atomic<int> turn_requests{0};
  PromptOptions opts;
  opts.on_event = [&](const Event& e) {
    bool trigger = streaming() ? (e.type == "text_delta" && turn_requests.load() == 2)
                               : (e.type == "turn_request" && ++turn_requests == 2);
    if (streaming() && e.type == "turn_request") ++turn_requests;
    if (trigger) {
      try {
        second_turn_started.set_value();
      } catch (const std::future_error&) {
      }
    }
  };
  auto fut = std::async(std::launch::async, [&] { return run(session, "Weather in Lima?", opts); });
  ASSERT_EQ(second_turn_started.get_future().wait_for(5s), std::future_status::ready);
  if (!streaming()) std::this_thread::sleep_for(50ms);  // let the request reach the server
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(session.abort());
  try {
    fut.get();
    FAIL() << "expected the operation to be aborted";
  } catch (const Exception& e) {
    EXPECT_EQ(e.type(), ErrorType::cancelled) << e.what();
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(elapsed, 100ms)
      << "abort took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
      << " ms";
  EXPECT_FALSE(session.abort()) << "nothing left to abort";

  auto types = event_types();
  EXPECT_NE(std::find(types.begin(), types.end(), "abort_requested"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "aborted"), types.end());
  EXPECT_EQ(types.back(), "operation");

  // History: user, assistant tool call, tool result; the interrupted turn is a marker entry.
  auto history = session.history();
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].role, Role::user);
  EXPECT_EQ(history[1].tool_calls.size(), 1u);
  EXPECT_EQ(history[2].role, Role::tool);
  auto entries = agent.store()->entries("abort");
  ASSERT_TRUE(entries.has_value());
  ASSERT_FALSE(entries->empty());
  EXPECT_EQ(entries->back().kind, "marker");
  EXPECT_EQ(get_string_or(entries->back().content, "event", ""), "interrupted");

  // The session works afterwards and sends a valid conversation.
  fake_.enqueue_turn(api(), text_turn("Back again."), streaming());
  EXPECT_EQ(run(session, "Are you there?").text, "Back again.");
  auto vs = views();
  EXPECT_EQ(vs.back().roles(), (std::vector<std::string>{"user", "assistant", "tool", "user"}));
}

TEST_P(Scenario, SecondPromptCarriesTheWholeStructuredConversation) {
  auto agent = make_agent({weather_tool()});
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("call_h", "get_weather", json_object{{"city", "Bern"}})};
  fake_.enqueue_turn(api(), t1, streaming());
  fake_.enqueue_turn(api(), text_turn("Bern is 21 degrees."), streaming());
  fake_.enqueue_turn(api(), text_turn("You asked about Bern."), streaming());
  {
    auto session = agent.session("memory");
    run(session, "Weather in Bern?");
  }
  // A new agent on the same project: the history comes from the store.
  InitOptions o;
  o.model = "fake:fake-model";
  o.root = dir_.path().string();
  o.sandbox = "none";
  o.tools = {weather_tool()};
  o.retry = RetryPolicy{.max_attempts = 1, .base_delay = 1ms};
  auto agent2 = init(std::move(o));
  auto session2 = agent2.session("memory");
  EXPECT_EQ(run(session2, "What did I ask?").text, "You asked about Bern.");
  auto vs = views();
  ASSERT_EQ(vs.size(), 3u);
  ASSERT_EQ(vs[2].roles(),
            (std::vector<std::string>{"user", "assistant", "tool", "assistant", "user"}));
  EXPECT_EQ(vs[2].items[0].text, "Weather in Bern?");
  EXPECT_EQ(vs[2].items[1].tool_name, "get_weather");
  EXPECT_NE(vs[2].items[2].text.find("21"), std::string::npos);
  EXPECT_EQ(vs[2].items[3].text, "Bern is 21 degrees.");
  EXPECT_EQ(vs[2].items[4].text, "What did I ask?");
}

TEST_P(Scenario, ExactEventSequence) {
  auto agent = make_agent({weather_tool()});
  ScriptedTurn t1;
  t1.text = streaming() ? "Checking." : "";
  t1.tool_calls = {tool_call("call_e", "get_weather", json_object{{"city", "Kyiv"}})};
  fake_.enqueue_turn(api(), t1, streaming());
  fake_.enqueue_turn(api(), text_turn("Done."), streaming());
  auto session = agent.session("events");
  run(session, "Kyiv?");
  std::vector<std::string> expected{"operation_start", "agent_start", "turn_request", "turn",
                                    "tool_start",      "tool_end",    "turn_request", "turn",
                                    "turn_end",        "idle",        "operation"};
  EXPECT_EQ(event_types(), expected);
  std::lock_guard lock(events_mu_);
  std::string op = std::string(events_.front().data.at("operation_id").as_string());
  EXPECT_EQ(op.rfind("op_", 0), 0u);
  std::string text;
  for (const auto& e : events_) {
    EXPECT_EQ(e.data.at("session_id").as_string(), "events");
    EXPECT_EQ(e.data.at("operation_id").as_string(), op);
    EXPECT_TRUE(e.data.as_object().contains("timestamp"));
    if (e.type == "text_delta") text += e.data.at("text").as_string();
  }
  EXPECT_EQ(events_.front().data.at("operation_kind").as_string(),
            streaming() ? "stream" : "prompt");
  EXPECT_EQ(events_.back().data.at("is_error").as_bool(), false);
  if (streaming()) {
    EXPECT_EQ(text, "Checking.Done.");
  }
  const Event* tool_start = nullptr;
  for (const auto& e : events_) {
    if (e.type == "tool_start") tool_start = &e;
  }
  ASSERT_NE(tool_start, nullptr);
  EXPECT_EQ(tool_start->data.at("toolName").as_string(), "get_weather");
  EXPECT_EQ(tool_start->data.at("args").at("city").as_string(), "Kyiv");
}

TEST_P(Scenario, SecondOperationOnBusySessionFailsOtherSessionsRun) {
  auto agent = make_agent();
  FakeReply slow;
  slow.initial_delay_ms = 600;
  if (streaming()) {
    slow.content_type = "text/event-stream";
    slow.chunks = response_sse(api(), text_turn("slow answer"));
  } else {
    slow.chunks = {response_json(api(), text_turn("slow answer"))};
  }
  fake_.enqueue(slow);
  fake_.enqueue_turn(api(), text_turn("fast answer"), streaming());
  auto s1 = agent.session("busy-1");
  auto s2 = agent.session("busy-2");
  auto fut = std::async(std::launch::async, [&] { return run(s1, "slow please"); });
  for (int i = 0; i < 200 && fake_.request_count() < 1; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(s1.busy());
  try {
    run(s1, "me too");
    FAIL() << "expected session_busy";
  } catch (const Exception& e) {
    EXPECT_EQ(e.type(), ErrorType::session_busy) << e.what();
  }
  EXPECT_EQ(run(s2, "other session").text, "fast answer");
  EXPECT_EQ(fut.get().text, "slow answer");
}

INSTANTIATE_TEST_SUITE_P(
    AllApis, Scenario,
    ::testing::Values(Param{WireApi::openai_chat, false}, Param{WireApi::openai_chat, true},
                      Param{WireApi::openai_responses, false},
                      Param{WireApi::openai_responses, true}, Param{WireApi::anthropic, false},
                      Param{WireApi::anthropic, true}, Param{WireApi::gemini, false},
                      Param{WireApi::gemini, true}),
    param_name);

}  // namespace

namespace {

class ScenarioExtras : public ::testing::TestWithParam<Param> {};

// Images given to a prompt reach the provider in that API's image part; thinking levels reach
// that API's knob.
TEST_P(ScenarioExtras, ImagesAndThinkingReachTheRequest) {
  TempDir dir;
  FakeProvider fake;
  WireApi api = GetParam().api;
  std::string base = fake.base_url() +
                     (api == WireApi::openai_chat || api == WireApi::openai_responses ? "/v1" : "");
  write_file(dir.path() / "cppflue.toml",
             "[providers.fake]\napi = \"" + std::string(wire_api_name(api)) + "\"\nbase_url = \"" +
                 base + "\"\n[agent]\nthinking_level = \"high\"\n");
  InitOptions o;
  o.model = "fake:m";
  o.root = dir.path().string();
  auto agent = init(o);
  fake.enqueue_turn(api, text_turn("A red square."), GetParam().stream);
  PromptOptions po;
  po.images = {Image{"image/png", "aGVsbG8gcGl4ZWxz", ""}};
  auto session = agent.session("img");
  auto r = GetParam().stream ? session.stream(
                                   "What is this?", [](const Event&) {}, po)
                             : session.prompt("What is this?", po);
  EXPECT_EQ(r.text, "A red square.");
  ASSERT_EQ(fake.request_count(), 1u);
  std::string body = fake.requests()[0].body;
  EXPECT_NE(body.find("aGVsbG8gcGl4ZWxz"), std::string::npos) << body;
  EXPECT_NE(body.find("image/png"), std::string::npos) << body;
  const char* knob = api == WireApi::openai_chat        ? "reasoning_effort"
                     : api == WireApi::openai_responses ? "effort"
                     : api == WireApi::anthropic        ? "budget_tokens"
                                                        : "thinkingBudget";
  EXPECT_NE(body.find(knob), std::string::npos) << body;
}

// http_proxy from the environment is honoured (libcurl reads it per request).
TEST(ScenarioProxy, HttpProxyFromTheEnvironmentIsUsed) {
  TempDir dir;
  FakeProvider proxy;  // plays the proxy: receives absolute-form request targets
  write_file(
      dir.path() / "cppflue.toml",
      "[providers.far]\napi = \"openai-chat\"\nbase_url = \"http://models.example.invalid/v1\"\n");
  proxy.enqueue_turn(WireApi::openai_chat, text_turn("via proxy"), false);
  const char* old = std::getenv("http_proxy");
  std::string saved = old ? old : "";
  setenv("http_proxy", proxy.base_url().c_str(), 1);
  InitOptions o;
  o.model = "far:m";
  o.root = dir.path().string();
  auto agent = init(o);
  std::string text;
  try {
    text = agent.session("p").prompt("hi").text;
  } catch (const Exception& e) {
    text = e.what();
  }
  if (old)
    setenv("http_proxy", saved.c_str(), 1);
  else
    unsetenv("http_proxy");
  EXPECT_EQ(text, "via proxy");
  ASSERT_EQ(proxy.request_count(), 1u);
  EXPECT_EQ(proxy.requests()[0].target, "http://models.example.invalid/v1/chat/completions");
}

INSTANTIATE_TEST_SUITE_P(AllApis, ScenarioExtras,
                         ::testing::Values(Param{WireApi::openai_chat, false},
                                           Param{WireApi::openai_responses, true},
                                           Param{WireApi::anthropic, false},
                                           Param{WireApi::gemini, true}),
                         param_name);

}  // namespace
