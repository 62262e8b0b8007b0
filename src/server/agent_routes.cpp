// SPDX-License-Identifier: Apache-2.0
#include "server/agent_routes.hpp"

#include <fmt/format.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <deque>
#include <mutex>

#include "cppflue/core/cancel.hpp"
#include "cppflue/harness/event.hpp"
#include "cppflue/version.hpp"
#include "server/async_util.hpp"
#include "server/http_util.hpp"
#include "server/prompt_run_sink.hpp"

namespace cppflue::server {

using net::ServerRequest;
using net::ServerResponse;
using Status = PromptOutcome::Status;

namespace {

constexpr const char* kShape =
    "Webhook URLs must have the shape /agents/{name}/{agent_id} with non-empty segments.";

ServerResponse unusable_prompt(const std::string& details) {
  return error_response(400, "invalid_request", "Request is invalid.", details);
}

// A WebSocket error message: {"type":"error","error":{"type","message"}}.
std::string socket_error(std::string_view type, std::string_view message) {
  return serialize(
      json_object{{"type", "error"}, {"error", json_object{{"type", type}, {"message", message}}}});
}

// The prompt's events as SSE chunks, queued for the request that writes them to its client
// (the prompt outlives a client that goes away).
class EventStreamSink final : public PromptSink {
 public:
  EventStreamSink(ResponseStream& out, std::shared_ptr<Signal> wake)
      : out_(&out), wake_(std::move(wake)) {}

  // Starts the stream before the prompt goes to the background; a client already gone gets
  // no prompt.
  asio::awaitable<Next> accepted(const PromptTarget&) override {
    bool open = co_await out_->start_events();
    out_ = nullptr;  // the request's stream: not touched in the background
    co_return open ? Next::detach : Next::drop;
  }
  bool streams_deltas() const override { return true; }
  void event(const Event& e) override { push(sse_event(e.type, to_json(e)), false); }
  void finished(const PromptTarget&, const PromptOutcome& outcome) override {
    if (outcome.result) {
      json result = json_object{{"type", "result"}, {"result", result_json(*outcome.result)}};
      push(sse_event("result", result), true);
    } else {
      push(sse_event("error", error_body(outcome.error.value_or(Error{}))), true);
    }
  }

  // The chunks queued so far, and whether the last one is among them.
  std::pair<std::string, bool> take() {
    std::lock_guard lock(mu_);
    std::string text;
    for (auto& c : out_chunks_) text += c;
    out_chunks_.clear();
    return {std::move(text), done_};
  }

 private:
  void push(std::string chunk, bool last) {
    {
      std::lock_guard lock(mu_);
      out_chunks_.push_back(std::move(chunk));
      if (last) done_ = true;
    }
    ping(wake_);
  }

