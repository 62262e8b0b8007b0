// SPDX-License-Identifier: Apache-2.0
// The router: each entry of the route table (routes.cpp) carries its method, its path pattern
// and its handler; serve_request() matches the request against the table and calls the
// handler. Handlers that answer once return their response and the router writes it; handlers
// that may stream (SSE, WebSocket) get a ResponseStream and return a Reply. A request that
// matches no entry is not served: it gets refuse_unrouted()'s error (405 when a route has its
// path, else 404, or the documented 400 for a malformed path under a route's prefix).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/net/http_server.hpp"
#include "server/routes.hpp"

namespace cppflue::server {

namespace asio = boost::asio;
struct ServerParts;  // server_parts.hpp

// A request matched to a route.
class RouteCall {
 public:
  RouteCall(const net::ServerRequest& request, const std::vector<std::string>& segments,
            std::string_view pattern)
      : request_(request), segments_(segments), pattern_(pattern) {}
  const net::ServerRequest& request() const { return request_; }
  // The (decoded) path segment of the pattern's `{name}`.
  const std::string& param(std::string_view name) const;

 private:
  const net::ServerRequest& request_;
  const std::vector<std::string>& segments_;
  std::string_view pattern_;
};

// How a streaming handler answers: a server-sent event stream, or a WebSocket.
class ResponseStream {
 public:
  explicit ResponseStream(net::Exchange& exchange) : exchange_(exchange) {}
  ~ResponseStream();  // a started stream leaves cppflue_streams_open
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;
  // Starts a 200 text/event-stream response (sse_headers() plus `extra`); false when the client
  // is gone.
  boost::asio::awaitable<bool> start_events(HttpHeaders extra = {});
  // One chunk of the stream; false when the client is gone.
  boost::asio::awaitable<bool> write(std::string chunk);
  // Fires when the client disconnects during the stream.
  CancelToken client_gone() const { return exchange_.client_gone(); }
  // Completes the WebSocket handshake; null when it failed.
  boost::asio::awaitable<std::unique_ptr<net::ServerWebSocket>> accept_websocket();

 private:
  net::Exchange& exchange_;
  bool open_ = false;  // an event stream or WebSocket was started (counted)
};

// What a streaming handler did: answered on its stream, or left one response to write.
class Reply {
 public:
  Reply(net::ServerResponse response) : response_(std::move(response)) {}  // NOLINT
  static Reply streamed() { return Reply(); }
  std::optional<net::ServerResponse>& response() { return response_; }

 private:
  Reply() = default;
  std::optional<net::ServerResponse> response_;
};

using RespondHandler = boost::asio::awaitable<net::ServerResponse> (*)(ServerParts&,
                                                                       const RouteCall&);
using StreamHandler = boost::asio::awaitable<Reply> (*)(ServerParts&, const RouteCall&,
                                                        ResponseStream&);

// An entry of the route table.
struct Route {
  RouteSpec spec;
  RespondHandler respond = nullptr;  // answers once, or
  StreamHandler stream = nullptr;    // may answer with a stream
  // False: a blank segment for a {param} does not match this route.
  bool blank_params = true;
};

// Every route the server serves, with its handler (routes.cpp).
std::span<const Route> route_table();

// The entry `segments` match, nullptr when none does (see match_route in routes.hpp).
const Route* find_route(std::string_view method, bool websocket_upgrade,
                        const std::vector<std::string>& segments);
// The entries whose pattern `segments` match, whatever the method.
std::vector<const Route*> routes_with_path(const std::vector<std::string>& segments);

// The error for a request that matches no route (routes.cpp).
net::ServerResponse refuse_unrouted(const net::ServerRequest& request,
                                    const std::vector<std::string>& segments);

// Routes the exchange's request and writes its answer; a handler's exception becomes an error
// answer (internal errors without their message).
boost::asio::awaitable<void> serve_request(ServerParts& parts, net::Exchange& exchange);

}  // namespace cppflue::server
