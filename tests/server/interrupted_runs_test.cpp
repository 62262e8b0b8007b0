// SPDX-License-Identifier: Apache-2.0
// Runs that outlive their server process: a server that stops (SIGTERM) ends the runs still
// going as interrupted, with their run_end, and exits without waiting for their work; a server
// that is killed leaves them to whoever looks next — another server following the run, the
// next server to start on the store, `cppflue logs --follow`, `cppflue runs show`. The server
// is the compiled test application (tests/server/app), whose workflow "slow" sleeps between
// steps on a blocking thread.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "cppflue/store/store.hpp"
#include "server/serve_util.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

class InterruptedRunsTest : public ::testing::Test {
 protected:
  void SetUp() override { write_helper_project(dir_.path()); }

  std::unique_ptr<ServeProcess> serve() {
    auto s = std::make_unique<ServeProcess>(dir_.path(), std::vector<std::string>{},
                                            std::map<std::string, std::string>{}, CPPFLUE_TEST_APP);
    EXPECT_GT(s->port(), 0) << s->output();
    return s;
  }

  // Starts the slow workflow (one step, then a minute's sleep) and waits for its first step.
  std::string start_slow(int port) {
    auto r = call(port, "POST", "/workflows/slow", R"({"steps":2,"ms":60000})");
    EXPECT_EQ(r.status, 202) << r.body;
    if (r.status != 202) return "";
    std::string id = str(r.json_body.at("run_id"));
    auto store = open_sqlite_store(dir_.path() / ".cppflue/state.db");
    for (int i = 0; store && i < 400; ++i) {
      auto events = (*store)->run_events(id, 0, 10, {"log"});
      if (events && !events->empty()) break;
      std::this_thread::sleep_for(10ms);
    }
    return id;
  }

  std::shared_ptr<Store> store() {
    auto s = open_sqlite_store(dir_.path() / ".cppflue/state.db");
    EXPECT_TRUE(s) << s.error().message;
    return s ? *s : nullptr;
  }

  // The run as stored, and how many run_end events it has.
  std::pair<RunRecord, int> stored(const std::string& id) {
    auto s = store();
    RunRecord run;
    int run_ends = 0;
    if (!s) return {run, -1};
    if (auto r = s->get_run(id); r && *r) run = **r;
    if (auto events = s->run_events(id, 0, 10000)) {
      for (const auto& e : *events) run_ends += e.type == "run_end" ? 1 : 0;
    }
    return {run, run_ends};
  }

  cppflue::testing::TempDir dir_;
};

TEST_F(InterruptedRunsTest, AServerThatStopsEndsItsRunsAndItsStreamsGetTheirEnd) {
  auto server = serve();
  ASSERT_GT(server->port(), 0);
  std::string id = start_slow(server->port());
  ASSERT_FALSE(id.empty());
  SseReader sse(server->port(), request("GET", "/runs/" + id + "/stream", "", ""));
  auto first = sse.next(5s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->event, "run_start");
  auto t0 = std::chrono::steady_clock::now();
  // SIGTERM: the stream is a request in flight, so the stop takes the grace (2 s), then ends the
  // run; the workflow's minute of sleep is not waited for.
  EXPECT_EQ(server->stop(SIGTERM), 0) << server->output();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  auto events = sse.collect("run_end", 5s);
  ASSERT_FALSE(events.empty());
  const auto& end = events.back();
  ASSERT_EQ(end.event, "run_end") << server->output();
  EXPECT_EQ(end.json_data.at("data").at("status"), "failed");
  EXPECT_EQ(end.json_data.at("data").at("error").at("type"), "interrupted");
  auto [run, run_ends] = stored(id);
  EXPECT_EQ(run.status, "failed");
  EXPECT_EQ(run.error.at("type"), "interrupted");
  EXPECT_NE(str(run.error.at("message")).find("stopped before the run ended"), std::string::npos)
      << run.error;
  EXPECT_EQ(run_ends, 1);
  EXPECT_NE(server->output().find("ended as interrupted"), std::string::npos) << server->output();
}

TEST_F(InterruptedRunsTest, ARunOfAKilledServerIsEndedByWhoeverLooksNext) {
  auto a = serve();
  auto b = serve();  // another server on the same store
  ASSERT_TRUE(a->port() > 0 && b->port() > 0);
  std::string followed = start_slow(a->port());  // by a stream of the other server
  std::string logged = start_slow(a->port());    // by `cppflue logs --follow`
  std::string left = start_slow(a->port());      // (3 of the runtime's 4 blocking threads)
  ASSERT_FALSE(followed.empty() || logged.empty() || left.empty());
  const std::string a_pid = std::to_string(a->pid());

  SseReader sse(b->port(), request("GET", "/runs/" + followed + "/stream", "", ""));
  ASSERT_TRUE(sse.next(5s).has_value());
  cppflue::testing::CliRun logs;
  std::thread logs_thread([&] {
    // Under timeout(1): a regression fails the test instead of hanging it.
    logs = cppflue::testing::run_cli(
        dir_.path(), {"60", CPPFLUE_TEST_APP, "logs", logged, "--follow"}, {}, {}, "timeout");
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(a->stop(SIGKILL), 128 + SIGKILL);

  auto t0 = std::chrono::steady_clock::now();
  auto events = sse.collect("run_end", 10s);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "run_end") << b->output();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  EXPECT_EQ(events.back().json_data.at("data").at("error").at("type"), "interrupted");
  logs_thread.join();
  EXPECT_EQ(logs.code, 0) << logs.err;
  EXPECT_NE(logs.out.find("run_end failed"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("pid " + a_pid), std::string::npos) << logs.out;
  EXPECT_EQ(stored(logged).second, 1);

  // The one nobody looked at is ended when the next server starts. (A server that stops
  // gracefully ends such runs too, with its own: this one is killed.)
  b->stop(SIGKILL);
  EXPECT_EQ(stored(left).first.status, "running");
  auto c = serve();
  ASSERT_GT(c->port(), 0);
  auto [run, run_ends] = stored(left);
  EXPECT_EQ(run.status, "failed");
  EXPECT_EQ(run.error.at("type"), "interrupted");
  EXPECT_EQ(run_ends, 1);
  EXPECT_NE(c->output().find(left), std::string::npos) << c->output();
  EXPECT_EQ(stored(followed).second, 1);  // ended once, whoever saw it first
}

TEST_F(InterruptedRunsTest, GetRunAndRunsShowReportARunOfAKilledServerAsInterrupted) {
  auto a = serve();
  auto b = serve();
  ASSERT_TRUE(a->port() > 0 && b->port() > 0);
  std::string got_id = start_slow(a->port());
  std::string shown_id = start_slow(a->port());
  ASSERT_FALSE(got_id.empty() || shown_id.empty());
  a->stop(SIGKILL);
  // GET /runs/{id} of the other server checks the run's process when it reads it.
  auto got = call(b->port(), "GET", "/runs/" + got_id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json_body.at("status"), "failed") << got.body;
  EXPECT_NE(str(got.json_body.at("error").at("message")).find("ended before the run did"),
            std::string::npos)
      << got.body;
  EXPECT_EQ(stored(got_id).second, 1);
  // So does `cppflue runs show`.
  auto shown =
      cppflue::testing::run_cli(dir_.path(), {"runs", "show", shown_id}, {}, {}, CPPFLUE_TEST_APP);
  EXPECT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("failed"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("interrupted"), std::string::npos) << shown.out;
  EXPECT_EQ(stored(shown_id).second, 1);
}

}  // namespace
