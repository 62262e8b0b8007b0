// SPDX-License-Identifier: Apache-2.0
// Black-box tests of durable dispatch: POST /agents/{name}/{id}/dispatch (receipt, idempotency
// key, bad requests), GET .../dispatch/{id}, and the crash test: 200 inputs over 20 sessions,
// the server killed with SIGKILL while processing, restarted → every input processed once, in
// order per session, with consistent histories.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "cppflue/store/store.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<Store> open_store(const std::filesystem::path& root) {
  auto s = open_sqlite_store(root / ".cppflue" / "state.db");
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? *s : nullptr;
}

// Polls until `done` items are done (or failed), up to `timeout`.
bool wait_done(Store& store, std::int64_t total, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto counts = store.dispatch_counts();
    if (counts && (*counts)["done"] + (*counts)["failed"] >= total) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// The user messages of a session, in order, and whether every tool call has its result and
// every user input is followed by an assistant answer.
struct History {
  std::vector<std::string> user_texts;
  bool consistent = true;
  std::string problem;
};

History read_history(Store& store, const std::string& session) {
  History h;
  auto entries = store.entries(session);
  if (!entries) {
    h.consistent = false;
    h.problem = entries.error().message;
    return h;
  }
  std::set<std::string> open_calls;
  bool awaiting_answer = false;
  for (const auto& e : *entries) {
    if (e.kind != "message") continue;
    const json& c = e.content;
    if (e.role == "user") {
      if (!open_calls.empty()) {
        h.consistent = false;
        h.problem = "a user message while tool calls are open";
      }
      std::string text = str(c.at("text"));
      if (text.rfind("[cppflue]", 0) != 0) {
        if (awaiting_answer) {
          h.consistent = false;
          h.problem = "input without an answer before " + text;
        }
        h.user_texts.push_back(text);
      }
      awaiting_answer = true;
    } else if (e.role == "assistant") {
      if (const json* calls = find(c, "tool_calls"); calls && calls->is_array()) {
        for (const auto& call : calls->as_array()) open_calls.insert(str(call.at("id")));
      }
      if (open_calls.empty()) awaiting_answer = false;
    } else if (e.role == "tool") {
      open_calls.erase(str(c.at("tool_call_id")));
    }
  }
  if (awaiting_answer || !open_calls.empty()) {
    h.consistent = false;
    h.problem = "the session ends without an answer";
  }
  return h;
}

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path();
    write_helper_project(root_);
    cppflue::testing::write_file(
        root_ / ".agents/agents/private.md",
        "---\nname: private\ntriggers:\n  webhook: false\n---\nInternal.\n");
  }
  cppflue::testing::TempDir dir_;
  std::filesystem::path root_;
};

TEST_F(DispatchTest, AcceptedInputIsProcessedAndReported) {
  ServeProcess server(root_);
  ASSERT_GT(server.port(), 0) << server.output();
  auto r = call(server.port(), "POST", "/agents/helper/u1/dispatch",
                R"({"input":"tidy up","session":"chat"})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json_body.at("status"), "accepted");
  std::string id = str(r.json_body.at("dispatch_id"));
  EXPECT_EQ(id.rfind("dispatch_", 0), 0u);
  EXPECT_EQ(id.size(), 9u + 32u);
  EXPECT_EQ(r.json_body.at("dispatchId"), json(id));
  EXPECT_FALSE(str(r.json_body.at("accepted_at")).empty());
  EXPECT_EQ(r.json_body.at("acceptedAt"), r.json_body.at("accepted_at"));

  auto store = open_store(root_);
  ASSERT_TRUE(wait_done(*store, 1, 10s));
  auto status = call(server.port(), "GET", "/agents/helper/u1/dispatch/" + id);
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.json_body.at("state"), "done");
  EXPECT_EQ(status.json_body.at("attempts"), 1);
  EXPECT_EQ(status.json_body.at("session_id"), "u1:chat");
  auto history = read_history(*store, "u1:chat");
  EXPECT_TRUE(history.consistent) << history.problem;
  EXPECT_EQ(history.user_texts, std::vector<std::string>{"tidy up"});

  // Non-string input is given to the agent as its JSON text; the webhook trigger is not
  // checked (as PyFlue).
  auto obj = call(server.port(), "POST", "/agents/private/u1/dispatch",
                  R"({"payload":{"input":{"type":"chat.message","text":"hi"}}})");
  ASSERT_EQ(obj.status, 202) << obj.body;
  ASSERT_TRUE(wait_done(*store, 2, 10s));
  auto second = read_history(*store, "u1:default");
  ASSERT_EQ(second.user_texts.size(), 1u);
  EXPECT_EQ(parse_json(second.user_texts[0]).value(),
            (json_object{{"type", "chat.message"}, {"text", "hi"}}));
}

