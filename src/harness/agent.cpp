// SPDX-License-Identifier: Apache-2.0
// Agents, sessions and operations. An operation (prompt/stream) runs as a coroutine on its
// session's strand: it appends the user message durably, hands a TurnContext to the harness
// backend, emits the events of docs/reference/events.md, and on failure or abort leaves the history
// consistent (every tool call answered, the interruption recorded as a marker entry).
#include "cppflue/harness/agent.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "builtin_tools.hpp"
#include "compaction.hpp"
#include "cppflue/core/clock.hpp"
#include "cppflue/core/config.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/harness/backend.hpp"
#include "cppflue/harness/mcp_search.hpp"
#include "cppflue/harness/mcp_tools.hpp"
#include "cppflue/schema/extract.hpp"
#include "cppflue/schema/validator.hpp"
#include "cppflue/store/store.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace cppflue {

json to_json(const ShellResult& r) {
  json_object o{{"stdout", r.stdout_text},
                {"stderr", r.stderr_text},
                {"exit_code", r.exit_code},
                {"truncated", r.truncated}};
  if (r.timed_out) o["timed_out"] = true;
  return o;
}

json to_json(const PromptResult& r) {
  return json_object{{"text", r.text},
                     {"usage", to_json(r.usage)},
                     {"model", r.model},
                     {"session_id", r.session_id},
                     {"metadata", r.metadata}};
}

namespace {

constexpr std::string_view kPreamble =
    "You are an autonomous agent running inside CppFlue, a headless agent harness. Work "
    "step by step, use the tools you are given when they help, and finish with a clear, "
    "concise answer.";

constexpr std::size_t kMaxToolResultBytes = 256 * 1024;

bool valid_tool_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

// `custom` tools must not take a built-in tool's name.
Result<void> check_tools(const std::vector<const ToolDefinition*>& tools,
                         const std::vector<const ToolDefinition*>& custom = {}) {
  for (const auto* t : custom) {
    if (detail::is_builtin_tool_name(t->name)) {
      return fail(
          ErrorType::invalid_input,
          fmt::format("custom tool '{}' conflicts with a built-in tool (built-in tools: {})",
                      t->name, fmt::join(detail::builtin_tool_names(), ", ")));
    }
  }
  std::set<std::string> seen;
  for (const auto* t : tools) {
    if (!valid_tool_name(t->name)) {
      return fail(
          ErrorType::invalid_input,
          fmt::format("invalid tool name '{}': use 1-64 letters, digits, '_' or '-'", t->name));
    }
    if (!t->execute && !t->async_execute) {
      return fail(ErrorType::invalid_input,
                  fmt::format("tool '{}' has no execute function", t->name));
    }
    if (!seen.insert(t->name).second) {
      return fail(ErrorType::invalid_input, fmt::format("two tools are named '{}'", t->name));
    }
  }
  return {};
}

std::string tool_result_text(const json& v) {
  std::string text = v.is_string() ? std::string(v.get_string()) : (v.is_null() ? "" : dump(v));
  if (text.size() > kMaxToolResultBytes) {
    std::size_t total = text.size();
    text.resize(kMaxToolResultBytes);
    text +=
        fmt::format("\n[tool result truncated: {} of {} bytes shown]", kMaxToolResultBytes, total);
  }
  return text;
}

// Arguments are validated against the tool's JSON Schema before it runs. Validators are
// compiled once per distinct schema (built-in tools are re-created per operation).
std::optional<std::string> check_arguments(const ToolCall& call, const ToolDefinition& def) {
  if (!call.arguments.is_object()) {
    return fmt::format("the arguments of '{}' must be a JSON object; got: {}", call.name,
                       call.raw_arguments.empty() ? dump(call.arguments) : call.raw_arguments);
  }
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const SchemaValidator>> cache;
  std::shared_ptr<const SchemaValidator> validator;
  std::string key = dump(def.parameters);
  {
    std::lock_guard lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) {
      validator = it->second;
    } else {
      auto compiled = SchemaValidator::compile(def.parameters);
      if (compiled) {
        validator = std::make_shared<const SchemaValidator>(std::move(*compiled));
      } else {
        log::get()->warn("tool '{}': its parameter schema cannot be used for validation: {}",
                         def.name, compiled.error().message);
      }
      if (cache.size() < 4096) cache.emplace(std::move(key), validator);
    }
  }
  if (!validator) return std::nullopt;
  auto errors = validator->validate(call.arguments);
  if (errors.empty()) return std::nullopt;
  return fmt::format("invalid arguments for tool '{}':\n{}", call.name, format_path_errors(errors));
}

}  // namespace

Message tool_message(const ToolCall& call, std::string text, bool is_error,
                     const std::shared_ptr<const detail::Redactor>& redactor) {
  Message m;
  m.role = Role::tool;
  m.tool_call_id = call.id;
  m.tool_name = call.name;
  m.text = redactor ? redactor->apply(text) : std::move(text);
  m.is_error = is_error;
  return m;
}

// Runs an awaitable tool; failures become error results, as for plain tools.
asio::awaitable<Message> run_async_tool(std::shared_ptr<const ToolDefinition> def, ToolCall call,
                                        ToolContext ctx,
                                        std::shared_ptr<const detail::Redactor> redactor) {
  std::string text;
  bool is_error = false;
  try {
    json args = call.arguments;
    json value = co_await def->async_execute(std::move(args), ctx);
    text = tool_result_text(value);
  } catch (const Exception& e) {
    text = e.error().message;
    is_error = true;
  } catch (const std::exception& e) {
    text = fmt::format("tool '{}' failed: {}", call.name, e.what());
    is_error = true;
  } catch (...) {
    text = fmt::format("tool '{}' failed with an unknown exception", call.name);
    is_error = true;
  }
  co_return tool_message(call, std::move(text), is_error, redactor);
}

// How one operation asks for a structured result.
struct OutputRequest {
  OutputFormat format;       // sent natively when `native`
  bool native = false;       // the wire API takes the schema; else `instructions` are used
  std::string instructions;  // the delimiter request with the schema
  std::function<std::vector<PathError>(const json&)> check;
};

// OpenAI strict mode needs every object closed and every property required.
bool strict_compatible(const json& schema) {
  if (schema.is_array()) {
    for (const auto& v : schema.get_array()) {
      if (!strict_compatible(v)) return false;
    }
    return true;
  }
  if (!schema.is_object()) return true;
  const auto& o = schema.get_object();
  if (const json* props = find(schema, "properties"); props && props->is_object()) {
    const json* ap = find(schema, "additionalProperties");
    if (!ap || !ap->is_bool() || ap->get_bool()) return false;
    const json* req = find(schema, "required");
    if (!req || !req->is_array() || req->get_array().size() != props->get_object().size()) {
      return false;
    }
  }
  for (const auto& kv : o) {
    if (!strict_compatible(kv.value())) return false;
  }
  return true;
}

Result<OutputRequest> make_output_request(const PromptOptions& o, std::optional<WireApi> api) {
  OutputRequest out;
  json schema = o.result_schema.is_null() ? json(json_object{}) : o.result_schema;
  if (!schema.is_object()) {
    return fail(
        ErrorType::invalid_input,
        fmt::format("result_schema must be a JSON Schema object, got {}", kind_name(schema)));
  }
  if (o.result_check) {
    out.check = o.result_check;
  } else {
    auto validator = SchemaValidator::compile(schema);
    if (!validator) {
      Error e = validator.error();
      e.message = "result_schema is not a valid JSON Schema: " + e.message;
      return fail(std::move(e));
    }
    out.check = [v = std::move(*validator)](const json& value) { return v.validate(value); };
  }
  out.format.schema = schema;
  out.format.strict = strict_compatible(schema);
  out.native = api.has_value();
  out.instructions = fmt::format(
      "Return the final structured result as JSON between these exact delimiters:\n{}\n"
      "{{...valid JSON...}}\n{}\nThe JSON must satisfy this JSON Schema:\n{}",
      kResultStart, kResultEnd, dump_pretty(schema));
  return out;
}

// `activate_skill`: the model runs a skill of the catalogue on its own; the result is the
// skill's rendered instructions for it to follow.
ToolDefinition activate_skill_tool(std::shared_ptr<const SkillSet> skills) {
  json_array names;
  for (const auto& [name, skill] : *skills) names.push_back(json(name));
  ToolDefinition t;
  t.name = "activate_skill";
  t.description =
      "Load one of the skills listed in the system prompt: returns its instructions (and the "
      "supporting files you can read), which you then follow.";
  t.parameters = json_object{
      {"type", "object"},
      {"properties",
       json_object{
           {"name", json_object{{"type", "string"}, {"enum", std::move(names)}}},
           {"args", json_object{{"type", "object"},
                                {"description", "Arguments for the skill, if it takes any"}}}}},
      {"required", json_array{"name"}}};
  t.execute = [skills](const json& args, ToolContext&) -> json {
    auto name = get_string(args, "name");
    auto it = name ? skills->find(*name) : skills->end();
    if (it == skills->end()) {
      std::vector<std::string> all;
      for (const auto& [k, v] : *skills) all.push_back(k);
      throw Exception(make_error(ErrorType::invalid_input,
                                 fmt::format("activate_skill: unknown skill '{}' (available: {})",
                                             name.value_or(""), fmt::join(all, ", "))));
    }
    json call_args = json_object{};
    if (const json* a = find(args, "args"); a && !a->is_null()) call_args = *a;
    if (it->second.input_schema.is_object()) {
      auto validator = SchemaValidator::compile(it->second.input_schema);
      if (!validator) throw Exception(validator.error());
      if (auto errors = validator->validate(call_args); !errors.empty()) {
        throw Exception(make_error(ErrorType::invalid_input,
                                   fmt::format("activate_skill '{}': invalid args:\n{}", it->first,
                                               format_path_errors(errors))));
      }
    }
    return json(render_skill_prompt(it->second, call_args, it->second.output_schema));
  };
  return t;
}

