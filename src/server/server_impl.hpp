// SPDX-License-Identifier: Apache-2.0
// The server's internals, shared by its translation units: server.cpp (routing, agents),
// runs.cpp (runs, workflows, run streams), dispatch.cpp (the durable queue) and webhooks.cpp
// (signed chat ingress).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/harness/agent.hpp"
#include "cppflue/net/http_client.hpp"
#include "cppflue/net/http_server.hpp"
#include "cppflue/server/server.hpp"
#include "cppflue/store/store.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

namespace asio = boost::asio;
using Signal = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

// Runs `fn` on the blocking pool; the caller resumes on its own executor. Exceptions rethrow.
asio::awaitable<void> run_blocking(asio::thread_pool& pool, std::function<void()> fn);

// Waits until `wake` is signalled (true) or `timeout` passes (false).
asio::awaitable<bool> wait_signal(std::shared_ptr<Signal> wake, asio::steady_timer& timer,
                                  std::chrono::milliseconds timeout);

// FIFO admission to one session: a prompt waits while another one holds it.
class SessionGates {
 public:
  struct Guard {
    SessionGates* gates = nullptr;
    std::string key;
    Guard() = default;
    Guard(SessionGates* g, std::string k) : gates(g), key(std::move(k)) {}
    Guard(Guard&& o) noexcept : gates(std::exchange(o.gates, nullptr)), key(std::move(o.key)) {}
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (gates != nullptr) gates->release(key);
    }
  };
  // Waits for the session `key`; release it with a Guard.
  asio::awaitable<void> acquire(const std::string& key);
  void release(const std::string& key);

 private:
  struct Gate {
    bool busy = false;
    std::deque<std::shared_ptr<Signal>> waiters;
  };
  std::mutex mu_;
  std::map<std::string, Gate> gates_;
};

// Wakes the streams that follow a run whenever one of its events is stored in this process.
// (Streams also poll the store, so events written by another process reach them too.)
class RunHub {
 public:
  std::shared_ptr<Signal> subscribe(const std::string& run_id, const asio::any_io_executor& ex);
  void unsubscribe(const std::string& run_id, const std::shared_ptr<Signal>& signal);
  void notify(const std::string& run_id);

 private:
  std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<Signal>> subscribers_;
};

// The sessions a prompt of this server is running on, so /sessions/{id}/abort finds them.
// (Session gates admit one prompt per key at a time.)
class ActiveSessions {
 public:
  void add(const std::string& key, std::shared_ptr<Agent> agent);
  void remove(const std::string& key);
  std::shared_ptr<Agent> find(const std::string& key);
  std::vector<std::string> keys();
  // Registers for a scope.
  struct Guard {
    std::shared_ptr<ActiveSessions> owner;
    std::string key;
    Guard(std::shared_ptr<ActiveSessions> o, std::string k, std::shared_ptr<Agent> agent)
        : owner(std::move(o)), key(std::move(k)) {
      owner->add(key, std::move(agent));
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { owner->remove(key); }
  };

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Agent>> active_;
};

struct AgentEntry {
  std::string name;
  json triggers = json_object{{"webhook", true}};
  bool compiled = false;
};
using AgentCatalog = std::map<std::string, AgentEntry>;

// The program's compiled agents and the project's Markdown agents (a compiled agent wins over a
// Markdown one of the same name).
Result<AgentCatalog> discover_served_agents(const Config& config);

json result_json(const PromptResult& r);
bool blank(std::string_view s);
net::ServerResponse method_not_allowed(std::string_view method, std::string_view allowed);
// 404 not_found ("No route matches METHOD PATH.").
net::ServerResponse route_not_found(const net::ServerRequest& req);
// For a route that knows its shape: 404 when `known_shape` is false, 405 when the method is not
// `method`, else nullopt.
std::optional<net::ServerResponse> refuse_route(const net::ServerRequest& req, bool known_shape,
                                                std::string_view method);
// "Available agents: a, b." style lists ("(none)." when empty).
std::string name_list(const std::vector<std::string>& names);

// The wire shapes of runs (PyFlue's FlueRun / RunEvent dicts, snake_case and camelCase).
json run_json(const RunRecord& run);
json run_event_json(const std::string& run_id, const RunEvent& event);

// The dispatch workers' shared state (dispatch.cpp). Workers hold it by shared_ptr.
struct DispatchState {
  explicit DispatchState(const asio::any_io_executor& ex, int workers)
      : wake(std::make_shared<Signal>(ex, static_cast<std::size_t>(workers))), workers(workers) {}
  std::shared_ptr<Signal> wake;  // an item was enqueued, or stop
  int workers;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  int running_workers = 0;  // worker loops still alive
  // Items being processed: dispatch id → (agent, session key), so stop can abort them.
  std::map<std::string, std::pair<std::shared_ptr<Agent>, std::string>> active;
};

struct Server::Impl {
  ServeOptions options;
  Config config;
  std::shared_ptr<Runtime> runtime;
  std::shared_ptr<Store> store;
  // The served agents; replaced as a whole by reload() (readers keep the one they took).
  mutable std::mutex agents_mu;
  std::shared_ptr<const AgentCatalog> agents_ptr = std::make_shared<AgentCatalog>();
  std::shared_ptr<const AgentCatalog> agents() const {
    std::lock_guard lock(agents_mu);
    return agents_ptr;
  }
  std::mutex instances_mu;
  struct InstanceSlot {
    std::shared_ptr<Agent> agent;
    std::uint64_t last_used = 0;
  };
  std::map<std::pair<std::string, std::string>, InstanceSlot> instances;
  std::uint64_t instance_clock = 0;  // under instances_mu
  // Drops least recently used instances no request holds until at most [server] max_instances
  // remain (instances_mu held).
  void evict_instances();
  // Shared with work that outlives its request (an SSE client that went away, a webhook run).
  std::shared_ptr<SessionGates> gates = std::make_shared<SessionGates>();
  std::shared_ptr<RunHub> hub = std::make_shared<RunHub>();
  std::unique_ptr<net::HttpServer> http;
  std::string host;
  std::shared_ptr<DispatchState> dispatch;
  std::shared_ptr<HttpClient> reply_client;  // delivers replies to [server] reply_url
  std::shared_ptr<ActiveSessions> active = std::make_shared<ActiveSessions>();
  std::string auth_token;  // from [server] auth_token_env; empty = no auth

