// SPDX-License-Identifier: Apache-2.0
// The server's route table: every (method, path) that `cppflue serve` answers. handle()
// (server.cpp) matches each request against it before routing; a request that matches no entry
// can only be refused (an error answer, or 404 not_found), so a route cannot be served without
// being listed here. docs/reference/http.md documents exactly these routes, one
// `### METHOD /path` heading each (tests/server/docs_http_test.cpp checks both directions).
// Standard headers only: the tests include it.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cppflue::server {

struct RouteSpec {
  std::string_view method;  // "GET", "POST", or "WS" (a WebSocket upgrade, sent as GET)
  std::string_view path;    // literal and {param} segments, e.g. "/runs/{run_id}/events"
};

// Every route the server answers.
std::span<const RouteSpec> http_routes();

// The route a request matches, nullptr when none does: same method (a "WS" route matches any
// WebSocket upgrade request), same number of segments, equal literal segments (each {param}
// matches any one segment). `segments` are the decoded path segments (see path_segments).
const RouteSpec* match_route(std::string_view method, bool websocket_upgrade,
                             const std::vector<std::string>& segments);

}  // namespace cppflue::server
