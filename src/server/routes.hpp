// SPDX-License-Identifier: Apache-2.0
// The routes `cppflue serve` answers: the (method, path) of each entry of the route table
// (routes.cpp), which also names each route's handler; the router serves exactly these
// (router.hpp). docs/reference/http.md documents exactly these routes, one
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

// Every route the server answers, in the order of the route table.
std::span<const RouteSpec> http_routes();

// The route a request matches, nullptr when none does: same method (a "WS" route matches any
// WebSocket upgrade request), same number of segments, equal literal segments (each {param}
// matches any one segment, or any non-blank one for routes that say so). `segments` are the
// decoded path segments (see path_segments).
const RouteSpec* match_route(std::string_view method, bool websocket_upgrade,
                             const std::vector<std::string>& segments);

}  // namespace cppflue::server
