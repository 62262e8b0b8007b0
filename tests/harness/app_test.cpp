// SPDX-License-Identifier: Apache-2.0
// Compiled agents and workflows (app.hpp): registration by file stem, create_agent with its
// context, workflow runs recorded in the store (run_start, logs, session events, run_end).
#include <gtest/gtest.h>

#include "cppflue/cppflue.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;

namespace {

const auto kEchoAgent = create_agent([](const AgentContext& ctx) {
  AgentOptions o;
  o.model = "test:echo";
  o.sandbox = "none";
  o.instructions = "Instance " + ctx.id;
  return o;
});

// Registered under this file's stem, "app_test".
CPPFLUE_WORKFLOW([](FlueContext& ctx) -> json {
  ctx.log().info("starting", {{"words", 2}});
  auto agent = ctx.init(kEchoAgent);
  auto answer = agent.session().prompt(std::string(ctx.payload().at("text").as_string()));
  return json_object{{"summary", answer.text}, {"run", ctx.id()}};
});

CPPFLUE_AGENT([](const AgentContext& ctx) {
  AgentOptions o;
  o.model = "test:echo";
  o.sandbox = "none";
  o.instructions = "payload " + dump(ctx.payload);
  return o;
});

TEST(App, MacrosRegisterByFileStem) {
  auto workflows = registered_workflows();
  EXPECT_NE(std::find(workflows.begin(), workflows.end(), "app_test"), workflows.end());
  auto agents = registered_agents();
  EXPECT_NE(std::find(agents.begin(), agents.end(), "app_test"), agents.end());
  EXPECT_EQ(route_name("src/workflows/summarize.cpp"), "summarize");
}

TEST(App, WorkflowRunIsRecordedWithItsEvents) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "");
  std::vector<std::string> seen;
  WorkflowRunOptions o;
  o.payload = json_object{{"text", "hello workflow"}};
  o.root = dir.path().string();
  o.on_event = [&](const RunEvent& e) { seen.push_back(e.type); };
  auto r = run_workflow("app_test", o);
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.status, "completed");
  EXPECT_NE(std::string(r.result.at("summary").as_string()).find("hello workflow"),
            std::string::npos);
  EXPECT_EQ(r.result.at("run"), json(r.run_id));

  auto store = open_sqlite_store(dir.path() / ".cppflue/state.db");
  ASSERT_TRUE(store);
  auto run = (*store)->get_run(r.run_id);
  ASSERT_TRUE(run && *run);
  EXPECT_EQ((*run)->status, "completed");
  EXPECT_EQ((*run)->workflow, "app_test");
  EXPECT_EQ((*run)->result, r.result);
  auto events = (*store)->run_events(r.run_id, 0, 1000);
  ASSERT_TRUE(events);
  ASSERT_GE(events->size(), 4u);
  EXPECT_EQ(events->front().type, "run_start");
  EXPECT_EQ(events->back().type, "run_end");
  bool log = false, operation = false;
  for (const auto& e : *events) {
    if (e.type == "log") {
      log = true;
      EXPECT_EQ(e.data.at("message"), "starting");
      EXPECT_EQ(e.data.at("words"), 2);
    }
    if (e.type == "operation") operation = true;
  }
  EXPECT_TRUE(log);
  EXPECT_TRUE(operation);  // the session's events are part of the run
  EXPECT_EQ(seen.size(), events->size());
  // The agent instance is named after the run.
  auto sessions = (*store)->list_sessions();
  ASSERT_TRUE(sessions);
  ASSERT_FALSE(sessions->empty());
}

TEST(App, FailingWorkflowIsAFailedRun) {
  register_workflow("explodes", [](FlueContext&) -> json {
    throw Exception(make_error(ErrorType::invalid_input, "payload has no text"));
  });
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "");
  WorkflowRunOptions o;
  o.root = dir.path().string();
  auto r = run_workflow("explodes", o);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error->message, "payload has no text");
  auto store = open_sqlite_store(dir.path() / ".cppflue/state.db");
  auto run = (*store)->get_run(r.run_id);
  ASSERT_TRUE(run && *run);
  EXPECT_EQ((*run)->status, "failed");
  EXPECT_EQ((*run)->error.at("type"), "invalid_input");
  try {
    run_workflow("nope", o);
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::not_found);
    EXPECT_NE(e.error().message.find("app_test"), std::string::npos) << e.error().message;
  }
}

