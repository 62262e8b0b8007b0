// SPDX-License-Identifier: Apache-2.0
// Black-box tests of runs over HTTP: POST /workflows/{name} (202, ?wait=result, SSE),
// agent prompts as background runs (X-Webhook: true), GET /runs/{id}, /runs/{id}/events and
// /runs/{id}/stream (replay, live tail, Last-Event-ID, heartbeats). The server is a compiled
// application (tests/server/app) with the workflows greet, slow and fail.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

#include "cppflue/store/store.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

class RunsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new cppflue::testing::TempDir();
    auto root = dir_->path();
    write_helper_project(root);
    server_ = new ServeProcess(root, {"--heartbeat", "0.3"}, {}, CPPFLUE_TEST_APP);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }
  int port() const { return server_->port(); }

  // Starts a workflow (202) and returns its run id.
  std::string start(const std::string& name, const std::string& body) {
    auto r = call(port(), "POST", "/workflows/" + name, body);
    EXPECT_EQ(r.status, 202) << r.body;
    if (r.status != 202) return "";
    return str(r.json_body.at("run_id"));
  }

  // Polls GET /runs/{id} until it is no longer running.
  json wait_run(const std::string& id) {
    for (int i = 0; i < 400; ++i) {
      auto r = call(port(), "GET", "/runs/" + id);
      if (r.status == 200 && r.json_body.at("status") != "running") return r.json_body;
      std::this_thread::sleep_for(25ms);
    }
    return nullptr;
  }

  static cppflue::testing::TempDir* dir_;
  static ServeProcess* server_;
};

cppflue::testing::TempDir* RunsTest::dir_ = nullptr;
ServeProcess* RunsTest::server_ = nullptr;

TEST_F(RunsTest, WorkflowWaitResultRecordsARunWithEvents) {
  auto r = call(port(), "POST", "/workflows/greet?wait=result", R"({"payload":{"name":"Ada"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json_body.at("status"), "completed");
  std::string id = str(r.json_body.at("run_id"));
  EXPECT_EQ(id.rfind("run_", 0), 0u) << id;
  EXPECT_EQ(r.json_body.at("runId"), json(id));
  EXPECT_EQ(r.header("X-Flue-Run-Id"), id);
  const json& result = r.json_body.at("result");
  EXPECT_EQ(result.at("name"), "Ada");
  EXPECT_EQ(str(result.at("greeting")).rfind("[offline test model]", 0), 0u) << r.body;

  auto run = call(port(), "GET", "/runs/" + id);
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(run.json_body.at("status"), "completed");
  EXPECT_EQ(run.json_body.at("agentName"), "greet");
  EXPECT_EQ(run.json_body.at("instanceId"), json(id));
  EXPECT_EQ(run.json_body.at("isError"), false);
  EXPECT_EQ(run.json_body.at("result"), result);
  EXPECT_EQ(run.json_body.at("payload"), (json_object{{"name", "Ada"}}));
  EXPECT_TRUE(run.json_body.at("started_at").is_double());
  EXPECT_TRUE(run.json_body.at("durationMs").is_int64());
  std::int64_t count = run.json_body.at("event_count").as_int64();
  EXPECT_GT(count, 5);

  auto events = call(port(), "GET", "/runs/" + id + "/events");
  ASSERT_EQ(events.status, 200) << events.body;
  const auto& list = events.json_body.at("events").as_array();
  ASSERT_EQ(static_cast<std::int64_t>(list.size()), count);
  EXPECT_EQ(list.front().at("type"), "run_start");
  EXPECT_EQ(list.back().at("type"), "run_end");
  EXPECT_EQ(list.back().at("data").at("status"), "completed");
  EXPECT_EQ(events.json_body.at("next_after"), count);
  EXPECT_EQ(events.json_body.at("nextAfter"), count);
  std::set<std::string> types;
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].at("event_index"), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(list[i].at("eventIndex"), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(list[i].at("run_id"), json(id));
    types.insert(str(list[i].at("type")));
  }
  for (const char* t : {"log", "operation_start", "tool_start", "tool_end", "operation"}) {
    EXPECT_TRUE(types.count(t)) << t << " missing in " << events.body;
  }

  auto logs = call(port(), "GET", "/runs/" + id + "/events?types=log,run_end");
  ASSERT_EQ(logs.status, 200);
  const auto& only = logs.json_body.at("events").as_array();
  ASSERT_EQ(only.size(), 2u) << logs.body;
  EXPECT_EQ(only[0].at("data").at("message"), "greeting");
  EXPECT_EQ(only[0].at("data").at("name"), "Ada");

  auto page = call(port(), "GET", "/runs/" + id + "/events?after=2&limit=1");
  ASSERT_EQ(page.status, 200);
  ASSERT_EQ(page.json_body.at("events").as_array().size(), 1u);
  EXPECT_EQ(page.json_body.at("events").at(0).at("event_index"), 3);
  EXPECT_EQ(page.json_body.at("next_after"), 3);
  auto past = call(port(), "GET", "/runs/" + id + "/events?after=" + std::to_string(count));
  EXPECT_EQ(past.json_body.at("events").as_array().size(), 0u);
  EXPECT_EQ(past.json_body.at("next_after"), count);  // `after` when nothing is returned
}

