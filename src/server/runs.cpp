// SPDX-License-Identifier: Apache-2.0
// Runs over HTTP: /runs/{id}, /runs/{id}/events, /runs/{id}/stream, POST /workflows/{name},
// and agent prompts as background runs (X-Webhook: true). Runs and their events live in the
// store; RunHub wakes the streams that follow them.
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <ctime>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/event.hpp"
#include "server/server_impl.hpp"

namespace cppflue::server {

using net::Exchange;
using net::ServerRequest;
using net::ServerResponse;

namespace {

constexpr auto kRunPoll = std::chrono::milliseconds(1000);
constexpr std::int64_t kStreamBatch = 500;

// "2026-11-24T10:00:00.123Z" → seconds since the epoch; null when empty or unreadable.
json epoch_of(const std::string& iso) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double s = 0;
  if (iso.empty() ||
      std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%lf", &y, &mo, &d, &h, &mi, &s) != 6) {
    return nullptr;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = 0;  // the seconds, with their fraction, are added below
  return static_cast<double>(timegm(&tm)) + s;
}

json or_null(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

HttpHeaders sse_headers(HttpHeaders extra) {
  HttpHeaders h{{"Content-Type", "text/event-stream"},
                {"Cache-Control", "no-cache"},
                {"X-Accel-Buffering", "no"}};
  for (auto& kv : extra) h.push_back(std::move(kv));
  return h;
}

// The error of a failed run as an envelope body, without internals for internal errors.
json run_error_envelope(const json& error) {
  std::string type = "internal_error";
  std::string message = "Workflow failed.";
  if (const json* t = find(error, "type"); t && t->is_string()) type = std::string(t->as_string());
  if (const json* m = find(error, "message"); m && m->is_string() && type != "internal_error") {
    message = std::string(m->as_string());
  }
  if (type == "internal_error") message = "An internal error occurred.";
  return json_object{{"error", json_object{{"type", type}, {"message", message}, {"details", ""}}}};
}

// A workflow running on the blocking pool, as seen by the request that started it.
struct WorkflowJob {
  explicit WorkflowJob(const asio::any_io_executor& ex)
      : started(std::make_shared<Signal>(ex, 2)), finished(std::make_shared<Signal>(ex, 2)) {}
  std::shared_ptr<Signal> started;   // run_start is stored, or the run could not start
  std::shared_ptr<Signal> finished;  // run_workflow returned
  std::mutex mu;
  std::optional<WorkflowRunResult> result;
  std::optional<Error> start_error;
};

// Starts `name` on the blocking pool with the server's store and model; the job signals when
// run_start is stored (or the run could not start) and when it ends.
std::shared_ptr<WorkflowJob> launch(const asio::any_io_executor& executor, Server::Impl& impl,
                                    const std::string& name, json payload,
                                    const std::string& run_id) {
  auto job = std::make_shared<WorkflowJob>(executor);
  WorkflowRunOptions o;
  o.payload = std::move(payload);
  o.run_id = run_id;
  o.root = impl.config.root.string();
  if (!impl.config.config_path.empty()) o.config_path = impl.config.config_path.string();
  o.store = impl.store;
  o.model = impl.options.model;
  auto hub_ref = impl.hub;
  o.on_event = [job, hub_ref, run_id](const RunEvent& e) {
    if (e.type == "run_start") job->started->try_send(boost::system::error_code{});
    hub_ref->notify(run_id);
  };
  asio::post(impl.runtime->blocking(), [job, hub_ref, run_id, name, o = std::move(o)]() mutable {
    std::optional<WorkflowRunResult> result;
    std::optional<Error> error;
    try {
      result = run_workflow(name, std::move(o));
    } catch (const Exception& e) {
      error = e.error();
    } catch (const std::exception& e) {
      error = make_error(ErrorType::internal, e.what());
    }
    {
      std::lock_guard lock(job->mu);
      job->result = std::move(result);
      job->start_error = std::move(error);
    }
    job->started->try_send(boost::system::error_code{});
    job->finished->try_send(boost::system::error_code{});
    hub_ref->notify(run_id);
  });
  return job;
}

}  // namespace

// ---- RunHub ----

std::shared_ptr<Signal> RunHub::subscribe(const std::string& run_id,
                                          const asio::any_io_executor& ex) {
  auto signal = std::make_shared<Signal>(ex, 1);
  std::lock_guard lock(mu_);
  subscribers_.emplace(run_id, signal);
  return signal;
}

void RunHub::unsubscribe(const std::string& run_id, const std::shared_ptr<Signal>& signal) {
  std::lock_guard lock(mu_);
  auto [first, last] = subscribers_.equal_range(run_id);
  for (auto it = first; it != last; ++it) {
    if (it->second == signal) {
      subscribers_.erase(it);
      return;
    }
  }
}

void RunHub::notify(const std::string& run_id) {
  std::lock_guard lock(mu_);
  auto [first, last] = subscribers_.equal_range(run_id);
  for (auto it = first; it != last; ++it) it->second->try_send(boost::system::error_code{});
}

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

// ---- /runs ----

asio::awaitable<void> Server::Impl::runs_route(Exchange& ex, const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  bool known_shape =
      seg.size() == 2 || (seg.size() == 3 && (seg[2] == "events" || seg[2] == "stream"));
  if (auto refusal = refuse_route(req, known_shape && !blank(seg[1]), "GET")) {
    auto r = std::move(*refusal);
    co_await ex.respond(std::move(r));
    co_return;
  }
  const std::string& id = seg[1];
  auto run = store->get_run(id);
  if (!run) throw Exception(run.error());
  if (!*run) {
    auto r = run_not_found(id);
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (seg.size() == 2) {
    auto r = json_response(200, run_json(**run));
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (seg[2] == "events") {
    std::int64_t after = 0;
    std::int64_t limit = 1000;
    std::vector<std::string> types;
    std::optional<ServerResponse> bad;
    if (auto a = query_param(req.query, "after")) {
      auto n = parse_count(*a);
      if (!n)
        bad = invalid_query("after", *a, "Must be a non-negative integer.");
      else
        after = *n;
    }
    if (auto l = query_param(req.query, "limit"); l && !bad) {
      auto n = parse_count(*l);
      if (!n || *n < 1 || *n > 1000)
        bad = invalid_query("limit", *l, "Must be an integer in [1, 1000].");
      else
        limit = *n;
    }
    if (auto t = query_param(req.query, "types"); t && !bad) {
      std::string_view rest = *t;
      for (;;) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.empty() || item.size() > 64) {
          bad = invalid_query("types", *t, "Must be a comma-separated list of event types.");
          break;
        }
        types.emplace_back(item);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    if (bad) {
      auto r = std::move(*bad);
      co_await ex.respond(std::move(r));
      co_return;
    }
    auto events = store->run_events(id, after, limit, types);
    if (!events) throw Exception(events.error());
    json_array list;
    std::int64_t next = after;
    for (const auto& e : *events) {
      list.push_back(run_event_json(id, e));
      next = e.index;
    }
    auto r = json_response(200, json_object{{"run_id", id},
                                            {"runId", id},
                                            {"events", std::move(list)},
                                            {"next_after", next},
                                            {"nextAfter", next}});
    co_await ex.respond(std::move(r));
    co_return;
  }
  // stream: ?after wins over Last-Event-ID; unreadable values start from the beginning.
  std::int64_t after = 0;
  if (auto a = query_param(req.query, "after")) {
    after = parse_count(*a).value_or(0);
  } else if (auto last = req.header("Last-Event-ID")) {
    after = parse_count(*last).value_or(0);
  }
  HttpHeaders headers{{"X-Flue-Run-Id", id}};
  co_await stream_run(ex, id, after, std::move(headers));
}

asio::awaitable<void> Server::Impl::stream_run(Exchange& ex, std::string run_id, std::int64_t after,
                                               HttpHeaders headers) {
  auto executor = co_await asio::this_coro::executor;
  auto hub_ref = hub;
  auto store_ref = store;
  auto wake = hub_ref->subscribe(run_id, executor);
  struct Unsubscribe {
    std::shared_ptr<RunHub> hub;
    std::string id;
    std::shared_ptr<Signal> signal;
    ~Unsubscribe() { hub->unsubscribe(id, signal); }
  } unsubscribe{hub_ref, run_id, wake};
  if (!co_await ex.start_stream(200, sse_headers(std::move(headers)))) co_return;
  CancelRegistration on_gone(ex.client_gone(),
                             [wake] { wake->try_send(boost::system::error_code{}); });
  asio::steady_timer timer(executor);
  auto last_write = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> ended_since;
  for (;;) {
    auto events = store_ref->run_events(run_id, after, kStreamBatch);
    if (!events) {
      auto envelope = parse_json(error_response(events.error()).body);
      std::string chunk = sse_event("error", envelope ? *envelope : json(nullptr));
      co_await ex.write(std::move(chunk));
      co_return;
    }
    std::string text;
    bool ended = false;
    for (const auto& e : *events) {
      text += sse_event(e.type, run_event_json(run_id, e), std::to_string(e.index));
      after = e.index;
      if (e.type == "run_end") {
        ended = true;
        break;
      }
    }
    if (!text.empty()) {
      if (!co_await ex.write(std::move(text))) co_return;
      last_write = std::chrono::steady_clock::now();
    }
    if (ended || ex.client_gone().cancelled()) co_return;
    if (static_cast<std::int64_t>(events->size()) == kStreamBatch) continue;
    if (events->empty()) {
      // A run that ended without a run_end event (its process died): nothing more will come.
      auto run = store_ref->get_run(run_id);
      if (run && *run && (*run)->status != "running") {
        // The run_end event follows the status by a moment (from this process, or another
        // one seen by polling): only a run still without it two poll periods later is taken
        // as one whose process died before writing it.
        auto now = std::chrono::steady_clock::now();
        if (!ended_since) {
          ended_since = now;
        } else if (now - *ended_since >= 2 * kRunPoll) {
          co_return;
        }
      }
    }
    auto since = std::chrono::steady_clock::now() - last_write;
    auto until_heartbeat =
        std::chrono::duration_cast<std::chrono::milliseconds>(options.heartbeat - since);
    auto wait = std::min<std::chrono::milliseconds>(kRunPoll, until_heartbeat);
    if (wait.count() > 0) co_await wait_signal(wake, timer, wait);
    if (std::chrono::steady_clock::now() - last_write >= options.heartbeat) {
      std::string comment = ": heartbeat\n\n";
      if (!co_await ex.write(std::move(comment))) co_return;
      last_write = std::chrono::steady_clock::now();
    }
  }
}

// ---- agent prompts as runs (X-Webhook: true) ----

asio::awaitable<void> Server::Impl::webhook_run(Exchange& ex, std::shared_ptr<Agent> agent,
                                                std::string name, std::string id, std::string key,
                                                std::string message, json payload) {
  RunRecord rec;
  rec.id = new_hex_id("run_", 24);
  rec.workflow = name;
  rec.instance_id = id;
  rec.payload = payload;
  auto created = store->create_run(rec);
  if (!created) throw Exception(created.error());
  std::string run_id = rec.id;
  auto started = store->append_run_event(
      run_id, "run_start",
      json_object{{"run_id", run_id}, {"agent", name}, {"agent_id", id}, {"session_id", key}});
  if (!started) throw Exception(started.error());
  hub->notify(run_id);

  auto work = [](std::shared_ptr<Store> store, std::shared_ptr<RunHub> hub,
                 std::shared_ptr<SessionGates> gates, std::shared_ptr<ActiveSessions> active,
                 std::shared_ptr<Agent> agent, std::string run_id, std::string key,
                 std::string message) -> asio::awaitable<void> {
    co_await gates->acquire(key);
    SessionGates::Guard guard(gates.get(), key);
    ActiveSessions::Guard running(active, key, agent);
    auto record = [store, hub, run_id](const std::string& type, const json& data) {
      if (auto r = store->append_run_event(run_id, type, data); !r) {
        log::get()->error("run {}: cannot record '{}': {}", run_id, type, r.error().message);
      }
      hub->notify(run_id);
    };
    json result = nullptr;
    json error = nullptr;
    bool cancelled = false;
    try {
      Session s = agent->session(key);
      PromptOptions options;
      options.on_event = [record](const Event& e) {
        json data = to_json(e);
        if (data.is_object()) data.as_object().erase("type");
        record(e.type, data);
      };
      PromptResult r = co_await s.async_prompt(std::move(message), std::move(options));
      result = result_json(r);
    } catch (const Exception& e) {
      error = json_object{{"type", wire_name(e.error().type)}, {"message", e.error().message}};
      cancelled = e.error().type == ErrorType::cancelled;
    } catch (const std::exception& e) {
      error = json_object{{"type", "internal_error"}, {"message", e.what()}};
    }
    std::string status = error.is_null() ? "completed" : cancelled ? "aborted" : "failed";
    // The status first: whoever sees run_end and then reads the run finds it ended.
    if (auto r = store->finish_run(run_id, status, result, error); !r) {
      log::get()->error("run {}: cannot record its end: {}", run_id, r.error().message);
    }
    record("run_end", json_object{{"run_id", run_id},
                                  {"status", status},
                                  {"is_error", !error.is_null()},
                                  {"result", result},
                                  {"error", error}});
  };
  asio::co_spawn(
      runtime->executor(),
      work(store, hub, gates, active, std::move(agent), run_id, std::move(key), std::move(message)),
      asio::detached);
  HttpHeaders headers{{"X-Flue-Run-Id", run_id}};
  auto r =
      json_response(202, json_object{{"status", "accepted"}, {"run_id", run_id}, {"runId", run_id}},
                    std::move(headers));
  co_await ex.respond(std::move(r));
}

// ---- /workflows/{name} ----

asio::awaitable<void> Server::Impl::workflow_route(Exchange& ex,
                                                   const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  if (seg.size() > 2) {
    auto r = route_not_found(req);
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (seg.size() < 2 || blank(seg[1])) {
    auto r = error_response(400, "invalid_request", "Request is invalid.",
                            "Workflow URLs must have the shape /workflows/{name} with a non-empty "
                            "name.");
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (req.websocket_upgrade) {
    co_await workflow_socket(ex, seg[1]);
    co_return;
  }
  if (req.method != "POST") {
    auto r = method_not_allowed(req.method, "POST");
    co_await ex.respond(std::move(r));
    co_return;
  }
  const std::string& name = seg[1];
  ParsedBody body = parse_body(req);
  if (body.error) {
    auto r = std::move(*body.error);
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (!find_registered_workflow(name)) {
    auto r =
        error_response(404, "not_found", fmt::format("Unknown workflow: {}.", name),
                       "Verify the workflow name is correct.",
                       fmt::format("Available workflows: {}", name_list(registered_workflows())));
    co_await ex.respond(std::move(r));
    co_return;
  }
  auto wait = query_param(req.query, "wait");
  if (wait && *wait != "result") {
    auto r = invalid_query("wait", *wait, "Must be \"result\".");
    co_await ex.respond(std::move(r));
    co_return;
  }
  bool sse = wants_event_stream(req);

  auto executor = co_await asio::this_coro::executor;
  std::string run_id = new_hex_id("run_", 24);
  auto job = launch(executor, *this, name, body.payload, run_id);

  {
    auto [ec] = co_await job->started->async_receive(asio::as_tuple(asio::use_awaitable));
    (void)ec;
  }
  std::optional<Error> start_error;
  {
    std::lock_guard lock(job->mu);
    start_error = job->start_error;
  }
  if (start_error) {
    auto r = error_response(*start_error);
    co_await ex.respond(std::move(r));
    co_return;
  }
  HttpHeaders headers{{"X-Flue-Run-Id", run_id}};
  if (sse) {
    co_await stream_run(ex, run_id, 0, std::move(headers));
    if (ex.client_gone().cancelled()) co_return;
    // A failed run ends with an error event carrying the envelope.
    auto run = store->get_run(run_id);
    if (run && *run && (*run)->status != "completed" && (*run)->status != "running") {
      std::string chunk = sse_event("error", run_error_envelope((*run)->error));
      co_await ex.write(std::move(chunk));
    }
    co_return;
  }
  if (!wait) {
    auto r = json_response(
        202, json_object{{"status", "accepted"}, {"run_id", run_id}, {"runId", run_id}},
        std::move(headers));
    co_await ex.respond(std::move(r));
    co_return;
  }
  {
    auto [ec] = co_await job->finished->async_receive(asio::as_tuple(asio::use_awaitable));
    (void)ec;
  }
  std::optional<WorkflowRunResult> result;
  {
    std::lock_guard lock(job->mu);
    result = job->result;
    start_error = job->start_error;
  }
  if (start_error || !result) {
    auto r = error_response(start_error.value_or(Error{}));
    r.headers.emplace_back("X-Flue-Run-Id", run_id);
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (result->error) {
    auto r = error_response(*result->error);
    r.headers.emplace_back("X-Flue-Run-Id", run_id);
    co_await ex.respond(std::move(r));
    co_return;
  }
  auto r = json_response(200,
                         json_object{{"status", "completed"},
                                     {"run_id", run_id},
                                     {"runId", run_id},
                                     {"result", result->result}},
                         std::move(headers));
  co_await ex.respond(std::move(r));
}

}  // namespace cppflue::server

namespace cppflue::server {

// WS /workflows/{name}: one message ({"payload":{...}} or the payload itself), then the run's
// events as {"type", ...RunEvent}, then {"type":"result",...} or {"type":"error",...}.
asio::awaitable<void> Server::Impl::workflow_socket(Exchange& ex, std::string name) {
  auto ws = co_await ex.accept_websocket();
  if (!ws) co_return;
  auto send = [&ws](const json& message) -> asio::awaitable<bool> {
    co_return co_await ws->write(serialize(message));
  };
  if (!find_registered_workflow(name)) {
    json message = json_object{
        {"type", "error"},
        {"error", json_object{{"type", "not_found"},
                              {"message", fmt::format("Unknown workflow: {}.", name)}}}};
    co_await send(message);
    co_await ws->close();
    co_return;
  }
  auto first = co_await ws->read();
  if (!first) co_return;
  auto parsed = parse_json(*first);
  json payload = json_object{};
  if (parsed && parsed->is_object()) {
    const json* p = find(*parsed, "payload");
    payload = p != nullptr ? *p : *parsed;
  }
  if (!parsed || !payload.is_object()) {
    json message = json_object{
        {"type", "error"},
        {"error", json_object{{"type", parsed ? "invalid_request" : "invalid_json"},
                              {"message", "Send one JSON object: {\"payload\":{...}}."}}}};
    co_await send(message);
    co_await ws->close();
    co_return;
  }
  auto executor = co_await asio::this_coro::executor;
  std::string run_id = new_hex_id("run_", 24);
  auto job = launch(executor, *this, name, std::move(payload), run_id);
  auto wake = hub->subscribe(run_id, executor);
  struct Unsubscribe {
    std::shared_ptr<RunHub> hub;
    std::string id;
    std::shared_ptr<Signal> signal;
    ~Unsubscribe() { hub->unsubscribe(id, signal); }
  } unsubscribe{hub, run_id, wake};
  asio::steady_timer timer(executor);
  std::int64_t after = 0;
  json end = nullptr;
  for (;;) {
    {
      std::lock_guard lock(job->mu);
      if (job->start_error) break;
    }
    auto events = store->run_events(run_id, after, kStreamBatch);
    if (events) {
      for (const auto& e : *events) {
        json message = run_event_json(run_id, e);
        if (!co_await send(message)) co_return;
        after = e.index;
        if (e.type == "run_end") {
          end = e.data;
          break;
        }
      }
    }
    if (!end.is_null()) break;
    co_await wait_signal(wake, timer, kRunPoll);
  }
  json message;
  const json* status = end.is_null() ? nullptr : find(end, "status");
  if (status != nullptr && *status == "completed") {
    message = json_object{
        {"type", "result"}, {"run_id", run_id}, {"runId", run_id}, {"result", end.at("result")}};
  } else {
    json error = end.is_null() ? json(nullptr) : end.at("error");
    message = json_object{{"type", "error"},
                          {"run_id", run_id},
                          {"runId", run_id},
                          {"error", run_error_envelope(error).at("error")}};
  }
  co_await send(message);
  co_await ws->close();
}

}  // namespace cppflue::server
