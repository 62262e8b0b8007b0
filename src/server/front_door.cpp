// SPDX-License-Identifier: Apache-2.0
#include "server/front_door.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "cppflue/net/crypto.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

namespace asio = boost::asio;
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

ServerResponse preflight(const std::optional<std::string>& origin) {
  ServerResponse r;
  r.status = 204;
  if (origin) {
    r.headers = {{"Access-Control-Allow-Origin", *origin},
                 {"Vary", "Origin"},
                 {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                 {"Access-Control-Allow-Headers", kAllowHeaders},
                 {"Access-Control-Max-Age", "600"}};
  }
  return r;
}

}  // namespace

Result<FrontDoor> FrontDoor::open(ServerConfig config, bool metrics_public) {
  if (config.auth_token_env.empty()) return FrontDoor(std::move(config), {}, metrics_public);
  const char* v = std::getenv(config.auth_token_env.c_str());
  if (v == nullptr || *v == '\0') {
    // Fail closed: a configuration that asks for a token must never serve without one.
    return fail(ErrorType::config_error,
                fmt::format("[server] auth_token_env names {}, which is not set or empty: set it "
                            "to the Bearer token clients must send, or remove auth_token_env to "
                            "serve without authentication",
                            config.auth_token_env),
                json_object{{"key", "server.auth_token_env"}, {"variable", config.auth_token_env}});
  }
  return FrontDoor(std::move(config), v, metrics_public);
}

std::optional<std::string> FrontDoor::allowed_origin(const ServerRequest& req) const {
  auto origin = req.header("Origin");
  if (!origin || config_.cors_origins.empty()) return std::nullopt;
  for (const auto& o : config_.cors_origins) {
    if (o == "*" || o == *origin) return *origin;
  }
  return std::nullopt;
}

bool FrontDoor::authorized(const ServerRequest& req) const {
  bool open_route = req.path == "/health" || req.path.rfind("/webhooks/", 0) == 0 ||
                    (metrics_public_ && req.path == "/metrics" && req.method == "GET");
  if (token_.empty() || open_route) return true;
  auto header = req.header("Authorization").value_or("");
  return header.size() > 7 && iequals(std::string_view(header).substr(0, 7), "Bearer ") &&
         net::constant_time_equal(std::string_view(header).substr(7), token_);
}

asio::awaitable<void> FrontDoor::serve(
    Exchange& exchange, const std::function<asio::awaitable<void>(Exchange&)>& next) const {
  const ServerRequest& req = exchange.request();
  auto origin = allowed_origin(req);
  // A CORS preflight never carries credentials: answer it before the auth check.
  if (req.method == "OPTIONS" && req.header("Access-Control-Request-Method")) {
    co_await exchange.respond(preflight(origin));
    co_return;
  }
  HttpHeaders extra;
  if (origin) {
    extra = {{"Access-Control-Allow-Origin", *origin},
             {"Vary", "Origin"},
             {"Access-Control-Expose-Headers", "X-Flue-Run-Id"}};
  }
  HeaderExchange wrapped(exchange, std::move(extra));
  if (!authorized(req)) {
    auto r = error_response(401, "unauthorized", "Missing or invalid bearer token.",
                            "Send Authorization: Bearer <token> (see [server] auth_token_env).");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    co_await wrapped.respond(std::move(r));
    co_return;
  }
  co_await next(wrapped);
}

}  // namespace cppflue::server
