// SPDX-License-Identifier: Apache-2.0
// Checking a project's Markdown files as a whole: see project_check.hpp.
#include "cppflue/harness/project_check.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "builtin_tools.hpp"
#include "cppflue/core/suggest.hpp"
#include "cppflue/model/provider.hpp"
#include "cppflue/sandbox/sandbox.hpp"
#include "project_internal.hpp"

namespace cppflue {

namespace {

std::string join_or_none(const std::vector<std::string>& names) {
  return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

// Collects the problems of one agent file, each at the line of its key.
class AgentProblems {
 public:
  explicit AgentProblems(const AgentDefinition& agent) : agent_(agent) {}

  void add(std::string_view key, std::string message) {
    auto at = agent_.key_lines.find(std::string(key));
    int line = at == agent_.key_lines.end() ? 0 : at->second;
    out_.push_back(project_detail::problem(
        "agent", agent_.name,
        project_detail::file_error(agent_.path.string(), line, key, std::move(message))));
  }
  // `name` (of `key`) is not among `known`: the message with the closest one, and the list.
  void unknown(std::string_view key, std::string_view what, const std::string& name,
               const std::vector<std::string>& known, std::string_view where = {}) {
    add(key, fmt::format("{}: unknown {} '{}'{}{} (available: {})", key, what, name,
                         where.empty() ? "" : " ", where, join_or_none(known)) +
                 did_you_mean(name, known));
  }

  std::vector<ProjectProblem> take() { return std::move(out_); }

 private:
  const AgentDefinition& agent_;
  std::vector<ProjectProblem> out_;
};

// The tools a Markdown agent may list: the built-ins, and those of the configured MCP servers
// (`mcp__SERVER__TOOL`; which tools a server has is known only once it runs) or, in
// search_execute mode, mcp_search and mcp_execute.
std::vector<std::string> tool_problems(const AgentDefinition& agent, const Config& config,
                                       AgentProblems& problems) {
  std::vector<std::string> known = detail::builtin_tool_names();
  std::vector<std::string> servers;
  for (const auto& [name, server] : config.mcp.servers) {
    if (server.enabled) servers.push_back(name);
  }
  const bool search_execute = config.mcp.mode == "search_execute" && !servers.empty();
  if (search_execute) {
    known.emplace_back("mcp_search");
    known.emplace_back("mcp_execute");
  }
  for (const auto& tool : agent.tools) {
    if (std::find(known.begin(), known.end(), tool) != known.end()) continue;
    if (!search_execute && tool.rfind("mcp__", 0) == 0) {
      std::string rest = tool.substr(5);
      auto sep = rest.find("__");
      std::string server = sep == std::string::npos ? rest : rest.substr(0, sep);
      if (std::find(servers.begin(), servers.end(), server) != servers.end() &&
          sep != std::string::npos && sep + 2 < rest.size()) {
        continue;
      }
      problems.add("tools",
                   fmt::format("tools: '{}' names no enabled MCP server of cppflue.toml (tools of "
                               "a server are mcp__SERVER__TOOL; enabled servers: {})",
                               tool, join_or_none(servers)));
      continue;
    }
    problems.unknown("tools", "tool", tool, known);
  }
  return known;
}

// The model must resolve as it will when the agent runs; a missing API key is left to the run
// (it is the environment's, not the file's).
void model_problem(const AgentDefinition& agent, const Config& config, AgentProblems& problems) {
  if (agent.model.empty()) return;
  auto resolved = resolve_model(agent.model, config.providers);
  if (resolved || resolved.error().type == ErrorType::auth_error) return;
  std::string hint;
  if (const json* provider = find(resolved.error().details, "provider");
      provider && provider->is_string()) {
    hint = did_you_mean(provider->get_string(), known_providers(config.providers));
  }
  problems.add("model", "model: " + resolved.error().message + hint);
}

}  // namespace

const ProjectProblem* ProjectCheck::agent_problem(std::string_view name) const {
  auto defined = agents.find(std::string(name));
  for (const auto& p : problems) {
    if (p.kind != "agent" || p.name != name) continue;
    if (defined != agents.end() && p.file != defined->second.path) continue;
    return &p;
  }
  return nullptr;
}

const ProjectProblem* ProjectCheck::shared_problem() const {
  for (const auto& p : problems) {
    if (p.kind == "skill" || p.kind == "role") return &p;
  }
  return nullptr;
}

std::vector<ProjectProblem> check_agent_definition(
    const AgentDefinition& agent, const Config& config, const Scanned<Skill>& skills,
    const std::map<std::string, AgentDefinition>& agents,
    const std::vector<ProjectProblem>& agent_problems) {
  AgentProblems problems(agent);
  tool_problems(agent, config, problems);
  model_problem(agent, config, problems);
  if (!agent.sandbox.empty()) {
    auto names = sandbox_names();
    if (std::find(names.begin(), names.end(), agent.sandbox) == names.end()) {
      problems.unknown("sandbox", "sandbox", agent.sandbox, names);
    }
  }
  std::vector<std::string> skill_names;
  skill_names.reserve(skills.items.size());
  for (const auto& [name, skill] : skills.items) skill_names.push_back(name);
  for (const auto& name : agent.skills) {
    if (skills.items.count(name) != 0) continue;
    auto broken = std::find_if(skills.problems.begin(), skills.problems.end(),
                               [&](const ProjectProblem& p) { return p.name == name; });
    if (broken != skills.problems.end()) {
      problems.add("skills",
                   fmt::format("skills: skill '{}' is broken: {}", name, broken->error.message));
    } else {
      problems.unknown("skills", "skill", name, skill_names, "in .agents/skills");
    }
  }
  std::vector<std::string> agent_names;
  agent_names.reserve(agents.size());
  for (const auto& [name, def] : agents) agent_names.push_back(name);
  for (const auto& name : agent.subagents) {
    if (agents.count(name) != 0) continue;
    auto broken = std::find_if(agent_problems.begin(), agent_problems.end(),
                               [&](const ProjectProblem& p) { return p.name == name; });
    if (broken != agent_problems.end()) {
      problems.add("subagents",
                   fmt::format("subagents: agent '{}' is broken: {}", name, broken->error.message));
    } else {
      problems.unknown("subagents", "agent", name, agent_names, "in .agents/agents");
    }
  }
  return problems.take();
}

ProjectCheck check_project(const Config& config) {
  ProjectCheck check;
  const auto dir = config.root / ".agents";
  check.skills = scan_skills(dir / "skills");
  check.roles = scan_roles(dir / "roles");
  auto agents = scan_agent_definitions(dir / "agents");
  check.agents = std::move(agents.items);
  check.problems = check.skills.problems;
  check.problems.insert(check.problems.end(), check.roles.problems.begin(),
                        check.roles.problems.end());
  // Roles name models too.
  for (const auto& [name, role] : check.roles.items) {
    if (role.model.empty()) continue;
    AgentDefinition as_agent;
    as_agent.name = role.name;
    as_agent.model = role.model;
    as_agent.path = role.path;
    as_agent.key_lines = role.key_lines;
    AgentProblems problems(as_agent);
    model_problem(as_agent, config, problems);
    for (auto& p : problems.take()) {
      p.kind = "role";
      check.problems.push_back(std::move(p));
    }
  }
  std::vector<ProjectProblem> agent_problems = agents.problems;
  for (const auto& [name, agent] : check.agents) {
    auto found = check_agent_definition(agent, config, check.skills, check.agents, agents.problems);
    agent_problems.insert(agent_problems.end(), found.begin(), found.end());
  }
  check.problems.insert(check.problems.end(), agent_problems.begin(), agent_problems.end());
  return check;
}

}  // namespace cppflue
