// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/app.hpp — the agents and workflows of a CppFlue application.
//
// An application (scaffolded by `cppflue init`) has persistent agents in `src/agents/*.cpp`
// and finite workflows in `src/workflows/*.cpp`; the route name is the file stem:
//
//   // src/agents/assistant.cpp
//   CPPFLUE_AGENT([](const cppflue::AgentContext&) {
//     return cppflue::AgentOptions{.model = "openai:gpt-5.5"};
//   });
//
//   // src/workflows/summarize.cpp
//   static const auto agent = cppflue::create_agent([](const cppflue::AgentContext&) {
//     return cppflue::AgentOptions{.model = "openai:gpt-5.5"};
//   });
//   CPPFLUE_WORKFLOW([](cppflue::FlueContext& ctx) -> cppflue::json {
//     auto session = ctx.init(agent).session();
//     auto text = std::string(ctx.payload().at("text").as_string());
//     return {{"summary", session.prompt(text).text}};
//   });
//
// The application's `main` is `return cppflue::cli_main(argc, argv);` (<cppflue/cli.hpp>), so
// `./app run summarize --payload '{...}'` and `./app run --agent assistant -p ...` work like the
// `cppflue` binary with these registered. A workflow run has a run id; `run_start`, `log` and
// `run_end` events (and the events of the sessions it opens) are stored with the run.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/harness/agent.hpp"
#include "cppflue/store/run_store.hpp"

namespace cppflue {

struct RunEvent;

// What an agent factory is told about the instance it builds.
struct AgentContext {
  std::string id = "default";              // the instance id (e.g. the route's {id}, a run id)
  std::map<std::string, std::string> env;  // variables given to the instance
  json payload = nullptr;                  // the request payload, when there is one
};

using AgentOptions = InitOptions;

// Makes an agent per instance (create_agent). Copies share the function.
class AgentFactory {
 public:
  using Fn = std::function<AgentOptions(const AgentContext&)>;
  AgentFactory() = default;
  explicit AgentFactory(Fn fn);
  // Calls the function and builds the agent; fields set in `defaults` (root, config_path,
  // store, runtime, on_event) fill what the function left empty.
  // `adjust` runs last (e.g. command-line flags that override the factory's choices).
  Agent instantiate(const AgentContext& context, const InitOptions& defaults = {},
                    const std::function<void(InitOptions&)>& adjust = {}) const;
  explicit operator bool() const { return fn_ != nullptr; }

 private:
  std::shared_ptr<const Fn> fn_;
};

AgentFactory create_agent(AgentFactory::Fn fn);

class FlueContext;

// `ctx.log().info("fetched", {{"count", 3}})` appends a run event {type:"log", level,
// message, ...fields}.
class RunLog {
 public:
  void info(std::string_view message, json_object fields = {});
  void warn(std::string_view message, json_object fields = {});
  void error(std::string_view message, json_object fields = {});

 private:
  friend class FlueContext;
  explicit RunLog(FlueContext* ctx) : ctx_(ctx) {}
  void write(std::string_view level, std::string_view message, json_object fields);
  FlueContext* ctx_;
};

// What a workflow function gets: the run id, the payload, the environment, a log, and `init`
// to build agents for this run.
class FlueContext {
 public:
  struct State;
  explicit FlueContext(std::shared_ptr<State> state);

  const std::string& id() const;  // the run id
  const std::string& workflow() const;
  const json& payload() const;
  const std::map<std::string, std::string>& env() const;
  RunLog& log() { return log_; }
  // Appends an event of this run.
  void emit(std::string_view type, json_object data = {});
  // Builds `agent` for this run (instance id = run id); its sessions' events are recorded on
  // the run.
  Agent init(const AgentFactory& agent);

