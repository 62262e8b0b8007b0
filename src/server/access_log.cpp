// SPDX-License-Identifier: Apache-2.0
#include "server/access_log.hpp"

#include "cppflue/core/metrics.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "cppflue/core/log.hpp"
#include "cppflue/server/server.hpp"
#include "server/http_util.hpp"
#include "server/router.hpp"

namespace cppflue::server {

namespace asio = boost::asio;
using net::Exchange;
using net::ServerRequest;
using net::ServerResponse;

namespace {

constexpr std::size_t kMaxLogged = 256;  // characters of a path or parameter in a line

// `s` fit for one log line: control characters and spaces become '?', at most kMaxLogged
// characters (then "...").
std::string loggable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxLogged)) {
    auto u = static_cast<unsigned char>(c);
    out += (u <= 0x20 || u == 0x7f) ? '?' : c;
  }
  if (s.size() > kMaxLogged) out += "...";
  return out;
}

// The {param} values of the route `segments` match, by name.
std::vector<std::pair<std::string_view, std::string>> route_params(
    std::string_view pattern, const std::vector<std::string>& segments) {
  std::vector<std::pair<std::string_view, std::string>> out;
  std::size_t i = 0;
  while (!pattern.empty() && i < segments.size()) {
    pattern.remove_prefix(1);  // the '/'
    auto slash = pattern.find('/');
    std::string_view part = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash);
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      out.emplace_back(part.substr(1, part.size() - 2), segments[i]);
    }
    ++i;
  }
  return out;
}

void add_route_context(AccessRecord& r, const ServerRequest& req) {
  auto segments = path_segments(req.path);
  if (!segments) return;
  const Route* route = find_route(req.method, req.websocket_upgrade, *segments);
  if (route == nullptr) return;
  r.route = std::string(route->spec.path);
  std::string name, id;
  for (auto& [param, value] : route_params(route->spec.path, *segments)) {
    if (param == "name" || param == "agent") name = loggable(value);
    if (param == "id") id = loggable(value);
    if (param == "session_id") r.session = loggable(value);
    if (param == "run_id") r.run = loggable(value);
  }
  // /workflows/{name} names a workflow, not an agent.
  if (!name.empty() && (!id.empty() || (*segments)[0] == "webhooks")) {
    r.agent = id.empty() ? name : name + "/" + id;
  }
}

// Passes everything to the exchange it wraps, noting the status of the answer.
class RecordingExchange final : public Exchange {
 public:
  RecordingExchange(Exchange& inner, AccessRecord& record) : inner_(inner), record_(record) {}
  const ServerRequest& request() const override { return inner_.request(); }
  asio::awaitable<void> respond(ServerResponse response) override {
    note(response.status, response.headers);
    co_await inner_.respond(std::move(response));
  }
  asio::awaitable<bool> start_stream(int status, HttpHeaders headers) override {
    note(status, headers);
    co_return co_await inner_.start_stream(status, std::move(headers));
  }
  asio::awaitable<bool> write(std::string data) override {
    co_return co_await inner_.write(std::move(data));
  }
  CancelToken client_gone() const override { return inner_.client_gone(); }
  asio::awaitable<std::unique_ptr<net::ServerWebSocket>> accept_websocket() override {
    auto ws = co_await inner_.accept_websocket();
    if (ws && record_.status == 0) record_.status = 101;
    co_return ws;
  }

 private:
  void note(int status, const HttpHeaders& headers) {
    if (record_.status != 0) return;  // the first answer is the one sent
    record_.status = status;
    if (auto run = find_header(headers, "X-Flue-Run-Id"); run && record_.run.empty()) {
      record_.run = loggable(*run);
    }
  }

  Exchange& inner_;
  AccessRecord& record_;
};

void finish_record(AccessRecord& record, std::chrono::steady_clock::time_point start) {
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  record.duration_ms = std::round(took.count() * 10) / 10;
  // A handler that did not answer gets the HTTP server's 500.
  if (record.status == 0) record.status = 500;
  static auto& requests = metrics::registry().counter("cppflue_http_requests_total",
                                                      "HTTP requests by route, method and status.");
  static auto& duration = metrics::registry().histogram(
      "cppflue_http_request_duration_seconds",
      "How long HTTP requests took (streams: until they ended), by route and method.",
      metrics::duration_buckets());
  // Labels come from a bounded set: the route's pattern (never the path), a known method.
  std::string route = record.route.empty() ? "unmatched" : record.route;
  static constexpr std::string_view kMethods[] = {"GET",  "POST",    "PUT",  "DELETE",
                                                  "HEAD", "OPTIONS", "PATCH"};
  std::string method = "other";
  for (auto m : kMethods) {
    if (record.method == m) method = std::string(m);
  }
  requests.inc({{"route", route}, {"method", method}, {"status", std::to_string(record.status)}});
  duration.observe({{"route", route}, {"method", method}}, took.count() / 1000);
  if (log::get()->should_log(spdlog::level::info)) {
    log::write(spdlog::level::info, "access: " + access_text(record), access_fields(record));
  }
}

}  // namespace

AccessRecord access_record(const ServerRequest& request) {
  AccessRecord r;
  r.method = loggable(request.method);
  r.path = loggable(request.path);
  r.remote = loggable(request.remote_address);
  add_route_context(r, request);
  return r;
}

std::string access_text(const AccessRecord& r) {
  std::string out = fmt::format("{} {} {} {}ms", r.method, r.path, r.status, r.duration_ms);
  if (!r.agent.empty()) out += " agent=" + r.agent;
  if (!r.session.empty()) out += " session=" + r.session;
  if (!r.run.empty()) out += " run=" + r.run;
  if (!r.remote.empty()) out += " remote=" + r.remote;
  return out;
}

json_object access_fields(const AccessRecord& r) {
  json_object out{
      {"method", r.method}, {"path", r.path}, {"status", r.status}, {"duration_ms", r.duration_ms}};
  if (!r.agent.empty()) out["agent"] = r.agent;
  if (!r.session.empty()) out["session"] = r.session;
  if (!r.run.empty()) out["run"] = r.run;
  if (!r.remote.empty()) out["remote"] = r.remote;
  return out;
}

asio::awaitable<void> serve_logged(Exchange& exchange,
                                   std::function<asio::awaitable<void>(Exchange&)> next) {
  const auto start = std::chrono::steady_clock::now();
  AccessRecord record = access_record(exchange.request());
  RecordingExchange recording(exchange, record);
  try {
    co_await next(recording);
  } catch (...) {
    finish_record(record, start);
    throw;
  }
  finish_record(record, start);
}

bool configure_server_log(std::string_view format) {
  std::optional<log::Format> chosen = log::environment_format();
  if (!format.empty()) {
    chosen = log::parse_format(format);
    if (!chosen) return false;
  }
  log::set_default_level(spdlog::level::info);
  if (chosen) log::set_format(*chosen);
  return true;
}

}  // namespace cppflue::server
