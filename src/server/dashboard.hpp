// SPDX-License-Identifier: Apache-2.0
// The /__cppflue dashboard (one HTML page, no scripts) and its /__cppflue/status JSON: the
// served agents and workflows, skills and roles, active sessions, recent sessions and runs, and
// the dispatch queue's counts. Built on the blocking pool for each request.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "cppflue/core/json.hpp"
#include "cppflue/net/http_server.hpp"
#include "server/agent_catalog.hpp"
#include "server/router.hpp"
#include "server/server_env.hpp"
#include "server/sessions.hpp"

namespace cppflue::server {

class Dashboard {
 public:
  Dashboard(std::shared_ptr<const ServerEnv> env, std::shared_ptr<ServedAgents> agents,
            std::shared_ptr<ActiveSessions> active)
      : env_(std::move(env)), agents_(std::move(agents)), active_(std::move(active)) {}
  // GET /__cppflue
  boost::asio::awaitable<net::ServerResponse> page(const RouteCall& call);
  // GET /__cppflue/status
  boost::asio::awaitable<net::ServerResponse> status(const RouteCall& call);
  // GET /metrics: the Prometheus text format; 404 with [telemetry] metrics = false.
  boost::asio::awaitable<net::ServerResponse> metrics(const RouteCall& call);

 private:
  json status_json() const;
  std::string html() const;
  // The page's sections.
  std::string sessions_html(const json_object& status) const;
  std::string runs_html() const;

  std::shared_ptr<const ServerEnv> env_;
  std::shared_ptr<ServedAgents> agents_;
  std::shared_ptr<ActiveSessions> active_;
};

}  // namespace cppflue::server
