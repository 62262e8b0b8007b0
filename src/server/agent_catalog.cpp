// SPDX-License-Identifier: Apache-2.0
#include "server/agent_catalog.hpp"

#include <fmt/format.h>

#include <vector>

#include "cppflue/harness/app.hpp"
#include "cppflue/harness/project.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

Result<AgentCatalog> discover_served_agents(const Config& config) {
  AgentCatalog agents;
  for (const auto& name : registered_agents()) {
    agents[name] = AgentEntry{name, json_object{{"webhook", true}}, true};
  }
  auto defs = discover_agent_definitions(config.root / ".agents" / "agents");
  if (!defs) return fail(defs.error());
  for (const auto& [name, def] : *defs) {
    if (agents.count(name) != 0) continue;  // a compiled agent of that name wins
    AgentEntry e{name, json_object{{"webhook", true}}, false};
    if (def.triggers.is_object() && !def.triggers.as_object().empty()) e.triggers = def.triggers;
    agents[name] = std::move(e);
  }
  return agents;
}

std::shared_ptr<const AgentCatalog> ServedAgents::catalog() const {
  std::lock_guard lock(mu_);
  return catalog_;
}

void ServedAgents::replace(AgentCatalog catalog) {
  auto next = std::make_shared<const AgentCatalog>(std::move(catalog));
  std::lock_guard lock(mu_);
  catalog_ = std::move(next);
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
  for (const auto& [name, e] : *catalog()) {
    list.push_back(json_object{{"name", name},
                               {"path", fmt::format("/agents/{}/{{agent_id}}", name)},
                               {"triggers", e.triggers}});
  }
  return json_object{{"agents", std::move(list)}};
}

ServedAgents::Refusal ServedAgents::check(const std::string& name) const {
  auto agents = catalog();
  auto entry = agents->find(name);
  if (entry == agents->end()) return Refusal::unknown;
  const json* webhook = find(entry->second.triggers, "webhook");
  if (webhook != nullptr && webhook->is_bool() && !webhook->as_bool()) return Refusal::not_webhook;
  return Refusal::none;
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
    case Refusal::none:
      break;
  }
  return std::nullopt;
}

}  // namespace cppflue::server
