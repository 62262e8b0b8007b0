// SPDX-License-Identifier: Apache-2.0
// Private to the harness: agents, sessions and operations behind agent.hpp. This header is the
// table of contents; each section names the file that implements it.
//
//   agent_init.cpp          init(): config and options merged, validated, MCP connected,
//                           skills and roles chosen, system prompt built, store opened
//   session.cpp             the public facade: Agent, Session (operations), EventStream
//   session_workspace.cpp   a session's sandbox (made on first use), its system prompt and
//                           policy facts, and Session's file methods
//   operation.cpp           the operation lifecycle (begin/end, abort) and SessionImpl::run:
//                           prepare, execute, one finish path; session.shell
//   operation_tools.cpp     an operation's tool scope and tool list; tool name checks
//   turn_context.cpp        OperationContext: model calls (with compaction), tool runs
//   typed_output.cpp        structured results: the request, extraction, repair turns
//   tasks.cpp               child tasks (run_task, session.task, the `task` tool), subagents
//   session_compaction.cpp  compact_history and session.compact (the algorithm: compaction.cpp)
//   history.cpp             durable appends, markers, loading a session, the unanswered
//                           tool-call scan
//   agent_skills.cpp        skill lookup, the catalogue, `activate_skill`, session.skill
//   secrets.cpp             known_secrets_redactor, secret grants
//   emitter.cpp             Emitter
//   options.cpp             to_json of the results
//
// Invariants every file keeps: the user message is stored before the first model call; every
// stored entry and every emitted event is redacted (the agent's redactor); one operation at a
// time per session (session_busy); an operation ends through end_operation exactly once.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builtin_tools.hpp"
#include "cppflue/core/cancel.hpp"
#include "cppflue/core/config.hpp"
#include "cppflue/core/trace.hpp"
#include "cppflue/harness/agent.hpp"
#include "cppflue/harness/backend.hpp"
#include "cppflue/model/wire_api.hpp"
#include "cppflue/store/store.hpp"

namespace cppflue {

class OperationContext;

// ---- Small shared helpers ----------------------------------------------------------------

// "a, b, c", or "none" for an empty list (for "(available: ...)" in error messages).
// (session.cpp)
std::string join_or_none(const std::vector<std::string>& names);

// ---- AgentImpl: what init() builds (agent_init.cpp); methods as noted ---------------------

class AgentImpl : public std::enable_shared_from_this<AgentImpl> {
 public:
  Config config;
  std::string name;
  std::string model;
  std::optional<ThinkingLevel> thinking;
  int max_turns = 50;
  std::string system_prompt;
  std::vector<ToolDefinition> tools;
  EventCallback on_event;
  std::string traceparent;  // the default parent of operation spans (InitOptions::traceparent)
  std::shared_ptr<Runtime> runtime;
  std::shared_ptr<Store> store;
  std::shared_ptr<HarnessBackend> backend;
  SandboxSpec sandbox_spec;
  FileToolPolicy file_policy;
  ShellPolicy shell_policy;
  std::vector<std::string> grants;
  std::vector<Command> command_tools;
  std::map<std::string, std::string> code_secrets;
  // Every secret this agent knows (granted or not) and every provider key: redacted from all
  // tool output, history and events, so a value copied into the workspace by one call, or read
  // from a file, is never stored or sent.
  std::shared_ptr<const detail::Redactor> redactor;
  std::vector<SubagentProfile> subagents;
  int max_task_depth = 8;
  std::shared_ptr<const SkillSet> skills = std::make_shared<SkillSet>();
  std::map<std::string, RoleDefinition> roles;
  std::vector<std::string> enabled_tools;
  std::vector<std::shared_ptr<mcp::McpClient>> mcp_clients;  // kept connected for the agent

  std::mutex mu;  // guards sessions
  std::map<std::string, std::weak_ptr<SessionImpl>> sessions;

  std::unique_ptr<ModelClientCache> models;  // owns the HTTP transport of the model calls
  Result<ModelClientCache::Entry> client_for(const std::string& spec) { return models->get(spec); }

