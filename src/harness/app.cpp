// SPDX-License-Identifier: Apache-2.0
#include "cppflue/harness/app.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "cppflue/core/clock.hpp"
#include "cppflue/core/config.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/store/store.hpp"
#include "telemetry.hpp"

namespace fs = std::filesystem;

namespace cppflue {

// ---- agents ----

AgentFactory::AgentFactory(Fn fn) {
  if (fn) fn_ = std::make_shared<const Fn>(std::move(fn));
}

Agent AgentFactory::instantiate(const AgentContext& context, const InitOptions& defaults,
                                const std::function<void(InitOptions&)>& adjust) const {
  if (!fn_) throw Exception(make_error(ErrorType::invalid_input, "empty agent factory"));
  AgentOptions o = (*fn_)(context);
  if (o.root.empty() && o.config_path.empty()) {
    o.root = defaults.root;
    o.config_path = defaults.config_path;
  }
  if (!o.store) o.store = defaults.store;
  if (!o.runtime) o.runtime = defaults.runtime;
  if (!o.on_event) {
    o.on_event = defaults.on_event;
  } else if (defaults.on_event) {
    o.on_event = [a = o.on_event, b = defaults.on_event](const Event& e) {
      a(e);
      b(e);
    };
  }
  if (o.name.empty() || o.name == "default")
    o.name = defaults.name.empty() ? o.name : defaults.name;
  if (o.traceparent.empty()) o.traceparent = defaults.traceparent;
  if (adjust) adjust(o);
  return init(std::move(o));
}

AgentFactory create_agent(AgentFactory::Fn fn) {
  if (!fn) {
    throw Exception(
        make_error(ErrorType::invalid_input, "create_agent() needs an initializer function"));
  }
  return AgentFactory(std::move(fn));
}

Result<AgentOptions> markdown_agent_options(const AgentDefinition& d,
                                            const std::map<std::string, AgentDefinition>& all) {
  AgentOptions o;
  o.name = d.name;
  o.model = d.model;
  if (!d.sandbox.empty()) o.sandbox = d.sandbox;
  o.allow_write = d.allow_write;
  o.allow_shell = d.allow_shell;
  o.allow_compound_commands = d.allow_compound_commands;
  o.allowed_commands = d.allowed_commands;
  o.thinking_level = d.thinking_level;
  o.instructions = d.instructions;
  o.max_turns = d.max_turns;
  o.enabled_tools = d.tools;
  if (!o.enabled_tools.empty() && !d.subagents.empty() &&
      std::find(o.enabled_tools.begin(), o.enabled_tools.end(), "task") == o.enabled_tools.end()) {
    o.enabled_tools.emplace_back("task");  // subagents are reached through the task tool
  }
  o.enabled_skills = d.skills;
  for (const auto& name : d.subagents) {
    auto it = all.find(name);
    if (it == all.end()) {
      std::vector<std::string> names;
      names.reserve(all.size());
      for (const auto& [k, v] : all) names.push_back(k);
      return fail(ErrorType::config_error,
                  fmt::format("{}: subagent '{}' is not a Markdown agent of .agents/agents "
                              "(available: {})",
                              d.path.string(), name, fmt::join(names, ", ")));
    }
    const AgentDefinition& sub = it->second;
    SubagentProfile p;
    p.name = sub.name;
    p.description = sub.description;
    p.instructions = sub.instructions;
    p.model = sub.model;
    p.thinking_level = sub.thinking_level;
    o.subagents.push_back(std::move(p));
  }
  return o;
}

Result<AgentFactory> find_agent(std::string_view name, const fs::path& root) {
  if (auto compiled = find_registered_agent(name)) return *compiled;
  // Read file by file: another agent's broken file does not stop this one.
  auto scanned = scan_agent_definitions(root / ".agents" / "agents");
  if (scanned.items.count(std::string(name)) == 0) {
    // Not defined by a file that parses: a broken file of that name answers its problem.
    for (const auto& p : scanned.problems) {
      if (p.name == name) return fail(p.error);
    }
  }
  auto* defs = &scanned.items;
  auto it = defs->find(std::string(name));
  if (it == defs->end()) {
    std::vector<std::string> names = registered_agents();
    for (const auto& [k, v] : *defs) names.push_back(k);
    return fail(ErrorType::not_found,
                fmt::format("unknown agent '{}' (available: {})", name,
                            names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))),
                json_object{{"agent", name}});
  }
  auto options = markdown_agent_options(it->second, *defs);
  if (!options) return fail(options.error());
  AgentOptions fixed = std::move(*options);
  return AgentFactory([fixed](const AgentContext&) { return fixed; });
}

