// SPDX-License-Identifier: Apache-2.0
// Durable dispatch: POST /agents/{name}/{id}/dispatch (and the chat webhooks) commit the input
// to the store before answering 202; workers lease items (one per session at a time, in
// acceptance order) and prompt the agent's session through the PromptRunner. A lease that
// outlives its worker (a crash) is taken again; at start-up the leases of the previous process
// are released. A retry looks at the session: if the input already reached it, the agent is
// asked to continue instead of getting it twice.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>

#include "cppflue/core/error.hpp"
#include "cppflue/net/http_server.hpp"
#include "cppflue/store/store.hpp"
#include "server/agent_catalog.hpp"
#include "server/prompt_runner.hpp"
#include "server/replies.hpp"
#include "server/router.hpp"
#include "server/server_env.hpp"

namespace cppflue::server {

class DispatchQueue : public std::enable_shared_from_this<DispatchQueue> {
 public:
  DispatchQueue(std::shared_ptr<const ServerEnv> env, std::shared_ptr<ServedAgents> agents,
                std::shared_ptr<PromptRunner> runner, std::shared_ptr<ReplyTools> replies);

  // Releases the leases left by a previous process and starts the workers.
  Result<void> start();
  // No new leases from now on.
  void stop_leasing();
  // Stops leasing; items in flight get until `deadline`, then are aborted and left to the next
  // server (their leases are released).
  void stop(std::chrono::steady_clock::time_point deadline);
  // Commits `item` (its id and accepted_at are assigned here) and wakes a worker. A duplicate
  // idempotency key gives the first item.
  Result<DispatchItem> enqueue(DispatchItem item);

  // POST /agents/{name}/{id}/dispatch
  boost::asio::awaitable<net::ServerResponse> submit(const RouteCall& call);
  // GET /agents/{name}/{id}/dispatch/{dispatch_id}
  boost::asio::awaitable<net::ServerResponse> status(const RouteCall& call);

 private:
  struct Workers;
  boost::asio::awaitable<void> work(std::shared_ptr<Workers> workers);
  boost::asio::awaitable<void> process(DispatchItem item, std::shared_ptr<Workers> workers);
  // Records the end of `item` (a failure to record it is logged).
  void finish(const DispatchItem& item, const std::string& state, const json& error);

  std::shared_ptr<const ServerEnv> env_;
  std::shared_ptr<ServedAgents> agents_;
  std::shared_ptr<PromptRunner> runner_;
  std::shared_ptr<ReplyTools> replies_;
  std::shared_ptr<Workers> workers_;
};

}  // namespace cppflue::server