  // The live session `id`, opened (or created with `init`) from the store. (history.cpp)
  Result<std::shared_ptr<SessionImpl>> open_session(const std::string& id, const SessionInit& init);

  // A skill by name, or by path under .agents/skills for names with '/' or ending in .md.
  // (agent_skills.cpp)
  Result<Skill> find_skill(const std::string& name) const;

  // The subagent profile `name`, or null; and every profile's name. (tasks.cpp)
  const SubagentProfile* find_subagent(std::string_view name) const;
  std::vector<std::string> subagent_names() const;

  struct GrantedSecret {
    std::string name;
    std::string variable;
    std::string value;
  };
  // Looks the names up in InitOptions::secrets, then `[secrets]`. (secrets.cpp)
  Result<std::vector<GrantedSecret>> resolve_secrets(const std::vector<std::string>& names) const;

  // "Policy: ..." for the session system prompt. (session_workspace.cpp)
  std::string policy_facts() const;
};

// ---- Emitter (emitter.cpp) ----------------------------------------------------------------

// Serialises event delivery for one operation (deltas arrive on the network strand, tool
// results on the session strand, abort requests on the caller's thread).
class Emitter {
 public:
  Emitter(std::string session_id, std::string operation_id, std::vector<EventCallback> callbacks);

  void set_redactor(std::shared_ptr<const detail::Redactor> r);
  // Adds session_id, operation_id and timestamp to the event's fields, redacts, delivers.
  void emit(const EventPayload& e);
  // Delivers an event made elsewhere (a child task's) unchanged to this operation's callbacks.
  void forward(const Event& e);
  // The operation's span (invoke_agent), parent of its model, tool and compaction spans;
  // invalid when nothing is traced. Set once, before the operation's work starts.
  void set_trace_context(trace::SpanContext c) { trace_context_ = std::move(c); }
  const trace::SpanContext& trace_context() const { return trace_context_; }
  const std::string& session_id() const { return session_id_; }

 private:
  void deliver(const Event& e, bool forwarded);  // the caller holds mu_

  std::string session_id_;
  std::string operation_id_;
  std::vector<EventCallback> callbacks_;
  std::shared_ptr<const detail::Redactor> redactor_;
  trace::SpanContext trace_context_;
  std::recursive_mutex mu_;  // a callback may abort the session, which emits again
};

// ---- What one prompt-like operation runs (SessionImpl::run, operation.cpp) -----------------

struct OperationSpec {
  std::string kind = "prompt";
  std::string text;
  PromptOptions options;
  bool stream = false;
  EventCallback sink;
  std::string instructions;  // extra system instructions (a subagent profile's)
  // A task's child operation: its events reach the agent-wide callback through the parent's
  // emitter (sink → forward), so the child does not call it itself (no double delivery).
  bool forwarded_to_parent = false;
};

// ---- Typed output (typed_output.cpp) ------------------------------------------------------

// How one operation asks for a structured result.
struct OutputRequest {
  OutputFormat format;       // sent natively when `native`
  bool native = false;       // the wire API takes the schema; else `instructions` are used
  std::string instructions;  // the delimiter request with the schema
  std::function<std::vector<PathError>(const json&)> check;
};

// OpenAI strict mode needs every object closed and every property required.
bool strict_compatible(const json& schema);
// From result_schema / result_check; native when the model's wire API takes a schema.
Result<OutputRequest> make_output_request(const PromptOptions& o, std::optional<WireApi> api);

// ---- Tools (operation_tools.cpp, turn_context.cpp, agent_skills.cpp) ----------------------

// Names, execute functions and duplicates of `tools`; `custom` tools must not take a built-in
// tool's name. (operation_tools.cpp)
Result<void> check_tools(const std::vector<const ToolDefinition*>& tools,
                         const std::vector<const ToolDefinition*>& custom = {});

// The tools of one operation: `owned` holds those made for it (built-ins, task,
// activate_skill, command tools), `offered` what the model sees (pointers into `owned`, the
// agent's tools and the call's). (operation_tools.cpp)
// Move-only: a copy of `owned` would leave `offered` pointing into the original.
struct OperationTools {
  OperationTools() = default;
  OperationTools(OperationTools&&) = default;
  OperationTools& operator=(OperationTools&&) = default;
  OperationTools(const OperationTools&) = delete;
  OperationTools& operator=(const OperationTools&) = delete;

