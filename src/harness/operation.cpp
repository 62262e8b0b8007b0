// SPDX-License-Identifier: Apache-2.0
// The operation lifecycle: one operation at a time per session (begin_operation /
// end_operation, abort), and the prompt-like operation SessionImpl::run — prepare (role, model,
// thinking, tools, output), execute (store the user message, run the backend, validate a typed
// result), then one finish path. Also session.shell, an operation of its own.
#include <fmt/format.h>

#include <algorithm>

#include "cppflue/core/ids.hpp"
#include "session_internal.hpp"
#include "telemetry.hpp"

namespace asio = boost::asio;

namespace cppflue {

Result<SessionImpl::ActiveOperation> SessionImpl::begin_operation(
    std::string kind, std::vector<EventCallback> callbacks, std::string_view traceparent) {
  if (busy.exchange(true)) {
    std::string running;
    {
      std::lock_guard lock(mu);
      running = active_kind;
    }
    return fail(ErrorType::session_busy,
                fmt::format("session '{}' is already running a {} operation; wait for it or use "
                            "another session for parallel conversations",
                            id, running.empty() ? "prompt" : running),
                json_object{{"session_id", id}});
  }
  ActiveOperation op;
  op.kind = std::move(kind);
  op.id = new_hex_id("op_", 32);
  op.cancel = std::make_shared<CancelSource>();
  op.emitter = std::make_shared<Emitter>(id, op.id, std::move(callbacks));
  op.started = std::chrono::steady_clock::now();
  op.span = std::make_shared<trace::Span>(telemetry::start_operation(
      agent->name, id, op.kind, op.id, traceparent.empty() ? agent->traceparent : traceparent));
  op.emitter->set_trace_context(op.span->context());
  {
    std::lock_guard lock(mu);
    active_cancel = op.cancel;
    active_emitter = op.emitter;
    active_kind = op.kind;
  }
  op.emitter->emit(events::OperationStart{op.kind});
  return op;
}

void SessionImpl::end_operation(const ActiveOperation& op, const Error* error) {
  if (error != nullptr) {
    if (error->type == ErrorType::cancelled) {
      op.emitter->emit(events::Aborted{op.kind});
    } else {
      op.emitter->emit(events::Failed{error->message, std::string(wire_name(error->type))});
    }
  }
  op.emitter->emit(events::Idle{});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  op.started)
                .count();
  op.emitter->emit(events::OperationEnd{op.kind, ms, error != nullptr});
  telemetry::record_operation(agent->name, op.kind, std::chrono::steady_clock::now() - op.started,
                              error);
  if (error != nullptr) telemetry::fail(*op.span, *error, agent->redactor.get());
  op.span->end();
  {
    std::lock_guard lock(mu);
    active_cancel.reset();
    active_emitter.reset();
    active_kind.clear();
  }
  busy.store(false);
}

bool SessionImpl::abort() {
  std::shared_ptr<CancelSource> cancel;
  std::shared_ptr<Emitter> emitter;
  std::string kind;
  {
    std::lock_guard lock(mu);
    cancel = active_cancel;
    emitter = active_emitter;
    kind = active_kind;
  }
  if (!cancel || cancel->cancelled()) return false;
  if (emitter) emitter->emit(events::AbortRequested{kind});
  return cancel->cancel();
}

namespace {

struct RoleChoice {
  std::string model;
  std::string thinking_level;
  std::string text;  // for the system prompt
};

// A role of .agents/roles, else a subagent profile of that name; nothing for no role.
Result<RoleChoice> resolve_role(const AgentImpl& agent, const std::string& role) {
  if (role.empty()) return RoleChoice{};
  if (auto it = agent.roles.find(role); it != agent.roles.end()) {
    return RoleChoice{it->second.model, it->second.thinking_level,
                      fmt::format("Role: {}\n{}", role, it->second.instructions)};
  }
  if (const SubagentProfile* profile = agent.find_subagent(role)) {
    return RoleChoice{profile->model, profile->thinking_level,
                      fmt::format("Role: {}\n{}", role, profile->instructions)};
  }
  std::vector<std::string> subagents = agent.subagent_names();
  std::vector<std::string> names;
  names.reserve(agent.roles.size() + subagents.size());
  for (const auto& [k, v] : agent.roles) names.push_back(k);
  for (auto& n : subagents) names.push_back(std::move(n));
  return fail(
      ErrorType::invalid_input,
      fmt::format("unknown role or subagent '{}' (available: {})", role, join_or_none(names)),
      json_object{{"role", role}});
}

// The call's thinking level, else the role's, else the agent's; "off" is none.
Result<std::optional<ThinkingLevel>> choose_thinking(std::optional<ThinkingLevel> agent_level,
                                                     const std::string& call,
                                                     const std::string& role) {
  const std::string& text = !call.empty() ? call : role;
  if (text.empty()) return agent_level;
  auto t = parse_thinking_level(text);
  if (!t) return fail(t.error());
  return *t == ThinkingLevel::off ? std::nullopt : std::optional<ThinkingLevel>(*t);
}

}  // namespace

