// SPDX-License-Identifier: Apache-2.0
// The agents the server serves: the program's compiled agents and the project's Markdown agents
// (a compiled agent wins over a Markdown one of the same name). Server::reload replaces the
// catalog as a whole; readers keep the one they took.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cppflue/core/config.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/net/http_server.hpp"

namespace cppflue::server {

struct AgentEntry {
  std::string name;
  json triggers = json_object{{"webhook", true}};
  bool compiled = false;
};
using AgentCatalog = std::map<std::string, AgentEntry>;

Result<AgentCatalog> discover_served_agents(const Config& config);

class ServedAgents {
 public:
  // Why an agent may not be prompted over HTTP.
  enum class Refusal { none, unknown, not_webhook };

  std::shared_ptr<const AgentCatalog> catalog() const;
  void replace(AgentCatalog catalog);
  bool contains(const std::string& name) const;
  // "a, b." (or "(none).").
  std::string names() const;
  // The body of GET /agents: {"agents":[{"name","path","triggers"}]}.
  json list_json() const;
  Refusal check(const std::string& name) const;
  // check() as an HTTP answer: 404 agent_not_found / agent_not_webhook; nullopt when `name`
  // may be prompted.
  std::optional<net::ServerResponse> refuse(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const AgentCatalog> catalog_ = std::make_shared<AgentCatalog>();
};

}  // namespace cppflue::server