  std::vector<ToolDefinition> owned;
  std::vector<const ToolDefinition*> offered;
};

// A tool result message, its text redacted. (turn_context.cpp)
Message tool_message(const ToolCall& call, std::string text, bool is_error,
                     const std::shared_ptr<const detail::Redactor>& redactor);

// `activate_skill`, and the skill catalogue of the system prompt. (agent_skills.cpp)
ToolDefinition activate_skill_tool(std::shared_ptr<const SkillSet> skills);
std::string skill_catalogue(const SkillSet& skills);

// ---- What SessionImpl::prepare resolves before the user message is stored (operation.cpp) ---

struct PreparedOperation {
  std::string model_spec;  // asked for: call > role > agent
  ModelClientCache::Entry client;
  std::optional<ThinkingLevel> thinking;
  std::string role_text;  // "Role: NAME\n<instructions>", added to the system prompt
  std::shared_ptr<detail::ToolScope> scope;
  OperationTools tools;  // the OperationContext points into these
  std::optional<OutputRequest> output;
};

// ---- History (history.cpp) ----------------------------------------------------------------

// The tool calls of the last assistant message (after the last user message) that have no
// tool result yet: what a stopped operation or a dead process left unanswered.
std::vector<ToolCall> unanswered_tool_calls(const std::vector<Message>& history);

// ---- SessionImpl: one live session; methods as noted --------------------------------------

class SessionImpl : public std::enable_shared_from_this<SessionImpl> {
 public:
  // Made by AgentImpl::open_session. (history.cpp)
  SessionImpl(std::shared_ptr<AgentImpl> a, std::string session_id, std::vector<Message> h);

  std::shared_ptr<AgentImpl> agent;
  std::string id;
  boost::asio::strand<boost::asio::any_io_executor> strand;

  mutable std::mutex mu;           // guards history, seqs, metadata and the active-operation fields
  std::vector<Message> history;    // the context: [summary] + messages since the cut
  std::vector<std::int64_t> seqs;  // store seq of each history element
  json metadata = json_object{};   // the session record's metadata
  int task_depth = 0;              // 0 for top-level sessions
  std::atomic<int> task_counter{0};            // numbers child tasks
  std::shared_ptr<Sandbox> inherited_sandbox;  // a task's (scoped) share of its parent's
  std::atomic<bool> busy{false};
  std::shared_ptr<CancelSource> active_cancel;
  std::shared_ptr<Emitter> active_emitter;
  std::string active_kind;

  std::mutex sandbox_mu;
  std::shared_ptr<Sandbox> sandbox;  // created on first use
  std::string session_prompt;        // the agent's system prompt + this sandbox's facts
  std::shared_ptr<std::mutex> write_mutex = std::make_shared<std::mutex>();

  // -- Sandbox and system prompt (session_workspace.cpp)
  Result<std::shared_ptr<Sandbox>> get_sandbox();
  // AGENTS.md / CLAUDE.md of a workspace other than the project root, appended.
  std::string workspace_instructions(const Sandbox& sb) const;
  std::string system_prompt();
  const Workspace& workspace_or_throw();
  void require_write(std::string_view what) const;