 private:
  std::shared_ptr<State> state_;
  RunLog log_{this};
};

using WorkflowFn = std::function<json(FlueContext&)>;

// The registry of compiled agents and workflows (CPPFLUE_AGENT / CPPFLUE_WORKFLOW fill it).
void register_agent(std::string name, AgentFactory factory);
void register_workflow(std::string name, WorkflowFn fn);
std::vector<std::string> registered_agents();
std::vector<std::string> registered_workflows();
std::optional<AgentFactory> find_registered_agent(std::string_view name);
std::optional<WorkflowFn> find_registered_workflow(std::string_view name);
// "src/workflows/summarize.cpp" → "summarize".
std::string route_name(std::string_view source_file);

struct WorkflowRunOptions {
  json payload = json_object{};
  std::string run_id;       // empty = a new "run_<hex>"
  std::string config_path;  // as InitOptions
  std::string root;
  std::map<std::string, std::string> env;
  std::function<void(const RunEvent&)> on_event;  // each run event as it is stored
  std::shared_ptr<Store> store;                   // default: the project's SQLite store
  std::string model;  // when set, overrides the model of every agent the run builds
  // The caller's W3C trace context: the run's `invoke_workflow` span (and so every agent
  // operation of the run) joins that trace.
  std::string traceparent;
};

struct WorkflowRunResult {
  std::string run_id;
  std::string status;  // completed | failed
  json result = nullptr;
  std::optional<Error> error;
};

// Runs a registered workflow once, on the calling thread (not a runtime thread): records the
// run (run_start, the function's logs and session events, run_end) in the project's store.
// An unknown name throws (not_found, listing the registered workflows); a failure inside the
// workflow is returned with status "failed".
WorkflowRunResult run_workflow(std::string_view name, WorkflowRunOptions options = {});

// Ends the runs that a process which has ended left `running` (and, with `which.own`, those
// created through `store`) as RunStore::end_interrupted_runs does, and appends each one's
// run_end event, so that their followers stop. Returns the runs ended. `cppflue serve` calls it
// at start and when it stops; run followers call it for their run.
Result<std::vector<RunRecord>> end_interrupted_runs(RunStore& store,
                                                    const InterruptedRuns& which = {});

// Whether `finish_run` returned the run as this caller ended it (`status`, `error`), rather than
// as someone else had already ended it (end_interrupted_runs): only then does its caller append
// the run_end event.
bool ended_as_asked(const RunRecord& stored, std::string_view status, const json& error);

// A Markdown agent (`.agents/agents/NAME.md`, docs/concepts/agents-and-workflows.md) as options:
// model, sandbox, policies, thinking level, max_turns, its tools (enabled_tools) and skills
// (enabled_skills), the body as instructions; `subagents` name other Markdown agents of `all`,
// which become subagent profiles. An unknown subagent name is an error naming the file.
Result<AgentOptions> markdown_agent_options(const AgentDefinition& definition,
                                            const std::map<std::string, AgentDefinition>& all);

// The agent called `name`: a compiled agent of this program (CPPFLUE_AGENT), else a Markdown
// agent of the project at `root`. Unknown → not_found listing both kinds.
Result<AgentFactory> find_agent(std::string_view name, const std::filesystem::path& root);

namespace detail {
bool register_agent_file(const char* file, AgentFactory factory);
bool register_workflow_file(const char* file, WorkflowFn fn);
}  // namespace detail

}  // namespace cppflue

#define CPPFLUE_DETAIL_CAT_I(a, b) a##b
#define CPPFLUE_DETAIL_CAT(a, b) CPPFLUE_DETAIL_CAT_I(a, b)
// Registers the agent of this file (route name = file stem).
#define CPPFLUE_AGENT(...)                                                    \
  static const bool CPPFLUE_DETAIL_CAT(cppflue_registered_agent_, __LINE__) = \
      ::cppflue::detail::register_agent_file(__FILE__, ::cppflue::create_agent(__VA_ARGS__))
// Registers the workflow of this file (route name = file stem).
#define CPPFLUE_WORKFLOW(...)                                                    \
  static const bool CPPFLUE_DETAIL_CAT(cppflue_registered_workflow_, __LINE__) = \
      ::cppflue::detail::register_workflow_file(__FILE__, ::cppflue::WorkflowFn(__VA_ARGS__))