TEST_F(RunsTest, AcceptedWorkflowIsFollowedLiveUntilRunEnd) {
  std::string id = start("slow", R"({"steps":4,"ms":150})");
  ASSERT_FALSE(id.empty());
  SseReader sse(port(), request("GET", "/runs/" + id + "/stream", "", ""));
  auto events = sse.collect("run_end");
  ASSERT_EQ(sse.status(), 200) << sse.head();
  EXPECT_NE(sse.head().find("text/event-stream"), std::string::npos);
  ASSERT_EQ(events.size(), 6u);  // run_start, 4 steps, run_end
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].id, std::to_string(i + 1));
    EXPECT_EQ(events[i].json_data.at("event_index"), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(events[i].json_data.at("type"), json(events[i].event));
  }
  EXPECT_EQ(events[0].event, "run_start");
  EXPECT_EQ(events[2].json_data.at("data").at("i"), 1);
  EXPECT_EQ(events[5].event, "run_end");
  EXPECT_EQ(events[5].json_data.at("data").at("result"), (json_object{{"steps", 4}}));
  // The stream ends after run_end.
  EXPECT_FALSE(sse.next(3s).has_value());
  EXPECT_TRUE(sse.ended());
}

TEST_F(RunsTest, QuietStreamsGetHeartbeats) {
  std::string id = start("slow", R"({"steps":2,"ms":1000})");
  ASSERT_FALSE(id.empty());
  SseReader sse(port(), request("GET", "/runs/" + id + "/stream", "", ""));
  auto events = sse.collect("run_end");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_GE(sse.comments().size(), 2u);  // --heartbeat 0.3 and two 1 s pauses
  for (const auto& c : sse.comments()) EXPECT_EQ(c, ": heartbeat");
}

TEST_F(RunsTest, StreamOfARunWhoseProcessDiedEnds) {
  // A run ended (by another process) without its run_end event: followers get what exists,
  // then the stream ends instead of waiting forever.
  auto store = open_sqlite_store(dir_->path() / ".cppflue/state.db");
  ASSERT_TRUE(store.has_value()) << store.error().message;
  RunRecord run;
  run.id = "run_orphan";
  run.workflow = "greet";
  ASSERT_TRUE((*store)->create_run(run).has_value());
  ASSERT_TRUE((*store)->append_run_event("run_orphan", "run_start", json_object{}).has_value());
  ASSERT_TRUE((*store)->finish_run("run_orphan", "failed", nullptr, nullptr).has_value());
  auto t0 = std::chrono::steady_clock::now();
  SseReader sse(port(), request("GET", "/runs/run_orphan/stream", "", ""));
  auto first = sse.next(5s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->event, "run_start");
  EXPECT_FALSE(sse.next(10s).has_value());
  EXPECT_TRUE(sse.ended()) << "the server ended the stream";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
}