  ResponseStream* out_;
  std::shared_ptr<Signal> wake_;
  std::mutex mu_;
  std::deque<std::string> out_chunks_;
  bool done_ = false;
};

}  // namespace

asio::awaitable<ServerResponse> AgentRoutes::health(const RouteCall&) {
  co_return json_response(
      200, json_object{{"ok", true}, {"framework", "cppflue"}, {"version", kVersion}});
}

asio::awaitable<ServerResponse> AgentRoutes::list(const RouteCall&) {
  co_return json_response(200, p_.agents->list_json());
}

asio::awaitable<Reply> AgentRoutes::prompt(const RouteCall& call, ResponseStream& out) {
  const ServerRequest& req = call.request();
  PromptCall prompt_call{call.param("name"), call.param("id")};
  if (blank(prompt_call.agent) || blank(prompt_call.instance_id)) {
    co_return error_response(400, "invalid_request", "Request is invalid.", kShape);
  }
  ParsedBody body = parse_body(req);
  if (body.error) co_return std::move(*body.error);
  if (auto refusal = p_.agents->refuse(prompt_call.agent)) co_return std::move(*refusal);
  prompt_call.payload = std::move(body.payload);
  prompt_call.traceparent = trace_headers(req).traceparent;
  if (auto webhook = req.header("X-Webhook"); webhook && iequals(*webhook, "true")) {
    co_return co_await answer_run(std::move(prompt_call));
  }
  if (wants_event_stream(req)) co_return co_await answer_events(std::move(prompt_call), out);
  co_return co_await answer_json(std::move(prompt_call));
}

asio::awaitable<ServerResponse> AgentRoutes::answer_json(PromptCall call) {
  PromptOutcome out = co_await p_.runner->run(std::move(call), std::make_shared<PromptSink>());
  if (out.status == Status::refused) co_return unusable_prompt(out.refusal);
  if (!out.result) co_return error_response(out.error.value_or(Error{}));
  co_return json_response(200, json_object{{"result", result_json(*out.result)}});
}

// The prompt's events as SSE, then a `result` event (or `error` with an envelope).
asio::awaitable<Reply> AgentRoutes::answer_events(PromptCall call, ResponseStream& out) {
  auto executor = co_await asio::this_coro::executor;
  auto wake = std::make_shared<Signal>(executor, 1);
  auto sink = std::make_shared<EventStreamSink>(out, wake);
  PromptOutcome outcome = co_await p_.runner->run(std::move(call), sink);
  if (outcome.status == Status::refused) co_return unusable_prompt(outcome.refusal);
  if (outcome.status == Status::failed) co_return error_response(*outcome.error);
  if (outcome.status != Status::detached) co_return Reply::streamed();  // the client left
  CancelRegistration on_gone(out.client_gone(), [wake] { ping(wake); });
  asio::steady_timer heartbeat(executor);
  for (;;) {
    auto [text, done] = sink->take();
    if (!text.empty() && !co_await out.write(std::move(text))) break;
    if (done || out.client_gone().cancelled()) break;
    // Wait for more, writing a heartbeat comment when nothing came for a while.
    if (co_await wait_signal(wake, heartbeat, p_.heartbeat)) continue;
    if (!co_await out.write(std::string(kSseHeartbeat))) break;
  }
  co_return Reply::streamed();
}

// An agent prompt as a background run: answers 202 with the run id.
asio::awaitable<ServerResponse> AgentRoutes::answer_run(PromptCall call) {
  auto sink = std::make_shared<PromptRunSink>(p_.store, p_.hub);
  PromptOutcome out = co_await p_.runner->run(std::move(call), sink);
  if (out.status == Status::refused) co_return unusable_prompt(out.refusal);
  if (out.status == Status::failed) co_return error_response(*out.error);
  const std::string& run_id = sink->run_id();
  co_return json_response(
      202, json_object{{"status", "accepted"}, {"run_id", run_id}, {"runId", run_id}},
      HttpHeaders{{"X-Flue-Run-Id", run_id}});
}

asio::awaitable<Reply> AgentRoutes::socket(const RouteCall& call, ResponseStream& out) {
  // Copies in the coroutine frame: the loop below lives as long as the WebSocket, across many
  // suspensions, without reaching back into the router's path segments.
  std::string name = call.param("name");
  // NOLINTNEXTLINE(performance-unnecessary-copy-initialization): the copy is the point, see above
  std::string id = call.param("id");
  // The upgrade request's trace context: every prompt of the connection joins that trace.
  std::string traceparent = trace_headers(call.request()).traceparent;
  auto ws = co_await out.accept_websocket();
  if (!ws) co_return Reply::streamed();
  std::optional<std::string> refusal;
  switch (p_.agents->check(name)) {
    case ServedAgents::Refusal::unknown:
      refusal = socket_error("not_found", fmt::format("Unknown persistent agent: {}.", name));
      break;
    case ServedAgents::Refusal::not_webhook:
      refusal = socket_error("agent_not_webhook",
                             fmt::format("Agent \"{}\" is not webhook-enabled.", name));
      break;
    case ServedAgents::Refusal::broken:
      refusal = socket_error("agent_invalid", fmt::format("Agent \"{}\" cannot run: {}", name,
                                                          p_.agents->problem(name)));
      break;
    case ServedAgents::Refusal::none:
      break;
  }
  if (refusal) {
    co_await ws->write(std::move(*refusal));
    co_await ws->close();
    co_return Reply::streamed();
  }
  // Many prompts per connection, one at a time.
  while (auto text = co_await ws->read()) {
    std::string reply = co_await socket_reply(name, id, *text, traceparent);
    if (!co_await ws->write(std::move(reply))) break;
  }
  co_return Reply::streamed();
}

asio::awaitable<std::string> AgentRoutes::socket_reply(const std::string& name,
                                                       const std::string& id,
                                                       const std::string& text,
                                                       const std::string& traceparent) {
  auto parsed = parse_json(text);
  if (!parsed || !parsed->is_object()) {
    co_return socket_error(parsed ? "invalid_request" : "invalid_json",
                           "Send a JSON object {\"type\":\"prompt\",\"message\":...}.");
  }
  PromptCall call{name, id, std::move(*parsed)};
  call.traceparent = traceparent;
  PromptOutcome out = co_await p_.runner->run(std::move(call), std::make_shared<PromptSink>());
  if (out.status == Status::refused) co_return socket_error("invalid_request", out.refusal);
  if (out.result) {
    co_return serialize(json_object{{"type", "result"}, {"result", result_json(*out.result)}});
  }
  json envelope = error_body(out.error.value_or(Error{}));
  json error = envelope.is_object() ? envelope.at("error") : json(nullptr);
  co_return serialize(json_object{{"type", "error"}, {"error", error}});
}

asio::awaitable<ServerResponse> AgentRoutes::abort(const RouteCall& call) {
  const std::string& key = call.param("session_id");
  if (blank(key)) {
    co_return error_response(400, "invalid_request", "Request is invalid.",
                             "Abort URLs must have the shape /sessions/{session_id}/abort.");
  }
  bool aborted = false;
  if (auto agent = p_.active->find(key)) aborted = agent->session(key).abort();
  co_return json_response(200, json_object{{"aborted", aborted}, {"session_id", key}});
}

}  // namespace cppflue::server