// A workflow still running when its server stops is ended as interrupted (with its run_end) by
// end_interrupted_runs; when the workflow returns afterwards, its own end changes nothing and
// adds no second run_end.
TEST(App, AWorkflowEndedAsInterruptedKeepsThatEndAndOneRunEnd) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "");
  auto opened = open_sqlite_store(dir.path() / ".cppflue/state.db");
  ASSERT_TRUE(opened) << opened.error().message;
  std::shared_ptr<Store> store = *opened;
  std::vector<RunRecord> ended;
  register_workflow("interrupted_meanwhile", [&](FlueContext& ctx) -> json {
    ctx.log().info("working", {});
    // What Server::stop does for the runs of its store that are still going.
    auto r = end_interrupted_runs(*store, {.own = true});
    if (r) ended = *r;
    return json_object{{"done", true}};
  });
  WorkflowRunOptions o;
  o.root = dir.path().string();
  o.store = store;
  auto r = run_workflow("interrupted_meanwhile", o);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].id, r.run_id);
  auto run = store->get_run(r.run_id);
  ASSERT_TRUE(run && *run);
  EXPECT_EQ((*run)->status, "failed");
  EXPECT_EQ((*run)->error.at("type"), "interrupted");
  EXPECT_NE(std::string((*run)->error.at("message").as_string()).find("stopped before the run"),
            std::string::npos)
      << (*run)->error;
  EXPECT_TRUE((*run)->result.is_null());
  auto events = store->run_events(r.run_id, 0, 1000);
  ASSERT_TRUE(events);
  int run_ends = 0;
  for (const auto& e : *events) {
    if (e.type != "run_end") continue;
    ++run_ends;
    EXPECT_EQ(e.data.at("status"), "failed");
    EXPECT_EQ(e.data.at("is_error"), true);
    EXPECT_EQ(e.data.at("error").at("type"), "interrupted");
    EXPECT_EQ(e.data.at("run_id"), json(r.run_id));
  }
  EXPECT_EQ(run_ends, 1);
  EXPECT_EQ(events->back().type, "run_end");
  // Nothing is left to end.
  auto again = end_interrupted_runs(*store, {.own = true});
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
}

TEST(App, EndedAsAskedTellsTheCallersOwnEndFromAnEarlierOne) {
  RunRecord run;
  run.status = "completed";
  EXPECT_TRUE(ended_as_asked(run, "completed", nullptr));
  EXPECT_FALSE(ended_as_asked(run, "failed", nullptr));
  run.status = "failed";
  run.error = json_object{{"type", "interrupted"}, {"message", "gone"}};
  EXPECT_FALSE(ended_as_asked(run, "failed", json_object{{"type", "internal"}, {"message", "x"}}));
  EXPECT_TRUE(
      ended_as_asked(run, "failed", json_object{{"type", "interrupted"}, {"message", "gone"}}));
}

TEST(App, FindAgentPrefersCompiledThenMarkdown) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "");
  write_file(dir.path() / ".agents/agents/writer.md",
             "---\ndescription: Writes\nmodel: test:echo\nsandbox: none\nsubagents: [editor]\n---\n"
             "You write.\n");
  write_file(dir.path() / ".agents/agents/editor.md",
             "---\ndescription: Edits\nthinking_level: low\n---\nYou edit.\n");
  auto compiled = find_agent("app_test", dir.path());
  ASSERT_TRUE(compiled);
  InitOptions defaults;
  defaults.root = dir.path().string();
  auto a = compiled->instantiate(AgentContext{"i1", {}, json_object{{"k", 1}}}, defaults);
  EXPECT_NE(a.system_prompt().find("payload {\"k\":1}"), std::string::npos) << a.system_prompt();

  auto md = find_agent("writer", dir.path());
  ASSERT_TRUE(md) << md.error().message;
  auto w = md->instantiate(AgentContext{}, defaults);
  EXPECT_NE(w.system_prompt().find("You write."), std::string::npos);
  auto names = w.tool_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "task"), names.end());

  write_file(dir.path() / ".agents/agents/broken.md",
             "---\ndescription: x\nsubagents: [ghost]\n---\nx\n");
  auto broken = find_agent("broken", dir.path());
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("ghost"), std::string::npos);
  auto none = find_agent("nobody", dir.path());
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("writer"), std::string::npos) << none.error().message;
}

}  // namespace

namespace {
TEST(App, MarkdownAgentToolsAreCheckedAndKeepTheTaskTool) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "");
  write_file(dir.path() / "tools.json", R"({"turns": [{"text": "offered: {{tools}}"}]})");
  write_file(dir.path() / ".agents/agents/lead.md",
             "---\ndescription: Leads\nmodel: test:" + (dir.path() / "tools.json").string() +
                 "\ntools: [read, glob]\nsubagents: [worker]\n---\nYou lead.\n");
  write_file(dir.path() / ".agents/agents/worker.md", "---\ndescription: Works\n---\nYou work.\n");
  write_file(dir.path() / ".agents/agents/typo.md",
             "---\ndescription: Typo\nmodel: test:echo\ntools: [raed]\n---\nx\n");
  InitOptions defaults;
  defaults.root = dir.path().string();
  auto lead = find_agent("lead", dir.path());
  ASSERT_TRUE(lead);
  auto agent = lead->instantiate(AgentContext{}, defaults);
  // Only the listed tools, plus `task` (it reaches the subagents).
  auto text = agent.session("lead").prompt("which tools?").text;
  EXPECT_NE(text.find("offered: read, glob, task"), std::string::npos) << text;
  auto typo = find_agent("typo", dir.path());
  ASSERT_TRUE(typo);
  try {
    typo->instantiate(AgentContext{}, defaults);
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("unknown tool 'raed'"), std::string::npos)
        << e.error().message;
  }
}
}  // namespace
