// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/project_check.hpp — checks a project's Markdown files as a whole, before they
// are served or run: every skill, role and agent file is read on its own (one broken file does
// not hide the others), and every Markdown agent is checked against what it names: its tools,
// skills and subagents must exist, its model must name a known provider, its sandbox a known
// sandbox. `cppflue serve`/`dev` list the problems in /__cppflue/status and keep serving the
// agents that have none; `doctor` and `routes` report them and exit 1.
#pragma once

#include <string_view>
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/harness/project.hpp"

namespace cppflue {

struct ProjectCheck {
  Scanned<Skill> skills;
  Scanned<RoleDefinition> roles;
  // The agent files that parse (those that name something missing included: see problems).
  std::map<std::string, AgentDefinition> agents;
  // Every problem: skills, then roles, then agents, each in file order.
  std::vector<ProjectProblem> problems;

  bool ok() const { return problems.empty(); }
  // The first problem that makes the Markdown agent `name` unusable (its own file, or something
  // it names); nullptr when it has none. When a file that parses defines `name`, a broken
  // file that merely has that stem is not its problem.
  const ProjectProblem* agent_problem(std::string_view name) const;
  // The first broken skill or role: every agent loads the project's skills and roles, so none
  // can be built while there is one. nullptr when there is none.
  const ProjectProblem* shared_problem() const;
};

// Reads and checks `<config.root>/.agents/{skills,roles,agents}`.
ProjectCheck check_project(const Config& config);

// The problems of one parsed agent definition against the project's skills (`skills`), agents
// (`agents`, those that parse), the configured providers, sandboxes and MCP servers. Each names
// the agent file and the line of the key at fault, with the closest valid name when one is near.
std::vector<ProjectProblem> check_agent_definition(
    const AgentDefinition& agent, const Config& config, const Scanned<Skill>& skills,
    const std::map<std::string, AgentDefinition>& agents,
    const std::vector<ProjectProblem>& agent_problems);

}  // namespace cppflue