TEST_F(DispatchTest, IdempotencyKeyReturnsTheOriginalReceipt) {
  ServeProcess server(root_);
  ASSERT_GT(server.port(), 0) << server.output();
  auto first = call(server.port(), "POST", "/agents/helper/u2/dispatch",
                    R"({"input":"once","idempotency_key":"evt-1"})");
  ASSERT_EQ(first.status, 202);
  auto again = call(server.port(), "POST", "/agents/helper/u2/dispatch", R"({"input":"once more"})",
                    "application/json", "Idempotency-Key: evt-1\r\n");
  ASSERT_EQ(again.status, 202);
  EXPECT_EQ(again.json_body.at("dispatch_id"), first.json_body.at("dispatch_id"));
  EXPECT_EQ(again.json_body.at("accepted_at"), first.json_body.at("accepted_at"));
  auto store = open_store(root_);
  ASSERT_TRUE(wait_done(*store, 1, 10s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ((*store->dispatch_counts())["done"], 1);
  EXPECT_EQ(read_history(*store, "u2:default").user_texts, std::vector<std::string>{"once"});
}

TEST_F(DispatchTest, BadDispatchRequests) {
  ServeProcess server(root_);
  ASSERT_GT(server.port(), 0) << server.output();
  struct Case {
    std::string method, target, body;
    int status;
    std::string type;
    std::string extra_headers;
  };
  std::string long_key(300, 'k');
  std::vector<Case> cases{
      {"POST", "/agents/nobody/u/dispatch", R"({"input":"x"})", 404, "not_found", ""},
      {"POST", "/agents/helper/u/dispatch", "{}", 400, "invalid_request", ""},
      {"POST", "/agents/helper/u/dispatch", R"({"input":null})", 400, "invalid_request", ""},
      {"POST", "/agents/helper/u/dispatch", R"({"input":"  "})", 400, "invalid_request", ""},
      {"POST", "/agents/helper/u/dispatch", R"({"input":"x","session":5})", 400, "invalid_request",
       ""},
      {"POST", "/agents/helper/u/dispatch", R"({"input":"x","session":""})", 400, "invalid_request",
       ""},
      {"POST", "/agents/helper/u/dispatch", R"({"input":"x","idempotency_key":7})", 400,
       "invalid_request", ""},
      {"POST", "/agents/helper/u/dispatch",
       R"({"input":"x","idempotency_key":")" + long_key + R"("})", 400, "invalid_request", ""},
      {"POST", "/agents/helper/u/dispatch", R"({"input":"x"})", 400, "invalid_request",
       "Idempotency-Key: " + long_key + "\r\n"},
      {"POST", "/agents/helper/u/dispatch", "[1]", 400, "invalid_request", ""},
      {"POST", "/agents/helper/u/dispatch", "{nope", 400, "invalid_json", ""},
      {"POST", "/agents/%20/u/dispatch", R"({"input":"x"})", 400, "invalid_request", ""},
      {"GET", "/agents/helper/u/dispatch", "", 405, "method_not_allowed", ""},
      {"POST", "/agents/helper/u/dispatch/dispatch_x", "{}", 405, "method_not_allowed", ""},
      {"GET", "/agents/helper/u/dispatch/dispatch_nope", "", 404, "dispatch_not_found", ""},
  };
  for (const auto& c : cases) {
    auto r = call(server.port(), c.method, c.target, c.body, "application/json", c.extra_headers);
    EXPECT_EQ(r.status, c.status) << c.target << " " << c.body.substr(0, 60) << ": " << r.body;
    EXPECT_EQ(r.json_body.at("error").at("type"), json(c.type)) << c.target << ": " << r.body;
  }
  auto unknown = call(server.port(), "POST", "/agents/nobody/u/dispatch", R"({"input":"x"})");
  EXPECT_EQ(unknown.json_body.at("error").at("dev"), "Available agents: helper, private.");
  auto text = call(server.port(), "POST", "/agents/helper/u/dispatch", "x", "text/plain");
  EXPECT_EQ(text.status, 415);
  // Nothing was queued by any of them.
  auto store = open_store(root_);
  EXPECT_TRUE(store->dispatch_counts()->empty());
}

// SIGTERM: no new leases, the item in flight finishes (within --grace), the rest stays queued
// for the next start.
TEST_F(DispatchTest, SigtermLeavesTheQueueForTheNextStart) {
  auto script = root_ / "slow.json";
  cppflue::testing::write_file(script,
                               R"({"turns":[{"text":"Done with {{prompt}}","delay_ms":40}]})");
  cppflue::testing::write_file(root_ / "cppflue.toml",
                               "[agent]\nmodel = \"test:" + script.string() + "\"\n");
  constexpr int kInputs = 30;
  {
    ServeProcess server(root_);
    ASSERT_GT(server.port(), 0) << server.output();
    for (int n = 0; n < kInputs; ++n) {
      auto body = json_object{{"input", "m" + std::to_string(n)}};
      ASSERT_EQ(call(server.port(), "POST", "/agents/helper/term/dispatch", serialize(body)).status,
                202);
    }
    std::this_thread::sleep_for(200ms);
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(server.stop(SIGTERM), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  }
  {
    auto store = open_store(root_);
    auto counts = *store->dispatch_counts();
    EXPECT_GT(counts["done"], 0);
    EXPECT_LT(counts["done"], kInputs);
    EXPECT_EQ(counts["leased"], 0);  // released at stop
    EXPECT_TRUE(read_history(*store, "term:default").consistent);
  }
  ServeProcess restarted(root_);
  ASSERT_GT(restarted.port(), 0) << restarted.output();
  auto store = open_store(root_);
  ASSERT_TRUE(wait_done(*store, kInputs, 30s));
  EXPECT_EQ(restarted.output().find("queued again"), std::string::npos);  // nothing was leased
  auto h = read_history(*store, "term:default");
  EXPECT_TRUE(h.consistent) << h.problem;
  ASSERT_EQ(h.user_texts.size(), static_cast<std::size_t>(kInputs));
  for (int n = 0; n < kInputs; ++n) EXPECT_EQ(h.user_texts[n], "m" + std::to_string(n));
}

// The acceptance test for durability.
TEST_F(DispatchTest, SurvivesSigkillWhileProcessing) {
  // A slower scripted model: a tool call and an answer, 40 ms each (200 inputs are then ~4 s of
  // work for 4 workers, longer than posting them takes even on a loaded machine).
  auto script = root_ / "slow.json";
  cppflue::testing::write_file(
      script, R"({"turns":[{"requires_tool":"glob","text":"Working on {{prompt}}","delay_ms":40,)"
              R"("tool_calls":[{"name":"glob","arguments":{"pattern":"*"}}]},)"
              R"({"text":"Done with {{prompt}}","delay_ms":40}]})");
  cppflue::testing::write_file(
      root_ / "cppflue.toml",
      "[agent]\nmodel = \"test:" + script.string() + "\"\n[server]\ndispatch_workers = 4\n");
  constexpr int kSessions = 20;
  constexpr int kPerSession = 10;
  auto input = [](int s, int n) { return "s" + std::to_string(s) + "-m" + std::to_string(n); };
  std::int64_t done_at_kill = 0;
  std::int64_t leased_at_kill = 0;
  {
    ServeProcess server(root_);
    ASSERT_GT(server.port(), 0) << server.output();
    for (int n = 0; n < kPerSession; ++n) {
      for (int s = 0; s < kSessions; ++s) {
        auto body = json_object{{"input", input(s, n)}, {"session", "s" + std::to_string(s)}};
        auto r = call(server.port(), "POST", "/agents/helper/crash/dispatch", serialize(body));
        ASSERT_EQ(r.status, 202) << r.body;
      }
    }
    // Killed as soon as some are done while others are in flight.
    {
      auto watch = open_store(root_);
      auto until = std::chrono::steady_clock::now() + 10s;
      while (std::chrono::steady_clock::now() < until) {
        auto counts = *watch->dispatch_counts();
        if (counts["done"] > 0 && counts["leased"] > 0) break;
        std::this_thread::sleep_for(5ms);
      }
    }
    EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
    auto store = open_store(root_);
    auto counts = *store->dispatch_counts();
    done_at_kill = counts["done"];
    leased_at_kill = counts["leased"];
  }
  // The kill landed mid-way: some done, some in flight, the rest pending.
  EXPECT_GT(done_at_kill, 0);
  EXPECT_LT(done_at_kill, kSessions * kPerSession);
  EXPECT_GT(leased_at_kill, 0);
  std::cout << "[ info ] at SIGKILL: " << done_at_kill << " done, " << leased_at_kill
            << " in flight\n";

  ServeProcess restarted(root_);
  ASSERT_GT(restarted.port(), 0) << restarted.output();
  auto store = open_store(root_);
  ASSERT_TRUE(wait_done(*store, kSessions * kPerSession, 60s))
      << serialize(json(json_object{{"counts", [&] {
                                       json_object o;
                                       auto now_counts = *store->dispatch_counts();
                                       for (auto& [k, v] : now_counts) o[k] = v;
                                       return o;
                                     }()}}));
  auto counts = *store->dispatch_counts();
  EXPECT_EQ(counts["done"], kSessions * kPerSession);
  EXPECT_EQ(counts["failed"], 0);
  if (leased_at_kill > 0) {
    EXPECT_NE(restarted.output().find("queued again"), std::string::npos) << restarted.output();
  }
  for (int s = 0; s < kSessions; ++s) {
    auto h = read_history(*store, "crash:s" + std::to_string(s));
    EXPECT_TRUE(h.consistent) << "session " << s << ": " << h.problem;
    std::vector<std::string> expected;
    for (int n = 0; n < kPerSession; ++n) expected.push_back(input(s, n));
    EXPECT_EQ(h.user_texts, expected) << "session " << s;
  }
}

}  // namespace
