// SPDX-License-Identifier: Apache-2.0
// The /admin listings (PyFlue's admin sub-app): the agents, instances and runs of the server's
// store, paged with cursors. Read-only; each answer is built on the blocking pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "cppflue/net/http_server.hpp"
#include "server/agent_catalog.hpp"
#include "server/router.hpp"
#include "server/server_env.hpp"

namespace cppflue::server {

class AdminRoutes {
 public:
  AdminRoutes(std::shared_ptr<const ServerEnv> env, std::shared_ptr<ServedAgents> agents)
      : env_(std::move(env)), agents_(std::move(agents)) {}
  // GET /admin/agents
  boost::asio::awaitable<net::ServerResponse> agents(const RouteCall& call);
  // GET /admin/agents/{name}/instances
  boost::asio::awaitable<net::ServerResponse> instances(const RouteCall& call);
  // GET /admin/agents/{name}/instances/{id}/runs
  boost::asio::awaitable<net::ServerResponse> instance_runs(const RouteCall& call);
  // GET /admin/runs
  boost::asio::awaitable<net::ServerResponse> runs(const RouteCall& call);
  // GET /admin/runs/{run_id}
  boost::asio::awaitable<net::ServerResponse> run(const RouteCall& call);
  // GET /admin/sessions/{session_id}/entries?after=SEQ&limit=N: a page of a stored history
  boost::asio::awaitable<net::ServerResponse> session_entries(const RouteCall& call);

 private:
  // `answer()`, computed on the blocking pool (it reads the store).
  boost::asio::awaitable<net::ServerResponse> blocking(std::function<net::ServerResponse()> answer);
  // A name is known when this server serves it (it may have no runs yet) or when it has runs.
  bool known(const std::string& name) const;
  net::ServerResponse list_agents(const net::ServerRequest& req) const;
  net::ServerResponse list_instances(const net::ServerRequest& req, const std::string& name) const;
  net::ServerResponse list_instance_runs(const net::ServerRequest& req, const std::string& name,
                                         const std::string& id) const;
  net::ServerResponse list_runs(const net::ServerRequest& req) const;

  std::shared_ptr<const ServerEnv> env_;
  std::shared_ptr<ServedAgents> agents_;
};

}  // namespace cppflue::server