TEST_F(RunsTest, StreamResumesAfterLastEventId) {
  std::string id = start("slow", R"({"steps":5,"ms":10})");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(wait_run(id).at("status"), "completed");
  SseReader resumed(port(),
                    request("GET", "/runs/" + id + "/stream", "", "", "Last-Event-ID: 3\r\n"));
  auto events = resumed.collect("run_end");
  ASSERT_EQ(events.size(), 4u);  // 4, 5, 6 (steps) and 7 (run_end)
  EXPECT_EQ(events.front().id, "4");
  EXPECT_EQ(events.back().event, "run_end");
  // ?after wins over the header; an unreadable Last-Event-ID replays everything.
  SseReader query(
      port(), request("GET", "/runs/" + id + "/stream?after=6", "", "", "Last-Event-ID: 2\r\n"));
  auto tail = query.collect("run_end");
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].id, "7");
  SseReader junk(port(),
                 request("GET", "/runs/" + id + "/stream", "", "", "Last-Event-ID: banana\r\n"));
  EXPECT_EQ(junk.collect("run_end").size(), 7u);
}

TEST_F(RunsTest, WorkflowAsSseCarriesTheRunId) {
  SseReader sse(port(), request("POST", "/workflows/greet", R"({"name":"Bo"})", "application/json",
                                "Accept: text/event-stream\r\n"));
  auto events = sse.collect("run_end");
  ASSERT_EQ(sse.status(), 200) << sse.head();
  ASSERT_GE(events.size(), 5u);
  std::string id;
  {
    auto at = sse.head().find("X-Flue-Run-Id: ");
    ASSERT_NE(at, std::string::npos) << sse.head();
    id = sse.head().substr(at + 15, sse.head().find("\r\n", at) - at - 15);
  }
  EXPECT_EQ(events.front().event, "run_start");
  EXPECT_EQ(events.back().event, "run_end");
  bool tool = false;
  for (const auto& e : events) {
    EXPECT_EQ(e.json_data.at("run_id"), json(id));
    if (e.event == "tool_start") tool = true;
  }
  EXPECT_TRUE(tool);
  EXPECT_FALSE(sse.next(2s).has_value());
}

TEST_F(RunsTest, FailingWorkflows) {
  auto bad = call(port(), "POST", "/workflows/fail?wait=result", "{}");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json_body.at("error").at("type"), "invalid_input");
  std::string id = bad.header("X-Flue-Run-Id");
  ASSERT_FALSE(id.empty()) << bad.head;
  auto run = call(port(), "GET", "/runs/" + id);
  EXPECT_EQ(run.json_body.at("status"), "failed");
  EXPECT_EQ(run.json_body.at("is_error"), true);
  EXPECT_EQ(run.json_body.at("error").at("type"), "invalid_input");

  auto internal = call(port(), "POST", "/workflows/fail?wait=result", R"({"internal":true})");
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.json_body.at("error").at("type"), "internal_error");
  EXPECT_EQ(internal.body.find("secret"), std::string::npos) << internal.body;

  SseReader sse(port(), request("POST", "/workflows/fail", R"({"internal":true})",
                                "application/json", "Accept: text/event-stream\r\n"));
  auto events = sse.collect("error");
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[events.size() - 2].event, "run_end");
  EXPECT_EQ(events.back().event, "error");
  EXPECT_EQ(events.back().json_data.at("error").at("type"), "internal_error");
  EXPECT_EQ(events.back().data.find("secret"), std::string::npos);
}

