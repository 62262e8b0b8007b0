// SPDX-License-Identifier: Apache-2.0
// `cppflue runs list|show` and the pretty format of `cppflue logs`, on runs written into a
// project's store by the test; CPPFLUE_LOG's check and serve's --log-format.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/store/store.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using cppflue::testing::contains;
using cppflue::testing::lines_of;
using cppflue::testing::TempDir;

using Ran = cppflue::testing::CliRun;

// Runs `cppflue args...` in `cwd` with `env` ("NAME=value" words) and no CPPFLUE_LOG.
Ran run_in(const fs::path& cwd, const std::vector<std::string>& args,
           const std::vector<std::string>& env = {}) {
  return cppflue::testing::run_cli(cwd, args, env, {"CPPFLUE_LOG", "CPPFLUE_LOG_FORMAT"},
                                   CPPFLUE_BINARY);
}

class RunsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cppflue::testing::write_file(dir_.path() / "cppflue.toml", "");
    auto store = open_sqlite_store(dir_.path() / ".cppflue" / "state.db");
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = *store;
    add_workflow_run();
    add_run("run_b", "helper", "u1", "failed");
    add_run("run_c", "slow", "run_c", "running");
  }

  void add_run(const std::string& id, const std::string& name, const std::string& instance,
               const std::string& status) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // started_at orders the list
    RunRecord r;
    r.id = id;
    r.workflow = name;
    r.instance_id = instance;
    r.payload = json_object{{"message", "hi"}};
    ASSERT_TRUE(store_->create_run(r).has_value());
    if (status == "failed") {
      json error = json_object{{"type", "provider_error"}, {"message", "boom"}};
      ASSERT_TRUE(store_->finish_run(id, status, nullptr, error).has_value());
    }
  }

  void event(const std::string& type, json data) {
    ASSERT_TRUE(store_->append_run_event("run_a", type, data).has_value()) << type;
  }

  // run_a: a completed workflow run whose agent streamed its answer and called a tool.
  void add_workflow_run() {
    add_run("run_a", "greet", "run_a", "running");
    event("run_start", json_object{{"run_id", "run_a"}, {"workflow", "greet"}});
    event("log", json_object{{"level", "info"}, {"message", "greeting"}, {"name", "Ada"}});
    event("operation_start", json_object{{"operation_kind", "prompt"}});
    for (const char* piece : {"Hel", "lo ", "world"}) event("text_delta", {{"text", piece}});
    event("tool_start",
          json_object{{"toolName", "bash"}, {"toolCallId", "c1"}, {"args", {{"command", "ls"}}}});
    event("tool_end", json_object{{"toolName", "bash"},
                                  {"toolCallId", "c1"},
                                  {"isError", false},
                                  {"result", std::string(5000, 'x')}});
    json cost = json_object{{"input", 0.0}, {"output", 0.0012}, {"total", 0.0012}};
    event("turn", json_object{{"turn_id", "t1"},
                              {"model", "test:demo"},
                              {"usage", {{"input", 10}, {"output", 5}, {"cost", cost}}}});
    json result = json_object{{"answer", 42}, {"ratio", 0.5}};
    ASSERT_TRUE(store_->finish_run("run_a", "completed", result, nullptr).has_value());
    event("run_end", json_object{{"run_id", "run_a"},
                                 {"status", "completed"},
                                 {"is_error", false},
                                 {"result", result},
                                 {"error", nullptr}});
  }

  Ran run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    return run_in(dir_.path(), args, env);
  }

  TempDir dir_;
  std::shared_ptr<Store> store_;
};

