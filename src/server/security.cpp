// SPDX-License-Identifier: Apache-2.0
// The server's front door: Bearer auth ([server] auth_token_env), the CORS allow-list
// ([server] cors_origins, preflight included) and POST /sessions/{id}/abort.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "cppflue/core/log.hpp"
#include "cppflue/net/crypto.hpp"
#include "server/server_impl.hpp"

namespace cppflue::server {

using net::Exchange;
using net::ServerRequest;
using net::ServerResponse;

namespace {

constexpr const char* kAllowHeaders =
    "Authorization, Content-Type, Accept, Last-Event-ID, X-Webhook, Idempotency-Key";

// Adds headers (CORS) to whatever the route answers.
class HeaderExchange final : public Exchange {
 public:
  HeaderExchange(Exchange& inner, HttpHeaders extra) : inner_(inner), extra_(std::move(extra)) {}
  const ServerRequest& request() const override { return inner_.request(); }
  asio::awaitable<void> respond(ServerResponse response) override {
    for (const auto& h : extra_) response.headers.push_back(h);
    co_await inner_.respond(std::move(response));
  }
  asio::awaitable<bool> start_stream(int status, HttpHeaders headers) override {
    for (const auto& h : extra_) headers.push_back(h);
    co_return co_await inner_.start_stream(status, std::move(headers));
  }
  asio::awaitable<bool> write(std::string data) override {
    co_return co_await inner_.write(std::move(data));
  }
  CancelToken client_gone() const override { return inner_.client_gone(); }
  asio::awaitable<std::unique_ptr<net::ServerWebSocket>> accept_websocket() override {
    co_return co_await inner_.accept_websocket();
  }

 private:
  Exchange& inner_;
  HttpHeaders extra_;
};

}  // namespace

void ActiveSessions::add(const std::string& key, std::shared_ptr<Agent> agent) {
  std::lock_guard lock(mu_);
  active_[key] = std::move(agent);
}

void ActiveSessions::remove(const std::string& key) {
  std::lock_guard lock(mu_);
  active_.erase(key);
}

std::vector<std::string> ActiveSessions::keys() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, agent] : active_) out.push_back(key);
  return out;
}

std::shared_ptr<Agent> ActiveSessions::find(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = active_.find(key);
  return it == active_.end() ? nullptr : it->second;
}

Result<void> Server::Impl::load_security() {
  if (config.server.auth_token_env.empty()) return {};
  const char* v = std::getenv(config.server.auth_token_env.c_str());
  if (v == nullptr || *v == '\0') {
    // Fail closed: a configuration that asks for a token must never serve without one.
    return fail(
        ErrorType::config_error,
        fmt::format("[server] auth_token_env names {}, which is not set or empty: set it "
                    "to the Bearer token clients must send, or remove auth_token_env to "
                    "serve without authentication",
                    config.server.auth_token_env),
        json_object{{"key", "server.auth_token_env"}, {"variable", config.server.auth_token_env}});
  }
  auth_token = v;
  return {};
}

std::optional<std::string> Server::Impl::allowed_origin(const ServerRequest& req) const {
  auto origin = req.header("Origin");
  if (!origin || config.server.cors_origins.empty()) return std::nullopt;
  for (const auto& o : config.server.cors_origins) {
    if (o == "*" || o == *origin) return *origin;
  }
  return std::nullopt;
}

asio::awaitable<void> Server::Impl::front_door(Exchange& ex) {
  const ServerRequest& req = ex.request();
  auto origin = allowed_origin(req);
  // A CORS preflight never carries credentials: answer it before the auth check.
  if (req.method == "OPTIONS" && req.header("Access-Control-Request-Method")) {
    ServerResponse r;
    r.status = 204;
    if (origin) {
      r.headers = {{"Access-Control-Allow-Origin", *origin},
                   {"Vary", "Origin"},
                   {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                   {"Access-Control-Allow-Headers", kAllowHeaders},
                   {"Access-Control-Max-Age", "600"}};
    }
    co_await ex.respond(std::move(r));
    co_return;
  }
  HttpHeaders extra;
  if (origin) {
    extra = {{"Access-Control-Allow-Origin", *origin},
             {"Vary", "Origin"},
             {"Access-Control-Expose-Headers", "X-Flue-Run-Id"}};
  }
  HeaderExchange wrapped(ex, std::move(extra));
  bool open_route = req.path == "/health" || req.path.rfind("/webhooks/", 0) == 0;
  if (!auth_token.empty() && !open_route) {
    auto header = req.header("Authorization").value_or("");
    bool ok = header.size() > 7 && iequals(std::string_view(header).substr(0, 7), "Bearer ") &&
              net::constant_time_equal(std::string_view(header).substr(7), auth_token);
    if (!ok) {
      auto r = error_response(401, "unauthorized", "Missing or invalid bearer token.",
                              "Send Authorization: Bearer <token> (see [server] auth_token_env).");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      co_await wrapped.respond(std::move(r));
      co_return;
    }
  }
  co_await handle(wrapped);
}

asio::awaitable<void> Server::Impl::abort_route(Exchange& ex, const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  if (auto refusal = refuse_route(req, seg.size() == 3 && seg[2] == "abort", "POST")) {
    auto r = std::move(*refusal);
    co_await ex.respond(std::move(r));
    co_return;
  }
  const std::string& key = seg[1];
  if (blank(key)) {
    auto r = error_response(400, "invalid_request", "Request is invalid.",
                            "Abort URLs must have the shape /sessions/{session_id}/abort.");
    co_await ex.respond(std::move(r));
    co_return;
  }
  bool aborted = false;
  if (auto agent = active->find(key)) aborted = agent->session(key).abort();
  auto r = json_response(200, json_object{{"aborted", aborted}, {"session_id", key}});
  co_await ex.respond(std::move(r));
}

}  // namespace cppflue::server