  // security.cpp
  Result<void> load_security();  // fails when auth_token_env names an unset variable
  // The request's Origin when [server] cors_origins allows it.
  std::optional<std::string> allowed_origin(const net::ServerRequest& req) const;
  // CORS and Bearer auth, then handle().
  asio::awaitable<void> front_door(net::Exchange& ex);
  asio::awaitable<void> abort_route(net::Exchange& ex, const std::vector<std::string>& seg);

  // server.cpp
  std::string agent_list() const;
  json agents_json() const;
  // 404 agent_not_found / agent_not_webhook for `name`, or nullopt when it may be invoked.
  std::optional<net::ServerResponse> refuse_agent(const std::string& name) const;
  asio::awaitable<std::shared_ptr<Agent>> instance(const std::string& name, const std::string& id,
                                                   const json& payload);
  asio::awaitable<void> handle(net::Exchange& ex);
  asio::awaitable<void> route(net::Exchange& ex, const std::vector<std::string>& seg);
  asio::awaitable<void> agent_route(net::Exchange& ex, const std::vector<std::string>& seg);
  asio::awaitable<void> stream_prompt(net::Exchange& ex, std::shared_ptr<Agent> agent,
                                      std::string key, std::string message);
  // WS /agents/{name}/{id}: {"type":"prompt","message","session"?} → {"type":"result",...}.
  asio::awaitable<void> agent_socket(net::Exchange& ex, std::string name, std::string id);

  // runs.cpp
  asio::awaitable<void> runs_route(net::Exchange& ex, const std::vector<std::string>& seg);
  asio::awaitable<void> workflow_route(net::Exchange& ex, const std::vector<std::string>& seg);
  asio::awaitable<void> workflow_socket(net::Exchange& ex, std::string name);
  // An agent prompt as a background run (X-Webhook: true): answers 202 with the run id.
  asio::awaitable<void> webhook_run(net::Exchange& ex, std::shared_ptr<Agent> agent,
                                    std::string name, std::string id, std::string key,
                                    std::string message, json payload);
  // Streams the events of `run_id` after `after` until run_end (or the client leaves).
  // The response must not have been started.
  asio::awaitable<void> stream_run(net::Exchange& ex, std::string run_id, std::int64_t after,
                                   HttpHeaders headers);

  // admin.cpp
  asio::awaitable<void> admin_route(net::Exchange& ex, const std::vector<std::string>& seg);
  // The answer of an /admin route (blocking: reads the store).
  net::ServerResponse admin_answer(const net::ServerRequest& req,
                                   const std::vector<std::string>& seg);
  asio::awaitable<void> dashboard_route(net::Exchange& ex, const std::vector<std::string>& seg);
  json server_status_json();
  std::string dashboard_html();

  // dispatch.cpp
  // POST /agents/{name}/{id}/dispatch, GET /agents/{name}/{id}/dispatch/{dispatch_id}.
  asio::awaitable<void> dispatch_route(net::Exchange& ex, const std::vector<std::string>& seg);
  // Commits `item` (id, accepted_at assigned here) and wakes a worker.
  Result<DispatchItem> enqueue(DispatchItem item);
  // Releases leases left by a previous process and starts the workers.
  Result<void> start_dispatch();
  // No new leases; items in flight get until `deadline`, then are aborted and requeued.
  void stop_dispatch(std::chrono::steady_clock::time_point deadline);
  asio::awaitable<void> dispatch_worker(std::shared_ptr<DispatchState> st);
  asio::awaitable<void> process_dispatch(DispatchItem item, std::shared_ptr<DispatchState> st);

  // webhooks.cpp
  asio::awaitable<void> webhook_route(net::Exchange& ex, const std::vector<std::string>& seg);
  // Why the request's signature does not verify for `platform` (nullopt when it does).
  std::optional<std::string> webhook_signature_problem(const std::string& platform,
                                                       const net::ServerRequest& req) const;
  // The `reply` tool for an item dispatched from a chat thread (none for other items).
  std::vector<ToolDefinition> reply_tools(const DispatchItem& item);
};

}  // namespace cppflue::server
