// SPDX-License-Identifier: Apache-2.0
// The access log: one line per request at info level, written when its answer is complete
// (for an event stream or a WebSocket, when it ends). It wraps the whole request — front door
// (CORS preflight, 401) and router — so every answer is logged exactly once:
//
//   access: POST /agents/helper/u1 200 12.3ms agent=helper/u1 remote=127.0.0.1
//
// The path is logged without its query string (which may hold secrets); the route's agent
// instance ("name/id"), session or run id are added when the route has one (a run id also
// from the X-Flue-Run-Id header of the answer). In the JSON log format (CPPFLUE_LOG_FORMAT,
// --log-format) the same values are the fields method, path, status, duration_ms, agent,
// session, run and remote.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>

#include "cppflue/core/json.hpp"
#include "cppflue/net/http_server.hpp"

namespace cppflue::server {

// What an access line says about one request.
struct AccessRecord {
  std::string method;
  std::string path;        // without the query string, control characters replaced
  int status = 0;          // 101 for an accepted WebSocket
  double duration_ms = 0;  // from the handler's start to the end of the answer
  std::string agent;       // "name/id" (or "name" for a webhook) when the route has one
  std::string session;     // the route's {session_id}
  std::string run;         // the route's {run_id}, or the answer's X-Flue-Run-Id
  std::string remote;      // the client's address
  std::string route;       // the route's pattern ("/agents/{name}/{id}"), "" when none matched
};

// The request's method, path and route context (status and duration not yet known).
AccessRecord access_record(const net::ServerRequest& request);
// The line's text (after "access: ") and its fields for the JSON format.
std::string access_text(const AccessRecord& record);
json_object access_fields(const AccessRecord& record);

// Serves the exchange through `next`, then logs its access line (at info level) and records
// cppflue_http_requests_total and cppflue_http_request_duration_seconds, by route pattern
// (never the raw path, whose ids would make a series each).
boost::asio::awaitable<void> serve_logged(
    net::Exchange& exchange, std::function<boost::asio::awaitable<void>(net::Exchange&)> next);

}  // namespace cppflue::server