// The skill catalogue shown to the model: name and description of each skill.
std::string skill_catalogue(const SkillSet& skills) {
  if (skills.empty()) return {};
  std::string text =
      "\n\nSkills (call activate_skill with a name to load its instructions when a task fits):";
  for (const auto& [name, skill] : skills) {
    text += fmt::format(
        "\n- {}: {}", name,
        skill.description.empty() ? std::string("(no description)") : skill.description);
  }
  return text;
}

// ----------------------------------------------------------------------------------------

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

  // A skill by name, or by path under .agents/skills for names with '/' or ending in .md.
  Result<Skill> find_skill(const std::string& name) const {
    if (auto it = skills->find(name); it != skills->end()) return it->second;
    if (name.find('/') != std::string::npos || name.ends_with(".md")) {
      return load_skill_by_path(config.root / ".agents" / "skills", name);
    }
    std::vector<std::string> names;
    for (const auto& [k, v] : *skills) names.push_back(k);
    return fail(ErrorType::not_found,
                fmt::format("unknown skill '{}' (available: {})", name,
                            names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))),
                json_object{{"skill", name}});
  }

  // The live session `id`, opened (or created with `init`) from the store.
  Result<std::shared_ptr<SessionImpl>> open_session(const std::string& id, const SessionInit& init);

  std::mutex mu;
  std::map<std::string, std::weak_ptr<SessionImpl>> sessions;

  std::unique_ptr<ModelClientCache> models;  // owns the HTTP transport of the model calls
  Result<ModelClientCache::Entry> client_for(const std::string& spec) { return models->get(spec); }

  struct GrantedSecret {
    std::string name;
    std::string variable;
    std::string value;
  };

  // Looks the names up in InitOptions::secrets, then `[secrets]`.
  Result<std::vector<GrantedSecret>> resolve_secrets(const std::vector<std::string>& names) const {
    std::vector<GrantedSecret> out;
    std::vector<std::string> unknown;
    for (const auto& name : names) {
      if (auto it = code_secrets.find(name); it != code_secrets.end()) {
        out.push_back({name, env_name_for(name), it->second});
        continue;
      }
      auto it = config.secrets.find(name);
      if (it == config.secrets.end()) {
        unknown.push_back(name);
        continue;
      }
      if (!it->second.env.empty()) {
        const char* v = std::getenv(it->second.env.c_str());
        if (v == nullptr) {
          return fail(
              ErrorType::config_error,
              fmt::format("secret '{}': environment variable {} is not set", name, it->second.env));
        }
        out.push_back({name, it->second.env, v});
      } else {
        out.push_back({name, env_name_for(name), it->second.value});
      }
    }
    if (!unknown.empty()) {
      std::vector<std::string> known;
      for (const auto& [k, v] : code_secrets) known.push_back(k);
      for (const auto& [k, v] : config.secrets) known.push_back(k);
      return fail(ErrorType::invalid_input,
                  fmt::format("unknown secret{} {} (configured: {})", unknown.size() > 1 ? "s" : "",
                              fmt::join(unknown, ", "),
                              known.empty() ? "none; add them under [secrets] in cppflue.toml"
                                            : fmt::format("{}", fmt::join(known, ", "))),
                  json_object{{"rule", "secrets"}});
    }
    return out;
  }

  static std::string env_name_for(const std::string& name) { return detail::env_var_name(name); }

  std::string policy_facts() const {
    std::string t = "\n\nPolicy: ";
    t += file_policy.allow_write ? "writing files is allowed. "
                                 : "writing files is disabled (allow_write is off). ";
    if (!shell_policy.allow_shell) {
      t += "Shell commands are disabled (allow_shell is off).";
    } else {
      t += "Shell commands are allowed";
      if (!shell_policy.allowed_commands.empty()) {
        t += fmt::format(" (only these commands: {})",
                         fmt::join(shell_policy.allowed_commands, ", "));
      }
      t += shell_policy.allow_compound_commands
               ? "."
               : "; one simple command per call (no ;, &&, |, redirections or substitutions).";
    }
    return t;
  }
};

// Serialises event delivery for one operation (deltas arrive on the network strand, tool
// results on the session strand, abort requests on the caller's thread).
class Emitter {
 public:
  Emitter(std::string session_id, std::string operation_id, std::vector<EventCallback> callbacks)
      : session_id_(std::move(session_id)),
        operation_id_(std::move(operation_id)),
        callbacks_(std::move(callbacks)) {}

  void set_redactor(std::shared_ptr<const detail::Redactor> r) {
    std::lock_guard lock(mu_);
    redactor_ = std::move(r);
  }

  void emit(std::string_view type, json_object fields = {}) {
    Event e;
    e.type = std::string(type);
    json_object data;
    data["session_id"] = session_id_;
    if (!operation_id_.empty()) data["operation_id"] = operation_id_;
    data["timestamp"] = iso8601_now();
    for (auto& kv : fields) data[kv.key()] = std::move(kv.value());
    e.data = std::move(data);
    std::lock_guard lock(mu_);
    if (redactor_) redactor_->apply(e.data);
    for (const auto& cb : callbacks_) {
      if (!cb) continue;
      try {
        cb(e);
      } catch (const std::exception& ex) {
        log::get()->warn("event callback threw on '{}': {}", e.type, ex.what());
      } catch (...) {
        log::get()->warn("event callback threw on '{}'", e.type);
      }
    }
  }

  // Delivers an event made elsewhere (a child task's) unchanged to this operation's callbacks.
  void forward(const Event& e) {
    std::lock_guard lock(mu_);
    Event copy = e;
    if (redactor_) redactor_->apply(copy.data);
    for (const auto& cb : callbacks_) {
      if (!cb) continue;
      try {
        cb(copy);
      } catch (...) {
        log::get()->warn("event callback threw on forwarded '{}'", copy.type);
      }
    }
  }

 private:
  std::string session_id_;
  std::string operation_id_;
  std::vector<EventCallback> callbacks_;
  std::shared_ptr<const detail::Redactor> redactor_;
  std::recursive_mutex mu_;  // a callback may abort the session, which emits again
};

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

class SessionImpl : public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(std::shared_ptr<AgentImpl> a, std::string session_id, std::vector<Message> h)
      : agent(std::move(a)),
        id(std::move(session_id)),
        strand(asio::make_strand(agent->runtime->executor())),
        history(std::move(h)) {}

  std::shared_ptr<AgentImpl> agent;
  std::string id;
  asio::strand<asio::any_io_executor> strand;

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

  Result<std::shared_ptr<Sandbox>> get_sandbox() {
    std::lock_guard lock(sandbox_mu);
    if (sandbox) return sandbox;
    if (inherited_sandbox) {
      sandbox = inherited_sandbox;
      session_prompt = agent->system_prompt + "\n\n" + sandbox->describe() + agent->policy_facts();
      return sandbox;
    }
    SandboxContext ctx{&agent->config, id,
                       agent->shell_policy.allow_shell || !agent->command_tools.empty()};
    auto sb = create_sandbox(agent->sandbox_spec, ctx);
    if (!sb) return sb;
    sandbox = *sb;
    session_prompt = agent->system_prompt + workspace_instructions(*sandbox) + "\n\n" +
                     sandbox->describe() + agent->policy_facts();
    return sandbox;
  }

  // AGENTS.md / CLAUDE.md of a workspace other than the project root, appended.
  std::string workspace_instructions(const Sandbox& sb) const {
    const Workspace* ws = sb.workspace();
    if (ws == nullptr) return {};
    std::error_code ec;
    if (fs::equivalent(ws->root(), agent->config.root, ec)) return {};
    std::string text;
    for (const char* file : {"AGENTS.md", "CLAUDE.md"}) {
      auto content = ws->read_file(file, 256 * 1024);
      if (!content || content->empty()) continue;
      text += fmt::format("\n\nInstructions from the workspace's {}:\n{}", file, *content);
    }
    return text;
  }

  std::string system_prompt() {
    std::lock_guard lock(sandbox_mu);
    return session_prompt.empty() ? agent->system_prompt : session_prompt;
  }

  // The sandbox, policy, grants and secrets of one operation.
  Result<std::shared_ptr<detail::ToolScope>> make_scope(const std::vector<std::string>& secrets,
                                                        const std::vector<std::string>& commands,
                                                        const std::shared_ptr<Emitter>& emitter) {
    auto sb = get_sandbox();
    if (!sb) return fail(sb.error());
    auto granted = agent->resolve_secrets(secrets);
    if (!granted) return fail(granted.error());
    auto scope = std::make_shared<detail::ToolScope>();
    scope->sandbox = *sb;
    scope->file_policy = agent->file_policy;
    scope->shell_policy = agent->shell_policy;
    scope->grants = agent->grants;
    scope->grants.insert(scope->grants.end(), commands.begin(), commands.end());
    for (const auto& g : *granted) scope->secret_env[g.variable] = g.value;
    const auto& redactor = agent->redactor;
    scope->redactor = redactor;
    if (emitter) {
      if (!redactor->empty()) emitter->set_redactor(redactor);
      std::weak_ptr<Emitter> weak = emitter;
      scope->emit = [weak](std::string_view type, json_object fields) {
        if (auto e = weak.lock()) e->emit(type, std::move(fields));
      };
    }
    scope->write_mutex = write_mutex;
    scope->skills = agent->skills;
    scope->executor = agent->runtime->executor();
    return scope;
  }

  const Workspace& workspace_or_throw() {
    auto sb = get_sandbox();
    if (!sb) throw Exception(sb.error());
    const Workspace* ws = (*sb)->workspace();
    if (ws == nullptr) {
      throw Exception(make_error(ErrorType::policy,
                                 fmt::format("the '{}' sandbox has no files", (*sb)->name()),
                                 json_object{{"rule", "sandbox"}}));
    }
    return *ws;
  }

  void require_write(std::string_view what) const {
    if (!agent->file_policy.allow_write) {
      throw Exception(make_error(
          ErrorType::policy,
          fmt::format("{}: writing files is not allowed for this agent (allow_write is off)", what),
          json_object{{"rule", "allow_write"}}));
    }
  }

  asio::awaitable<Result<ShellResult>> run_shell_op(std::string command, ShellOptions options);

  struct ActiveOperation {
    std::string kind;
    std::string id;
    std::shared_ptr<CancelSource> cancel;
    std::shared_ptr<Emitter> emitter;
    std::chrono::steady_clock::time_point started;
  };
  // Claims the session for one operation (session_busy when another one runs) and emits
  // operation_start.
  Result<ActiveOperation> begin_operation(std::string kind, std::vector<EventCallback> callbacks);
  // Emits aborted/error for `error` (if any), then idle and operation; releases the session.
  void end_operation(const ActiveOperation& op, const Error* error);

  Result<void> append(const Message& original, std::string_view source) {
    Entry e;
    e.kind = "message";
    e.role = std::string(role_name(original.role));
    e.content = to_json(original);
    e.source = std::string(source);
    // No known secret is stored, or kept for later model calls, whatever brought it in: the
    // user's own text, thinking, raw tool arguments, provider data.
    Message m = original;
    if (agent->redactor && !agent->redactor->empty()) {
      agent->redactor->apply(e.content);
      if (auto back = message_from_json(e.content)) m = std::move(*back);
    }
    auto r = agent->store->append_entry(id, e);
    if (!r) return fail(r.error());
    std::lock_guard lock(mu);
    history.push_back(m);
    seqs.push_back(*r);
    return {};
  }

  void append_marker(json_object content) {
    Entry e;
    e.kind = "marker";
    e.content = std::move(content);
    if (auto r = agent->store->append_entry(id, e); !r) {
      log::get()->error("session {}: cannot record marker: {}", id, r.error().message);
    }
  }

  asio::awaitable<Result<PromptResult>> run(OperationSpec spec);
  bool abort();

  // Summarises history before the cut (see compaction.hpp) with the [compaction] model (or
  // `model_spec`), records a compaction entry and replaces the context by summary + recent.
  asio::awaitable<Result<CompactResult>> compact_history(std::string reason, Emitter& emitter,
                                                         CancelToken cancel,
                                                         std::string model_spec);
  asio::awaitable<Result<CompactResult>> run_compact_op();

  // A child task of this session, run inside the operation `parent_op` (events go to its
  // emitter; aborting it aborts the child).
  struct TaskSpec {
    std::string prompt;
    TaskOptions options;
  };
  asio::awaitable<Result<PromptResult>> run_task(TaskSpec spec, std::shared_ptr<Emitter> emitter,
                                                 CancelToken cancel);
  asio::awaitable<Result<PromptResult>> run_task_op(TaskSpec spec);
  // The `task` tool for an operation, unless tasks are disabled or this session is at the
  // depth limit.
  std::optional<ToolDefinition> task_tool(std::shared_ptr<Emitter> emitter, CancelToken cancel);
};