Result<PreparedOperation> SessionImpl::prepare(const OperationSpec& spec,
                                               const ActiveOperation& op) {
  const PromptOptions& o = spec.options;
  auto role = resolve_role(*agent, o.role);
  if (!role) return fail(role.error());
  PreparedOperation p;
  p.role_text = std::move(role->text);
  // Precedence for model and thinking level: call > role > agent.
  p.model_spec = !o.model.empty() ? o.model : !role->model.empty() ? role->model : agent->model;
  auto client = agent->client_for(p.model_spec);
  if (!client) return fail(client.error());
  p.client = std::move(*client);
  auto thinking = choose_thinking(agent->thinking, o.thinking_level, role->thinking_level);
  if (!thinking) return fail(thinking.error());
  p.thinking = *thinking;
  std::vector<std::string> call_grants;
  std::vector<const Command*> call_commands;
  for (const auto& c : o.commands) {
    if (c.command) {
      call_commands.push_back(&*c.command);
    } else {
      call_grants.push_back(c.grant);
    }
  }
  auto scope = make_scope(o.secrets, call_grants, op.emitter);
  if (!scope) return fail(scope.error());
  p.scope = std::move(*scope);
  auto tools = operation_tools(spec, op, p.scope, call_commands);
  if (!tools) return fail(tools.error());
  p.tools = std::move(*tools);
  if (!o.result_schema.is_null() || o.result_check) {
    auto req = make_output_request(o, p.client.api);
    if (!req) return fail(req.error());
    p.output = std::move(*req);
  }
  return p;
}

asio::awaitable<Result<PromptResult>> SessionImpl::execute(const OperationSpec& spec,
                                                           const ActiveOperation& op,
                                                           PreparedOperation& p,
                                                           std::unique_ptr<OperationContext>& ctx) {
  Message user;
  user.role = Role::user;
  user.text = spec.text;
  if (p.output && !p.output->native) user.text += "\n\n" + p.output->instructions;
  user.images = spec.options.images;
  // Durable before any model call.
  if (auto r = append(user, spec.kind); !r) co_return fail(r.error());
  op.emitter->emit(events::AgentStart{});
  ctx = std::make_unique<OperationContext>(*this, p.client.client, p.client.spec, p.thinking,
                                           std::move(p.tools.offered), spec.stream,
                                           op.cancel->token(), op.emitter, p.scope->redactor);
  std::string system = system_prompt();
  if (!spec.instructions.empty()) system += "\n\n" + spec.instructions;
  if (!p.role_text.empty()) system += "\n\n" + p.role_text;
  ctx->set_system(std::move(system));
  if (p.output && p.output->native) ctx->set_output(p.output->format);
  auto final = co_await agent->backend->run(*ctx);
  if (!final) co_return fail(final.error());
  json structured = nullptr;
  if (p.output) {
    const int retries =
        std::max(0, spec.options.typed_retries.value_or(agent->config.agent.typed_retries));
    auto value = co_await typed_result(*ctx, *p.output, retries, *final);
    if (!value) co_return fail(value.error());
    structured = std::move(*value);
  }
  PromptResult pr;
  pr.result = std::move(structured);
  pr.text = final->message.text;
  pr.usage = ctx->usage();
  pr.usage.total_tokens =
      pr.usage.total_tokens ? pr.usage.total_tokens : pr.usage.input + pr.usage.output;
  pr.model = ctx->last_model().empty() ? p.model_spec : ctx->last_model();
  pr.session_id = id;
  pr.metadata = json_object{
      {"operation_id", op.id}, {"turns", ctx->turns()}, {"finish_reason", ctx->last_finish()}};
  co_return pr;
}

