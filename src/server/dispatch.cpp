// SPDX-License-Identifier: Apache-2.0
#include "server/dispatch.hpp"

#include <fmt/format.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "server/async_util.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

using net::ServerRequest;
using net::ServerResponse;
using Status = PromptOutcome::Status;

namespace {

constexpr auto kLease = std::chrono::seconds(60);
constexpr auto kRenewEvery = std::chrono::seconds(20);
constexpr auto kIdlePoll = std::chrono::milliseconds(1000);
constexpr std::int64_t kMaxAttempts = 5;
constexpr std::size_t kMaxKeyBytes = 255;

constexpr const char* kContinue =
    "[cppflue] The previous attempt to handle the message above was interrupted before it "
    "finished (the server stopped). Continue handling it from where it stopped.";

json receipt_json(const DispatchItem& d) {
  return json_object{{"status", "accepted"},
                     {"dispatch_id", d.id},
                     {"dispatchId", d.id},
                     {"accepted_at", d.accepted_at},
                     {"acceptedAt", d.accepted_at}};
}

json status_json(const DispatchItem& d) {
  return json_object{{"dispatch_id", d.id},
                     {"dispatchId", d.id},
                     {"agent", d.agent},
                     {"agent_id", d.instance_id},
                     {"session_id", d.session},
                     {"state", d.state},
                     {"attempts", d.attempts},
                     {"accepted_at", d.accepted_at},
                     {"acceptedAt", d.accepted_at},
                     {"finished_at", d.finished_at.empty() ? json(nullptr) : json(d.finished_at)},
                     {"error", d.error}};
}

json error_json(const Error& e) {
  return json_object{{"type", wire_name(e.type)}, {"message", e.message}};
}

ServerResponse invalid(std::string_view details) {
  return error_response(400, "invalid_request", "Request is invalid.", details);
}

ServerResponse bad_shape() {
  return invalid(
      "Dispatch URLs must have the shape /agents/{name}/{agent_id}/dispatch with non-empty "
      "segments.");
}

// The idempotency key of a submission: the "idempotency_key" field, else the Idempotency-Key
// header ("" when neither is given); the error is the details of a 400.
tl::expected<std::string, std::string> idempotency_key(const json& payload,
                                                       const ServerRequest& req) {
  if (const json* k = find(payload, "idempotency_key"); k && !k->is_null()) {
    if (!k->is_string() || blank(k->as_string()) || k->as_string().size() > kMaxKeyBytes) {
      return tl::unexpected(std::string(
          "The idempotency_key field must be a non-empty string of at most 255 bytes."));
    }
    return std::string(k->as_string());
  }
  if (auto h = req.header("Idempotency-Key")) {
    if (blank(*h) || h->size() > kMaxKeyBytes) {
      return tl::unexpected(
          std::string("The Idempotency-Key header must be non-empty and at most 255 bytes."));
    }
    return *h;
  }
  return std::string();
}

// True when the last message entry after `after` is a final assistant answer (no tool calls):
// the previous attempt finished its prompt.
bool answered_after(const std::vector<Entry>& entries, std::int64_t after) {
  for (auto it = entries.rbegin(); it != entries.rend() && it->seq > after; ++it) {
    if (it->kind != "message") continue;
    if (it->role != "assistant") return false;
    const json* calls = find(it->content, "tool_calls");
    return calls == nullptr || !calls->is_array() || calls->as_array().empty();
  }
  return false;
}

// A dispatched item's side of its prompt: the text depends on how far a previous attempt got,
// and items from a chat thread get the `reply` tool.
class DispatchSink final : public PromptSink {
 public:
  DispatchSink(std::shared_ptr<Store> store, const DispatchItem& item, const ReplyTools& replies)
      : store_(std::move(store)), item_(item), replies_(replies) {}

  std::optional<std::string> text(const PromptTarget& target) override {
    auto record = store_->get_session(item_.session);
    if (!record) throw Exception(record.error());
    std::int64_t count = *record ? (*record)->entry_count : 0;
    if (item_.entries_before >= 0 && count > item_.entries_before) {
      // A previous attempt reached the session: finished (nothing to send), or cut short.
      auto entries = store_->entries(item_.session);
      if (!entries) throw Exception(entries.error());
      if (answered_after(*entries, item_.entries_before)) return std::nullopt;
      return std::string(kContinue);
    }
    if (auto r = store_->begin_dispatch_attempt(item_.id, count); !r) throw Exception(r.error());
    return target.text;
  }
  void configure(PromptOptions& options) override { options.tools = replies_.for_item(item_); }