// The TurnContext given to harness backends for one operation.
class OperationContext final : public TurnContext {
 public:
  OperationContext(SessionImpl& s, std::shared_ptr<ModelClient> client, std::string model_spec,
                   std::optional<ThinkingLevel> thinking, std::vector<const ToolDefinition*> tools,
                   bool stream, CancelToken cancel, std::shared_ptr<Emitter> emitter,
                   std::shared_ptr<const detail::Redactor> redactor)
      : session_(s),
        client_(std::move(client)),
        model_spec_(std::move(model_spec)),
        thinking_(thinking),
        tools_(std::move(tools)),
        stream_(stream),
        cancel_(std::move(cancel)),
        emitter_(std::move(emitter)),
        redactor_(std::move(redactor)) {
    for (const auto* t : tools_) {
      specs_.push_back(ToolSpec{t->name, t->description, t->parameters});
    }
  }

  const std::vector<Message>& messages() const override { return session_.history; }
  int max_turns() const override { return session_.agent->max_turns; }
  CancelToken cancel() const override { return cancel_; }

  void set_system(std::string system) { system_ = std::move(system); }
  void set_output(OutputFormat format) { output_ = std::move(format); }

  asio::awaitable<Result<ModelResponse>> call_model() override {
    auto compacted = co_await compact_if_needed();
    if (!compacted) co_return fail(std::move(compacted.error()));
    auto response = co_await call_model_once();
    const auto& cc = session_.agent->config.compaction;
    if (!response && response.error().type == ErrorType::context_overflow && cc.enabled &&
        !overflow_retried_ && !cancel_.cancelled()) {
      // Once per operation: summarise, then retry the same turn.
      overflow_retried_ = true;
      auto c = co_await session_.compact_history("overflow", *emitter_, cancel_, model_spec_);
      if (!c) co_return fail(std::move(c.error()));
      if (c->compacted) response = co_await call_model_once();
    }
    co_return response;
  }

  // Threshold compaction before a turn: estimated context > window − reserve.
  asio::awaitable<Result<void>> compact_if_needed() {
    const auto& cc = session_.agent->config.compaction;
    if (!cc.enabled || cc.context_window_tokens <= 0) co_return Result<void>{};
    std::int64_t estimate = static_cast<std::int64_t>(system_.size() / 4);
    {
      std::lock_guard lock(session_.mu);
      estimate += detail::estimate_tokens(session_.history);
    }
    std::int64_t limit = std::max<std::int64_t>(cc.context_window_tokens - cc.reserve_tokens, 0);
    if (estimate <= limit) co_return Result<void>{};
    auto c = co_await session_.compact_history("threshold", *emitter_, cancel_, model_spec_);
    if (!c) co_return fail(std::move(c.error()));
    co_return Result<void>{};
  }

  asio::awaitable<Result<ModelResponse>> call_model_once() {
    ++turns_;
    std::string turn_id = new_hex_id("turn_", 16);
    emitter_->emit("turn_request", {{"turn_id", turn_id}, {"model", model_spec_}});
    ModelRequest req;
    req.system = system_.empty() ? session_.system_prompt() : system_;
    {
      std::lock_guard lock(session_.mu);
      req.messages = session_.history;
    }
    req.tools = specs_;
    req.thinking = thinking_;
    req.stream = stream_;
    req.output = output_;
    partial_text_.clear();
    DeltaCallback on_delta;
    if (stream_) {
      on_delta = [this](const ModelDelta& d) {
        if (d.kind == ModelDelta::Kind::text) {
          partial_text_ += d.text;
          emitter_->emit("text_delta", {{"text", d.text}});
        } else if (d.kind == ModelDelta::Kind::thinking) {
          emitter_->emit("thinking_delta", {{"text", d.text}});
        }
      };
    }
    auto response = co_await client_->complete(std::move(req), std::move(on_delta), cancel_);
    if (!response) co_return response;
    if (output_) {
      // The tool form of structured output: a call of the result tool is the answer.
      auto& calls = response->message.tool_calls;
      for (const auto& c : calls) {
        if (c.name != output_->name) continue;
        response->message.text = c.raw_arguments.empty() ? dump(c.arguments) : c.raw_arguments;
        calls.clear();
        response->finish_reason = FinishReason::stop;
        break;
      }
    }
    usage_ += response->usage;
    last_model_ = response->model.empty() ? model_spec_ : response->model;
    last_finish_ = std::string(finish_reason_name(response->finish_reason));
    partial_text_.clear();
    emitter_->emit(
        "turn",
        {{"turn_id", turn_id}, {"model", last_model_}, {"usage", to_json(response->usage)}});
    co_return response;
  }

  Result<void> append(Message message) override {
    std::string_view source = message.role == Role::assistant ? "model" : "tool";
    if (redactor_ && !redactor_->empty()) {
      message.text = redactor_->apply(message.text);
      for (auto& c : message.tool_calls) redactor_->apply(c.arguments);
    }
    return session_.append(message, source);
  }

  asio::awaitable<Result<std::vector<Message>>> run_tools(
      const std::vector<ToolCall>& calls) override {
    using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code,
                                                                std::size_t, Message)>;
    auto channel = std::make_shared<Channel>(session_.strand, calls.size() + 1);
    std::vector<std::optional<Message>> results(calls.size());
    pending_results_.clear();

