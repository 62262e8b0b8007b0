// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/options.hpp — the options and results of agents and sessions (agent.hpp):
// InitOptions for `init`, PromptOptions / TaskOptions / ShellOptions for one call, the
// commands and subagent profiles they carry, and PromptResult / ShellResult / CompactResult.
// Included by agent.hpp; include it alone to pass options around without the session API.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/harness/event.hpp"
#include "cppflue/harness/project.hpp"
#include "cppflue/harness/tool.hpp"
#include "cppflue/model/message.hpp"
#include "cppflue/model/model_client.hpp"
#include "cppflue/sandbox/sandbox.hpp"
#include "cppflue/schema/validator.hpp"

namespace cppflue {

class Runtime;
class Store;
namespace mcp {
class McpClient;
}

// A command the model can run as a tool. Either a shell command line, run in the
// session's sandbox without the shell policy (the developer wrote it, so it works even when
// allow_shell is off or the allowlist lacks its executable, and while a prompt is running), or
// a function. A shell command takes no arguments unless `schema` declares some; each argument
// is then passed as an environment variable named after it in upper case (strings verbatim,
// other values as JSON), never spliced into the command line.
struct Command {
  std::string name;         // the tool name
  std::string description;  // default: the command line, else "Run <name>."
  std::string command;      // a shell command line, or
  std::function<json(const json& args, ToolContext& ctx)> callable;  // a function
  json schema = nullptr;  // the tool's parameters (JSON Schema object); null = none
  std::string cwd;        // workspace path where the command starts
  std::map<std::string, std::string> env;
  std::chrono::seconds timeout{120};
};

// An entry of a `commands` list: a grant (`"git"`: that executable may run for this call even
// when `allowed_commands` lacks it) or a `Command` exposed as a tool.
struct CommandEntry {
  CommandEntry(const char* grant_name) : grant(grant_name) {}             // NOLINT
  CommandEntry(std::string grant_name) : grant(std::move(grant_name)) {}  // NOLINT
  CommandEntry(Command c) : command(std::move(c)) {}                      // NOLINT
  std::string grant;
  std::optional<Command> command;
};

// A named child configuration for `session.task(..., {.agent = name})` and the `task` tool.
struct SubagentProfile {
  std::string name;  // [A-Za-z][A-Za-z0-9_-]*
  std::string description;
  std::string instructions;  // added to the child's system prompt
  std::string model;         // empty = the parent's
  std::string thinking_level;
  std::vector<ToolDefinition> tools;
};

struct InitOptions {
  std::string model;    // "provider:model"; empty = config, then env/API keys, then test:demo
  SandboxSpec sandbox;  // "virtual" | "local" | "none" | registered name | local(cwd, env);
                        // empty = config ("virtual")
  std::optional<bool> allow_write;
  std::optional<bool> allow_shell;
  std::vector<std::string> allowed_commands;  // empty = config (empty there = any command)
  std::optional<bool> allow_compound_commands;
  std::vector<CommandEntry> commands;  // agent-wide grants and command tools
  // Grantable secrets defined in code, name → value (in addition to `[secrets]`); a granted
  // one is visible to shell commands as the variable NAME upper-cased.
  std::map<std::string, std::string> secrets;
  std::string harness;         // empty = config ("native")
  std::string thinking_level;  // empty = config
  std::string instructions;    // extra system instructions, before AGENTS.md/CLAUDE.md
  std::vector<ToolDefinition> tools;
  EventCallback on_event;  // every event of every session of this agent
  // W3C trace context that this agent's operations go under when a call names none
  // (PromptOptions::traceparent); a workflow run sets its own span here.
  std::string traceparent;
  std::optional<int> max_turns;  // default 50
  std::string config_path;       // explicit cppflue.toml (must exist)
  std::string root;              // project root when no config path is given (default cwd)
  std::string name = "default";  // agent name recorded on its sessions
  std::vector<SubagentProfile> subagents;
  std::optional<int> max_task_depth;  // default [agent] max_task_depth (8); 0 = no tasks
  // Skills in addition to `.agents/skills` (a skill given here replaces a project skill of the
  // same name); see load_skill() in project.hpp.
  std::vector<Skill> skills;
  // When non-empty, only these skills are offered in the catalogue and to activate_skill.
  std::vector<std::string> enabled_skills;
  // When non-empty, only these tools (built-in, custom or command) are offered to the model.
  std::vector<std::string> enabled_tools;
  // Connected MCP servers (connect_mcp_server) whose tools are offered as mcp__<server>__<tool>,
  // in addition to the enabled [mcp.servers.NAME] entries of cppflue.toml.
  std::vector<std::shared_ptr<mcp::McpClient>> mcp_clients;
  std::optional<RetryPolicy> retry;  // model retry policy (tests shorten the delays)
  std::shared_ptr<Runtime> runtime;  // default: the process-wide runtime
  std::shared_ptr<Store> store;      // default: SQLite at <root>/.cppflue/state.db
};

struct PromptOptions {
  std::string model;                  // overrides the agent's model for this call
  std::string thinking_level;         // overrides the agent's thinking level
  std::vector<ToolDefinition> tools;  // extra tools for this call only
  std::vector<Image> images;
  EventCallback on_event;  // events of this call only
  // Secrets (names from `[secrets]` or InitOptions::secrets) visible to the shell commands of
  // this call only; their values are redacted from tool results, history and events.
  std::vector<std::string> secrets;
  std::vector<CommandEntry> commands;  // grants and command tools for this call only
  std::string role;                    // a role of .agents/roles (or a subagent profile)
  // A structured result (docs/concepts/typed-outputs.md): a JSON Schema the answer must satisfy;
  // the validated value is PromptResult::result. Sent natively where the API supports it, else the
  // model is asked to answer between ---RESULT_START--- / ---RESULT_END---. A wrong answer gets up
  // to `typed_retries` repair turns (default [agent] typed_retries = 3), then typed_output_error.
  json result_schema = nullptr;
  // Replaces schema validation (prompt<T> sets it to the converter for T).
  std::function<std::vector<PathError>(const json&)> result_check;
  std::optional<int> typed_retries;
  // The caller's span as a W3C `traceparent` ("00-<trace>-<span>-<flags>"): the operation's
  // spans join that trace (the server passes the request's header). Empty: a new trace.
  std::string traceparent;
};

struct ShellOptions {
  std::chrono::seconds timeout{0};  // 0 = [sandbox] timeout_seconds (default 120)
  std::string cwd;                  // workspace path; empty = the workspace root
  std::map<std::string, std::string> env;
  std::vector<std::string> secrets;   // as PromptOptions::secrets
  std::vector<std::string> commands;  // command grants for this call
};

struct ShellResult {
  std::string stdout_text;  // each stream capped at 2000 lines / 50 KiB
  std::string stderr_text;
  int exit_code = 0;  // 124 on timeout, 128 + signal when killed
  bool truncated = false;
  bool timed_out = false;
};
json to_json(const ShellResult& r);  // {"stdout","stderr","exit_code","truncated"[,"timed_out"]}

struct PromptResult {
  std::string text;
  Usage usage;  // summed over every model call of the operation
  std::string model;
  std::string session_id;
  json metadata = json_object{};  // {"operation_id", "turns", "finish_reason"}
  json result = nullptr;          // the validated structured result, when one was asked for
};
json to_json(const PromptResult& r);

struct TaskOptions {
  std::string role;   // a role (or subagent profile) for the child
  std::string model;  // precedence: this > role/profile > the parent agent's
  std::string thinking_level;
  std::string cwd;    // scope the shared sandbox to this workspace folder
  std::string agent;  // a subagent profile name (InitOptions::subagents)
  std::vector<ToolDefinition> tools;
  EventCallback on_event;
  json result_schema = nullptr;  // a structured result from the child (PromptResult::result)
};

struct CompactResult {
  bool compacted = false;
  std::string summary;  // the new summary (empty when nothing was compacted)
  std::string reason;   // "manual", "threshold", "overflow"; or why nothing was done
  int messages_before = 0;
  int messages_after = 0;
  Usage usage;
};

}  // namespace cppflue