TEST_F(RunsTest, AgentWebhookRunsInTheBackground) {
  auto r = call(port(), "POST", "/agents/helper/hook-1", R"({"message":"look around"})",
                "application/json", "X-Webhook: TRUE\r\n");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json_body.at("status"), "accepted");
  std::string id = str(r.json_body.at("run_id"));
  EXPECT_EQ(r.json_body.at("runId"), json(id));
  EXPECT_EQ(r.header("X-Flue-Run-Id"), id);
  SseReader sse(port(), request("GET", "/runs/" + id + "/stream", "", ""));
  auto events = sse.collect("run_end");
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.front().event, "run_start");
  EXPECT_EQ(events.front().json_data.at("data").at("session_id"), "hook-1:default");
  std::vector<std::string> order;
  for (const auto& e : events) order.push_back(e.event);
  auto pos = [&](const std::string& t) {
    return std::find(order.begin(), order.end(), t) - order.begin();
  };
  EXPECT_LT(pos("operation_start"), pos("tool_start"));
  EXPECT_LT(pos("tool_start"), pos("tool_end"));
  EXPECT_LT(pos("tool_end"), pos("run_end"));
  const json& end = events.back().json_data.at("data");
  EXPECT_EQ(end.at("status"), "completed");
  EXPECT_EQ(str(end.at("result").at("text")).rfind("[offline test model]", 0), 0u);
  auto run = call(port(), "GET", "/runs/" + id);
  EXPECT_EQ(run.json_body.at("agent"), "helper");
  EXPECT_EQ(run.json_body.at("agent_id"), "hook-1");
  EXPECT_EQ(run.json_body.at("status"), "completed");
  // The prompt went to the agent's session like a synchronous one.
  auto sync = call(port(), "POST", "/agents/helper/hook-1", R"({"message":"again"})");
  EXPECT_EQ(sync.status, 200);
}

TEST_F(RunsTest, BadRunAndWorkflowRequests) {
  struct Case {
    std::string method, target, body;
    int status;
    std::string type;
    std::string param;  // meta.param of invalid_query_param
  };
  std::string id = start("slow", R"({"steps":1,"ms":1})");
  ASSERT_FALSE(id.empty());
  std::vector<Case> cases{
      {"GET", "/runs/run_nope", "", 404, "run_not_found", ""},
      {"GET", "/runs/run_nope/events", "", 404, "run_not_found", ""},
      {"GET", "/runs/run_nope/stream", "", 404, "run_not_found", ""},
      {"GET", "/runs/" + id + "/events?after=-1", "", 400, "invalid_query_param", "after"},
      {"GET", "/runs/" + id + "/events?after=x", "", 400, "invalid_query_param", "after"},
      {"GET", "/runs/" + id + "/events?limit=0", "", 400, "invalid_query_param", "limit"},
      {"GET", "/runs/" + id + "/events?limit=1001", "", 400, "invalid_query_param", "limit"},
      {"GET", "/runs/" + id + "/events?limit=1.5", "", 400, "invalid_query_param", "limit"},
      {"GET", "/runs/" + id + "/events?types=log,,run_end", "", 400, "invalid_query_param",
       "types"},
      {"GET", "/runs/" + id + "/events?types=", "", 400, "invalid_query_param", "types"},
      {"POST", "/runs/" + id, "{}", 405, "method_not_allowed", ""},
      {"GET", "/runs/" + id + "/other", "", 404, "not_found", ""},
      {"GET", "/workflows/greet", "", 405, "method_not_allowed", ""},
      {"POST", "/workflows/nope", "{}", 404, "not_found", ""},
      {"POST", "/workflows/greet?wait=forever", "{}", 400, "invalid_query_param", "wait"},
      {"POST", "/workflows/greet", "[1]", 400, "invalid_request", ""},
      {"POST", "/workflows/greet", R"({"payload":3})", 400, "invalid_request", ""},
      {"POST", "/workflows/greet", "{bad", 400, "invalid_json", ""},
      {"POST", "/workflows/%20", "{}", 400, "invalid_request", ""},
      {"POST", "/workflows/greet/x", "{}", 404, "not_found", ""},
  };
  for (const auto& c : cases) {
    auto r = call(port(), c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << ": " << r.body;
    EXPECT_EQ(r.json_body.at("error").at("type"), json(c.type)) << c.target << ": " << r.body;
    if (!c.param.empty()) {
      EXPECT_EQ(r.json_body.at("error").at("meta").at("param"), json(c.param)) << c.target;
    }
  }
  auto unknown = call(port(), "POST", "/workflows/nope", "{}");
  EXPECT_EQ(unknown.json_body.at("error").at("dev"), "Available workflows: fail, greet, slow.");
  auto text = call(port(), "POST", "/workflows/greet", "name=x", "text/plain");
  EXPECT_EQ(text.status, 415);
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
}

}  // namespace