    for (const auto& call : calls) {
      emitter_->emit("tool_start",
                     {{"toolName", call.name}, {"toolCallId", call.id}, {"args", call.arguments}});
    }
    auto make_result = [redactor = redactor_](const ToolCall& call, std::string text,
                                              bool is_error) {
      return tool_message(call, std::move(text), is_error, redactor);
    };
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const ToolCall& call = calls[i];
      const ToolDefinition* def = nullptr;
      for (const auto* t : tools_) {
        if (t->name == call.name) def = t;
      }
      if (!def) {
        std::vector<std::string> names;
        for (const auto* t : tools_) names.push_back(t->name);
        channel->try_send(
            boost::system::error_code{}, i,
            make_result(
                call,
                fmt::format("unknown tool '{}' (available tools: {})", call.name,
                            names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))),
                true));
        continue;
      }
      if (auto problem = check_arguments(call, *def)) {
        channel->try_send(boost::system::error_code{}, i, make_result(call, *problem, true));
        continue;
      }
      if (!def->execute && def->async_execute) {
        asio::co_spawn(
            session_.agent->runtime->executor(),
            run_async_tool(std::make_shared<const ToolDefinition>(*def), call,
                           ToolContext{session_.id, call.id, call.name, cancel_}, redactor_),
            [channel, i](std::exception_ptr, Message m) {
              channel->try_send(boost::system::error_code{}, i, std::move(m));
            });
        continue;
      }
      // The tool runs on a copy: after an abort the operation (and the tool list it points
      // into) may be gone while the call is still finishing on the pool.
      asio::post(
          session_.agent->runtime->blocking(),
          [channel, i, call, def = std::make_shared<const ToolDefinition>(*def),
           session_id = session_.id, cancel = cancel_, make_result] {
            ToolContext ctx{session_id, call.id, call.name, cancel};
            Message m;
            try {
              m = make_result(call, tool_result_text(def->execute(call.arguments, ctx)), false);
            } catch (const Exception& e) {
              m = make_result(call, e.error().message, true);
            } catch (const std::exception& e) {
              m = make_result(call, fmt::format("tool '{}' failed: {}", call.name, e.what()), true);
            } catch (...) {
              m = make_result(
                  call, fmt::format("tool '{}' failed with an unknown exception", call.name), true);
            }
            channel->try_send(boost::system::error_code{}, i, std::move(m));
          });
    }

    CancelRegistration reg(cancel_, [channel] { channel->cancel(); });
    for (std::size_t received = 0; received < calls.size();) {
      auto [ec, index, message] =
          co_await channel->async_receive(asio::as_tuple(asio::use_awaitable));
      if (ec || cancel_.cancelled()) {
        co_return fail(ErrorType::cancelled, "operation aborted while tools were running");
      }
      emitter_->emit("tool_end", {{"toolName", message.tool_name},
                                  {"toolCallId", message.tool_call_id},
                                  {"isError", message.is_error},
                                  {"result", message.text}});
      pending_results_[message.tool_call_id] = message;
      results[index] = std::move(message);
      ++received;
    }
    std::vector<Message> out;
    out.reserve(results.size());
    for (auto& r : results) out.push_back(std::move(*r));
    pending_results_.clear();
    co_return out;
  }

  // After a failure: answer every tool call of the last assistant message that has no result
  // yet, so the stored conversation stays valid for the next request.
  void repair_history() {
    std::vector<ToolCall> open_calls;
    {
      std::lock_guard lock(session_.mu);
      const auto& h = session_.history;
      for (std::size_t i = h.size(); i-- > 0;) {
        if (h[i].role == Role::assistant) {
          std::set<std::string> answered;
          for (std::size_t j = i + 1; j < h.size(); ++j) {
            if (h[j].role == Role::tool) answered.insert(h[j].tool_call_id);
          }
          for (const auto& c : h[i].tool_calls) {
            if (!answered.count(c.id)) open_calls.push_back(c);
          }
          break;
        }
        if (h[i].role == Role::user) break;
      }
    }
    for (const auto& c : open_calls) {
      Message m;
      auto it = pending_results_.find(c.id);
      if (it != pending_results_.end()) {
        m = it->second;
      } else {
        m.role = Role::tool;
        m.tool_call_id = c.id;
        m.tool_name = c.name;
        m.text = "aborted: the operation was stopped before this tool call finished";
        m.is_error = true;
      }
      if (auto r = session_.append(m, "tool"); !r) {
        log::get()->error("session {}: cannot record tool result: {}", session_.id,
                          r.error().message);
      }
    }
  }

  const Usage& usage() const { return usage_; }
  int turns() const { return turns_; }
  const std::string& last_model() const { return last_model_; }
  const std::string& last_finish() const { return last_finish_; }
  const std::string& partial_text() const { return partial_text_; }

 private:
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
  std::string partial_text_;
  std::map<std::string, Message> pending_results_;
  std::string system_;
  std::optional<OutputFormat> output_;
  bool overflow_retried_ = false;
};

Result<SessionImpl::ActiveOperation> SessionImpl::begin_operation(
    std::string kind, std::vector<EventCallback> callbacks) {
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
  {
    std::lock_guard lock(mu);
    active_cancel = op.cancel;
    active_emitter = op.emitter;
    active_kind = op.kind;
  }
  op.emitter->emit("operation_start", {{"operation_kind", op.kind}});
  return op;
}

void SessionImpl::end_operation(const ActiveOperation& op, const Error* error) {
  if (error != nullptr) {
    if (error->type == ErrorType::cancelled) {
      op.emitter->emit("aborted", {{"operation", op.kind}});
    } else {
      op.emitter->emit("error",
                       {{"message", error->message}, {"error_type", wire_name(error->type)}});
    }
  }
  op.emitter->emit("idle");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  op.started)
                .count();
  op.emitter->emit(
      "operation",
      {{"operation_kind", op.kind}, {"duration_ms", ms}, {"is_error", error != nullptr}});
  {
    std::lock_guard lock(mu);
    active_cancel.reset();
    active_emitter.reset();
    active_kind.clear();
  }
  busy.store(false);
}

asio::awaitable<Result<PromptResult>> SessionImpl::run(OperationSpec spec) {
  auto begun = begin_operation(
      spec.kind,
      std::vector<EventCallback>{spec.forwarded_to_parent ? EventCallback{} : agent->on_event,
                                 spec.options.on_event, spec.sink});
  if (!begun) co_return fail(std::move(begun.error()));
  auto self = shared_from_this();  // keeps the session alive for the whole operation
  const ActiveOperation& op = *begun;
  const std::string& op_id = op.id;
  const auto& cancel = op.cancel;
  const auto& emitter = op.emitter;

  Result<PromptResult> result = fail(ErrorType::internal, "operation did not run");
  std::vector<ToolDefinition> builtins;  // outlives ctx, which points into it
  std::unique_ptr<OperationContext> ctx;
  do {
    // Precedence for model and thinking level: call > role > agent.
    std::string role_model, role_thinking, role_text;
    if (!spec.options.role.empty()) {
      const std::string& role = spec.options.role;
      const SubagentProfile* profile = nullptr;
      for (const auto& p : agent->subagents) {
        if (p.name == role) profile = &p;
      }
      if (auto it = agent->roles.find(role); it != agent->roles.end()) {
        role_model = it->second.model;
        role_thinking = it->second.thinking_level;
        role_text = fmt::format("Role: {}\n{}", role, it->second.instructions);
      } else if (profile != nullptr) {
        role_model = profile->model;
        role_thinking = profile->thinking_level;
        role_text = fmt::format("Role: {}\n{}", role, profile->instructions);
      } else {
        std::vector<std::string> names;
        for (const auto& [k, v] : agent->roles) names.push_back(k);
        for (const auto& p : agent->subagents) names.push_back(p.name);
        result =
            fail(ErrorType::invalid_input,
                 fmt::format("unknown role or subagent '{}' (available: {})", role,
                             names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))),
                 json_object{{"role", role}});
        break;
      }
    }
    std::string model_spec = !spec.options.model.empty() ? spec.options.model
                             : !role_model.empty()       ? role_model
                                                         : agent->model;
    auto client = agent->client_for(model_spec);
    if (!client) {
      result = fail(client.error());
      break;
    }
    std::optional<ThinkingLevel> thinking = agent->thinking;
    const std::string& thinking_text =
        !spec.options.thinking_level.empty() ? spec.options.thinking_level : role_thinking;
    if (!thinking_text.empty()) {
      auto t = parse_thinking_level(thinking_text);
      if (!t) {
        result = fail(t.error());
        break;
      }
      thinking = *t == ThinkingLevel::off ? std::nullopt : std::optional<ThinkingLevel>(*t);
    }
    std::vector<std::string> call_grants;
    std::vector<const Command*> call_commands;
    for (const auto& c : spec.options.commands) {
      if (c.command) {
        call_commands.push_back(&*c.command);
      } else {
        call_grants.push_back(c.grant);
      }
    }
    auto scope = make_scope(spec.options.secrets, call_grants, emitter);
    if (!scope) {
      result = fail(scope.error());
      break;
    }
    builtins = detail::make_builtin_tools(*scope);
    if (auto t = task_tool(emitter, cancel->token())) builtins.push_back(std::move(*t));
    if (!agent->skills->empty()) builtins.push_back(activate_skill_tool(agent->skills));
    std::size_t first_extra = builtins.size();
    bool bad_command = false;
    for (const auto& c : agent->command_tools) {
      builtins.push_back(detail::make_command_tool(c, *scope));
    }
    for (const auto* c : call_commands) {
      if (auto r = detail::check_command_definition(*c); !r) {
        result = fail(r.error());
        bad_command = true;
        break;
      }
      builtins.push_back(detail::make_command_tool(*c, *scope));
    }
    if (bad_command) break;
    std::vector<const ToolDefinition*> tools, call_tools;
    for (const auto& t : builtins) tools.push_back(&t);
    for (const auto& t : agent->tools) tools.push_back(&t);
    for (std::size_t i = first_extra; i < builtins.size(); ++i) call_tools.push_back(&builtins[i]);
    for (const auto& t : spec.options.tools) {
      tools.push_back(&t);
      call_tools.push_back(&t);
    }
    if (auto r = check_tools(tools, call_tools); !r) {
      result = fail(r.error());
      break;
    }
    if (!agent->enabled_tools.empty()) {
      // The agent's tool list (e.g. a Markdown agent's `tools:`); tools passed with this call
      // are always offered.
      const auto& keep = agent->enabled_tools;
      std::erase_if(tools, [&](const ToolDefinition* t) {
        return std::find(keep.begin(), keep.end(), t->name) == keep.end() &&
               std::find(call_tools.begin(), call_tools.end(), t) == call_tools.end() &&
               t->name != "activate_skill";
      });
    }
    std::optional<OutputRequest> output;
    if (!spec.options.result_schema.is_null() || spec.options.result_check) {
      auto req = make_output_request(spec.options, client->api);
      if (!req) {
        result = fail(req.error());
        break;
      }
      output = std::move(*req);
    }
    Message user;
    user.role = Role::user;
    user.text = spec.text;
    if (output && !output->native) user.text += "\n\n" + output->instructions;
    user.images = spec.options.images;
    if (auto r = append(user, spec.kind); !r) {
      result = fail(r.error());
      break;
    }
    emitter->emit("agent_start");
    ctx = std::make_unique<OperationContext>(*this, client->client, client->spec, thinking,
                                             std::move(tools), spec.stream, cancel->token(),
                                             emitter, (*scope)->redactor);
    {
      std::string system = system_prompt();
      if (!spec.instructions.empty()) system += "\n\n" + spec.instructions;
      if (!role_text.empty()) system += "\n\n" + role_text;
      ctx->set_system(std::move(system));
    }
    if (output && output->native) ctx->set_output(output->format);
    auto final = co_await agent->backend->run(*ctx);
    if (!final) {
      result = fail(final.error());
      break;
    }
    json structured = nullptr;
    if (output) {
      // Validate; on failure show the model its answer and the problems, up to typed_retries.
      const int retries =
          std::max(0, spec.options.typed_retries.value_or(agent->config.agent.typed_retries));
      bool failed = false;
      for (int attempt = 0;; ++attempt) {
        std::vector<PathError> errors;
        auto extracted = try_extract_json(final->message.text);
        if (!extracted) {
          errors.push_back(PathError{"", extracted.error().message});
        } else {
          errors = output->check(extracted->value);
          if (errors.empty()) {
            structured = std::move(extracted->value);
            break;
          }
        }
        if (attempt >= retries) {
          result = fail(ErrorType::typed_output_error,
                        fmt::format("the model's answer did not match the result schema after {} "
                                    "attempt{}:\n{}",
                                    attempt + 1, attempt ? "s" : "", format_path_errors(errors)),
                        json_object{{"errors", path_errors_to_json(errors)},
                                    {"raw", final->message.text},
                                    {"attempts", attempt + 1}});
          failed = true;
          break;
        }
        Message repair;
        repair.role = Role::user;
        repair.text = fmt::format(
            "Your previous answer did not match the required result schema.\n\nYour previous "
            "answer:\n{}\n\nProblems (JSON pointer: problem):\n{}\n\nAnswer again with the "
            "corrected result only: no commentary, no extra keys.{}",
            final->message.text, format_path_errors(errors),
            output->native ? "" : "\n\n" + output->instructions);
        if (auto r = append(repair, "repair"); !r) {
          result = fail(r.error());
          failed = true;
          break;
        }
        final = co_await agent->backend->run(*ctx);
        if (!final) {
          result = fail(final.error());
          failed = true;
          break;
        }
      }
      if (failed) break;
    }
    PromptResult pr;
    pr.result = std::move(structured);
    pr.text = final->message.text;
    pr.usage = ctx->usage();
    pr.usage.total_tokens =
        pr.usage.total_tokens ? pr.usage.total_tokens : pr.usage.input + pr.usage.output;
    pr.model = ctx->last_model().empty() ? model_spec : ctx->last_model();
    pr.session_id = id;
    pr.metadata = json_object{
        {"operation_id", op_id}, {"turns", ctx->turns()}, {"finish_reason", ctx->last_finish()}};
    result = std::move(pr);
  } while (false);

  if (!result && cancel->cancelled() && result.error().type != ErrorType::session_busy) {
    result = fail(ErrorType::cancelled, fmt::format("operation on session '{}' was aborted", id));
  }
  if (!result) {
    if (ctx) {
      ctx->repair_history();
      append_marker(json_object{
          {"event", result.error().type == ErrorType::cancelled ? "interrupted" : "failed"},
          {"operation_id", op_id},
          {"error", json_object{{"type", wire_name(result.error().type)},
                                {"message", result.error().message}}},
          {"partial_text", ctx->partial_text()}});
    }
  } else {
    emitter->emit("turn_end");
  }
  end_operation(op, result ? nullptr : &result.error());
  co_return result;
}

