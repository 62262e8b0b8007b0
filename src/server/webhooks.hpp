// SPDX-License-Identifier: Apache-2.0
// Signed chat/webhook ingress: POST /webhooks/{github,slack,hmac}/{agent}. The signature is
// checked over the raw body with a constant-time compare before anything else; a missing
// secret, a bad signature or (Slack) a timestamp outside ±5 minutes → 401 and nothing stored.
// A valid message is dispatched durably (dispatch.hpp) to session = thread, and its prompt gets
// a `reply` tool bound to that thread (replies.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "cppflue/core/config.hpp"
#include "cppflue/net/http_server.hpp"
#include "server/agent_catalog.hpp"
#include "server/dispatch.hpp"
#include "server/router.hpp"

namespace cppflue::server {

class WebhookRoutes {
 public:
  // With a webhook secret configured, logs an error at once when signatures cannot be checked
  // here (libcrypto missing or unusable), rather than only at the first signed request.
  WebhookRoutes(ServerConfig config, std::shared_ptr<ServedAgents> agents,
                std::shared_ptr<DispatchQueue> dispatch);
  // POST /webhooks/{platform}/{agent} for platform "github", "slack" or "hmac".
  boost::asio::awaitable<net::ServerResponse> receive(const RouteCall& call,
                                                      std::string_view platform);

 private:
  // Why the request's signature does not verify for `platform` (nullopt when it does).
  std::optional<std::string> signature_problem(std::string_view platform,
                                               const net::ServerRequest& req) const;

  ServerConfig config_;
  std::shared_ptr<ServedAgents> agents_;
  std::shared_ptr<DispatchQueue> dispatch_;
};

}  // namespace cppflue::server
