// SPDX-License-Identifier: Apache-2.0
// Load: 1,000 concurrent prompts, 1,000 concurrent SSE followers of one run, and SSE clients
// that vanish mid-stream (the server's RSS returns to its level before them).
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "cppflue/store/store.hpp"
#include "server/load_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

constexpr int kClients = 1000;

class LoadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    raise_fd_limit();
    dir_ = new cppflue::testing::TempDir();
    auto root = dir_->path();
    write_helper_project(root);
    // A run that stays open for a while: one model turn that takes `delay_ms`.
    for (auto [name, ms] : {std::pair{"sleeper", 4000}, std::pair{"forever", 60000}}) {
      auto script = root / (std::string(name) + ".json");
      cppflue::testing::write_file(
          script, R"({"turns":[{"text":"late","delay_ms":)" + std::to_string(ms) + "}]}");
      cppflue::testing::write_file(root / ".agents/agents" / (std::string(name) + ".md"),
                                   "---\nname: " + std::string(name) +
                                       "\ndescription: slow\nmodel: test:" + script.string() +
                                       "\n---\nWait.\n");
    }
    server_ = new ServeProcess(root, {"--heartbeat", "0.5"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }
  int port() const { return server_->port(); }

  std::string background_run(const std::string& agent, const std::string& id) {
    auto r = call(port(), "POST", "/agents/" + agent + "/" + id, R"({"message":"go"})",
                  "application/json", "X-Webhook: true\r\n");
    EXPECT_EQ(r.status, 202) << r.body;
    return r.status == 202 ? std::string(r.json_body.at("run_id").as_string()) : "";
  }

  static cppflue::testing::TempDir* dir_;
  static ServeProcess* server_;
};

cppflue::testing::TempDir* LoadTest::dir_ = nullptr;
ServeProcess* LoadTest::server_ = nullptr;

TEST_F(LoadTest, ThousandConcurrentPromptsAreAllAnswered) {
  std::vector<std::string> requests;
  for (int i = 0; i < kClients; ++i) {
    // 200 instances, so prompts also queue behind each other on the same instance.
    std::string body = R"({"message":"hi","session":"s)" + std::to_string(i) + "\"}";
    requests.push_back(request("POST", "/agents/helper/u" + std::to_string(i % 200), body));
  }
  Crowd crowd;
  crowd.open(port(), requests);
  ASSERT_EQ(crowd.failed_connects(), 0);
  std::size_t done = crowd.pump([&](std::size_t i) { return crowd.closed_by_peer(i); }, 120s);
  EXPECT_EQ(done, static_cast<std::size_t>(kClients));
  int ok = 0;
  for (std::size_t i = 0; i < crowd.size(); ++i) {
    auto r = parse_response(crowd.received(i));
    if (r.status == 200 && r.json_body.is_object() &&
        r.json_body.at("result").at("session_id") ==
            json("u" + std::to_string(i % 200) + ":s" + std::to_string(i))) {
      ++ok;
    } else if (ok + 5 > static_cast<int>(i)) {
      ADD_FAILURE() << "request " << i << ": " << crowd.received(i).substr(0, 300);
    }
  }
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
}

TEST_F(LoadTest, ThousandSseFollowersOfOneRunGetEveryEvent) {
  std::string run_id = background_run("sleeper", "crowd");
  ASSERT_FALSE(run_id.empty());
  Crowd crowd;
  crowd.open(port(), std::vector<std::string>(
                         kClients, request("GET", "/runs/" + run_id + "/stream", "", "")));
  ASSERT_EQ(crowd.failed_connects(), 0);
  auto has = [&](std::size_t i, const char* what) {
    return crowd.received(i).find(what) != std::string::npos;
  };
  // Everyone is following before the run ends (the model takes 4 s).
  std::size_t following =
      crowd.pump([&](std::size_t i) { return has(i, "event: run_start"); }, 30s);
  EXPECT_EQ(following, static_cast<std::size_t>(kClients));
  std::size_t ended = crowd.pump([&](std::size_t i) { return has(i, "event: run_end"); }, 60s);
  EXPECT_EQ(ended, static_cast<std::size_t>(kClients));
  int shown = 0;
  for (std::size_t i = 0; i < crowd.size() && ended < crowd.size() && shown < 3; ++i) {
    if (has(i, "event: run_end")) continue;
    ++shown;
    const std::string& got = crowd.received(i);
    ADD_FAILURE() << "client " << i << (crowd.closed_by_peer(i) ? " (closed by the server)" : "")
                  << " got " << got.size()
                  << " bytes, ending: " << got.substr(got.size() > 400 ? got.size() - 400 : 0);
  }
  for (std::size_t i = 0; i < crowd.size(); ++i) {
    const std::string& got = crowd.received(i);
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got.substr(0, 200);
    EXPECT_LT(got.find("event: run_start"), got.find("event: turn_request"));
    EXPECT_LT(got.find("event: turn_request"), got.find("event: run_end"));
    if (::testing::Test::HasFailure()) break;
  }
}