TEST_F(RunsCommandTest, ListShowsTheNewestFirstWithFilters) {
  auto all = run({"runs"});
  ASSERT_EQ(all.code, 0) << all.err;
  auto lines = lines_of(all.out);
  ASSERT_EQ(lines.size(), 4u) << all.out;
  for (const char* column : {"RUN", "WORKFLOW/AGENT", "STATUS", "STARTED", "DURATION"}) {
    EXPECT_TRUE(contains(lines[0], column)) << lines[0];
  }
  EXPECT_EQ(lines[1].rfind("run_c ", 0), 0u) << all.out;
  EXPECT_TRUE(contains(lines[1], " running ") && lines[1].back() == '-') << lines[1];
  EXPECT_EQ(lines[2].rfind("run_b ", 0), 0u) << all.out;
  EXPECT_TRUE(contains(lines[2], " helper/u1 ") && contains(lines[2], " failed ")) << lines[2];
  EXPECT_EQ(lines[3].rfind("run_a ", 0), 0u) << all.out;
  EXPECT_TRUE(contains(lines[3], " greet ") && contains(lines[3], " completed ")) << lines[3];
  EXPECT_TRUE(contains(lines[3], " ms") || contains(lines[3], " s")) << lines[3];

  auto limited = run({"runs", "list", "--limit", "2"});
  ASSERT_EQ(limited.code, 0) << limited.err;
  EXPECT_EQ(lines_of(limited.out).size(), 4u) << limited.out;  // header, 2 runs, the hint
  EXPECT_TRUE(contains(limited.out, "(the newest 2; --limit N shows more)")) << limited.out;

  auto failed = run({"runs", "list", "--status", "failed"});
  ASSERT_EQ(failed.code, 0) << failed.err;
  ASSERT_EQ(lines_of(failed.out).size(), 2u) << failed.out;
  EXPECT_TRUE(contains(failed.out, "run_b")) << failed.out;
  auto ended = run({"runs", "--status", "completed,failed"});
  EXPECT_EQ(lines_of(ended.out).size(), 3u) << ended.out;
  auto none = run({"runs", "--status", "aborted"});
  EXPECT_EQ(none.out, "no runs with status aborted\n");
  auto bad = run({"runs", "--status", "done"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.err, "--status must be running, completed, failed or aborted"))
      << bad.err;
  EXPECT_EQ(run({"runs", "list", "--limit", "0"}).code, 1);
}

