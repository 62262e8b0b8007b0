// SPDX-License-Identifier: Apache-2.0
// Tasks (docs/concepts/tasks.md): a prompt run in a child session `<id>:task:<n>` with its own
// stored history, sharing the parent's sandbox (scoped to a folder), inside an operation of the
// parent (task_start / task_end; the child's events forwarded once). session.task, the `task`
// tool the model calls, and subagent profiles.
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "session_internal.hpp"

namespace asio = boost::asio;

namespace cppflue {

const SubagentProfile* AgentImpl::find_subagent(std::string_view name) const {
  for (const auto& p : subagents) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string> AgentImpl::subagent_names() const {
  std::vector<std::string> names;
  names.reserve(subagents.size());
  for (const auto& p : subagents) names.push_back(p.name);
  return names;
}

namespace {

// policy error when this session may not start a task.
Result<void> check_task_depth(const AgentImpl& agent, const std::string& id, int task_depth) {
  const int max_depth = agent.max_task_depth;
  if (max_depth < 0 || task_depth < max_depth) return {};
  return fail(ErrorType::policy,
              max_depth == 0 ? std::string("tasks are disabled for this agent (max_task_depth = 0)")
                             : fmt::format("max task depth exceeded: session '{}' is at depth {} "
                                           "(max_task_depth = {})",
                                           id, task_depth, max_depth),
              json_object{{"rule", "max_task_depth"}, {"max_task_depth", max_depth}});
}

// The child's operation: the options of `o` (completed from its subagent profile, if any; its
// tools, result schema and callback move), its events forwarded to the parent operation's
// emitter.
Result<OperationSpec> child_operation(const AgentImpl& agent, const std::string& prompt,
                                      TaskOptions& o, const std::shared_ptr<Emitter>& emitter) {
  OperationSpec spec;
  spec.kind = "prompt";
  spec.text = prompt;
  if (!o.agent.empty()) {
    const SubagentProfile* profile = agent.find_subagent(o.agent);
    if (profile == nullptr) {
      return fail(ErrorType::invalid_input,
                  fmt::format("unknown subagent '{}' (available: {})", o.agent,
                              join_or_none(agent.subagent_names())));
    }
    spec.instructions = profile->instructions;
    if (o.model.empty()) o.model = profile->model;
    if (o.thinking_level.empty()) o.thinking_level = profile->thinking_level;
    std::vector<ToolDefinition> tools = profile->tools;
    tools.insert(tools.end(), o.tools.begin(), o.tools.end());
    o.tools = std::move(tools);
  }
  spec.options.model = o.model;
  spec.options.thinking_level = o.thinking_level;
  spec.options.role = o.role;
  spec.options.tools = std::move(o.tools);
  spec.options.result_schema = std::move(o.result_schema);
  spec.options.on_event = std::move(o.on_event);
  std::weak_ptr<Emitter> weak_emitter = emitter;
  spec.sink = [weak_emitter](const Event& e) {
    if (auto em = weak_emitter.lock()) em->forward(e);
  };
  spec.forwarded_to_parent = true;
  return spec;
}

}  // namespace

asio::awaitable<Result<PromptResult>> SessionImpl::run_task(TaskSpec spec,
                                                            std::shared_ptr<Emitter> emitter,
                                                            CancelToken cancel) {
  if (auto r = check_task_depth(*agent, id, task_depth); !r) co_return fail(r.error());
  TaskOptions& o = spec.options;
  auto child_spec = child_operation(*agent, spec.prompt, o, emitter);
  if (!child_spec) co_return fail(child_spec.error());
  child_spec->options.traceparent =
      spec.traceparent.empty() ? emitter->trace_context().traceparent() : spec.traceparent;
  auto parent_sandbox = get_sandbox();
  if (!parent_sandbox) co_return fail(parent_sandbox.error());
  std::shared_ptr<Sandbox> child_sandbox = *parent_sandbox;
  if (!o.cwd.empty()) {
    auto scoped = scope_sandbox(*parent_sandbox, o.cwd);
    if (!scoped) co_return fail(scoped.error());
    child_sandbox = *scoped;
  }
  std::string child_id = fmt::format("{}:task:{}", id, ++task_counter);
  auto child = open_child(child_id, o, std::move(child_sandbox));
  if (!child) co_return fail(child.error());
  emitter->emit(events::TaskStart{child_id, spec.prompt, o.role, o.cwd, id});
  std::shared_ptr<SessionImpl> c = *child;
  CancelRegistration reg(cancel, [c] { c->abort(); });
  auto run_child = c->run(std::move(*child_spec));
  auto result = co_await asio::co_spawn(c->strand, std::move(run_child), asio::use_awaitable);
  if (!result && cancel.cancelled()) {
    result = fail(ErrorType::cancelled, fmt::format("task {} was aborted", child_id));
  }
  emitter->emit(events::TaskEnd{child_id, !result.has_value(),
                                result ? result->text : result.error().message});
  co_return result;
}

Result<std::shared_ptr<SessionImpl>> SessionImpl::open_child(const std::string& child_id,
                                                             const TaskOptions& o,
                                                             std::shared_ptr<Sandbox> sandbox) {
  SessionInit init;
  init.parent_id = id;
  init.agent = agent->name;
  init.metadata =
      json_object{{"parent_session_id", id}, {"task_id", child_id}, {"role", o.role},
                  {"agent", o.agent},        {"cwd", o.cwd},        {"task_depth", task_depth + 1}};
  auto child = agent->open_session(child_id, init);
  if (!child) return fail(child.error());
  {
    std::lock_guard lock(mu);
    if (!metadata.is_object()) metadata = json_object{};
    json& children = metadata.as_object()["children"];
    if (!children.is_array()) children = json_array{};
    children.as_array().push_back(json(child_id));
    if (auto r = agent->store->update_metadata(id, metadata); !r) return fail(r.error());
  }
  (*child)->task_depth = task_depth + 1;
  {
    std::lock_guard lock((*child)->sandbox_mu);
    (*child)->inherited_sandbox = std::move(sandbox);
  }
  return child;
}

namespace {

// The string argument `key` ("" when absent or null); nullopt when it is not a string.
std::optional<std::string> text_arg(const json& args, std::string_view key) {
  const json* v = find(args, key);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

asio::awaitable<ToolResult> run_task_tool(std::weak_ptr<SessionImpl> weak,
                                          std::shared_ptr<Emitter> emitter, CancelToken cancel,
                                          std::string traceparent, json args) {
  auto self = weak.lock();
  if (!self)
    co_return ToolResult::abort_turn(make_error(ErrorType::cancelled, "the session is gone"));
  SessionImpl::TaskSpec spec;
  for (auto [key, out] :
       {std::pair{"prompt", &spec.prompt}, std::pair{"role", &spec.options.role},
        std::pair{"cwd", &spec.options.cwd}, std::pair{"agent", &spec.options.agent}}) {
    auto value = text_arg(args, key);
    if (!value) co_return ToolResult::tell_model(fmt::format("task: '{}' must be a string", key));
    *out = std::move(*value);
  }
  if (spec.prompt.empty())
    co_return ToolResult::tell_model("task: 'prompt' must be a non-empty string");
  spec.traceparent = std::move(traceparent);  // the task call's span
  auto r = co_await self->run_task(std::move(spec), std::move(emitter), std::move(cancel));
  if (r) co_return r->text;
  // The parent's turn cannot go on without its store, nor after its calls were cancelled; any
  // other failure of the child (its model, its limits, a bad role) is the model's to handle.
  if (r.error().type == ErrorType::store_error || r.error().type == ErrorType::cancelled) {
    co_return ToolResult::abort_turn(std::move(r.error()));
  }
  co_return ToolResult::tell_model(std::move(r.error().message));
}

}  // namespace

std::optional<ToolDefinition> SessionImpl::task_tool(std::shared_ptr<Emitter> emitter) {
  const int max_depth = agent->max_task_depth;
  if (max_depth == 0 || (max_depth > 0 && task_depth >= max_depth)) return std::nullopt;
  json_object props{
      {"prompt", json_object{{"type", "string"},
                             {"description", "The complete instructions for the subagent"}}},
      {"role", json_object{{"type", "string"}, {"description", "A role for the subagent"}}},
      {"cwd",
       json_object{{"type", "string"}, {"description", "Workspace folder the subagent works in"}}}};
  std::string description =
      "Delegate a self-contained piece of work to a subagent with a fresh conversation that "
      "shares this workspace. It returns the subagent's final answer. Several task calls in one "
      "turn run in parallel.";
  if (!agent->subagents.empty()) {
    std::string list;
    json_array names;
    for (const auto& p : agent->subagents) {
      list += fmt::format("\n- {}: {}", p.name, p.description);
      names.push_back(json(p.name));
    }
    description += " Subagents:" + list;
    props["agent"] = json_object{{"type", "string"},
                                 {"enum", std::move(names)},
                                 {"description", "Which subagent profile to use"}};
  }
  ToolDefinition t;
  t.name = "task";
  t.description = std::move(description);
  t.parameters = json_object{
      {"type", "object"}, {"properties", std::move(props)}, {"required", json_array{"prompt"}}};
  std::weak_ptr<SessionImpl> weak = weak_from_this();
  // The call's own cancel token: cancelled with the operation, or when a sibling call aborts
  // the turn.
  // run_task_tool, a coroutine, copies ctx.cancel into its frame before this returns.
  t.async_execute = [weak, emitter = std::move(emitter)](json args, const ToolContext& ctx) {
    return run_task_tool(weak, emitter, ctx.cancel, ctx.traceparent, std::move(args));
  };
  return t;
}

asio::awaitable<Result<PromptResult>> SessionImpl::run_task_op(TaskSpec spec) {
  auto begun =
      begin_operation("task", std::vector<EventCallback>{agent->on_event, spec.options.on_event});
  if (!begun) co_return fail(std::move(begun.error()));
  auto self = shared_from_this();
  const ActiveOperation& op = *begun;
  std::string prompt = spec.prompt;
  spec.options.on_event = nullptr;  // the operation's emitter already delivers to it
  auto result = co_await run_task(std::move(spec), op.emitter, op.cancel->token());
  append_marker(json_object{{"event", "task"},
                            {"operation_id", op.id},
                            {"task_id", result ? json(result->session_id) : json(nullptr)},
                            {"prompt", prompt},
                            {"is_error", !result.has_value()}});
  end_operation(op, result ? nullptr : &result.error());
  co_return result;
}

}  // namespace cppflue