void SessionImpl::finish(const ActiveOperation& op, OperationContext* ctx,
                         Result<PromptResult>& result) {
  if (!result && op.cancel->cancelled() && result.error().type != ErrorType::session_busy) {
    result = fail(ErrorType::cancelled, fmt::format("operation on session '{}' was aborted", id));
  }
  if (result) {
    op.emitter->emit(events::TurnEnd{});
  } else if (ctx) {
    // The user message was stored: leave the history valid and record what happened.
    ctx->repair_history();
    json_object marker{
        {"event", result.error().type == ErrorType::cancelled ? "interrupted" : "failed"},
        {"operation_id", op.id},
        {"error", json_object{{"type", wire_name(result.error().type)},
                              {"message", result.error().message}}},
        {"partial_text", ctx->partial_text()}};
    // The model said nothing at all: keep the user message stored, but out of the context, so
    // that the next prompt is not preceded by the prompts that failed. (After a partial answer
    // it stays: "continue" should know what was being answered.)
    if (ctx->partial_text().empty()) {
      if (auto dropped = drop_unanswered_user_message()) marker["dropped_seq"] = *dropped;
    }
    append_marker(std::move(marker));
  }
  if (ctx != nullptr && op.span->recording()) {
    const Usage& u = ctx->usage();
    op.span->set("gen_ai.usage.input_tokens", u.input);
    op.span->set("gen_ai.usage.output_tokens", u.output);
    if (u.cost) op.span->set("cppflue.usage.cost_usd", u.cost->total);
  }
  end_operation(op, result ? nullptr : &result.error());
}

asio::awaitable<Result<PromptResult>> SessionImpl::run(OperationSpec spec) {
  auto begun = begin_operation(
      spec.kind,
      std::vector<EventCallback>{spec.forwarded_to_parent ? EventCallback{} : agent->on_event,
                                 spec.options.on_event, spec.sink},
      spec.options.traceparent);
  if (!begun) co_return fail(std::move(begun.error()));
  auto self = shared_from_this();  // keeps the session alive for the whole operation
  const ActiveOperation& op = *begun;
  auto prepared = prepare(spec, op);
  std::unique_ptr<OperationContext> ctx;  // set once the user message is stored
  Result<PromptResult> result = fail(ErrorType::internal, "operation did not run");
  if (prepared) {
    result = co_await execute(spec, op, *prepared, ctx);
  } else {
    result = fail(std::move(prepared.error()));
  }
  finish(op, ctx.get(), result);
  co_return result;
}

asio::awaitable<Result<ShellResult>> SessionImpl::run_shell_op(std::string command,
                                                               ShellOptions options) {
  auto begun = begin_operation("shell", std::vector<EventCallback>{agent->on_event});
  if (!begun) co_return fail(std::move(begun.error()));
  auto self = shared_from_this();
  const ActiveOperation& op = *begun;
  Result<ShellResult> result = fail(ErrorType::internal, "shell operation did not run");
  auto scope = make_scope(options.secrets, options.commands, op.emitter);
  if (!scope) {
    result = fail(scope.error());
  } else {
    ShellCommand c;
    c.command = std::move(command);
    c.cwd = std::move(options.cwd);
    c.timeout = options.timeout;
    c.env = std::move(options.env);
    auto r = co_await detail::run_shell(**scope, std::move(c), {}, op.cancel->token(),
                                        op.span->context().traceparent());
    if (r) {
      result = ShellResult{std::move(r->stdout_text), std::move(r->stderr_text), r->exit_code,
                           r->truncated, r->timed_out};
    } else {
      result = fail(std::move(r.error()));
    }
  }
  if (!result && (result.error().type == ErrorType::cancelled || op.cancel->cancelled())) {
    result =
        fail(ErrorType::cancelled, fmt::format("shell command on session '{}' was aborted", id));
  }
  end_operation(op, result ? nullptr : &result.error());
  co_return result;
}

}  // namespace cppflue