asio::awaitable<Result<ShellResult>> SessionImpl::run_shell_op(std::string command,
                                                               ShellOptions options) {
  auto begun = begin_operation("shell", std::vector<EventCallback>{agent->on_event});
  if (!begun) co_return fail(std::move(begun.error()));
  auto self = shared_from_this();
  const ActiveOperation& op = *begun;
  const auto& cancel = op.cancel;
  const auto& emitter = op.emitter;
  Result<ShellResult> result = fail(ErrorType::internal, "shell operation did not run");
  auto scope = make_scope(options.secrets, options.commands, emitter);
  if (!scope) {
    result = fail(scope.error());
  } else {
    ShellCommand c;
    c.command = std::move(command);
    c.cwd = std::move(options.cwd);
    c.timeout = options.timeout;
    c.env = std::move(options.env);
    auto r = co_await detail::run_shell(**scope, std::move(c), {}, cancel->token());
    if (r) {
      result = ShellResult{std::move(r->stdout_text), std::move(r->stderr_text), r->exit_code,
                           r->truncated, r->timed_out};
    } else {
      result = fail(std::move(r.error()));
    }
  }
  if (!result && (result.error().type == ErrorType::cancelled || cancel->cancelled())) {
    result =
        fail(ErrorType::cancelled, fmt::format("shell command on session '{}' was aborted", id));
  }
  end_operation(op, result ? nullptr : &result.error());
  co_return result;
}

asio::awaitable<Result<CompactResult>> SessionImpl::compact_history(std::string reason,
                                                                    Emitter& emitter,
                                                                    CancelToken cancel,
                                                                    std::string model_spec) {
  const auto& cc = agent->config.compaction;
  CompactResult out;
  out.reason = reason;
  if (!cc.enabled) {
    out.reason = "compaction is disabled ([compaction] enabled = false)";
    co_return out;
  }
  std::vector<Message> h;
  std::vector<std::int64_t> hs;
  {
    std::lock_guard lock(mu);
    h = history;
    hs = seqs;
  }
  out.messages_before = static_cast<int>(h.size());
  out.messages_after = out.messages_before;
  std::size_t cut = detail::choose_cut(h, cc.keep_recent_tokens);
  if (cut == 0) {
    out.reason = "nothing to compact";
    co_return out;
  }
  std::int64_t total = detail::estimate_tokens(h);
  emitter.emit("compaction_start", {{"reason", reason}, {"estimatedTokens", total}});
  if (!cc.model.empty()) model_spec = cc.model;
  auto client = agent->client_for(model_spec);
  if (!client) co_return fail(client.error());
  std::vector<Message> older(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(cut));
  ModelRequest req;
  req.system = detail::kSummarySystem;
  Message ask;
  ask.role = Role::user;
  ask.text =
      detail::summary_request(detail::render_transcript(h, cut), detail::estimate_tokens(older));
  req.messages.push_back(std::move(ask));
  req.stream = false;
  std::string turn_id = new_hex_id("turn_", 16);
  emitter.emit("turn_request", {{"turn_id", turn_id}, {"model", model_spec}});
  auto response = co_await client->client->complete(std::move(req), DeltaCallback{}, cancel);
  if (!response) {
    Error e = response.error();
    e.message = "compaction failed: " + e.message;
    co_return fail(std::move(e));
  }
  emitter.emit("turn", {{"turn_id", turn_id},
                        {"model", response->model.empty() ? model_spec : response->model},
                        {"usage", to_json(response->usage)}});
  out.usage = response->usage;
  std::string summary = response->message.text;
  while (!summary.empty() && std::isspace(static_cast<unsigned char>(summary.back()))) {
    summary.pop_back();
  }
  if (summary.empty())
    co_return fail(ErrorType::provider_error, "compaction: the model returned an empty summary");
  if (agent->redactor && !agent->redactor->empty()) summary = agent->redactor->apply(summary);
  Entry e;
  e.kind = "compaction";
  e.content = json_object{{"summary", summary},
                          {"first_kept_seq", hs[cut]},
                          {"reason", reason},
                          {"tokens_before", total},
                          {"messages_before", out.messages_before},
                          {"messages_after", static_cast<int>(h.size() - cut) + 1}};
  e.source = "compaction";
  auto seq = agent->store->append_entry(id, e);
  if (!seq) co_return fail(seq.error());
  {
    std::lock_guard lock(mu);
    std::vector<Message> next{detail::summary_message(summary)};
    std::vector<std::int64_t> next_seqs{*seq};
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      if (seqs[i] >= hs[cut]) {
        next.push_back(history[i]);
        next_seqs.push_back(seqs[i]);
      }
    }
    history = std::move(next);
    seqs = std::move(next_seqs);
    out.messages_after = static_cast<int>(history.size());
  }
  out.compacted = true;
  out.summary = std::move(summary);
  emitter.emit("compaction_end",
               {{"messagesBefore", out.messages_before}, {"messagesAfter", out.messages_after}});
  co_return out;
}

asio::awaitable<Result<CompactResult>> SessionImpl::run_compact_op() {
  auto begun = begin_operation("compact", std::vector<EventCallback>{agent->on_event});
  if (!begun) co_return fail(std::move(begun.error()));
  auto self = shared_from_this();
  const ActiveOperation& op = *begun;
  auto result = co_await compact_history("manual", *op.emitter, op.cancel->token(), agent->model);
  if (!result && op.cancel->cancelled()) {
    result = fail(ErrorType::cancelled, fmt::format("compaction of session '{}' was aborted", id));
  }
  end_operation(op, result ? nullptr : &result.error());
  co_return result;
}

