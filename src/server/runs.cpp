// SPDX-License-Identifier: Apache-2.0
#include "server/runs.hpp"

#include "cppflue/harness/event.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <optional>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/clock.hpp"
#include "cppflue/harness/app.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

using net::ServerResponse;

namespace {

// "2026-11-24T10:00:00.123Z" → seconds since the epoch; null when empty or unreadable.
json epoch_of(const std::string& iso) {
  auto ms = parse_iso8601_ms(iso);
  if (!ms) return nullptr;
  return static_cast<double>(*ms) / 1000;
}

json or_null(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

// The query of GET /runs/{run_id}/events.
struct EventQuery {
  std::int64_t after = 0;
  std::int64_t limit = 1000;
  std::vector<std::string> types;
  std::optional<ServerResponse> bad;
};

// "a, b,c" → {"a","b","c"}; nullopt when an item is empty or longer than 64 bytes.
std::optional<std::vector<std::string>> type_list(std::string_view rest) {
  std::vector<std::string> types;
  for (;;) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty() || item.size() > 64) return std::nullopt;
    types.emplace_back(item);
    if (comma == std::string_view::npos) return types;
    rest.remove_prefix(comma + 1);
  }
}

EventQuery read_event_query(const std::string& query) {
  EventQuery q;
  if (auto a = query_param(query, "after")) {
    auto n = parse_count(*a);
    if (!n) {
      q.bad = invalid_query("after", *a, "Must be a non-negative integer.");
      return q;
    }
    q.after = *n;
  }
  if (auto l = query_param(query, "limit")) {
    auto n = parse_count(*l);
    if (!n || *n < 1 || *n > 1000) {
      q.bad = invalid_query("limit", *l, "Must be an integer in [1, 1000].");
      return q;
    }
    q.limit = *n;
  }
  if (auto t = query_param(query, "types")) {
    auto types = type_list(*t);
    if (!types) {
      q.bad = invalid_query("types", *t, "Must be a comma-separated list of event types.");
    } else {
      q.types = std::move(*types);
    }
  }
  return q;
}

}  // namespace

// ---- wire shapes ----

json run_json(const RunRecord& run) {
  bool is_error = run.status == "failed" || run.status == "aborted";
  json duration = run.ended_at.empty() ? json(nullptr) : json(run.duration_ms);
  return json_object{{"run_id", run.id},
                     {"runId", run.id},
                     {"agent", run.workflow},
                     {"agentName", run.workflow},
                     {"agent_id", run.instance_id},
                     {"instanceId", run.instance_id},
                     {"started_at", epoch_of(run.started_at)},
                     {"startedAt", run.started_at},
                     {"ended_at", epoch_of(run.ended_at)},
                     {"endedAt", or_null(run.ended_at)},
                     {"duration_ms", duration},
                     {"durationMs", duration},
                     {"status", run.status},
                     {"is_error", is_error},
                     {"isError", is_error},
                     {"error", run.error},
                     {"result", run.result},
                     {"payload", run.payload},
                     {"event_count", run.event_count},
                     {"eventCount", run.event_count}};
}

json run_event_json(const std::string& run_id, const RunEvent& event) {
  return json_object{{"run_id", run_id},           {"runId", run_id},
                     {"event_index", event.index}, {"eventIndex", event.index},
                     {"type", event.type},         {"timestamp", event.timestamp},
                     {"data", event.data}};
}

// ---- following a run ----

struct RunFollower::Progress {
  std::int64_t after = 0;  // the last event index written
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> ended_since;
};

asio::awaitable<void> RunFollower::stream(ResponseStream& out, std::string run_id,
                                          std::int64_t after, HttpHeaders headers) {
  auto executor = co_await asio::this_coro::executor;
  RunHub::Subscription subscription(hub_, run_id, executor);
  if (!co_await out.start_events(std::move(headers))) co_return;
  const std::shared_ptr<Signal>& wake = subscription.signal();  // lives as long as subscription
  CancelRegistration on_gone(out.client_gone(), [wake] { ping(wake); });
  asio::steady_timer timer(executor);
  Progress progress{after};
  for (;;) {
    auto events = store_->run_events(run_id, progress.after, kRunBatch);
    if (!events) {
      co_await out.write(sse_event("error", error_body(events.error())));
      co_return;
    }
    std::string text;
    bool ended = false;
    for (const auto& e : *events) {
      text += sse_event(e.type, run_event_json(run_id, e), std::to_string(e.index));
      progress.after = e.index;
      ended = e.type == cppflue::events::RunEnd::type;
      if (ended) break;
    }
    if (!text.empty()) {
      if (!co_await out.write(std::move(text))) co_return;
      progress.last_write = std::chrono::steady_clock::now();
    }
    if (ended || out.client_gone().cancelled()) co_return;
    if (static_cast<std::int64_t>(events->size()) == kRunBatch) continue;
    if (events->empty() && abandoned(run_id, progress)) co_return;
    if (!co_await idle(out, wake, timer, progress)) co_return;
  }
}

