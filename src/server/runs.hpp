// SPDX-License-Identifier: Apache-2.0
// Runs over HTTP: GET /runs/{run_id}, /runs/{run_id}/events and /runs/{run_id}/stream. Runs and
// their events live in the store; RunFollower streams them as server-sent events (also for
// POST /workflows/{name} with Accept: text/event-stream).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cppflue/core/json.hpp"
#include "cppflue/net/http_server.hpp"
#include "cppflue/store/store.hpp"
#include "server/router.hpp"
#include "server/run_hub.hpp"

namespace cppflue::server {

// The wire shapes of runs (PyFlue's FlueRun / RunEvent dicts, snake_case and camelCase).
json run_json(const RunRecord& run);
json run_event_json(const std::string& run_id, const RunEvent& event);

// How often a followed run is read from the store when nothing wakes its follower.
inline constexpr auto kRunPoll = std::chrono::milliseconds(1000);
// The most events a follower reads at once.
inline constexpr std::int64_t kRunBatch = 500;

class RunFollower {
 public:
  RunFollower(std::shared_ptr<Store> store, std::shared_ptr<RunHub> hub,
              std::chrono::milliseconds heartbeat)
      : store_(std::move(store)), hub_(std::move(hub)), heartbeat_(heartbeat) {}
  // Starts an event stream with `headers` and writes the events of `run_id` after `after` until
  // run_end (or the client leaves, or the run's process died without writing run_end).
  boost::asio::awaitable<void> stream(ResponseStream& out, std::string run_id, std::int64_t after,
                                      HttpHeaders headers);
  // Ends `run_id` as interrupted if its process has ended (end_interrupted_runs), at most once
  // per 2 poll periods per run however many ask; true when it ended it now.
  bool check_owner(const std::string& run_id);

 private:
  struct Progress;
  // True when the run ended without run_end two poll periods ago (its process died). A run
  // still running is checked for a process that has ended (end_interrupted_runs).
  bool abandoned(const std::string& run_id, Progress& progress);
  bool owner_check_due(const std::string& run_id);
  // Waits for news, a poll period or the next heartbeat; false when the client is gone.
  boost::asio::awaitable<bool> idle(ResponseStream& out, const std::shared_ptr<Signal>& wake,
                                    boost::asio::steady_timer& timer, Progress& progress) const;

  std::shared_ptr<Store> store_;
  std::shared_ptr<RunHub> hub_;
  std::chrono::milliseconds heartbeat_;
  std::mutex checked_mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> checked_;  // run → last check
};

class RunRoutes {
 public:
  RunRoutes(std::shared_ptr<Store> store, std::shared_ptr<RunFollower> follower)
      : store_(std::move(store)), follower_(std::move(follower)) {}
  // GET /runs/{run_id}
  boost::asio::awaitable<net::ServerResponse> get(const RouteCall& call);
  // GET /runs/{run_id}/events
  boost::asio::awaitable<net::ServerResponse> events(const RouteCall& call);
  // GET /runs/{run_id}/stream
  boost::asio::awaitable<Reply> stream(const RouteCall& call, ResponseStream& out);

 private:
  std::shared_ptr<Store> store_;
  std::shared_ptr<RunFollower> follower_;
};

}  // namespace cppflue::server
