// SPDX-License-Identifier: Apache-2.0
#include "server/workflows.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <optional>

#include "cppflue/core/ids.hpp"
#include "cppflue/harness/app.hpp"
#include "server/async_util.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

using net::ServerRequest;
using net::ServerResponse;

struct WorkflowJob {
  explicit WorkflowJob(const asio::any_io_executor& ex)
      : started(std::make_shared<Signal>(ex, 2)), finished(std::make_shared<Signal>(ex, 2)) {}
  std::shared_ptr<Signal> started;   // run_start is stored, or the run could not start
  std::shared_ptr<Signal> finished;  // run_workflow returned
  std::mutex mu;
  std::optional<WorkflowRunResult> result;
  std::optional<Error> start_error;

  std::optional<Error> error() {
    std::lock_guard lock(mu);
    return start_error;
  }
};

namespace {

asio::awaitable<void> wait_for(const std::shared_ptr<Signal>& signal) {
  auto [ec] = co_await signal->async_receive(asio::as_tuple(asio::use_awaitable));
  (void)ec;
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

json socket_error(std::string_view type, std::string_view message) {
  return json_object{{"type", "error"},
                     {"error", json_object{{"type", type}, {"message", message}}}};
}

// The last message of WS /workflows/{name}, from the data of run_end (null: none came).
json socket_end(const std::string& run_id, const json& end) {
  const json* status = end.is_null() ? nullptr : find(end, "status");
  if (status != nullptr && *status == "completed") {
    return json_object{
        {"type", "result"}, {"run_id", run_id}, {"runId", run_id}, {"result", end.at("result")}};
  }
  json error = end.is_null() ? json(nullptr) : end.at("error");
  return json_object{{"type", "error"},
                     {"run_id", run_id},
                     {"runId", run_id},
                     {"error", run_error_envelope(error).at("error")}};
}

ServerResponse unknown_workflow(const std::string& name) {
  return error_response(404, "not_found", fmt::format("Unknown workflow: {}.", name),
                        "Verify the workflow name is correct.",
                        fmt::format("Available workflows: {}", name_list(registered_workflows())));
}

}  // namespace

std::shared_ptr<WorkflowJob> WorkflowRoutes::launch(const asio::any_io_executor& executor,
                                                    const std::string& name, json payload,
                                                    const std::string& run_id,
                                                    std::string traceparent) {
  auto job = std::make_shared<WorkflowJob>(executor);
  WorkflowRunOptions o;
  o.traceparent = std::move(traceparent);
  o.payload = std::move(payload);
  o.run_id = run_id;
  o.root = env_->config.root.string();
  if (!env_->config.config_path.empty()) o.config_path = env_->config.config_path.string();
  o.store = env_->store;
  o.model = env_->options.model;
  auto hub = hub_;
  o.on_event = [job, hub, run_id](const RunEvent& e) {
    if (e.type == events::RunStart::type) ping(job->started);
    hub->notify(run_id);
  };
  asio::post(env_->runtime->blocking(), [job, hub, run_id, name, o = std::move(o)]() mutable {
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
    ping(job->started);
    ping(job->finished);
    hub->notify(run_id);
  });
  return job;
}

asio::awaitable<Reply> WorkflowRoutes::start(const RouteCall& call, ResponseStream& out) {
  const ServerRequest& req = call.request();
  const std::string& name = call.param("name");
  ParsedBody body = parse_body(req);
  if (body.error) co_return std::move(*body.error);
  if (!find_registered_workflow(name)) co_return unknown_workflow(name);
  auto wait = query_param(req.query, "wait");
  if (wait && *wait != "result") co_return invalid_query("wait", *wait, "Must be \"result\".");

  std::string run_id = new_hex_id("run_", 24);
  auto job = launch(co_await asio::this_coro::executor, name, body.payload, run_id,
                    trace_headers(req).traceparent);
  co_await wait_for(job->started);
  if (auto error = job->error()) co_return error_response(*error);
  if (wants_event_stream(req)) {
    co_await answer_events(out, run_id);
    co_return Reply::streamed();
  }
  if (!wait) {
    co_return json_response(
        202, json_object{{"status", "accepted"}, {"run_id", run_id}, {"runId", run_id}},
        HttpHeaders{{"X-Flue-Run-Id", run_id}});
  }
  co_return co_await answer_result(*job, run_id);
}

asio::awaitable<void> WorkflowRoutes::answer_events(ResponseStream& out,
                                                    const std::string& run_id) {
  HttpHeaders headers{{"X-Flue-Run-Id", run_id}};
  co_await follower_->stream(out, run_id, 0, std::move(headers));
  if (out.client_gone().cancelled()) co_return;
  // A failed run ends with an error event carrying the envelope.
  auto run = env_->store->get_run(run_id);
  if (run && *run && (*run)->status != "completed" && (*run)->status != "running") {
    co_await out.write(sse_event("error", run_error_envelope((*run)->error)));
  }
}

asio::awaitable<ServerResponse> WorkflowRoutes::answer_result(WorkflowJob& job,
                                                              const std::string& run_id) {
  co_await wait_for(job.finished);
  std::optional<WorkflowRunResult> result;
  std::optional<Error> error;
  {
    std::lock_guard lock(job.mu);
    result = job.result;
    error = job.start_error;
  }
  if (!error && result && result->error) error = result->error;
  if (error || !result) {
    auto r = error_response(error.value_or(Error{}));
    r.headers.emplace_back("X-Flue-Run-Id", run_id);
    co_return r;
  }
  co_return json_response(200,
                          json_object{{"status", "completed"},
                                      {"run_id", run_id},
                                      {"runId", run_id},
                                      {"result", result->result}},
                          HttpHeaders{{"X-Flue-Run-Id", run_id}});
}

asio::awaitable<Reply> WorkflowRoutes::socket(const RouteCall& call, ResponseStream& out) {
  std::string name = call.param("name");
  auto ws = co_await out.accept_websocket();
  if (!ws) co_return Reply::streamed();
  if (!find_registered_workflow(name)) {
    co_await ws->write(
        serialize(socket_error("not_found", fmt::format("Unknown workflow: {}.", name))));
    co_await ws->close();
    co_return Reply::streamed();
  }
  auto first = co_await ws->read();
  if (!first) co_return Reply::streamed();
  auto parsed = parse_json(*first);
  json payload = json_object{};
  if (parsed && parsed->is_object()) {
    const json* p = find(*parsed, "payload");
    payload = p != nullptr ? *p : *parsed;
  }
  if (!parsed || !payload.is_object()) {
    co_await ws->write(serialize(socket_error(parsed ? "invalid_request" : "invalid_json",
                                              "Send one JSON object: {\"payload\":{...}}.")));
  } else if (!co_await socket_run(*ws, name, std::move(payload))) {
    co_return Reply::streamed();  // the client is gone
  }
  co_await ws->close();
  co_return Reply::streamed();
}

asio::awaitable<bool> WorkflowRoutes::socket_run(net::ServerWebSocket& ws, const std::string& name,
                                                 json payload) {
  auto executor = co_await asio::this_coro::executor;
  std::string run_id = new_hex_id("run_", 24);
  auto job = launch(executor, name, std::move(payload), run_id);
  RunHub::Subscription subscription(hub_, run_id, executor);
  asio::steady_timer timer(executor);
  std::int64_t after = 0;
  json end = nullptr;
  while (end.is_null() && !job->error()) {
    if (auto events = env_->store->run_events(run_id, after, kRunBatch)) {
      for (const auto& e : *events) {
        if (!co_await ws.write(serialize(run_event_json(run_id, e)))) co_return false;
        after = e.index;
        if (e.type == events::RunEnd::type) {
          end = e.data;
          break;
        }
      }
    }
    if (end.is_null()) co_await wait_signal(subscription.signal(), timer, kRunPoll);
  }
  co_return co_await ws.write(serialize(socket_end(run_id, end)));
}

}  // namespace cppflue::server
