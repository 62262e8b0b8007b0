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
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/net/http_server.hpp"

namespace cppflue::server {

struct AgentEntry {
  std::string name;
  json triggers = json_object{{"webhook", true}};
  bool compiled = false;
  // Why this Markdown agent cannot run ("" when it can): "<file>:<line>: <what>", the file
  // relative to the project root. Requests to it are answered with this, the others run.
  std::string problem;
};
using AgentCatalog = std::map<std::string, AgentEntry>;

// {"name","path","triggers"}, then "kind" (compiled or markdown) when `with_kind`, then
// "problem" for a broken agent: an agent as /agents, routes and the status list it.
json route_json(const AgentEntry& entry, bool with_kind);

// The agents, and every problem of the project's Markdown files (skills, roles, agents) as
// "<file>:<line>: <what>" with the file relative to the project root.
struct ServedProject {
  AgentCatalog agents;
  std::vector<std::string> problems;
};

// The program's compiled agents and the project's Markdown agents, read and checked file by
// file (check_project): a broken agent is listed with its problem, the others are fine.
ServedProject discover_served_agents(const Config& config);

class ServedAgents {
 public:
  // Why an agent may not be prompted over HTTP.
  enum class Refusal { none, unknown, not_webhook, broken };

  std::shared_ptr<const AgentCatalog> catalog() const;
  std::vector<std::string> problems() const;
  void replace(ServedProject project);
  bool contains(const std::string& name) const;
  // "a, b." (or "(none).").
  std::string names() const;
  // The body of GET /agents: {"agents":[{"name","path","triggers"}]}.
  json list_json() const;
  Refusal check(const std::string& name) const;
  // The problem of a broken agent ("" when it has none, or is unknown).
  std::string problem(const std::string& name) const;
  // check() as an HTTP answer: 404 agent_not_found / agent_not_webhook, 500 agent_invalid
  // (with the file and line of the problem); nullopt when `name` may be prompted.
  std::optional<net::ServerResponse> refuse(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const AgentCatalog> catalog_ = std::make_shared<AgentCatalog>();
  std::vector<std::string> problems_;
};

// `message` with the project root `root` (and the slash after it) removed where it appears.
std::string relative_to_root(std::string message, const std::filesystem::path& root);

}  // namespace cppflue::server
