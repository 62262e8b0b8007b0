// SPDX-License-Identifier: Apache-2.0
#include "server/api_index.hpp"

#include "cppflue/harness/app.hpp"
#include "cppflue/version.hpp"
#include "server/http_util.hpp"
#include "server/routes.hpp"

namespace cppflue::server {

boost::asio::awaitable<net::ServerResponse> api_index(ServerParts&, const RouteCall&) {
  json_object links{{"health", "/health"},
                    {"agents", "/agents"},
                    {"agent", "/agents/{name}/{id}"},
                    {"workflows", "/workflows/{name}"},
                    {"runs", "/admin/runs"},
                    {"run", "/runs/{run_id}"},
                    {"run_events", "/runs/{run_id}/events"},
                    {"dashboard", "/__cppflue"},
                    {"status", "/__cppflue/status"}};
  json_array workflows;
  for (const auto& w : registered_workflows()) {
    workflows.push_back(json_object{{"name", w}, {"path", "/workflows/" + w}});
  }
  json_array routes;
  for (const auto& r : http_routes()) {
    routes.push_back(json_object{{"method", r.method}, {"path", r.path}});
  }
  co_return json_response(200, json_object{{"name", "cppflue"},
                                           {"version", kVersion},
                                           {"links", std::move(links)},
                                           {"workflows", std::move(workflows)},
                                           {"routes", std::move(routes)}});
}

}  // namespace cppflue::server