TEST_F(LoadTest, SseClientsThatVanishMidStreamLeakNothing) {
  std::string run_id = background_run("forever", "leak");
  ASSERT_FALSE(run_id.empty());
  const std::string follow = request("GET", "/runs/" + run_id + "/stream", "", "");
  auto cycle = [&] {
    Crowd crowd;
    crowd.open(port(), std::vector<std::string>(kClients, follow));
    std::size_t following = crowd.pump(
        [&](std::size_t i) {
          return crowd.received(i).find("event: run_start") != std::string::npos;
        },
        30s);
    EXPECT_EQ(following, static_cast<std::size_t>(kClients))
        << "server alive: " << server_->alive() << "; server output (tail): "
        << server_->output().substr(
               server_->output().size() > 3000 ? server_->output().size() - 3000 : 0);
    long peak = rss_kb(server_->pid());
    crowd.close_all();  // abruptly, mid-stream
    // The server notices at its next write or poll (heartbeats every 0.5 s).
    std::this_thread::sleep_for(2500ms);
    return peak;
  };
  // A first round warms the allocator's arenas and the runtime's threads.
  cycle();
  long baseline = rss_kb(server_->pid());
  long peak = 0;
  for (int round = 0; round < 3; ++round) peak = std::max(peak, cycle());
  long after = rss_kb(server_->pid());
  ASSERT_GT(baseline, 0);
  RecordProperty("rss_baseline_kb", std::to_string(baseline));
  RecordProperty("rss_peak_kb", std::to_string(peak));
  RecordProperty("rss_after_kb", std::to_string(after));
  std::cout << "server RSS: baseline " << baseline << " KiB, with 1000 streams " << peak
            << " KiB, after 3 rounds of 1000 vanished clients " << after << " KiB\n";
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine and shadow memory make RSS meaningless
  EXPECT_LE(after, baseline + 2048)
      << "RSS grew by " << (after - baseline) << " KiB after 3,000 vanished SSE clients";
#endif
  // And the server still serves streams and requests.
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
  auto again = call(port(), "GET", "/runs/" + run_id);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.json_body.at("status"), "running");
}

}  // namespace

namespace {

// With [server] max_instances = 2, idle instances are dropped and rebuilt on demand; their
// sessions continue from the store.
TEST(InstanceCache, EvictedInstancesComeBackWithTheirHistory) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path(), "[agent]\nmodel = \"test:demo\"\n[server]\nmax_instances = 2\n");
  ServeProcess server(dir.path());
  ASSERT_GT(server.port(), 0) << server.output();
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5; ++i) {
      auto r = call(server.port(), "POST", "/agents/helper/i" + std::to_string(i),
                    R"({"message":"hello number )" + std::to_string(round) + "\"}");
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }
  // Each instance's default session holds both rounds (2 prompts → at least 4 entries).
  auto store = open_sqlite_store(dir.path() / ".cppflue/state.db");
  ASSERT_TRUE(store.has_value());
  for (int i = 0; i < 5; ++i) {
    auto session = (*store)->get_session("i" + std::to_string(i) + ":default");
    ASSERT_TRUE(session.has_value() && session->has_value()) << i;
    EXPECT_GE((*session)->entry_count, 4) << i;
    auto entries = (*store)->entries("i" + std::to_string(i) + ":default");
    ASSERT_TRUE(entries.has_value());
    std::string all;
    for (const auto& e : *entries) all += serialize(e.content);
    EXPECT_NE(all.find("hello number 0"), std::string::npos) << i;
    EXPECT_NE(all.find("hello number 1"), std::string::npos) << i;
  }
}

}  // namespace