 private:
  std::shared_ptr<Store> store_;
  const DispatchItem& item_;
  const ReplyTools& replies_;
};

// The prompt of a dispatched item: its session id is "<instance_id>:<session name>".
std::optional<PromptCall> prompt_call(const DispatchItem& item) {
  std::string prefix = item.instance_id + ":";
  if (item.session.rfind(prefix, 0) != 0) return std::nullopt;
  json payload =
      json_object{{"input", item.input}, {"session", item.session.substr(prefix.size())}};
  PromptCall call{item.agent, item.instance_id, std::move(payload), PromptForm::input, item.input};
  call.traceparent = item.traceparent;
  return call;
}

// Renews the lease of item `id` until `timer` is cancelled (the item is finished).
asio::awaitable<void> renew_lease(std::shared_ptr<Store> store,
                                  std::shared_ptr<asio::steady_timer> timer, std::string id) {
  for (;;) {
    timer->expires_after(kRenewEvery);
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto r = store->renew_dispatch(id, kLease);
    if (!r || !*r) co_return;
  }
}

}  // namespace

// The workers' shared state. Workers hold it by shared_ptr.
struct DispatchQueue::Workers {
  Workers(const asio::any_io_executor& ex, int count)
      : wake(std::make_shared<Signal>(ex, static_cast<std::size_t>(count))), count(count) {}
  std::shared_ptr<Signal> wake;  // an item was enqueued, or stop
  int count;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  bool started = false;
  int running = 0;  // worker loops still alive
  // Items being processed: dispatch id → its cancellation, so stop can abort them.
  std::map<std::string, CancelSource> active;

  void wake_all() {
    for (int i = 0; i < count; ++i) ping(wake);
  }
  bool busy() {
    std::lock_guard lock(mu);
    return !active.empty();
  }
};

DispatchQueue::DispatchQueue(std::shared_ptr<const ServerEnv> env,
                             std::shared_ptr<ServedAgents> agents,
                             std::shared_ptr<PromptRunner> runner,
                             std::shared_ptr<ReplyTools> replies)
    : env_(std::move(env)),
      agents_(std::move(agents)),
      runner_(std::move(runner)),
      replies_(std::move(replies)),
      workers_(std::make_shared<Workers>(env_->runtime->executor(),
                                         env_->config.server.dispatch_workers)) {}

Result<DispatchItem> DispatchQueue::enqueue(DispatchItem item) {
  item.id = new_hex_id("dispatch_", 32);
  auto stored = env_->store->enqueue_dispatch(item);
  if (!stored) return stored;
  if (!stored->duplicate) ping(workers_->wake);
  return stored;
}

Result<void> DispatchQueue::start() {
  auto released = env_->store->release_dispatch_leases();
  if (!released) return fail(released.error());
  if (*released > 0) {
    log::get()->warn(
        "dispatch: {} item(s) in flight when the previous server stopped are queued again",
        *released);
  }
  // A free coroutine holding the queue: a worker never outlives what it uses.
  auto loop = [](std::shared_ptr<DispatchQueue> self,
                 std::shared_ptr<Workers> workers) -> asio::awaitable<void> {
    co_await self->work(std::move(workers));
  };
  {
    std::lock_guard lock(workers_->mu);
    workers_->started = true;
    workers_->running = workers_->count;
  }
  for (int i = 0; i < workers_->count; ++i) {
    asio::co_spawn(env_->runtime->executor(), loop(shared_from_this(), workers_), asio::detached);
  }
  return {};
}

void DispatchQueue::stop_leasing() {
  workers_->stopping = true;
}

void DispatchQueue::stop(std::chrono::steady_clock::time_point deadline) {
  auto w = workers_;
  w->stopping = true;
  {
    std::lock_guard lock(w->mu);
    if (!w->started) return;
  }
  w->wake_all();
  while (w->busy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Whatever is still running is aborted; its lease is released below, so the next server
  // takes it up again (and sees how far it got).
  {
    std::lock_guard lock(w->mu);
    for (auto& [id, cancel] : w->active) {
      log::get()->warn("dispatch {}: aborted by the server stopping; it will be retried", id);
      cancel.cancel();
    }
  }
  auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    {
      std::lock_guard lock(w->mu);
      if (w->running == 0) break;
    }
    if (std::chrono::steady_clock::now() >= hard) {
      log::get()->error("dispatch: workers did not stop in time");
      break;
    }
    w->wake_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (auto r = env_->store->release_dispatch_leases(); !r) {
    log::get()->error("dispatch: cannot release leases: {}", r.error().message);
  }
}

asio::awaitable<void> DispatchQueue::work(std::shared_ptr<Workers> workers) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!workers->stopping) {
    auto leased = env_->store->lease_dispatch(kLease);
    if (!leased) log::get()->error("dispatch: cannot lease: {}", leased.error().message);
    if (!leased || !*leased) {
      co_await wait_signal(workers->wake, timer, kIdlePoll);
      continue;
    }
    co_await process(std::move(**leased), workers);
  }
  std::lock_guard lock(workers->mu);
  --workers->running;
}

