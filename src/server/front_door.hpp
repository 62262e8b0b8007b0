// SPDX-License-Identifier: Apache-2.0
// The server's front door, before routing: the CORS allow-list ([server] cors_origins,
// preflight included) and Bearer auth ([server] auth_token_env; /health and /webhooks/... are
// exempt).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>

#include "cppflue/core/config.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/net/http_server.hpp"

namespace cppflue::server {

class FrontDoor {
 public:
  // Reads the token; fails when auth_token_env names an unset or empty variable.
  // `metrics_public`: GET /metrics needs no token ([telemetry] metrics_public).
  static Result<FrontDoor> open(ServerConfig config, bool metrics_public = false);
  // Answers a preflight or a request without a valid token, else calls `next` (whose answers
  // get the CORS headers).
  boost::asio::awaitable<void> serve(
      net::Exchange& exchange,
      const std::function<boost::asio::awaitable<void>(net::Exchange&)>& next) const;

 private:
  FrontDoor(ServerConfig config, std::string token, bool metrics_public)
      : config_(std::move(config)), token_(std::move(token)), metrics_public_(metrics_public) {}
  // The request's Origin when [server] cors_origins allows it.
  std::optional<std::string> allowed_origin(const net::ServerRequest& req) const;
  bool authorized(const net::ServerRequest& req) const;

  ServerConfig config_;
  std::string token_;  // empty: no auth
  bool metrics_public_ = false;
};

}  // namespace cppflue::server
