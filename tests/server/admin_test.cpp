// SPDX-License-Identifier: Apache-2.0
// Black-box tests of the read-only views: /admin listings (agents, instances, runs, with
// cursors, limits and status filters) and the /__cppflue dashboard and its status JSON.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> names(const json& list, const char* key) {
  std::vector<std::string> out;
  for (const auto& item : list.as_array()) out.push_back(str(item.at(key)));
  return out;
}

class AdminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new cppflue::testing::TempDir();
    auto root = dir_->path();
    write_helper_project(root);
    cppflue::testing::write_file(
        root / ".agents/skills/triage.md",
        "---\nname: triage\ndescription: sorts <b>issues</b> & more\n---\nSort them.\n");
    server_ = new ServeProcess(root, {}, {}, CPPFLUE_TEST_APP);
    if (server_->port() == 0) return;
    int port = server_->port();
    // Runs: helper@alice ×2, helper@bob ×1 (background agent runs), greet ×2, fail ×1.
    for (const char* who : {"alice", "bob", "alice"}) {
      auto r = call(port, "POST", std::string("/agents/helper/") + who, R"({"message":"hi"})",
                    "application/json", "X-Webhook: true\r\n");
      if (r.status == 202) wait_run(port, str(r.json_body.at("run_id")));
      std::this_thread::sleep_for(5ms);  // distinct start times
    }
    for (const char* wf : {"greet", "fail", "greet"}) {
      call(port, "POST", std::string("/workflows/") + wf + "?wait=result", R"({"name":"x"})");
      std::this_thread::sleep_for(5ms);
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  static void wait_run(int port, const std::string& id) {
    for (int i = 0; i < 400; ++i) {
      auto r = call(port, "GET", "/runs/" + id);
      if (r.status == 200 && r.json_body.at("status") != "running") return;
      std::this_thread::sleep_for(25ms);
    }
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }
  int port() const { return server_->port(); }
  Response get(const std::string& target) { return call(port(), "GET", target); }

  // Follows nextCursor from `target` (which already has a '?'), collecting `key` of `list`.
  std::vector<std::string> all_pages(const std::string& target, const char* list, const char* key,
                                     int* pages = nullptr) {
    std::vector<std::string> out;
    std::string cursor;
    int n = 0;
    for (;;) {
      auto r = get(target + (cursor.empty() ? "" : "&cursor=" + cursor));
      EXPECT_EQ(r.status, 200) << r.body;
      if (r.status != 200 || ++n > 20) break;
      auto got = names(r.json_body.at(list), key);
      EXPECT_EQ(r.json_body.at("items"), r.json_body.at(list));
      out.insert(out.end(), got.begin(), got.end());
      const json& next = r.json_body.at("nextCursor");
      if (next.is_null()) break;
      cursor = str(next);
      EXPECT_EQ(cursor.find_first_not_of("0123456789"), 0u) << "cursors are opaque: " << cursor;
    }
    if (pages) *pages = n;
    return out;
  }

  static cppflue::testing::TempDir* dir_;
  static ServeProcess* server_;
};

cppflue::testing::TempDir* AdminTest::dir_ = nullptr;
ServeProcess* AdminTest::server_ = nullptr;