void DispatchQueue::finish(const DispatchItem& item, const std::string& state, const json& error) {
  if (auto r = env_->store->finish_dispatch(item.id, state, error); !r) {
    log::get()->error("dispatch {}: cannot record its end: {}", item.id, r.error().message);
  }
}

asio::awaitable<void> DispatchQueue::process(DispatchItem item, std::shared_ptr<Workers> workers) {
  if (item.attempts > kMaxAttempts) {
    log::get()->error("dispatch {}: gave up after {} attempts", item.id, kMaxAttempts);
    finish(item, "failed",
           json_object{{"type", "internal_error"},
                       {"message", fmt::format("gave up after {} attempts (the server stopped "
                                               "during each)",
                                               kMaxAttempts)}});
    co_return;
  }
  // Keep the lease while the prompt runs.
  auto renew_timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
  asio::co_spawn(renew_timer->get_executor(), renew_lease(env_->store, renew_timer, item.id),
                 asio::detached);
  struct Cleanup {
    std::shared_ptr<asio::steady_timer> timer;
    Workers& workers;
    std::string id;
    ~Cleanup() {
      timer->cancel();  // stop renewing
      std::lock_guard lock(workers.mu);
      workers.active.erase(id);
    }
  } cleanup{renew_timer, *workers, item.id};
  CancelToken cancel;
  {
    std::lock_guard lock(workers->mu);
    cancel = workers->active[item.id].token();
  }
  auto call = prompt_call(item);
  PromptOutcome out{Status::refused, "the session id does not belong to the instance"};
  if (call) {
    auto sink = std::make_shared<DispatchSink>(env_->store, item, *replies_);
    out = co_await runner_->run(std::move(*call), sink, cancel);
  }
  if (out.status == Status::refused) out.error = make_error(ErrorType::invalid_input, out.refusal);
  if (out.error && workers->stopping && out.error->type == ErrorType::cancelled) {
    co_return;  // still leased; released when the server stops
  }
  if (out.error) {
    log::get()->error("dispatch {} ({} → {}): {}", item.id, item.agent, item.session,
                      out.error->message);
    finish(item, "failed", error_json(*out.error));
    co_return;
  }
  if (out.result) {
    const json* turns = find(out.result->metadata, "turns");
    log::get()->debug("dispatch {}: done ({} turns)", item.id,
                      turns != nullptr ? serialize(*turns) : "?");
  }
  finish(item, "done", nullptr);
}

// ---- routes ----

asio::awaitable<ServerResponse> DispatchQueue::submit(const RouteCall& call) {
  const ServerRequest& req = call.request();
  const std::string& name = call.param("name");
  const std::string& id = call.param("id");
  if (blank(name) || blank(id)) co_return bad_shape();
  ParsedBody body = parse_body(req);
  if (body.error) co_return std::move(*body.error);
  if (!agents_->contains(name)) {
    co_return error_response(404, "not_found", fmt::format("Unknown agent: {}.", name),
                             "Verify the agent name is correct.",
                             fmt::format("Available agents: {}", agents_->names()));
  }
  auto input = read_prompt(body.payload, PromptForm::input);
  if (!input) co_return invalid(input.error());
  auto key = idempotency_key(body.payload, req);
  if (!key) co_return invalid(key.error());
  DispatchItem item;
  item.agent = name;
  item.instance_id = id;
  item.session = session_id(id, input->session);
  item.input = body.payload.at("input");
  item.idempotency_key = std::move(*key);
  auto trace = trace_headers(req);
  item.traceparent = std::move(trace.traceparent);
  item.tracestate = std::move(trace.tracestate);
  auto stored = enqueue(std::move(item));
  if (!stored) throw Exception(stored.error());
  co_return json_response(202, receipt_json(*stored));
}

asio::awaitable<ServerResponse> DispatchQueue::status(const RouteCall& call) {
  const std::string& name = call.param("name");
  const std::string& id = call.param("id");
  const std::string& dispatch_id = call.param("dispatch_id");
  if (blank(name) || blank(id)) co_return bad_shape();
  auto d = env_->store->get_dispatch(dispatch_id);
  if (!d) throw Exception(d.error());
  if (!*d || (*d)->agent != name || (*d)->instance_id != id) {
    co_return error_response(
        404, "dispatch_not_found",
        fmt::format("Dispatch \"{}\" is not known to this server.", dispatch_id),
        "Verify the dispatch id, agent name and agent id.");
  }
  co_return json_response(200, status_json(**d));
}

}  // namespace cppflue::server
