// SPDX-License-Identifier: Apache-2.0
// The route table: every route the server serves, with its handler, and the answers for
// requests that match none of them.
#include <fmt/format.h>

#include <array>

#include "server/admin.hpp"
#include "server/agent_routes.hpp"
#include "server/api_index.hpp"
#include "server/dashboard.hpp"
#include "server/dispatch.hpp"
#include "server/http_util.hpp"
#include "server/router.hpp"
#include "server/runs.hpp"
#include "server/server_parts.hpp"
#include "server/webhooks.hpp"
#include "server/workflows.hpp"

namespace cppflue::server {

namespace {

using net::ServerRequest;
using net::ServerResponse;
using Parts = ServerParts&;
using Call = const RouteCall&;
using Out = ResponseStream&;

enum class Blank { allowed, refused };

// A route answered once.
constexpr Route once(std::string_view method, std::string_view path, RespondHandler handler,
                     Blank blank = Blank::allowed) {
  return Route{{method, path}, handler, nullptr, blank == Blank::allowed};
}

// A route that may answer with a stream (SSE, WebSocket).
constexpr Route streamed(std::string_view method, std::string_view path, StreamHandler handler,
                         Blank blank = Blank::allowed) {
  return Route{{method, path}, nullptr, handler, blank == Blank::allowed};
}

// Routes with Blank::refused do not match a blank {param} segment: such requests get the
// answers of refuse_unrouted() below.
constexpr std::array kRoutes{
    // the API's index (api_index.cpp), health and discovery (agent_routes.cpp)
    once("GET", "/", [](Parts p, Call c) { return api_index(p, c); }),
    once("GET", "/health", [](Parts p, Call c) { return p.agents->health(c); }),
    once("GET", "/metrics", [](Parts p, Call c) { return p.dashboard->metrics(c); }),
    once("GET", "/agents", [](Parts p, Call c) { return p.agents->list(c); }),
    // agents (agent_routes.cpp)
    streamed("POST", "/agents/{name}/{id}",
             [](Parts p, Call c, Out o) { return p.agents->prompt(c, o); }),
    // (a WebSocket request with a blank segment is answered like a plain GET: 405)
    streamed(
        "WS", "/agents/{name}/{id}", [](Parts p, Call c, Out o) { return p.agents->socket(c, o); },
        Blank::refused),
    once("POST", "/sessions/{session_id}/abort",
         [](Parts p, Call c) { return p.agents->abort(c); }),
    // dispatch (dispatch.cpp)
    once("POST", "/agents/{name}/{id}/dispatch",
         [](Parts p, Call c) { return p.dispatch->submit(c); }),
    once("GET", "/agents/{name}/{id}/dispatch/{dispatch_id}",
         [](Parts p, Call c) { return p.dispatch->status(c); }),
    // workflows (workflows.cpp) and runs (runs.cpp)
    streamed(
        "POST", "/workflows/{name}",
        [](Parts p, Call c, Out o) { return p.workflows->start(c, o); }, Blank::refused),
    streamed(
        "WS", "/workflows/{name}", [](Parts p, Call c, Out o) { return p.workflows->socket(c, o); },
        Blank::refused),
    once(
        "GET", "/runs/{run_id}", [](Parts p, Call c) { return p.runs->get(c); }, Blank::refused),
    once(
        "GET", "/runs/{run_id}/events", [](Parts p, Call c) { return p.runs->events(c); },
        Blank::refused),
    streamed(
        "GET", "/runs/{run_id}/stream", [](Parts p, Call c, Out o) { return p.runs->stream(c, o); },
        Blank::refused),
    // signed chat webhooks (webhooks.cpp)
    once("POST", "/webhooks/github/{agent}",
         [](Parts p, Call c) { return p.webhooks->receive(c, "github"); }),
    once("POST", "/webhooks/slack/{agent}",
         [](Parts p, Call c) { return p.webhooks->receive(c, "slack"); }),
    once("POST", "/webhooks/hmac/{agent}",
         [](Parts p, Call c) { return p.webhooks->receive(c, "hmac"); }),
    // admin (admin.cpp) and dashboard (dashboard.cpp)
    once("GET", "/admin/agents", [](Parts p, Call c) { return p.admin->agents(c); }),
    once(
        "GET", "/admin/agents/{name}/instances",
        [](Parts p, Call c) { return p.admin->instances(c); }, Blank::refused),
    once(
        "GET", "/admin/agents/{name}/instances/{id}/runs",
        [](Parts p, Call c) { return p.admin->instance_runs(c); }, Blank::refused),
    once("GET", "/admin/runs", [](Parts p, Call c) { return p.admin->runs(c); }),
    once(
        "GET", "/admin/runs/{run_id}", [](Parts p, Call c) { return p.admin->run(c); },
        Blank::refused),
    once(
        "GET", "/admin/sessions/{session_id}/entries",
        [](Parts p, Call c) { return p.admin->session_entries(c); }, Blank::refused),
    once("GET", "/__cppflue", [](Parts p, Call c) { return p.dashboard->page(c); }),
    once("GET", "/__cppflue/status", [](Parts p, Call c) { return p.dashboard->status(c); }),
};

// The documented answers for malformed paths under the agents, workflows and webhooks
// prefixes; nullopt for other paths.
std::optional<ServerResponse> malformed(const ServerRequest& req,
                                        const std::vector<std::string>& seg) {
  const std::string prefix = seg.empty() ? std::string() : seg[0];
  const std::size_t n = seg.size();
  if (prefix == "agents" && n >= 2) {
    bool dispatch = (n == 4 || n == 5) && seg[3] == "dispatch";
    if (n == 2 || (n >= 4 && !dispatch)) {
      return error_response(
          n == 2 ? 400 : 404, n == 2 ? "invalid_request" : "not_found",
          n == 2 ? "Request is invalid." : "Route not found.",
          "Webhook URLs must have the shape /agents/{name}/{agent_id} with non-empty segments.");
    }
    if (dispatch && (blank(seg[1]) || blank(seg[2]))) {
      return error_response(400, "invalid_request", "Request is invalid.",
                            "Dispatch URLs must have the shape /agents/{name}/{agent_id}/dispatch "
                            "with non-empty segments.");
    }
  }
  if (prefix == "workflows" && (n == 1 || (n == 2 && blank(seg[1])))) {
    return error_response(400, "invalid_request", "Request is invalid.",
                          "Workflow URLs must have the shape /workflows/{name} with a non-empty "
                          "name.");
  }
  if (prefix == "webhooks" && routes_with_path(seg).empty()) {
    return error_response(
        404, "not_found", "Route not found.",
        fmt::format(
            "No route matches {} {}. Webhook URLs are /webhooks/{{github|slack|hmac}}/{{agent}}.",
            req.method, req.path));
  }
  return std::nullopt;
}

}  // namespace

std::span<const Route> route_table() {
  return kRoutes;
}

ServerResponse refuse_unrouted(const ServerRequest& req, const std::vector<std::string>& seg) {
  if (auto answer = malformed(req, seg)) return std::move(*answer);
  // A route's path with another method: 405 naming the method it takes.
  for (const Route* route : routes_with_path(seg)) {
    if (route->spec.method != "WS") return method_not_allowed(req.method, route->spec.method);
  }
  return route_not_found(req);
}

}  // namespace cppflue::server
