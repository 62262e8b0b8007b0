// SPDX-License-Identifier: Apache-2.0
// Health, discovery and the agent routes: GET /health, GET /agents, POST /agents/{name}/{id}
// (JSON, server-sent events, or a background run with X-Webhook: true), WS /agents/{name}/{id}
// and POST /sessions/{session_id}/abort. Every prompt goes through the PromptRunner.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "cppflue/net/http_server.hpp"
#include "cppflue/store/store.hpp"
#include "server/agent_catalog.hpp"
#include "server/prompt_runner.hpp"
#include "server/router.hpp"
#include "server/run_hub.hpp"
#include "server/sessions.hpp"

namespace cppflue::server {

class AgentRoutes {
 public:
  struct Parts {
    std::shared_ptr<ServedAgents> agents;
    std::shared_ptr<PromptRunner> runner;
    std::shared_ptr<ActiveSessions> active;
    std::shared_ptr<Store> store;  // X-Webhook runs
    std::shared_ptr<RunHub> hub;
    std::chrono::milliseconds heartbeat{15000};  // SSE
  };
  explicit AgentRoutes(Parts parts) : p_(std::move(parts)) {}

  // GET /health
  boost::asio::awaitable<net::ServerResponse> health(const RouteCall& call);
  // GET /agents
  boost::asio::awaitable<net::ServerResponse> list(const RouteCall& call);
  // POST /agents/{name}/{id}
  boost::asio::awaitable<Reply> prompt(const RouteCall& call, ResponseStream& out);
  // WS /agents/{name}/{id}: {"type":"prompt","message","session"?} → {"type":"result",...}.
  boost::asio::awaitable<Reply> socket(const RouteCall& call, ResponseStream& out);
  // POST /sessions/{session_id}/abort
  boost::asio::awaitable<net::ServerResponse> abort(const RouteCall& call);

 private:
  // The three answers of POST /agents/{name}/{id}.
  boost::asio::awaitable<net::ServerResponse> answer_json(PromptCall call);
  boost::asio::awaitable<Reply> answer_events(PromptCall call, ResponseStream& out);
  boost::asio::awaitable<net::ServerResponse> answer_run(PromptCall call);
  // The reply to one WebSocket message; `traceparent` is the upgrade request's.
  boost::asio::awaitable<std::string> socket_reply(const std::string& name, const std::string& id,
                                                   const std::string& text,
                                                   const std::string& traceparent);

  Parts p_;
};

}  // namespace cppflue::server