TEST_F(RunsCommandTest, ListAsJson) {
  auto r = run({"runs", "list", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto parsed = parse_json(r.out);
  ASSERT_TRUE(parsed && parsed->is_array()) << r.out;
  ASSERT_EQ(parsed->as_array().size(), 3u);
  const json& running = parsed->at(0);
  EXPECT_EQ(running.at("id"), "run_c");
  EXPECT_EQ(running.at("status"), "running");
  EXPECT_TRUE(running.at("ended_at").is_null());
  EXPECT_TRUE(running.at("duration_ms").is_null());
  const json& done = parsed->at(2);
  EXPECT_EQ(done.at("id"), "run_a");
  EXPECT_EQ(done.at("workflow"), "greet");
  EXPECT_TRUE(done.at("duration_ms").is_int64());
  EXPECT_EQ(done.at("event_count"), 10);
  EXPECT_FALSE(done.at("started_at").as_string().empty());
  EXPECT_EQ(parsed->at(1).at("instance_id"), "u1");
}

TEST_F(RunsCommandTest, ShowPrintsTheRecord) {
  auto r = run({"runs", "show", "run_a"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "run       run_a\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "workflow  greet\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "status    completed\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "events    10 (cppflue logs run_a)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "payload   {\"message\":\"hi\"}\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "result    {\"answer\":42,\"ratio\":0.5}\n")) << r.out;

  auto agent = run({"runs", "show", "run_b", "--json"});
  ASSERT_EQ(agent.code, 0) << agent.err;
  auto parsed = parse_json(agent.out);
  ASSERT_TRUE(parsed) << agent.out;
  EXPECT_EQ(parsed->at("workflow"), "helper");
  EXPECT_EQ(parsed->at("instance_id"), "u1");
  EXPECT_EQ(parsed->at("error").at("type"), "provider_error");
  EXPECT_EQ(parsed->at("payload").at("message"), "hi");

  auto text = run({"runs", "show", "run_b"});
  EXPECT_TRUE(contains(text.out, "agent     helper/u1\n")) << text.out;
  EXPECT_TRUE(contains(text.out, "error     {\"type\":\"provider_error\",\"message\":\"boom\"}"))
      << text.out;

  auto missing = run({"runs", "show", "run_nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(contains(missing.err, "run run_nope is not in")) << missing.err;
  auto no_id = run({"runs", "show"});
  EXPECT_EQ(no_id.code, 1);
  EXPECT_TRUE(contains(no_id.err, "runs show needs a run id")) << no_id.err;
  EXPECT_EQ(run({"runs", "rm", "run_a"}).code, 1);  // not an action
}

TEST(RunsCommand, AProjectWithoutAStoreHasNoRuns) {
  TempDir dir;
  cppflue::testing::write_file(dir.path() / "cppflue.toml", "");
  auto r = run_in(dir.path(), {"runs"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "no runs (no store at ")) << r.out;
  EXPECT_EQ(run_in(dir.path(), {"runs", "--json"}).out, "[]\n");
  EXPECT_FALSE(fs::exists(dir.path() / ".cppflue" / "state.db"));  // not created by looking
}

TEST_F(RunsCommandTest, LogsArePrettyAndReadable) {
  auto r = run({"logs", "run_a"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = lines_of(r.out);
  // 10 events, of which three text deltas on one line.
  ASSERT_EQ(lines.size(), 8u) << r.out;
  EXPECT_EQ(lines[0].rfind("[1] ", 0), 0u) << lines[0];
  EXPECT_TRUE(contains(lines[0], " run_start workflow=greet")) << lines[0];
  EXPECT_TRUE(contains(lines[1], " log info: greeting name=Ada")) << lines[1];
  EXPECT_EQ(lines[3].rfind("[4-6] ", 0), 0u) << lines[3];
  EXPECT_TRUE(contains(lines[3], " assistant: Hello world")) << lines[3];
  EXPECT_FALSE(contains(r.out, "text_delta")) << r.out;
  EXPECT_TRUE(contains(lines[4], " -> bash({\"command\":\"ls\"})")) << lines[4];
  EXPECT_TRUE(contains(lines[5], " <- bash (")) << lines[5];
  EXPECT_TRUE(contains(lines[5], " ms): xxxx")) << lines[5];
  EXPECT_TRUE(contains(lines[5], "… [+4800 chars]")) << lines[5];
  EXPECT_LT(lines[5].size(), 300u);
  EXPECT_TRUE(contains(lines[6], " turn model=test:demo tokens in=10 out=5 cost=$0.0012"))
      << lines[6];
  EXPECT_TRUE(contains(lines[7], " run_end completed: {\"answer\":42,\"ratio\":0.5}")) << lines[7];
  EXPECT_FALSE(contains(r.out, "0E0")) << r.out;
  EXPECT_FALSE(contains(r.out, "E-3")) << r.out;

  // --types still filters; a lone delta is its own line.
  auto deltas = run({"logs", "run_a", "--types", "text_delta,run_end", "--since", "4"});
  auto dl = lines_of(deltas.out);
  ASSERT_EQ(dl.size(), 2u) << deltas.out;
  EXPECT_EQ(dl[0].rfind("[5-6] ", 0), 0u) << dl[0];
  EXPECT_TRUE(contains(dl[0], "assistant: lo world")) << dl[0];

  // ndjson: one object per stored event, as before.
  auto nd = run({"logs", "run_a", "--format", "ndjson"});
  auto nl = lines_of(nd.out);
  ASSERT_EQ(nl.size(), 10u) << nd.out;
  for (const auto& l : nl) EXPECT_TRUE(parse_json(l).has_value()) << l;
}

TEST(LogSettings, AnUnknownCppflueLogIsReportedWithTheValidLevels) {
  TempDir dir;
  cppflue::testing::write_file(dir.path() / "cppflue.toml", "");
  auto wrong = run_in(dir.path(), {"runs"}, {"CPPFLUE_LOG=verbose"});
  EXPECT_EQ(wrong.code, 0) << wrong.err;
  EXPECT_TRUE(contains(wrong.err,
                       "CPPFLUE_LOG=verbose is not a log level; use one of trace, debug, "
                       "info, warn, error, critical, off"))
      << wrong.err;
  auto format = run_in(dir.path(), {"runs"}, {"CPPFLUE_LOG_FORMAT=yaml"});
  EXPECT_TRUE(contains(format.err, "CPPFLUE_LOG_FORMAT=yaml is not a log format; use text or json"))
      << format.err;
  for (const char* ok : {"CPPFLUE_LOG=debug", "CPPFLUE_LOG=WARN", "CPPFLUE_LOG_FORMAT=json"}) {
    auto r = run_in(dir.path(), {"runs"}, {ok});
    EXPECT_EQ(r.err, "") << ok;
  }
  auto bad_flag = run_in(dir.path(), {"serve", "--log-format", "xml"});
  EXPECT_EQ(bad_flag.code, 1);
  EXPECT_TRUE(contains(bad_flag.err, "--log-format")) << bad_flag.err;
}

}  // namespace
}  // namespace cppflue