namespace {

TEST_F(RunsTest, WebSocketAgentPromptsAndResults) {
  WsClient ws(port(), "/agents/helper/ws-1");
  ASSERT_EQ(ws.status(), 101) << ws.head();
  ASSERT_TRUE(ws.send_text(R"({"type":"prompt","message":"first"})"));
  json r1 = ws.read_json();
  ASSERT_EQ(r1.at("type"), "result") << serialize(r1);
  EXPECT_EQ(str(r1.at("result").at("text")).rfind("[offline test model]", 0), 0u);
  EXPECT_EQ(r1.at("result").at("session_id"), "ws-1:default");
  // Several prompts on one connection; a bad message gets an error and the socket stays open.
  ASSERT_TRUE(ws.send_text("{not json"));
  json bad = ws.read_json();
  EXPECT_EQ(bad.at("type"), "error");
  EXPECT_EQ(bad.at("error").at("type"), "invalid_json");
  ASSERT_TRUE(ws.send_text(R"({"type":"prompt"})"));
  EXPECT_EQ(ws.read_json().at("error").at("type"), "invalid_request");
  ASSERT_TRUE(ws.send_text(R"({"type":"prompt","message":"second","session":"side"})"));
  json r2 = ws.read_json();
  ASSERT_EQ(r2.at("type"), "result") << serialize(r2);
  EXPECT_EQ(r2.at("result").at("session_id"), "ws-1:side");

  WsClient unknown(port(), "/agents/nobody/x");
  ASSERT_EQ(unknown.status(), 101);
  json e = unknown.read_json();
  EXPECT_EQ(e.at("type"), "error");
  EXPECT_EQ(e.at("error").at("type"), "not_found");
  EXPECT_FALSE(unknown.read_text(3s).has_value());
  EXPECT_TRUE(unknown.closed());
}

TEST_F(RunsTest, WebSocketWorkflowSendsEventsThenTheResult) {
  WsClient ws(port(), "/workflows/slow");
  ASSERT_EQ(ws.status(), 101) << ws.head();
  ASSERT_TRUE(ws.send_text(R"({"payload":{"steps":3,"ms":20}})"));
  std::vector<json> messages;
  for (int i = 0; i < 20; ++i) {
    json m = ws.read_json();
    if (m.is_null()) break;
    messages.push_back(m);
    if (m.at("type") == "result" || m.at("type") == "error") break;
  }
  ASSERT_EQ(messages.size(), 6u);  // run_start, 3 steps, run_end, result
  EXPECT_EQ(messages[0].at("type"), "run_start");
  EXPECT_EQ(messages[0].at("event_index"), 1);
  EXPECT_EQ(messages[4].at("type"), "run_end");
  EXPECT_EQ(messages[5].at("type"), "result");
  EXPECT_EQ(messages[5].at("result"), (json_object{{"steps", 3}}));
  std::string id = str(messages[5].at("run_id"));
  EXPECT_EQ(call(port(), "GET", "/runs/" + id).json_body.at("status"), "completed");
  EXPECT_FALSE(ws.read_text(3s).has_value());  // then the server closes

  WsClient failing(port(), "/workflows/fail");
  ASSERT_EQ(failing.status(), 101);
  ASSERT_TRUE(failing.send_text(R"({"internal":true})"));
  json last;
  for (int i = 0; i < 20; ++i) {
    json m = failing.read_json();
    if (m.is_null()) break;
    last = m;
    if (m.at("type") == "error" || m.at("type") == "result") break;
  }
  EXPECT_EQ(last.at("type"), "error");
  EXPECT_EQ(last.at("error").at("type"), "internal_error");
  EXPECT_EQ(serialize(last).find("secret"), std::string::npos);

  WsClient unknown(port(), "/workflows/nope");
  ASSERT_EQ(unknown.status(), 101);
  EXPECT_EQ(unknown.read_json().at("error").at("type"), "not_found");
}

}  // namespace
