// SPDX-License-Identifier: Apache-2.0
#include "server/routes.hpp"

#include <array>

namespace cppflue::server {

namespace {

constexpr std::array kRoutes{
    // health and discovery (server.cpp)
    RouteSpec{"GET", "/health"},
    RouteSpec{"GET", "/agents"},
    // agents (server.cpp)
    RouteSpec{"POST", "/agents/{name}/{id}"},
    RouteSpec{"WS", "/agents/{name}/{id}"},
    RouteSpec{"POST", "/sessions/{session_id}/abort"},
    // dispatch (dispatch.cpp)
    RouteSpec{"POST", "/agents/{name}/{id}/dispatch"},
    RouteSpec{"GET", "/agents/{name}/{id}/dispatch/{dispatch_id}"},
    // workflows and runs (runs.cpp)
    RouteSpec{"POST", "/workflows/{name}"},
    RouteSpec{"WS", "/workflows/{name}"},
    RouteSpec{"GET", "/runs/{run_id}"},
    RouteSpec{"GET", "/runs/{run_id}/events"},
    RouteSpec{"GET", "/runs/{run_id}/stream"},
    // signed chat webhooks (webhooks.cpp)
    RouteSpec{"POST", "/webhooks/github/{agent}"},
    RouteSpec{"POST", "/webhooks/slack/{agent}"},
    RouteSpec{"POST", "/webhooks/hmac/{agent}"},
    // admin and dashboard (admin.cpp)
    RouteSpec{"GET", "/admin/agents"},
    RouteSpec{"GET", "/admin/agents/{name}/instances"},
    RouteSpec{"GET", "/admin/agents/{name}/instances/{id}/runs"},
    RouteSpec{"GET", "/admin/runs"},
    RouteSpec{"GET", "/admin/runs/{run_id}"},
    RouteSpec{"GET", "/__cppflue"},
    RouteSpec{"GET", "/__cppflue/status"},
};

bool path_matches(std::string_view pattern, const std::vector<std::string>& segments) {
  std::size_t i = 0;
  while (!pattern.empty()) {
    pattern.remove_prefix(1);  // the '/'
    auto slash = pattern.find('/');
    std::string_view part = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash);
    if (i >= segments.size()) return false;
    bool param = part.size() >= 2 && part.front() == '{' && part.back() == '}';
    if (!param && segments[i] != part) return false;
    ++i;
  }
  return i == segments.size();
}

}  // namespace

std::span<const RouteSpec> http_routes() {
  return kRoutes;
}

const RouteSpec* match_route(std::string_view method, bool websocket_upgrade,
                             const std::vector<std::string>& segments) {
  for (const RouteSpec& r : kRoutes) {
    bool method_ok = r.method == "WS" ? websocket_upgrade : r.method == method;
    if (method_ok && path_matches(r.path, segments)) return &r;
  }
  return nullptr;
}

}  // namespace cppflue::server