  // -- History (history.cpp)
  // Stores `original` (redacted) and adds it to the context; durable when it returns.
  // `turn`, for an answer of the model: {id, model, usage} stored with the message (the
  // usage and cost `sessions show` and `trace` add up); not part of the history sent again.
  Result<void> append(const Message& original, std::string_view source, json turn = nullptr);
  // Records a marker entry (interruption, failure, task); a store failure is only logged.
  void append_marker(json_object content);
  // After a failed operation: when the last message of the context is a user message nothing
  // answered, takes it out of the context (it stays stored) and returns its seq. (history.cpp)
  std::optional<std::int64_t> drop_unanswered_user_message();

  // -- The operation lifecycle (operation.cpp)
  struct ActiveOperation {
    std::string kind;
    std::string id;
    std::shared_ptr<CancelSource> cancel;
    std::shared_ptr<Emitter> emitter;
    std::chrono::steady_clock::time_point started;
    std::shared_ptr<trace::Span> span;  // invoke_agent; ended by end_operation
  };
  // Claims the session for one operation (session_busy when another one runs) and emits
  // operation_start. `traceparent`: the caller's span (W3C), parent of the operation's.
  Result<ActiveOperation> begin_operation(std::string kind, std::vector<EventCallback> callbacks,
                                          std::string_view traceparent = {});
  // Emits aborted/error for `error` (if any), then idle and operation; releases the session.
  void end_operation(const ActiveOperation& op, const Error* error);
  bool abort();

  // A prompt, stream or skill: prepare (role, model, thinking, tools, output), store the user
  // message, run the backend, validate a typed result; then one finish path.
  boost::asio::awaitable<Result<PromptResult>> run(OperationSpec spec);
  Result<PreparedOperation> prepare(const OperationSpec& spec, const ActiveOperation& op);
  boost::asio::awaitable<Result<PromptResult>> execute(const OperationSpec& spec,
                                                       const ActiveOperation& op,
                                                       PreparedOperation& prepared,
                                                       std::unique_ptr<OperationContext>& ctx);
  // Aborted → cancelled; on failure answers open tool calls and records a marker (when the user
  // message was stored), else emits turn_end; then end_operation.
  void finish(const ActiveOperation& op, OperationContext* ctx, Result<PromptResult>& result);

  boost::asio::awaitable<Result<ShellResult>> run_shell_op(std::string command,
                                                           ShellOptions options);

  // -- Tool scope and tool list of an operation (operation_tools.cpp)
  // The sandbox, policy, grants and secrets of one operation.
  Result<std::shared_ptr<detail::ToolScope>> make_scope(const std::vector<std::string>& secrets,
                                                        const std::vector<std::string>& commands,
                                                        const std::shared_ptr<Emitter>& emitter);
  Result<OperationTools> operation_tools(const OperationSpec& spec, const ActiveOperation& op,
                                         const std::shared_ptr<detail::ToolScope>& scope,
                                         const std::vector<const Command*>& call_commands);

  // -- Typed output (typed_output.cpp)
  // Validates `final`'s answer; on failure shows the model its answer and the problems, up to
  // `retries` repair turns (each replaces `final`). The validated value, or typed_output_error.
  boost::asio::awaitable<Result<json>> typed_result(OperationContext& ctx,
                                                    const OutputRequest& output, int retries,
                                                    ModelResponse& final);

  // -- Compaction (session_compaction.cpp)
  // Summarises history before the cut (see compaction.hpp) with the [compaction] model (or
  // `model_spec`), records a compaction entry and replaces the context by summary + recent.
  boost::asio::awaitable<Result<CompactResult>> compact_history(std::string reason,
                                                                Emitter& emitter,
                                                                CancelToken cancel,
                                                                std::string model_spec);
  boost::asio::awaitable<Result<CompactResult>> run_compact_op();