// ---- registry ----

namespace {
struct Registry {
  std::mutex mu;
  std::map<std::string, AgentFactory> agents;
  std::map<std::string, WorkflowFn> workflows;
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

void register_agent(std::string name, AgentFactory factory) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.agents[std::move(name)] = std::move(factory);
}

void register_workflow(std::string name, WorkflowFn fn) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.workflows[std::move(name)] = std::move(fn);
}

std::vector<std::string> registered_agents() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> out;
  out.reserve(r.agents.size());
  for (const auto& [k, v] : r.agents) out.push_back(k);
  return out;
}

std::vector<std::string> registered_workflows() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> out;
  out.reserve(r.workflows.size());
  for (const auto& [k, v] : r.workflows) out.push_back(k);
  return out;
}

std::optional<AgentFactory> find_registered_agent(std::string_view name) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.agents.find(std::string(name));
  if (it == r.agents.end()) return std::nullopt;
  return it->second;
}

std::optional<WorkflowFn> find_registered_workflow(std::string_view name) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.workflows.find(std::string(name));
  if (it == r.workflows.end()) return std::nullopt;
  return it->second;
}

std::string route_name(std::string_view source_file) {
  return fs::path(std::string(source_file)).stem().string();
}

namespace detail {
bool register_agent_file(const char* file, AgentFactory factory) {
  register_agent(route_name(file), std::move(factory));
  return true;
}
bool register_workflow_file(const char* file, WorkflowFn fn) {
  register_workflow(route_name(file), std::move(fn));
  return true;
}
}  // namespace detail

// ---- workflow runs ----

struct FlueContext::State {
  std::string run_id;
  std::string workflow;
  json payload;
  std::map<std::string, std::string> env;
  std::string root;
  std::string config_path;
  std::shared_ptr<Store> store;
  std::function<void(const RunEvent&)> on_event;
  std::string model;        // overrides the model of the agents the run builds
  std::string traceparent;  // the run's invoke_workflow span: the parent of its agents' spans
  std::mutex mu;            // orders event appends from session threads and the workflow thread
};

FlueContext::FlueContext(std::shared_ptr<State> state) : state_(std::move(state)) {}
const std::string& FlueContext::id() const {
  return state_->run_id;
}
const std::string& FlueContext::workflow() const {
  return state_->workflow;
}
const json& FlueContext::payload() const {
  return state_->payload;
}
const std::map<std::string, std::string>& FlueContext::env() const {
  return state_->env;
}

namespace {
void record(FlueContext::State& st, std::string_view type, json data) {
  std::lock_guard lock(st.mu);
  auto index = st.store->append_run_event(st.run_id, std::string(type), data);
  if (!index) {
    log::get()->error("run {}: cannot record '{}': {}", st.run_id, type, index.error().message);
    return;
  }
  if (st.on_event) {
    RunEvent e;
    e.index = *index;
    e.type = std::string(type);
    e.data = std::move(data);
    e.timestamp = iso8601_now();
    try {
      st.on_event(e);
    } catch (...) {
      log::get()->warn("run event callback threw on '{}'", type);
    }
  }
}
void record(FlueContext::State& st, const EventPayload& event) {
  record(st, event_type(event), event_fields(event));
}
}  // namespace

void FlueContext::emit(std::string_view type, json_object data) {
  record(*state_, type, json(std::move(data)));
}

void RunLog::write(std::string_view level, std::string_view message, json_object fields) {
  ctx_->emit(events::Log::type, event_fields(events::Log{std::string(level), std::string(message),
                                                         std::move(fields)}));
}
void RunLog::info(std::string_view message, json_object fields) {
  write("info", message, std::move(fields));
}
void RunLog::warn(std::string_view message, json_object fields) {
  write("warn", message, std::move(fields));
}
void RunLog::error(std::string_view message, json_object fields) {
  write("error", message, std::move(fields));
}

