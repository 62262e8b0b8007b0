// SPDX-License-Identifier: Apache-2.0
#include "server/router.hpp"

#include <stdexcept>

#include "cppflue/core/log.hpp"
#include "cppflue/core/metrics.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

namespace {

// Calls `fn(part, index)` for each segment of `pattern` ("/runs/{run_id}" → "runs",
// "{run_id}"; "/" has none); stops early when `fn` returns false. Returns the number of segments
// visited.
template <typename Fn>
std::size_t each_segment(std::string_view pattern, Fn fn) {
  if (pattern == "/") return 0;
  std::size_t i = 0;
  while (!pattern.empty()) {
    pattern.remove_prefix(1);  // the '/'
    auto slash = pattern.find('/');
    std::string_view part = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash);
    if (!fn(part, i)) return i;
    ++i;
  }
  return i;
}

bool is_param(std::string_view part) {
  return part.size() >= 2 && part.front() == '{' && part.back() == '}';
}

bool path_matches(const Route& route, const std::vector<std::string>& segments) {
  bool ok = true;
  std::size_t n = each_segment(route.spec.path, [&](std::string_view part, std::size_t i) {
    if (i >= segments.size()) return ok = false;
    if (is_param(part)) return ok = route.blank_params || !blank(segments[i]);
    return ok = segments[i] == part;
  });
  return ok && n == segments.size();
}

// The route's answer: its handler's response, or none when it answered on its stream.
asio::awaitable<std::optional<net::ServerResponse>> call_route(
    ServerParts& parts, net::Exchange& exchange, const std::vector<std::string>& segments) {
  const net::ServerRequest& req = exchange.request();
  const Route* route = find_route(req.method, req.websocket_upgrade, segments);
  if (route == nullptr) co_return refuse_unrouted(req, segments);
  RouteCall call(req, segments, route->spec.path);
  if (route->respond != nullptr) co_return co_await route->respond(parts, call);
  ResponseStream stream(exchange);
  Reply reply = co_await route->stream(parts, call, stream);
  co_return std::move(reply.response());
}

}  // namespace

const std::string& RouteCall::param(std::string_view name) const {
  std::optional<std::size_t> index;
  each_segment(pattern_, [&](std::string_view part, std::size_t i) {
    if (is_param(part) && part.substr(1, part.size() - 2) == name) index = i;
    return !index;
  });
  if (!index || *index >= segments_.size()) {
    throw std::logic_error("route " + std::string(pattern_) + " has no {" + std::string(name) +
                           "}");
  }
  return segments_[*index];
}

namespace {
metrics::Gauge& open_streams() {
  static auto& g = metrics::registry().gauge("cppflue_streams_open",
                                             "Event streams (SSE) and WebSockets open now.");
  return g;
}
}  // namespace

ResponseStream::~ResponseStream() {
  if (open_) open_streams().add({}, -1);
}

asio::awaitable<bool> ResponseStream::start_events(HttpHeaders extra) {
  bool started = co_await exchange_.start_stream(200, sse_headers(std::move(extra)));
  if (started && !open_) {
    open_ = true;
    open_streams().add({}, 1);
  }
  co_return started;
}

asio::awaitable<bool> ResponseStream::write(std::string chunk) {
  co_return co_await exchange_.write(std::move(chunk));
}

asio::awaitable<std::unique_ptr<net::ServerWebSocket>> ResponseStream::accept_websocket() {
  auto socket = co_await exchange_.accept_websocket();
  if (socket && !open_) {
    open_ = true;
    open_streams().add({}, 1);
  }
  co_return socket;
}

const Route* find_route(std::string_view method, bool websocket_upgrade,
                        const std::vector<std::string>& segments) {
  for (const Route& r : route_table()) {
    bool method_ok = r.spec.method == "WS" ? websocket_upgrade : r.spec.method == method;
    if (method_ok && path_matches(r, segments)) return &r;
  }
  return nullptr;
}

std::vector<const Route*> routes_with_path(const std::vector<std::string>& segments) {
  std::vector<const Route*> out;
  for (const Route& r : route_table()) {
    if (path_matches(r, segments)) out.push_back(&r);
  }
  return out;
}

std::span<const RouteSpec> http_routes() {
  static const std::vector<RouteSpec> specs = [] {
    std::vector<RouteSpec> out;
    for (const Route& r : route_table()) out.push_back(r.spec);
    return out;
  }();
  return specs;
}

const RouteSpec* match_route(std::string_view method, bool websocket_upgrade,
                             const std::vector<std::string>& segments) {
  const Route* route = find_route(method, websocket_upgrade, segments);
  if (route == nullptr) return nullptr;
  return &http_routes()[static_cast<std::size_t>(route - route_table().data())];
}

asio::awaitable<void> serve_request(ServerParts& parts, net::Exchange& exchange) {
  const net::ServerRequest& req = exchange.request();
  auto segments = path_segments(req.path);
  std::optional<net::ServerResponse> answer;
  if (!segments) {
    answer = error_response(400, "invalid_request", "Request is invalid.",
                            "The request path is not valid percent-encoding.");
  } else {
    try {
      answer = co_await call_route(parts, exchange, *segments);
    } catch (const Exception& e) {
      log::get()->error("server: {} {}: {}", req.method, req.path, e.error().message);
      answer = error_response(e.error());
    } catch (const std::exception& e) {
      log::get()->error("server: {} {}: {}", req.method, req.path, e.what());
      answer = error_response(Error{});
    }
  }
  if (answer) co_await exchange.respond(std::move(*answer));  // ignored once answered
}

}  // namespace cppflue::server