  // -- Tasks (tasks.cpp)
  // A child task of this session, run inside the current operation (events go to its
  // emitter; aborting it aborts the child).
  struct TaskSpec {
    std::string prompt;
    TaskOptions options;
    std::string traceparent;  // the span the child's operation goes under
  };
  boost::asio::awaitable<Result<PromptResult>> run_task(TaskSpec spec,
                                                        std::shared_ptr<Emitter> emitter,
                                                        CancelToken cancel);
  boost::asio::awaitable<Result<PromptResult>> run_task_op(TaskSpec spec);
  // Opens the child session `child_id` (listed in this session's metadata) on `sandbox`.
  Result<std::shared_ptr<SessionImpl>> open_child(const std::string& child_id, const TaskOptions& o,
                                                  std::shared_ptr<Sandbox> sandbox);
  // The `task` tool for an operation, unless tasks are disabled or this session is at the
  // depth limit.
  std::optional<ToolDefinition> task_tool(std::shared_ptr<Emitter> emitter);

  // -- Skills (agent_skills.cpp)
  // Looks the skill up, validates `args` against its input_schema (nothing is sent when they
  // do not fit) and renders the prompt. Throws.
  OperationSpec skill_operation(const std::string& name, json args, PromptOptions options) const;
};

// ---- OperationContext: the TurnContext of one operation (turn_context.cpp) ----------------

// One finished tool call: the result the model sees, and the error when the tool aborted the
// turn (ToolResult::abort_turn).
struct ToolRun {
  Message message;
  std::optional<Error> abort;
};

class OperationContext final : public TurnContext {
 public:
  OperationContext(SessionImpl& s, std::shared_ptr<ModelClient> client, std::string model_spec,
                   std::optional<ThinkingLevel> thinking, std::vector<const ToolDefinition*> tools,
                   bool stream, CancelToken cancel, std::shared_ptr<Emitter> emitter,
                   std::shared_ptr<const detail::Redactor> redactor);

  const std::vector<Message>& messages() const override { return session_.history; }
  int max_turns() const override { return session_.agent->max_turns; }
  CancelToken cancel() const override { return cancel_; }

  void set_system(std::string system) { system_ = std::move(system); }
  void set_output(OutputFormat format) { output_ = std::move(format); }

  // Threshold compaction first; on context_overflow, once per operation, compaction and a
  // retry of the same turn.
  boost::asio::awaitable<Result<ModelResponse>> call_model() override;
  Result<void> append(Message message) override;
  boost::asio::awaitable<Result<std::vector<Message>>> run_tools(
      const std::vector<ToolCall>& calls) override;

  // After a failure: answer every tool call of the last assistant message that has no result
  // yet (with the finished result when there is one), so the stored conversation stays valid
  // for the next request. (history.cpp)
  void repair_history();

  const Usage& usage() const { return usage_; }
  int turns() const { return turns_; }
  const std::string& last_model() const { return last_model_; }
  const std::string& last_finish() const { return last_finish_; }
  const std::string& partial_text() const { return partial_text_; }

 private:
  // Threshold compaction before a turn: estimated context > window − reserve.
  boost::asio::awaitable<Result<void>> compact_if_needed();
  boost::asio::awaitable<Result<ModelResponse>> call_model_once();
  // Starts one call (or answers it at once: unknown tool, invalid arguments); `deliver`
  // receives its result. `cancel` is the call's ToolContext::cancel.
  void start_tool(const ToolCall& call, const CancelToken& cancel, const std::string& traceparent,
                  std::function<void(ToolRun)> deliver);
  std::string unavailable_reason(const std::string& name) const;

  SessionImpl& session_;
  std::shared_ptr<ModelClient> client_;
  std::string model_spec_;
  std::optional<ThinkingLevel> thinking_;
  std::vector<const ToolDefinition*> tools_;
  std::vector<ToolSpec> specs_;
  bool stream_;
  CancelToken cancel_;
  std::shared_ptr<Emitter> emitter_;
  std::shared_ptr<const detail::Redactor> redactor_;
  Usage usage_;
  int turns_ = 0;
  std::string last_model_;
  std::string last_finish_;
  json last_turn_;  // {id, model, usage} of the answer not yet appended
  std::string partial_text_;
  std::map<std::string, Message> pending_results_;
  std::string system_;
  std::optional<OutputFormat> output_;
  bool overflow_retried_ = false;
};

}  // namespace cppflue
