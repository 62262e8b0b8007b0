// SPDX-License-Identifier: Apache-2.0
// init(): an AgentImpl from cppflue.toml and InitOptions, in named steps — configuration and
// options merged (model, thinking, policy, sandbox, commands, subagents, secrets), tools and
// subagents validated, MCP servers connected and their tools added, skills and roles chosen,
// the system prompt built, the runtime and store opened. Every step throws Exception; the
// order of the steps is the order in which configuration errors are reported.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/harness/mcp_search.hpp"
#include "cppflue/harness/mcp_tools.hpp"
#include "cppflue/model/provider.hpp"
#include "session_internal.hpp"

namespace fs = std::filesystem;

namespace cppflue {

namespace {

constexpr std::string_view kPreamble =
    "You are an autonomous agent running inside CppFlue, a headless agent harness. Work "
    "step by step, use the tools you are given when they help, and finish with a clear, "
    "concise answer.";

// cppflue.toml (the explicit path, else found from the root), environment defaults applied.
Config load_config(const InitOptions& options) {
  auto config = discover_config(options.config_path,
                                options.root.empty() ? fs::current_path() : fs::path(options.root));
  if (!config) throw Exception(config.error());
  apply_env_defaults(*config);
  return std::move(*config);
}

// Name, model (resolved now so that an unknown provider or a missing key fails before any
// request) and thinking level: options > config.
void choose_model(AgentImpl& impl, const InitOptions& options) {
  const Config& cfg = impl.config;
  impl.name = options.name.empty() ? "default" : options.name;
  impl.model = !options.model.empty()     ? options.model
               : !cfg.agent.model.empty() ? cfg.agent.model
                                          : default_model();
  if (auto r = resolve_model(impl.model, cfg.providers); !r) throw Exception(r.error());
  std::string thinking =
      options.thinking_level.empty() ? cfg.agent.thinking_level : options.thinking_level;
  if (!thinking.empty()) {
    auto t = parse_thinking_level(thinking);
    if (!t) throw Exception(t.error());
    if (*t != ThinkingLevel::off) impl.thinking = *t;
  }
}

// The sandbox (options > config > "virtual"), which must exist, as must a virtual sandbox's
// configured workspace; then the file and shell policies, options over [agent].
void choose_sandbox_and_policy(AgentImpl& impl, const InitOptions& options) {
  Config& cfg = impl.config;
  if (options.allow_write) cfg.agent.allow_write = *options.allow_write;
  if (options.allow_shell) cfg.agent.allow_shell = *options.allow_shell;
  if (!options.allowed_commands.empty()) cfg.agent.allowed_commands = options.allowed_commands;
  if (options.allow_compound_commands) {
    cfg.agent.allow_compound_commands = *options.allow_compound_commands;
  }
  impl.sandbox_spec = options.sandbox.empty() ? SandboxSpec(cfg.agent.sandbox) : options.sandbox;
  if (impl.sandbox_spec.name.empty()) impl.sandbox_spec.name = "virtual";
  if (!impl.sandbox_spec.factory) {
    auto names = sandbox_names();
    if (std::find(names.begin(), names.end(), impl.sandbox_spec.name) == names.end()) {
      throw Exception(make_error(ErrorType::config_error,
                                 fmt::format("unknown sandbox '{}' (available: {})",
                                             impl.sandbox_spec.name, fmt::join(names, ", "))));
    }
  }
  if (impl.sandbox_spec.name == "virtual" && !cfg.sandbox.workspace.empty()) {
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
  impl.file_policy.allow_write = cfg.agent.allow_write;
  impl.shell_policy.allow_shell = cfg.agent.allow_shell;
  impl.shell_policy.allow_compound_commands = cfg.agent.allow_compound_commands;
  impl.shell_policy.allowed_commands = cfg.agent.allowed_commands;
  impl.shell_policy.allowed_env = cfg.sandbox.allowed_env;
}

// Command grants and tools, subagents and task depth, secrets (and the redactor of every
// known one), max_turns, the harness backend.
void apply_agent_options(AgentImpl& impl, InitOptions& options) {
  const Config& cfg = impl.config;
  for (auto& c : options.commands) {
    if (c.command) {
      if (auto r = detail::check_command_definition(*c.command); !r) throw Exception(r.error());
      impl.command_tools.push_back(std::move(*c.command));
    } else {
      impl.grants.push_back(std::move(c.grant));
    }
  }
  impl.subagents = std::move(options.subagents);
  impl.max_task_depth = options.max_task_depth.value_or(cfg.agent.max_task_depth);
  impl.code_secrets = options.secrets;
  impl.redactor = known_secrets_redactor(cfg, impl.code_secrets);
  impl.max_turns = options.max_turns.value_or(cfg.agent.max_turns);
  if (impl.max_turns < 1) {
    throw Exception(make_error(ErrorType::invalid_input, "max_turns must be at least 1"));
  }
  auto backend = create_harness(options.harness.empty() ? cfg.agent.harness : options.harness);
  if (!backend) throw Exception(backend.error());
  impl.backend = *backend;
}

// The enabled [mcp.servers.NAME] entries, connected and added to impl.mcp_clients (a failure
// names the server; an optional server is skipped with a warning). Returns the optional ones.
std::set<const mcp::McpClient*> connect_configured_mcp(AgentImpl& impl) {
  const Config& cfg = impl.config;
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
    impl.mcp_clients.push_back(std::move(*client));
  }
  return optional_clients;
}

// Each server's tools are listed once; they become the model's tools, or the index behind
// mcp_search / mcp_execute. Only the clients listed successfully are kept.
void add_mcp_tools(AgentImpl& impl, const std::set<const mcp::McpClient*>& optional_clients) {
  const Config& cfg = impl.config;
  const bool search_execute = cfg.mcp.mode == "search_execute";
  std::vector<McpToolEntry> entries;
  std::vector<std::shared_ptr<mcp::McpClient>> listed_clients;
  for (const auto& client : impl.mcp_clients) {
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
    if (search_execute) {
      for (auto& t : *listed) entries.push_back(McpToolEntry{client->name(), std::move(t), client});
    } else {
      for (auto& d : mcp_tools(client, *listed)) impl.tools.push_back(std::move(d));
    }
    listed_clients.push_back(client);
  }
  impl.mcp_clients = std::move(listed_clients);
  if (search_execute && !impl.mcp_clients.empty()) {
    auto index = std::make_shared<const McpToolIndex>(std::move(entries));
    for (auto& d : mcp_search_execute_tools(index, cfg.mcp.search_limit)) {
      impl.tools.push_back(std::move(d));
    }
  }
}

// The agent's tools and command tools: valid, distinct, none named like a built-in.
void check_agent_tools(const AgentImpl& impl) {
  std::vector<ToolDefinition> command_defs;  // for the name checks only
  command_defs.reserve(impl.command_tools.size());
  for (const auto& c : impl.command_tools) {
    command_defs.push_back(detail::make_command_tool(c, nullptr));
  }
  std::vector<const ToolDefinition*> tool_ptrs;
  tool_ptrs.reserve(impl.tools.size() + command_defs.size());
  for (const auto& t : impl.tools) tool_ptrs.push_back(&t);
  for (const auto& t : command_defs) tool_ptrs.push_back(&t);
  if (auto r = check_tools(tool_ptrs, tool_ptrs); !r) throw Exception(r.error());
}

// Subagent profiles: valid distinct names, thinking levels and tools.
void check_subagents(const AgentImpl& impl) {
  std::set<std::string> seen;
  for (const auto& p : impl.subagents) {
    bool ok = !p.name.empty() && std::isalpha(static_cast<unsigned char>(p.name[0]));
    for (char c : p.name) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
    }
    if (!ok) {
      throw Exception(make_error(
          ErrorType::invalid_input,
          fmt::format("invalid subagent name '{}': use a letter, then letters, digits, '_' or '-'",
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
    ptrs.reserve(p.tools.size());
    for (const auto& t : p.tools) ptrs.push_back(&t);
    if (auto r = check_tools(ptrs, ptrs); !r) throw Exception(r.error());
  }
}

// The project's skills plus the options' (which replace same-named ones), restricted to
// enabled_skills when given (each must exist).
std::shared_ptr<const SkillSet> choose_skills(SkillSet project_skills, InitOptions& options) {
  auto skills = std::make_shared<SkillSet>(std::move(project_skills));
  for (auto& sk : options.skills) (*skills)[sk.name] = std::move(sk);
  if (options.enabled_skills.empty()) return skills;
  SkillSet chosen;
  for (const auto& name : options.enabled_skills) {
    auto it = skills->find(name);
    if (it == skills->end()) {
      std::vector<std::string> names;
      for (const auto& [k, v] : *skills) names.push_back(k);
      throw Exception(
          make_error(ErrorType::config_error,
                     fmt::format("unknown skill '{}' in the agent's skills (available: {})", name,
                                 join_or_none(names))));
    }
    chosen.insert(*it);
  }
  *skills = std::move(chosen);
  return skills;
}

// Every enabled tool must be a built-in, one of the agent's tools or a command tool.
void check_enabled_tools(const AgentImpl& impl) {
  for (const auto& name : impl.enabled_tools) {
    bool known = detail::is_builtin_tool_name(name);
    for (const auto& t : impl.tools) known = known || t.name == name;
    for (const auto& c : impl.command_tools) known = known || c.name == name;
    if (known) continue;
    std::vector<std::string> names = detail::builtin_tool_names();
    for (const auto& t : impl.tools) names.push_back(t.name);
    for (const auto& c : impl.command_tools) names.push_back(c.name);
    throw Exception(make_error(ErrorType::config_error,
                               fmt::format("unknown tool '{}' in the agent's tools (known: {})",
                                           name, fmt::join(names, ", "))));
  }
}

// The preamble, the code's instructions, AGENTS.md/CLAUDE.md, the skill catalogue.
std::string build_system_prompt(const std::string& instructions,
                                const std::string& project_instructions, const SkillSet& skills) {
  std::string prompt(kPreamble);
  if (!instructions.empty()) prompt += "\n\n" + instructions;
  if (!project_instructions.empty()) prompt += "\n\n" + project_instructions;
  prompt += skill_catalogue(skills);
  return prompt;
}

// The runtime, the model clients and the store (default: SQLite under the state directory).
void open_runtime_and_store(AgentImpl& impl, const InitOptions& options) {
  impl.runtime = options.runtime ? options.runtime : Runtime::shared();
  impl.models = std::make_unique<ModelClientCache>(impl.runtime->executor(), impl.config.providers,
                                                   options.retry.value_or(RetryPolicy{}),
                                                   impl.config.pricing);
  // libcurl loads while the store opens and the agent is set up, not at the first prompt.
  impl.models->prepare(impl.model);
  if (options.store) {
    impl.store = options.store;
    return;
  }
  auto store = open_sqlite_store(impl.config.state_dir() / "state.db");
  if (!store) throw Exception(store.error());
  impl.store = *store;
}

}  // namespace

Agent init(InitOptions options) {
  auto impl = std::make_shared<AgentImpl>();
  impl->config = load_config(options);
  choose_model(*impl, options);
  choose_sandbox_and_policy(*impl, options);
  apply_agent_options(*impl, options);

  impl->tools = std::move(options.tools);
  // MCP servers: the configured ones are connected now, then every client's tools (the
  // options' clients first) join the agent's.
  impl->mcp_clients = std::move(options.mcp_clients);
  add_mcp_tools(*impl, connect_configured_mcp(*impl));
  check_agent_tools(*impl);
  check_subagents(*impl);
  impl->on_event = std::move(options.on_event);
  impl->traceparent = std::move(options.traceparent);

  auto project = load_project_files(impl->config.root);
  if (!project) throw Exception(project.error());
  impl->skills = choose_skills(std::move(project->skills), options);
  impl->roles = std::move(project->roles);
  impl->enabled_tools = std::move(options.enabled_tools);
  check_enabled_tools(*impl);
  impl->system_prompt =
      build_system_prompt(options.instructions, project->instructions, *impl->skills);

  open_runtime_and_store(*impl, options);
  return Agent(impl);
}

}  // namespace cppflue