TEST_F(AdminTest, AgentsAndInstancesPageWithCursors) {
  auto first = get("/admin/agents");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(names(first.json_body.at("agents"), "name"),
            (std::vector<std::string>{"fail", "greet", "helper"}));
  EXPECT_TRUE(first.json_body.at("nextCursor").is_null());

  int pages = 0;
  EXPECT_EQ(all_pages("/admin/agents?limit=1", "agents", "name", &pages),
            (std::vector<std::string>{"fail", "greet", "helper"}));
  EXPECT_EQ(pages, 3);

  auto inst = get("/admin/agents/helper/instances");
  ASSERT_EQ(inst.status, 200) << inst.body;
  EXPECT_EQ(inst.json_body.at("agent"), "helper");
  EXPECT_EQ(inst.json_body.at("agentName"), "helper");
  EXPECT_EQ(names(inst.json_body.at("instances"), "agent_id"),
            (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(names(inst.json_body.at("instances"), "instanceId"),
            (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(all_pages("/admin/agents/helper/instances?limit=1", "instances", "agent_id", &pages),
            (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(pages, 2);
  // A served agent without runs is known, with no instances.
  auto greet = get("/admin/agents/greet/instances");
  ASSERT_EQ(greet.status, 200) << greet.body;

  // PyFlue's offset cursors: {"offset":1} and a bare number.
  for (const char* cursor : {"eyJvZmZzZXQiOjF9", "1"}) {
    auto r = get(std::string("/admin/agents?cursor=") + cursor);
    ASSERT_EQ(r.status, 200) << cursor << ": " << r.body;
    EXPECT_EQ(names(r.json_body.at("agents"), "name"),
              (std::vector<std::string>{"greet", "helper"}));
  }
}

TEST_F(AdminTest, RunsListNewestFirstWithFilters) {
  auto all = get("/admin/runs");
  ASSERT_EQ(all.status, 200) << all.body;
  const auto& runs = all.json_body.at("runs").as_array();
  ASSERT_EQ(runs.size(), 6u) << all.body;
  for (std::size_t i = 1; i < runs.size(); ++i) {
    EXPECT_GE(str(runs[i - 1].at("startedAt")), str(runs[i].at("startedAt")));
  }
  EXPECT_EQ(runs[0].at("agentName"), "greet");  // the last one started
  EXPECT_EQ(runs[5].at("agentName"), "helper");
  EXPECT_EQ(runs[5].at("instanceId"), "alice");

  // Paging by 4 gives every run once.
  int pages = 0;
  auto ids = all_pages("/admin/runs?limit=4", "runs", "run_id", &pages);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 6u);

  auto errored = get("/admin/runs?status=errored");
  ASSERT_EQ(errored.status, 200) << errored.body;
  ASSERT_EQ(errored.json_body.at("runs").as_array().size(), 1u);
  EXPECT_EQ(errored.json_body.at("runs").at(0).at("agentName"), "fail");
  EXPECT_EQ(errored.json_body.at("runs").at(0).at("isError"), true);
  EXPECT_EQ(get("/admin/runs?status=completed").json_body.at("runs").as_array().size(), 5u);
  EXPECT_EQ(get("/admin/runs?status=succeeded").json_body.at("runs").as_array().size(), 5u);
  EXPECT_EQ(get("/admin/runs?status=active").json_body.at("runs").as_array().size(), 0u);
  EXPECT_EQ(get("/admin/runs?agentName=greet").json_body.at("runs").as_array().size(), 2u);
  EXPECT_EQ(
      get("/admin/runs?agent_name=helper&status=completed").json_body.at("runs").as_array().size(),
      3u);

  auto alice = get("/admin/agents/helper/instances/alice/runs");
  ASSERT_EQ(alice.status, 200) << alice.body;
  EXPECT_EQ(alice.json_body.at("agent_id"), "alice");
  EXPECT_EQ(alice.json_body.at("instanceId"), "alice");
  ASSERT_EQ(alice.json_body.at("runs").as_array().size(), 2u);
  for (const auto& r : alice.json_body.at("runs").as_array()) {
    EXPECT_EQ(r.at("instanceId"), "alice");
    EXPECT_EQ(r.at("status"), "completed");
  }
  EXPECT_EQ(all_pages("/admin/agents/helper/instances/alice/runs?limit=1", "runs", "run_id").size(),
            2u);
  auto alice_errored = get("/admin/agents/helper/instances/alice/runs?status=errored");
  ASSERT_EQ(alice_errored.status, 200);
  EXPECT_TRUE(alice_errored.json_body.at("runs").as_array().empty());

  std::string id = str(runs[0].at("run_id"));
  auto one = get("/admin/runs/" + id);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json_body.at("runId"), json(id));
  EXPECT_EQ(one.json_body, runs[0]);
}

TEST_F(AdminTest, BadAdminRequestsGetEnvelopes) {
  struct Case {
    std::string method;
    std::string target;
    int status;
    std::string type;
    std::string param;  // meta.param for invalid_query_param
  };
  const std::vector<Case> cases = {
      {"GET", "/admin/agents?limit=0", 400, "invalid_query_param", "limit"},
      {"GET", "/admin/agents?limit=1001", 400, "invalid_query_param", "limit"},
      {"GET", "/admin/runs?limit=ten", 400, "invalid_query_param", "limit"},
      {"GET", "/admin/runs?limit=-1", 400, "invalid_query_param", "limit"},
      {"GET", "/admin/agents?cursor=%21%21%21", 400, "invalid_query_param", "cursor"},
      {"GET", "/admin/runs?cursor=e30", 400, "invalid_query_param", "cursor"},  // {}
      {"GET", "/admin/runs?cursor=eyJvZmZzZXQiOi0xfQ", 400, "invalid_query_param", "cursor"},
      {"GET", "/admin/agents/helper/instances?cursor=nope!", 400, "invalid_query_param", "cursor"},
      {"GET", "/admin/runs?status=done", 400, "invalid_query_param", "status"},
      {"GET", "/admin/agents/helper/instances/alice/runs?status=x", 400, "invalid_query_param",
       "status"},
      {"GET", "/admin/agents/nobody/instances", 404, "agent_not_found", ""},
      {"GET", "/admin/agents/helper/instances/carol/runs", 404, "instance_not_found", ""},
      {"GET", "/admin/agents/nobody/instances/alice/runs", 404, "agent_not_found", ""},
      {"GET", "/admin/runs?agentName=nobody", 404, "agent_not_found", ""},
      {"GET", "/admin/runs/run_missing", 404, "run_not_found", ""},
      {"GET", "/admin", 404, "not_found", ""},
      {"GET", "/admin/things", 404, "not_found", ""},
      {"GET", "/admin/agents/helper", 404, "not_found", ""},
      {"GET", "/admin/agents//instances", 404, "not_found", ""},
      {"GET", "/admin/runs/a/b", 404, "not_found", ""},
      {"POST", "/admin/runs", 405, "method_not_allowed", ""},
      {"DELETE", "/admin/agents", 405, "method_not_allowed", ""},
      {"POST", "/__cppflue", 405, "method_not_allowed", ""},
      {"GET", "/__cppflue/nothing", 404, "not_found", ""},
  };
  for (const auto& c : cases) {
    auto r = call(port(), c.method, c.target, c.method == "POST" ? "{}" : "");
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << ": " << r.body;
    ASSERT_TRUE(r.json_body.is_object()) << c.target << ": " << r.body;
    EXPECT_EQ(r.json_body.at("error").at("type"), json(c.type)) << c.target;
    if (!c.param.empty()) {
      EXPECT_EQ(r.json_body.at("error").at("meta").at("param"), json(c.param)) << c.target;
    }
  }
  EXPECT_EQ(get("/health").status, 200);  // still serving
}

// A stored history, page by page: every entry once, in order, however small the pages.
TEST_F(AdminTest, SessionEntriesArePaged) {
  auto whole = get("/admin/sessions/alice:default/entries?limit=1000");
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json_body.at("session_id"), "alice:default");
  const auto& all = whole.json_body.at("entries").as_array();
  ASSERT_GE(all.size(), 4u);  // two prompts, two answers at least
  EXPECT_EQ(whole.json_body.at("entry_count"), json(all.size()));
  EXPECT_TRUE(whole.json_body.at("next_after").is_null());
  EXPECT_EQ(all[0].at("seq"), 1);
  EXPECT_EQ(all[0].at("role"), "user");
  std::vector<json> paged;
  std::string after = "0";
  for (int pages = 0; pages < 50; ++pages) {
    auto r = get("/admin/sessions/alice:default/entries?limit=3&after=" + after);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto& entries = r.json_body.at("entries").as_array();
    EXPECT_LE(entries.size(), 3u);
    for (const auto& e : entries) paged.push_back(e);
    if (r.json_body.at("next_after").is_null()) break;
    EXPECT_EQ(r.json_body.at("next_after"), entries.back().at("seq"));
    after = str(r.json_body.at("next_after"));
  }
  ASSERT_EQ(paged.size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(paged[i], all[i]);
  auto past = get("/admin/sessions/alice:default/entries?after=100000");
  ASSERT_EQ(past.status, 200);
  EXPECT_TRUE(past.json_body.at("entries").as_array().empty());
  for (const char* bad :
       {"?after=-1", "?after=x", "?after=99999999999999999999", "?limit=0", "?limit=1001"}) {
    auto r = get(std::string("/admin/sessions/alice:default/entries") + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_EQ(r.json_body.at("error").at("type"), "invalid_query_param") << bad;
  }
  auto missing = get("/admin/sessions/nobody:default/entries");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json_body.at("error").at("type"), "session_not_found");
}

TEST_F(AdminTest, DashboardShowsAgentsSkillsSessionsAndRuns) {
  auto status = get("/__cppflue/status");
  ASSERT_EQ(status.status, 200) << status.body;
  const json& s = status.json_body;
  EXPECT_EQ(s.at("ok"), true);
  EXPECT_EQ(s.at("framework"), "cppflue");
  EXPECT_EQ(names(s.at("skills"), "name"), std::vector<std::string>{"triage"});
  auto agents = names(s.at("routes"), "name");
  EXPECT_NE(std::find(agents.begin(), agents.end(), "helper"), agents.end());
  EXPECT_EQ(s.at("route_count"), json(agents.size()));
  auto workflows = names(s.at("workflows"), "name");
  EXPECT_NE(std::find(workflows.begin(), workflows.end(), "greet"), workflows.end());
  EXPECT_TRUE(s.at("active_sessions").as_array().empty());

  auto page = get("/__cppflue");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.head.find("text/html"), std::string::npos) << page.head;
  const std::string& html = page.body;
  EXPECT_NE(html.find("<h2>Agents</h2>"), std::string::npos);
  EXPECT_NE(html.find("/agents/helper/{agent_id}"), std::string::npos);
  EXPECT_NE(html.find("triage"), std::string::npos);
  // Text from files is escaped.
  EXPECT_NE(html.find("sorts &lt;b&gt;issues&lt;/b&gt; &amp; more"), std::string::npos);
  EXPECT_EQ(html.find("<b>issues</b>"), std::string::npos);
  EXPECT_NE(html.find("alice:default"), std::string::npos) << "sessions are listed";
  EXPECT_NE(html.find("<h2>Recent runs</h2>"), std::string::npos);
  auto runs = get("/admin/runs?limit=1");
  ASSERT_EQ(runs.status, 200);
  EXPECT_NE(html.find(str(runs.json_body.at("runs").at(0).at("run_id"))), std::string::npos);
}

}  // namespace