asio::awaitable<Result<PromptResult>> SessionImpl::run_task(TaskSpec spec,
                                                            std::shared_ptr<Emitter> emitter,
                                                            CancelToken cancel) {
  const int max_depth = agent->max_task_depth;
  if (max_depth >= 0 && task_depth >= max_depth) {
    co_return fail(ErrorType::policy,
                   max_depth == 0
                       ? std::string("tasks are disabled for this agent (max_task_depth = 0)")
                       : fmt::format("max task depth exceeded: session '{}' is at depth {} "
                                     "(max_task_depth = {})",
                                     id, task_depth, max_depth),
                   json_object{{"rule", "max_task_depth"}, {"max_task_depth", max_depth}});
  }
  TaskOptions& o = spec.options;
  OperationSpec child_spec;
  child_spec.kind = "prompt";
  child_spec.text = spec.prompt;
  if (!o.agent.empty()) {
    const SubagentProfile* profile = nullptr;
    for (const auto& p : agent->subagents) {
      if (p.name == o.agent) profile = &p;
    }
    if (profile == nullptr) {
      std::vector<std::string> names;
      for (const auto& p : agent->subagents) names.push_back(p.name);
      co_return fail(
          ErrorType::invalid_input,
          fmt::format("unknown subagent '{}' (available: {})", o.agent,
                      names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    child_spec.instructions = profile->instructions;
    if (o.model.empty()) o.model = profile->model;
    if (o.thinking_level.empty()) o.thinking_level = profile->thinking_level;
    std::vector<ToolDefinition> tools = profile->tools;
    tools.insert(tools.end(), o.tools.begin(), o.tools.end());
    o.tools = std::move(tools);
  }
  auto parent_sandbox = get_sandbox();
  if (!parent_sandbox) co_return fail(parent_sandbox.error());
  std::shared_ptr<Sandbox> child_sandbox = *parent_sandbox;
  if (!o.cwd.empty()) {
    auto scoped = scope_sandbox(*parent_sandbox, o.cwd);
    if (!scoped) co_return fail(scoped.error());
    child_sandbox = *scoped;
  }
  std::string child_id = fmt::format("{}:task:{}", id, ++task_counter);
  SessionInit init;
  init.parent_id = id;
  init.agent = agent->name;
  init.metadata =
      json_object{{"parent_session_id", id}, {"task_id", child_id}, {"role", o.role},
                  {"agent", o.agent},        {"cwd", o.cwd},        {"task_depth", task_depth + 1}};
  auto child = agent->open_session(child_id, init);
  if (!child) co_return fail(child.error());
  {
    std::lock_guard lock(mu);
    if (!metadata.is_object()) metadata = json_object{};
    json& children = metadata.as_object()["children"];
    if (!children.is_array()) children = json_array{};
    children.as_array().push_back(json(child_id));
    if (auto r = agent->store->update_metadata(id, metadata); !r) co_return fail(r.error());
  }
  (*child)->task_depth = task_depth + 1;
  {
    std::lock_guard lock((*child)->sandbox_mu);
    (*child)->inherited_sandbox = child_sandbox;
  }
  emitter->emit("task_start", {{"taskId", child_id},
                               {"prompt", spec.prompt},
                               {"role", o.role},
                               {"cwd", o.cwd},
                               {"parentSessionId", id}});
  child_spec.options.model = o.model;
  child_spec.options.thinking_level = o.thinking_level;
  child_spec.options.role = o.role;
  child_spec.options.tools = std::move(o.tools);
  child_spec.options.result_schema = std::move(o.result_schema);
  child_spec.options.on_event = std::move(o.on_event);
  std::weak_ptr<Emitter> weak_emitter = emitter;
  child_spec.sink = [weak_emitter](const Event& e) {
    if (auto em = weak_emitter.lock()) em->forward(e);
  };
  child_spec.forwarded_to_parent = true;
  std::shared_ptr<SessionImpl> c = *child;
  CancelRegistration reg(cancel, [c] { c->abort(); });
  auto run_child = c->run(std::move(child_spec));
  auto result = co_await asio::co_spawn(c->strand, std::move(run_child), asio::use_awaitable);
  if (!result && cancel.cancelled()) {
    result = fail(ErrorType::cancelled, fmt::format("task {} was aborted", child_id));
  }
  emitter->emit("task_end",
                {{"taskId", child_id},
                 {"isError", !result.has_value()},
                 {"result", result ? json(result->text) : json(result.error().message)}});
  co_return result;
}

namespace {
asio::awaitable<json> run_task_tool(std::weak_ptr<SessionImpl> weak,
                                    std::shared_ptr<Emitter> emitter, CancelToken cancel,
                                    json args) {
  auto self = weak.lock();
  if (!self) throw Exception(make_error(ErrorType::cancelled, "the session is gone"));
  auto text_arg = [&](std::string_view key) -> std::string {
    const json* v = find(args, key);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_string()) {
      throw Exception(
          make_error(ErrorType::invalid_input, fmt::format("task: '{}' must be a string", key)));
    }
    return std::string(v->get_string());
  };
  SessionImpl::TaskSpec spec;
  spec.prompt = text_arg("prompt");
  if (spec.prompt.empty()) {
    throw Exception(
        make_error(ErrorType::invalid_input, "task: 'prompt' must be a non-empty string"));
  }
  spec.options.role = text_arg("role");
  spec.options.cwd = text_arg("cwd");
  spec.options.agent = text_arg("agent");
  auto r = co_await self->run_task(std::move(spec), std::move(emitter), std::move(cancel));
  if (!r) throw Exception(std::move(r.error()));
  co_return json(r->text);
}
}  // namespace

std::optional<ToolDefinition> SessionImpl::task_tool(std::shared_ptr<Emitter> emitter,
                                                     CancelToken cancel) {
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
  t.async_execute = [weak, emitter, cancel](json args, ToolContext) {
    return run_task_tool(weak, emitter, cancel, std::move(args));
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
  if (emitter) emitter->emit("abort_requested", {{"operation", kind}});
  return cancel->cancel();
}

// ----------------------------------------------------------------------------------------

namespace {
void ensure_not_runtime_thread(const SessionImpl& s) {
  if (s.agent->runtime->in_io_thread()) {
    throw Exception(make_error(ErrorType::internal,
                               "synchronous session call from a CppFlue runtime thread would "
                               "deadlock; use the async_* variant"));
  }
}
}  // namespace

struct EventStream::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> queue;
  bool done = false;
  std::optional<Result<PromptResult>> result;
  std::weak_ptr<SessionImpl> session;
  std::string operation_id;
};

EventStream::EventStream(std::shared_ptr<State> state) : state_(std::move(state)) {}
EventStream::EventStream(EventStream&&) noexcept = default;
EventStream& EventStream::operator=(EventStream&&) noexcept = default;

EventStream::~EventStream() {
  if (!state_) return;
  std::unique_lock lock(state_->mu);
  if (!state_->done) {
    lock.unlock();
    abort();
    lock.lock();
    state_->cv.wait(lock, [&] { return state_->done; });
  }
}

EventStream::iterator EventStream::begin() {
  iterator it;
  it.owner_ = this;
  it.done_ = false;
  ++it;
  return it;
}

EventStream::iterator& EventStream::iterator::operator++() {
  auto& st = *owner_->state_;
  std::unique_lock lock(st.mu);
  st.cv.wait(lock, [&] { return !st.queue.empty() || st.done; });
  if (!st.queue.empty()) {
    current_ = std::move(st.queue.front());
    st.queue.pop_front();
    return *this;
  }
  done_ = true;
  if (st.result && !*st.result) throw Exception(st.result->error());
  return *this;
}

PromptResult EventStream::result() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  if (!*state_->result) throw Exception(state_->result->error());
  return **state_->result;
}

void EventStream::abort() {
  if (auto s = state_->session.lock()) s->abort();
}

// ----------------------------------------------------------------------------------------

Session::Session(std::shared_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
const std::string& Session::id() const {
  return impl_->id;
}
bool Session::busy() const {
  return impl_->busy.load();
}
bool Session::abort() {
  return impl_->abort();
}

std::vector<Message> Session::history() const {
  std::lock_guard lock(impl_->mu);
  return impl_->history;
}

PromptResult Session::prompt(std::string text, PromptOptions options) {
  ensure_not_runtime_thread(*impl_);
  OperationSpec spec{"prompt", std::move(text), std::move(options), false, nullptr};
  auto fut = asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_future);
  return value_or_throw(fut.get());
}

asio::awaitable<PromptResult> Session::async_prompt(std::string text) {
  return async_prompt(std::move(text), PromptOptions{});
}

asio::awaitable<PromptResult> Session::async_prompt(std::string text, PromptOptions options) {
  OperationSpec spec{"prompt", std::move(text), std::move(options), false, nullptr};
  auto r = co_await asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

PromptResult Session::stream(std::string text, EventCallback on_event, PromptOptions options) {
  ensure_not_runtime_thread(*impl_);
  OperationSpec spec{"stream", std::move(text), std::move(options), true, std::move(on_event)};
  auto fut = asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_future);
  return value_or_throw(fut.get());
}

asio::awaitable<PromptResult> Session::async_stream(std::string text, EventCallback on_event) {
  return async_stream(std::move(text), std::move(on_event), PromptOptions{});
}

asio::awaitable<PromptResult> Session::async_stream(std::string text, EventCallback on_event,
                                                    PromptOptions options) {
  OperationSpec spec{"stream", std::move(text), std::move(options), true, std::move(on_event)};
  auto r = co_await asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

namespace {
// Looks the skill up, validates `args` against its input_schema (nothing is sent when they do
// not fit) and renders the prompt.
OperationSpec skill_operation(SessionImpl& impl, const std::string& name, json args,
                              PromptOptions options) {
  auto found = impl.agent->find_skill(name);
  if (!found) throw Exception(found.error());
  const Skill& sk = *found;
  if (args.is_null()) args = json_object{};
  if (sk.input_schema.is_object()) {
    auto validator = SchemaValidator::compile(sk.input_schema);
    if (!validator) {
      Error e = validator.error();
      e.message = fmt::format("skill '{}': input_schema: {}", sk.name, e.message);
      throw Exception(std::move(e));
    }
    if (auto errors = validator->validate(args); !errors.empty()) {
      throw Exception(make_error(
          ErrorType::invalid_input,
          fmt::format("skill '{}': invalid arguments:\n{}", sk.name, format_path_errors(errors)),
          json_object{{"skill", sk.name}, {"errors", path_errors_to_json(errors)}}));
    }
  }
  if (options.result_schema.is_null() && !options.result_check && sk.output_schema.is_object()) {
    options.result_schema = sk.output_schema;
  }
  std::string text = render_skill_prompt(sk, args, options.result_schema);
  return OperationSpec{"skill", std::move(text), std::move(options), false, nullptr, {}};
}
}  // namespace

PromptResult Session::skill(std::string name, json args, PromptOptions options) {
  ensure_not_runtime_thread(*impl_);
  OperationSpec spec = skill_operation(*impl_, name, std::move(args), std::move(options));
  auto fut = asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_future);
  return value_or_throw(fut.get());
}

asio::awaitable<PromptResult> Session::async_skill(std::string name, json args,
                                                   PromptOptions options) {
  OperationSpec spec = skill_operation(*impl_, name, std::move(args), std::move(options));
  auto op = impl_->run(std::move(spec));
  auto r = co_await asio::co_spawn(impl_->strand, std::move(op), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

PromptResult Session::task(std::string prompt, TaskOptions options) {
  ensure_not_runtime_thread(*impl_);
  SessionImpl::TaskSpec spec{std::move(prompt), std::move(options)};
  auto fut = asio::co_spawn(impl_->strand, impl_->run_task_op(std::move(spec)), asio::use_future);
  return value_or_throw(fut.get());
}

asio::awaitable<PromptResult> Session::async_task(std::string prompt, TaskOptions options) {
  SessionImpl::TaskSpec spec{std::move(prompt), std::move(options)};
  auto op = impl_->run_task_op(std::move(spec));
  auto r = co_await asio::co_spawn(impl_->strand, std::move(op), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

CompactResult Session::compact() {
  ensure_not_runtime_thread(*impl_);
  auto fut = asio::co_spawn(impl_->strand, impl_->run_compact_op(), asio::use_future);
  return value_or_throw(fut.get());
}

asio::awaitable<CompactResult> Session::async_compact() {
  auto op = impl_->run_compact_op();
  auto r = co_await asio::co_spawn(impl_->strand, std::move(op), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

ShellResult Session::shell(std::string command, ShellOptions options) {
  ensure_not_runtime_thread(*impl_);
  auto fut = asio::co_spawn(
      impl_->strand, impl_->run_shell_op(std::move(command), std::move(options)), asio::use_future);
  return value_or_throw(fut.get());
}

asio::awaitable<ShellResult> Session::async_shell(std::string command) {
  return async_shell(std::move(command), ShellOptions{});
}

asio::awaitable<ShellResult> Session::async_shell(std::string command, ShellOptions options) {
  auto r = co_await asio::co_spawn(impl_->strand,
                                   impl_->run_shell_op(std::move(command), std::move(options)),
                                   asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

namespace {
template <typename T>
T checked(Result<T> r) {
  if (!r) throw Exception(std::move(r.error()));
  return std::move(*r);
}
void checked(Result<void> r) {
  if (!r) throw Exception(std::move(r.error()));
}

// Replaces invalid UTF-8 sequences with U+FFFD.
std::string repair_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len > 1) {
      unsigned cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(in[i + k]) & 0x3F);
      ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) &&
           !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}
}  // namespace

std::string Session::read_file(const std::string& path) const {
  return repair_utf8(checked(impl_->workspace_or_throw().read_file(path)));
}
std::string Session::read_bytes(const std::string& path) const {
  return checked(impl_->workspace_or_throw().read_file(path));
}
void Session::write_file(const std::string& path, std::string_view text) {
  impl_->require_write("write_file");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  checked(ws.write_file(path, text, true));
}
void Session::write_bytes(const std::string& path, std::string_view bytes) {
  impl_->require_write("write_bytes");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  checked(ws.write_file(path, bytes, true));
}
FileInfo Session::stat(const std::string& path) const {
  return checked(impl_->workspace_or_throw().stat(path));
}
std::vector<DirEntry> Session::readdir(const std::string& path) const {
  return checked(impl_->workspace_or_throw().list_dir(path));
}
bool Session::exists(const std::string& path) const {
  return checked(impl_->workspace_or_throw().exists(path));
}
void Session::mkdir(const std::string& path, bool recursive) {
  impl_->require_write("mkdir");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  checked(ws.mkdir(path, recursive));
}
void Session::rm(const std::string& path, bool recursive, bool force) {
  impl_->require_write("rm");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  checked(ws.remove(path, recursive, force));
}
std::string Session::workspace_path() const {
  auto sb = impl_->get_sandbox();
  if (!sb) throw Exception(sb.error());
  const Workspace* ws = (*sb)->workspace();
  return ws ? ws->root().string() : std::string();
}

EventStream Session::stream(std::string text, PromptOptions options) {
  auto state = std::make_shared<EventStream::State>();
  state->session = impl_;
  OperationSpec spec{"stream", std::move(text), std::move(options), true, [state](const Event& e) {
                       std::lock_guard lock(state->mu);
                       state->queue.push_back(e);
                       state->cv.notify_all();
                     }};
  asio::co_spawn(impl_->strand, impl_->run(std::move(spec)),
                 [state](std::exception_ptr ep, Result<PromptResult> r) {
                   std::lock_guard lock(state->mu);
                   if (ep) {
                     try {
                       std::rethrow_exception(ep);
                     } catch (const std::exception& e) {
                       r = fail(ErrorType::internal, e.what());
                     }
                   }
                   state->result = std::move(r);
                   state->done = true;
                   state->cv.notify_all();
                 });
  return EventStream(std::move(state));
}

// ----------------------------------------------------------------------------------------

Agent::Agent(std::shared_ptr<AgentImpl> impl) : impl_(std::move(impl)) {}
const std::string& Agent::model() const {
  return impl_->model;
}
std::shared_ptr<Store> Agent::store() const {
  return impl_->store;
}
std::string Agent::system_prompt() const {
  return impl_->system_prompt;
}

std::vector<std::string> Agent::tool_names() const {
  std::vector<std::string> names;
  if (impl_->sandbox_spec.factory || impl_->sandbox_spec.name != "none") {
    for (const char* n :
         {"read", "write", "edit", "stat", "exists", "mkdir", "rm", "grep", "glob", "bash"}) {
      names.emplace_back(n);
    }
  }
  if (impl_->max_task_depth != 0) names.emplace_back("task");
  if (!impl_->skills->empty()) names.emplace_back("activate_skill");
  for (const auto& t : impl_->tools) names.push_back(t.name);
  for (const auto& c : impl_->command_tools) names.push_back(c.name);
  return names;
}

std::vector<std::string> Agent::skill_names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : *impl_->skills) out.push_back(k);
  return out;
}

std::vector<std::string> Agent::role_names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : impl_->roles) out.push_back(k);
  return out;
}

ShellResult Agent::shell(std::string command, ShellOptions options) {
  return session("default").shell(std::move(command), std::move(options));
}

Session Agent::session(std::string id) {
  if (id.empty() || id.size() > 256) {
    throw Exception(make_error(ErrorType::invalid_input, "session id must be 1-256 characters"));
  }
  SessionInit init;
  init.agent = impl_->name;
  auto s = impl_->open_session(id, init);
  if (!s) throw Exception(s.error());
  return Session(*s);
}

Result<std::shared_ptr<SessionImpl>> AgentImpl::open_session(const std::string& id,
                                                             const SessionInit& init) {
  std::lock_guard lock(mu);
  if (auto it = sessions.find(id); it != sessions.end()) {
    if (auto live = it->second.lock()) return live;
  }
  auto rec = store->open_session(id, init);
  if (!rec) return fail(rec.error());
  auto entries = store->entries(id);
  if (!entries) return fail(entries.error());
  // The context: messages, where a compaction entry replaces everything before its first kept
  // entry by its summary.
  std::vector<Message> history;
  std::vector<std::int64_t> seqs;
  for (const auto& e : *entries) {
    if (e.kind == "compaction") {
      auto summary = get_string(e.content, "summary");
      auto first_kept = get_int(e.content, "first_kept_seq");
      if (!summary || !first_kept) {
        return fail(ErrorType::store_error,
                    fmt::format("session '{}' entry {} is an unreadable compaction", id, e.seq));
      }
      std::vector<Message> kept{detail::summary_message(*summary)};
      std::vector<std::int64_t> kept_seqs{e.seq};
      for (std::size_t i = 0; i < history.size(); ++i) {
        if (seqs[i] >= *first_kept) {
          kept.push_back(std::move(history[i]));
          kept_seqs.push_back(seqs[i]);
        }
      }
      history = std::move(kept);
      seqs = std::move(kept_seqs);
      continue;
    }
    if (e.kind != "message") continue;
    auto m = message_from_json(e.content);
    if (!m) {
      return fail(ErrorType::store_error, fmt::format("session '{}' entry {} is unreadable: {}", id,
                                                      e.seq, m.error().message));
    }
    history.push_back(std::move(*m));
    seqs.push_back(e.seq);
  }
  auto impl = std::make_shared<SessionImpl>(shared_from_this(), id, std::move(history));
  impl->seqs = std::move(seqs);
  impl->metadata = rec->metadata.is_object() ? rec->metadata : json(json_object{});
  if (auto d = get_int(impl->metadata, "task_depth")) impl->task_depth = static_cast<int>(*d);
  if (const json* c = find(impl->metadata, "children"); c && c->is_array()) {
    impl->task_counter = static_cast<int>(c->get_array().size());
  }
  // A process that died during a tool call left the last assistant message with calls that
  // have no result; answer them so the conversation is valid for the next request.
  {
    std::vector<ToolCall> open_calls;
    const auto& h = impl->history;
    for (std::size_t i = h.size(); i-- > 0;) {
      if (h[i].role == Role::user) break;
      if (h[i].role != Role::assistant) continue;
      std::set<std::string> answered;
      for (std::size_t j = i + 1; j < h.size(); ++j) {
        if (h[j].role == Role::tool) answered.insert(h[j].tool_call_id);
      }
      for (const auto& c : h[i].tool_calls) {
        if (!answered.count(c.id)) open_calls.push_back(c);
      }
      break;
    }
    for (const auto& c : open_calls) {
      Message m;
      m.role = Role::tool;
      m.tool_call_id = c.id;
      m.tool_name = c.name;
      m.text = "interrupted: the process stopped before this tool call finished";
      m.is_error = true;
      if (auto r = impl->append(m, "repair"); !r) return fail(r.error());
    }
  }
  sessions[id] = impl;
  return impl;
}

Agent init(InitOptions options) {
  auto config = discover_config(options.config_path,
                                options.root.empty() ? fs::current_path() : fs::path(options.root));
  if (!config) throw Exception(config.error());
  apply_env_defaults(*config);

  auto impl = std::make_shared<AgentImpl>();
  impl->config = std::move(*config);
  Config& cfg = impl->config;
  impl->name = options.name.empty() ? "default" : options.name;
  impl->model = !options.model.empty()     ? options.model
                : !cfg.agent.model.empty() ? cfg.agent.model
                                           : default_model();
  // Resolve now so that an unknown provider or a missing key fails before any request.
  if (auto r = resolve_model(impl->model, cfg.providers); !r) throw Exception(r.error());

  std::string thinking =
      options.thinking_level.empty() ? cfg.agent.thinking_level : options.thinking_level;
  if (!thinking.empty()) {
    auto t = parse_thinking_level(thinking);
    if (!t) throw Exception(t.error());
    if (*t != ThinkingLevel::off) impl->thinking = *t;
  }
  if (options.allow_write) cfg.agent.allow_write = *options.allow_write;
  if (options.allow_shell) cfg.agent.allow_shell = *options.allow_shell;
  if (!options.allowed_commands.empty()) cfg.agent.allowed_commands = options.allowed_commands;
  if (options.allow_compound_commands) {
    cfg.agent.allow_compound_commands = *options.allow_compound_commands;
  }
  impl->sandbox_spec = options.sandbox.empty() ? SandboxSpec(cfg.agent.sandbox) : options.sandbox;
  if (impl->sandbox_spec.name.empty()) impl->sandbox_spec.name = "virtual";
  if (!impl->sandbox_spec.factory) {
    auto names = sandbox_names();
    if (std::find(names.begin(), names.end(), impl->sandbox_spec.name) == names.end()) {
      throw Exception(make_error(ErrorType::config_error,
                                 fmt::format("unknown sandbox '{}' (available: {})",
                                             impl->sandbox_spec.name, fmt::join(names, ", "))));
    }
  }
  if (impl->sandbox_spec.name == "virtual" && !cfg.sandbox.workspace.empty()) {
    fs::path ws = cfg.sandbox.workspace;
    if (ws.is_relative()) ws = cfg.root / ws;
    std::error_code ec;
    if (!fs::is_directory(ws, ec)) {
      throw Exception(
          make_error(ErrorType::config_error,
                     fmt::format("[sandbox] workspace '{}' is not an existing directory ({})",
                                 cfg.sandbox.workspace, ws.string())));
    }
  }
  impl->file_policy.allow_write = cfg.agent.allow_write;
  impl->shell_policy.allow_shell = cfg.agent.allow_shell;
  impl->shell_policy.allow_compound_commands = cfg.agent.allow_compound_commands;
  impl->shell_policy.allowed_commands = cfg.agent.allowed_commands;
  impl->shell_policy.allowed_env = cfg.sandbox.allowed_env;
  for (auto& c : options.commands) {
    if (c.command) {
      if (auto r = detail::check_command_definition(*c.command); !r) throw Exception(r.error());
      impl->command_tools.push_back(std::move(*c.command));
    } else {
      impl->grants.push_back(std::move(c.grant));
    }
  }
  impl->subagents = std::move(options.subagents);
  impl->max_task_depth = options.max_task_depth.value_or(cfg.agent.max_task_depth);
  impl->code_secrets = options.secrets;
  impl->redactor = known_secrets_redactor(cfg, impl->code_secrets);
  impl->max_turns = options.max_turns.value_or(cfg.agent.max_turns);
  if (impl->max_turns < 1) {
    throw Exception(make_error(ErrorType::invalid_input, "max_turns must be at least 1"));
  }

  auto backend = create_harness(options.harness.empty() ? cfg.agent.harness : options.harness);
  if (!backend) throw Exception(backend.error());
  impl->backend = *backend;

  impl->tools = std::move(options.tools);
  // MCP servers: the configured ones are connected now (a failure names the server; an
  // optional server is skipped with a warning), then every client's tools join the agent's.
  impl->mcp_clients = std::move(options.mcp_clients);
  std::set<const mcp::McpClient*> optional_clients;
  for (const auto& [name, server] : cfg.mcp.servers) {
    if (!server.enabled) continue;
    auto client = connect_mcp_server(name, server, cfg.root);
    if (!client && server.optional) {
      log::get()->warn("optional MCP server '{}' skipped: {}", name, client.error().message);
      continue;
    }
    if (!client) throw Exception(client.error());
    if (server.optional) optional_clients.insert(client->get());
    impl->mcp_clients.push_back(std::move(*client));
  }
  {
    // Each server's tools are listed once; they become the model's tools, or the index
    // behind mcp_search / mcp_execute.
    std::vector<McpToolEntry> entries;
    std::vector<std::shared_ptr<mcp::McpClient>> listed_clients;
    for (const auto& client : impl->mcp_clients) {
      if (!client) continue;
      auto listed = client->list_tools();
      if (!listed && optional_clients.count(client.get()) != 0) {
        log::get()->warn("optional MCP server '{}' skipped: listing its tools failed: {}",
                         client->name(), listed.error().message);
        continue;
      }
      if (!listed) {
        Error e = listed.error();
        e.message =
            fmt::format("MCP server '{}': listing its tools failed: {}", client->name(), e.message);
        throw Exception(std::move(e));
      }
      if (cfg.mcp.mode == "search_execute") {
        for (auto& t : *listed)
          entries.push_back(McpToolEntry{client->name(), std::move(t), client});
      } else {
        for (auto& d : mcp_tools(client, *listed)) impl->tools.push_back(std::move(d));
      }
      listed_clients.push_back(client);
    }
    impl->mcp_clients = std::move(listed_clients);
    if (cfg.mcp.mode == "search_execute" && !impl->mcp_clients.empty()) {
      auto index = std::make_shared<const McpToolIndex>(std::move(entries));
      for (auto& d : mcp_search_execute_tools(index, cfg.mcp.search_limit)) {
        impl->tools.push_back(std::move(d));
      }
    }
  }
  {
    std::vector<ToolDefinition> command_defs;  // for the name checks only
    for (const auto& c : impl->command_tools) {
      command_defs.push_back(detail::make_command_tool(c, nullptr));
    }
    std::vector<const ToolDefinition*> tool_ptrs;
    for (const auto& t : impl->tools) tool_ptrs.push_back(&t);
    for (const auto& t : command_defs) tool_ptrs.push_back(&t);
    if (auto r = check_tools(tool_ptrs, tool_ptrs); !r) throw Exception(r.error());
  }
  {
    std::set<std::string> seen;
    for (const auto& p : impl->subagents) {
      bool ok = !p.name.empty() && std::isalpha(static_cast<unsigned char>(p.name[0]));
      for (char c : p.name) {
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
      }
      if (!ok) {
        throw Exception(make_error(
            ErrorType::invalid_input,
            fmt::format(
                "invalid subagent name '{}': use a letter, then letters, digits, '_' or '-'",
                p.name)));
      }
      if (!seen.insert(p.name).second) {
        throw Exception(make_error(ErrorType::invalid_input,
                                   fmt::format("two subagents are named '{}'", p.name)));
      }
      if (!p.thinking_level.empty()) {
        if (auto t = parse_thinking_level(p.thinking_level); !t) throw Exception(t.error());
      }
      std::vector<const ToolDefinition*> ptrs;
      for (const auto& t : p.tools) ptrs.push_back(&t);
      if (auto r = check_tools(ptrs, ptrs); !r) throw Exception(r.error());
    }
  }
  impl->on_event = std::move(options.on_event);

  auto project = load_project_files(cfg.root);
  if (!project) throw Exception(project.error());
  auto skills = std::make_shared<SkillSet>(std::move(project->skills));
  for (auto& sk : options.skills) (*skills)[sk.name] = std::move(sk);
  if (!options.enabled_skills.empty()) {
    SkillSet chosen;
    for (const auto& name : options.enabled_skills) {
      auto it = skills->find(name);
      if (it == skills->end()) {
        std::vector<std::string> names;
        for (const auto& [k, v] : *skills) names.push_back(k);
        throw Exception(make_error(
            ErrorType::config_error,
            fmt::format("unknown skill '{}' in the agent's skills (available: {})", name,
                        names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))));
      }
      chosen.insert(*it);
    }
    *skills = std::move(chosen);
  }
  impl->skills = skills;
  impl->roles = std::move(project->roles);
  impl->enabled_tools = std::move(options.enabled_tools);
  for (const auto& name : impl->enabled_tools) {
    bool known = detail::is_builtin_tool_name(name);
    for (const auto& t : impl->tools) known = known || t.name == name;
    for (const auto& c : impl->command_tools) known = known || c.name == name;
    if (!known) {
      std::vector<std::string> names = detail::builtin_tool_names();
      for (const auto& t : impl->tools) names.push_back(t.name);
      for (const auto& c : impl->command_tools) names.push_back(c.name);
      throw Exception(make_error(ErrorType::config_error,
                                 fmt::format("unknown tool '{}' in the agent's tools (known: {})",
                                             name, fmt::join(names, ", "))));
    }
  }

  std::string prompt(kPreamble);
  if (!options.instructions.empty()) prompt += "\n\n" + options.instructions;
  if (!project->instructions.empty()) prompt += "\n\n" + project->instructions;
  prompt += skill_catalogue(*skills);
  impl->system_prompt = std::move(prompt);

  impl->runtime = options.runtime ? options.runtime : Runtime::shared();
  impl->models = std::make_unique<ModelClientCache>(
      impl->runtime->executor(), impl->config.providers, options.retry.value_or(RetryPolicy{}));
  if (options.store) {
    impl->store = options.store;
  } else {
    auto store = open_sqlite_store(cfg.state_dir() / "state.db");
    if (!store) throw Exception(store.error());
    impl->store = *store;
  }
  return Agent(impl);
}

// A redactor of every configured secret ([secrets], with env ones resolved; the code's own) and
// every provider key (built-in providers' variables and [providers.NAME]).
std::shared_ptr<const Redactor> known_secrets_redactor(
    const Config& cfg, const std::map<std::string, std::string>& code_secrets) {
  auto r = std::make_shared<Redactor>();
  for (const auto& [name, value] : code_secrets) r->add(name, value);
  for (const auto& [name, secret] : cfg.secrets) {
    if (!secret.env.empty()) {
      if (const char* v = std::getenv(secret.env.c_str())) r->add(name, v);
    } else {
      r->add(name, secret.value);
    }
  }
  for (const auto& provider : known_providers(cfg.providers)) {
    auto resolved = resolve_model(provider + ":m", cfg.providers);
    // Keys are long; redacting a very short value ("x") would mangle ordinary text.
    if (resolved && resolved->provider.api_key.size() >= 8) {
      r->add(provider + "-api-key", resolved->provider.api_key);
    }
  }
  return r;
}

}  // namespace cppflue