bool RunFollower::owner_check_due(const std::string& run_id) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(checked_mu_);
  auto [it, added] = checked_.try_emplace(run_id, now);
  if (!added && now - it->second < 2 * kRunPoll) return false;
  it->second = now;
  // Forget runs nobody has asked about for a while.
  std::erase_if(checked_, [&](const auto& entry) { return now - entry.second > 10 * kRunPoll; });
  return true;
}

bool RunFollower::check_owner(const std::string& run_id) {
  if (!owner_check_due(run_id)) return false;
  auto ended = end_interrupted_runs(*store_, {.run_id = run_id});
  if (!ended || ended->empty()) return false;
  for (const auto& r : *ended) hub_->notify(r.id);
  return true;
}

bool RunFollower::abandoned(const std::string& run_id, Progress& progress) {
  auto run = store_->get_run(run_id);
  if (!run || !*run) return false;
  if ((*run)->status == "running") {
    // A run whose process has ended (killed, crashed) would stay running for ever: every two
    // polls without events, whether its process still runs is checked, and if not the run is
    // ended as interrupted (with its run_end, which every follower's next read finds).
    (void)check_owner(run_id);
    return false;
  }
  // The run_end event follows the status by a moment (from this process, or another one seen
  // by polling): only a run still without it two poll periods later is taken as one whose
  // process died before writing it.
  auto now = std::chrono::steady_clock::now();
  if (!progress.ended_since) {
    progress.ended_since = now;
    return false;
  }
  return now - *progress.ended_since >= 2 * kRunPoll;
}

asio::awaitable<bool> RunFollower::idle(ResponseStream& out, const std::shared_ptr<Signal>& wake,
                                        asio::steady_timer& timer, Progress& progress) const {
  auto since = std::chrono::steady_clock::now() - progress.last_write;
  auto until_heartbeat = std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat_ - since);
  auto wait = std::min<std::chrono::milliseconds>(kRunPoll, until_heartbeat);
  if (wait.count() > 0) co_await wait_signal(wake, timer, wait);
  if (std::chrono::steady_clock::now() - progress.last_write < heartbeat_) co_return true;
  if (!co_await out.write(std::string(kSseHeartbeat))) co_return false;
  progress.last_write = std::chrono::steady_clock::now();
  co_return true;
}

// ---- /runs ----

asio::awaitable<ServerResponse> RunRoutes::get(const RouteCall& call) {
  const std::string& id = call.param("run_id");
  auto run = store_->get_run(id);
  if (!run) throw Exception(run.error());
  if (!*run) co_return run_not_found(id);
  // A run whose process has ended (another process on this store, killed) is ended now.
  if ((*run)->status == "running") {
    if (follower_->check_owner(id)) {
      run = store_->get_run(id);
      if (!run) throw Exception(run.error());
      if (!*run) co_return run_not_found(id);
    }
  }
  co_return json_response(200, run_json(**run));
}

asio::awaitable<ServerResponse> RunRoutes::events(const RouteCall& call) {
  const std::string& id = call.param("run_id");
  auto run = store_->get_run(id);
  if (!run) throw Exception(run.error());
  if (!*run) co_return run_not_found(id);
  EventQuery q = read_event_query(call.request().query);
  if (q.bad) co_return std::move(*q.bad);
  auto events = store_->run_events(id, q.after, q.limit, q.types);
  if (!events) throw Exception(events.error());
  json_array list;
  std::int64_t next = q.after;
  for (const auto& e : *events) {
    list.push_back(run_event_json(id, e));
    next = e.index;
  }
  co_return json_response(200, json_object{{"run_id", id},
                                           {"runId", id},
                                           {"events", std::move(list)},
                                           {"next_after", next},
                                           {"nextAfter", next}});
}

asio::awaitable<Reply> RunRoutes::stream(const RouteCall& call, ResponseStream& out) {
  const net::ServerRequest& req = call.request();
  std::string id = call.param("run_id");
  auto run = store_->get_run(id);
  if (!run) throw Exception(run.error());
  if (!*run) co_return run_not_found(id);
  // ?after wins over Last-Event-ID; unreadable values start from the beginning.
  std::int64_t after = 0;
  if (auto a = query_param(req.query, "after")) {
    after = parse_count(*a).value_or(0);
  } else if (auto last = req.header("Last-Event-ID")) {
    after = parse_count(*last).value_or(0);
  }
  HttpHeaders headers{{"X-Flue-Run-Id", id}};
  co_await follower_->stream(out, id, after, std::move(headers));
  co_return Reply::streamed();
}

}  // namespace cppflue::server
