// SPDX-License-Identifier: Apache-2.0
#include "server/agent_catalog.hpp"

#include <fmt/format.h>

#include <vector>

#include "cppflue/harness/app.hpp"
#include "cppflue/harness/project.hpp"
#include "cppflue/harness/project_check.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

std::string relative_to_root(std::string message, const std::filesystem::path& root) {
  std::string prefix = root.string();
  // Only a real absolute folder: "/" (or a relative root) would eat unrelated slashes.
  if (prefix.size() < 2 || prefix.front() != '/') return message;
  if (prefix.back() != '/') prefix += '/';
  for (auto at = message.find(prefix); at != std::string::npos; at = message.find(prefix, at)) {
    message.erase(at, prefix.size());
  }
  return message;
}

json route_json(const AgentEntry& entry, bool with_kind) {
  json_object out{{"name", entry.name},
                  {"path", fmt::format("/agents/{}/{{agent_id}}", entry.name)},
                  {"triggers", entry.triggers}};
  if (with_kind) out["kind"] = entry.compiled ? "compiled" : "markdown";
  if (!entry.problem.empty()) out["problem"] = entry.problem;
  return out;
}

ServedProject discover_served_agents(const Config& config) {
  ServedProject out;
  for (const auto& name : registered_agents()) {
    out.agents[name] = AgentEntry{name, json_object{{"webhook", true}}, true, {}};
  }
  ProjectCheck check = check_project(config);
  for (const auto& problem : check.problems) {
    out.problems.push_back(relative_to_root(problem.error.message, config.root));
  }
  for (const auto& [name, def] : check.agents) {
    if (out.agents.count(name) != 0) continue;  // a compiled agent of that name wins
    AgentEntry e{name, json_object{{"webhook", true}}, false, {}};
    if (def.triggers.is_object() && !def.triggers.as_object().empty()) e.triggers = def.triggers;
    out.agents[name] = std::move(e);
  }
  // Agent files that do not parse at all are listed under the name their file gives them
  // (unless a file that parses defines that name).
  for (const auto& problem : check.problems) {
    if (problem.kind != "agent" || problem.name.empty()) continue;
    out.agents.try_emplace(problem.name,
                           AgentEntry{problem.name, json_object{{"webhook", true}}, false, {}});
  }
  // Each answers its own problem; and while a skill or role is broken no agent can be built
  // (each loads them all), compiled ones included.
  const ProjectProblem* shared = check.shared_problem();
  for (auto& [name, entry] : out.agents) {
    const ProjectProblem* own = entry.compiled ? nullptr : check.agent_problem(name);
    if (own) {
      entry.problem = relative_to_root(own->error.message, config.root);
    } else if (shared) {
      entry.problem = "the project's skills and roles must load first: " +
                      relative_to_root(shared->error.message, config.root);
    }
  }
  return out;
}

std::shared_ptr<const AgentCatalog> ServedAgents::catalog() const {
  std::lock_guard lock(mu_);
  return catalog_;
}

std::vector<std::string> ServedAgents::problems() const {
  std::lock_guard lock(mu_);
  return problems_;
}

void ServedAgents::replace(ServedProject project) {
  auto next = std::make_shared<const AgentCatalog>(std::move(project.agents));
  std::lock_guard lock(mu_);
  catalog_ = std::move(next);
  problems_ = std::move(project.problems);
}

bool ServedAgents::contains(const std::string& name) const {
  return catalog()->count(name) != 0;
}

std::string ServedAgents::names() const {
  std::vector<std::string> names;
  for (const auto& [name, e] : *catalog()) names.push_back(name);
  return name_list(names);
}

json ServedAgents::list_json() const {
  json_array list;
  for (const auto& [name, e] : *catalog()) list.push_back(route_json(e, false));
  return json_object{{"agents", std::move(list)}};
}

ServedAgents::Refusal ServedAgents::check(const std::string& name) const {
  auto agents = catalog();
  auto entry = agents->find(name);
  if (entry == agents->end()) return Refusal::unknown;
  if (!entry->second.problem.empty()) return Refusal::broken;
  const json* webhook = find(entry->second.triggers, "webhook");
  if (webhook != nullptr && webhook->is_bool() && !webhook->as_bool()) return Refusal::not_webhook;
  return Refusal::none;
}

std::string ServedAgents::problem(const std::string& name) const {
  auto agents = catalog();
  auto it = agents->find(name);
  return it == agents->end() ? std::string() : it->second.problem;
}

std::optional<net::ServerResponse> ServedAgents::refuse(const std::string& name) const {
  switch (check(name)) {
    case Refusal::unknown:
      return error_response(
          404, "agent_not_found", fmt::format("Agent \"{}\" is not registered.", name),
          "Verify the agent name is correct.", fmt::format("Available agents: {}", names()));
    case Refusal::not_webhook:
      return error_response(404, "agent_not_webhook",
                            fmt::format("Agent \"{}\" is not webhook-enabled.", name),
                            "This agent cannot be invoked through the HTTP webhook endpoint.");
    case Refusal::broken: {
      return error_response(
          500, "agent_invalid", fmt::format("Agent \"{}\" cannot run: {}", name, problem(name)),
          "Fix the agent's file: `cppflue dev` reloads it, `cppflue serve` needs a restart. "
          "The other agents are not affected.");
    }
    case Refusal::none:
      break;
  }
  return std::nullopt;
}

}  // namespace cppflue::server