Agent FlueContext::init(const AgentFactory& agent) {
  AgentContext ctx{state_->run_id, state_->env, state_->payload};
  InitOptions defaults;
  defaults.root = state_->root;
  defaults.config_path = state_->config_path;
  defaults.store = state_->store;
  defaults.name = state_->workflow;
  defaults.traceparent = state_->traceparent;
  std::weak_ptr<State> weak = state_;
  defaults.on_event = [weak](const Event& e) {
    if (auto st = weak.lock()) {
      json data = e.data;
      record(*st, e.type, std::move(data));
    }
  };
  std::string model = state_->model;
  return agent.instantiate(ctx, defaults, [&model](InitOptions& o) {
    if (!model.empty()) o.model = model;
  });
}

WorkflowRunResult run_workflow(std::string_view name, WorkflowRunOptions options) {
  auto fn = find_registered_workflow(name);
  if (!fn) {
    auto names = registered_workflows();
    throw Exception(
        make_error(ErrorType::not_found,
                   fmt::format("unknown workflow '{}' (available: {})", name,
                               names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))),
                   json_object{{"workflow", name}}));
  }
  auto config = discover_config(options.config_path,
                                options.root.empty() ? fs::current_path() : fs::path(options.root));
  if (!config) throw Exception(config.error());
  std::shared_ptr<Store> shared_store = std::move(options.store);
  if (!shared_store) {
    auto opened = open_sqlite_store(config->state_dir() / "state.db");
    if (!opened) throw Exception(opened.error());
    shared_store = std::move(*opened);
  }

  auto st = std::make_shared<FlueContext::State>();
  st->run_id = options.run_id.empty() ? new_hex_id("run_", 24) : options.run_id;
  st->workflow = std::string(name);
  st->payload = std::move(options.payload);
  st->env = std::move(options.env);
  st->root = config->root.string();
  st->config_path = config->config_path.string();
  st->store = std::move(shared_store);
  st->on_event = std::move(options.on_event);
  st->model = std::move(options.model);

  RunRecord rec;
  rec.id = st->run_id;
  rec.workflow = st->workflow;
  rec.instance_id = st->run_id;
  rec.payload = st->payload;
  if (auto r = st->store->create_run(rec); !r) throw Exception(r.error());
  events::RunStart start;
  start.run_id = st->run_id;
  start.workflow = st->workflow;
  record(*st, start);

  trace::Span span = telemetry::start_workflow(st->workflow, st->run_id, options.traceparent);
  st->traceparent = span.context().traceparent();
  WorkflowRunResult out;
  out.run_id = st->run_id;
  FlueContext ctx(st);
  try {
    out.result = (*fn)(ctx);
    out.status = "completed";
  } catch (const Exception& e) {
    out.error = e.error();
  } catch (const std::exception& e) {
    out.error = make_error(ErrorType::internal, e.what());
  } catch (...) {
    out.error = make_error(ErrorType::internal, "the workflow threw a non-standard exception");
  }
  json error = nullptr;
  if (out.error) {
    out.status = "failed";
    error = json_object{{"type", wire_name(out.error->type)}, {"message", out.error->message}};
  }
  // The status first: whoever sees run_end and then reads the run finds it ended.
  auto finished = st->store->finish_run(st->run_id, out.status, out.result, error);
  if (!finished) {
    log::get()->error("run {}: cannot record its end: {}", st->run_id, finished.error().message);
  }
  if (!finished || ended_as_asked(*finished, out.status, error)) {
    record(*st, events::RunEnd{st->run_id, out.status, out.error.has_value(), out.result, error});
  }
  if (out.error) telemetry::fail(span, *out.error, nullptr);
  span.end();
  return out;
}

Result<std::vector<RunRecord>> end_interrupted_runs(RunStore& store, const InterruptedRuns& which) {
  auto ended = store.end_interrupted_runs(which);
  if (!ended) return ended;
  for (const auto& run : *ended) {
    const events::RunEnd end{run.id, run.status, true, nullptr, run.error};
    if (auto r = store.append_run_event(run.id, std::string(end.type), event_fields(end)); !r) {
      log::get()->error("run {}: cannot record its end: {}", run.id, r.error().message);
    }
  }
  return ended;
}

bool ended_as_asked(const RunRecord& stored, std::string_view status, const json& error) {
  return stored.status == status && stored.error == error;
}

}  // namespace cppflue
