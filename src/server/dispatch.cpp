// SPDX-License-Identifier: Apache-2.0
// Durable dispatch: POST /agents/{name}/{id}/dispatch commits the input to the store before
// answering 202; workers lease items (one per session at a time, in acceptance order) and
// prompt the agent's session. A lease that outlives its worker (a crash) is taken again; at
// start-up the leases of the previous process are released. A retry looks at the session: if
// the input already reached it, the agent is asked to continue instead of getting it twice.
#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/harness/app.hpp"
#include "server/server_impl.hpp"

namespace cppflue::server {

using net::Exchange;
using net::ServerRequest;
using net::ServerResponse;

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

}  // namespace

Result<DispatchItem> Server::Impl::enqueue(DispatchItem item) {
  item.id = new_hex_id("dispatch_", 32);
  auto stored = store->enqueue_dispatch(item);
  if (!stored) return stored;
  if (dispatch && !stored->duplicate) dispatch->wake->try_send(boost::system::error_code{});
  return stored;
}

Result<void> Server::Impl::start_dispatch() {
  auto released = store->release_dispatch_leases();
  if (!released) return fail(released.error());
  if (*released > 0) {
    log::get()->warn(
        "dispatch: {} item(s) in flight when the previous server stopped are queued "
        "again",
        *released);
  }
  dispatch = std::make_shared<DispatchState>(runtime->executor(), config.server.dispatch_workers);
  for (int i = 0; i < dispatch->workers; ++i) {
    {
      std::lock_guard lock(dispatch->mu);
      ++dispatch->running_workers;
    }
    asio::co_spawn(runtime->executor(), dispatch_worker(dispatch), asio::detached);
  }
  return {};
}

void Server::Impl::stop_dispatch(std::chrono::steady_clock::time_point deadline) {
  if (!dispatch) return;
  auto st = dispatch;
  st->stopping = true;
  for (int i = 0; i < st->workers; ++i) st->wake->try_send(boost::system::error_code{});
  auto busy = [&] {
    std::lock_guard lock(st->mu);
    return !st->active.empty();
  };
  while (busy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Whatever is still running is aborted; its lease is released below, so the next server
  // takes it up again (and sees how far it got).
  {
    std::lock_guard lock(st->mu);
    for (auto& [id, work] : st->active) {
      log::get()->warn("dispatch {}: aborted by the server stopping; it will be retried", id);
      work.first->session(work.second).abort();
    }
  }
  auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    {
      std::lock_guard lock(st->mu);
      if (st->running_workers == 0) break;
    }
    if (std::chrono::steady_clock::now() >= hard) {
      log::get()->error("dispatch: workers did not stop in time");
      break;
    }
    for (int i = 0; i < st->workers; ++i) st->wake->try_send(boost::system::error_code{});
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (auto r = store->release_dispatch_leases(); !r) {
    log::get()->error("dispatch: cannot release leases: {}", r.error().message);
  }
}

asio::awaitable<void> Server::Impl::dispatch_worker(std::shared_ptr<DispatchState> st) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  while (!st->stopping) {
    auto leased = store->lease_dispatch(kLease);
    if (!leased) {
      log::get()->error("dispatch: cannot lease: {}", leased.error().message);
      co_await wait_signal(st->wake, timer, kIdlePoll);
      continue;
    }
    if (!*leased) {
      co_await wait_signal(st->wake, timer, kIdlePoll);
      continue;
    }
    co_await process_dispatch(std::move(**leased), st);
  }
  std::lock_guard lock(st->mu);
  --st->running_workers;
}

asio::awaitable<void> Server::Impl::process_dispatch(DispatchItem item,
                                                     std::shared_ptr<DispatchState> st) {
  auto finish = [this, &item](const std::string& state, const json& error) {
    if (auto r = store->finish_dispatch(item.id, state, error); !r) {
      log::get()->error("dispatch {}: cannot record its end: {}", item.id, r.error().message);
    }
  };
  if (item.attempts > kMaxAttempts) {
    log::get()->error("dispatch {}: gave up after {} attempts", item.id, kMaxAttempts);
    finish("failed", json_object{{"type", "internal_error"},
                                 {"message", fmt::format("gave up after {} attempts "
                                                         "(the server stopped during each)",
                                                         kMaxAttempts)}});
    co_return;
  }
  // Keep the lease while the prompt runs.
  auto executor = co_await asio::this_coro::executor;
  auto renew_timer = std::make_shared<asio::steady_timer>(executor);
  auto renew = [](std::shared_ptr<Store> store, std::shared_ptr<asio::steady_timer> timer,
                  std::string id) -> asio::awaitable<void> {
    for (;;) {
      timer->expires_after(kRenewEvery);
      auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // cancelled: the item is finished
      auto r = store->renew_dispatch(id, kLease);
      if (!r || !*r) co_return;
    }
  };
  asio::co_spawn(executor, renew(store, renew_timer, item.id), asio::detached);
  struct StopRenewing {
    std::shared_ptr<asio::steady_timer> timer;
    ~StopRenewing() { timer->cancel(); }
  } stop_renewing{renew_timer};

  std::optional<Error> failure;
  bool requeue = false;
  try {
    auto agent = co_await instance(item.agent, item.instance_id, item.input);
    co_await gates->acquire(item.session);
    SessionGates::Guard guard(gates.get(), item.session);
    ActiveSessions::Guard running(active, item.session, agent);
    {
      std::lock_guard lock(st->mu);
      st->active[item.id] = {agent, item.session};
    }
    struct Inactive {
      DispatchState* st;
      std::string id;
      ~Inactive() {
        std::lock_guard lock(st->mu);
        st->active.erase(id);
      }
    } inactive{st.get(), item.id};
    Session session = agent->session(item.session);  // loading repairs a crashed tool call
    auto record = store->get_session(item.session);
    if (!record) throw Exception(record.error());
    std::int64_t count = *record ? (*record)->entry_count : 0;
    std::string text;
    bool already_answered = false;
    if (item.entries_before >= 0 && count > item.entries_before) {
      // A previous attempt reached the session: finished, or cut short.
      auto entries = store->entries(item.session);
      if (!entries) throw Exception(entries.error());
      already_answered = answered_after(*entries, item.entries_before);
      text = kContinue;
    } else {
      if (auto r = store->begin_dispatch_attempt(item.id, count); !r) throw Exception(r.error());
      text = item.input.is_string() ? std::string(item.input.as_string())
                                    : boost::json::serialize(item.input);
    }
    if (!already_answered) {
      PromptOptions options;
      options.tools = reply_tools(item);
      PromptResult r = co_await session.async_prompt(std::move(text), std::move(options));
      log::get()->debug("dispatch {}: done ({} turns)", item.id, r.metadata.at("turns").as_int64());
    }
  } catch (const Exception& e) {
    if (st->stopping && e.error().type == ErrorType::cancelled) {
      requeue = true;
    } else {
      failure = e.error();
    }
  } catch (const std::exception& e) {
    failure = make_error(ErrorType::internal, e.what());
  }
  if (requeue) co_return;  // still leased; released when the server stops
  if (failure) {
    log::get()->error("dispatch {} ({} → {}): {}", item.id, item.agent, item.session,
                      failure->message);
    finish("failed", error_json(*failure));
  } else {
    finish("done", nullptr);
  }
}

// ---- routes ----

asio::awaitable<void> Server::Impl::dispatch_route(Exchange& ex,
                                                   const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  const std::string& name = seg[1];
  const std::string& id = seg[2];
  if (blank(name) || blank(id)) {
    auto r = error_response(
        400, "invalid_request", "Request is invalid.",
        "Dispatch URLs must have the shape /agents/{name}/{agent_id}/dispatch with non-empty "
        "segments.");
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (seg.size() == 5) {  // GET .../dispatch/{dispatch_id}
    if (req.method != "GET") {
      auto r = method_not_allowed(req.method, "GET");
      co_await ex.respond(std::move(r));
      co_return;
    }
    auto d = store->get_dispatch(seg[4]);
    if (!d) throw Exception(d.error());
    if (!*d || (*d)->agent != name || (*d)->instance_id != id) {
      auto r = error_response(404, "dispatch_not_found",
                              fmt::format("Dispatch \"{}\" is not known to this server.", seg[4]),
                              "Verify the dispatch id, agent name and agent id.");
      co_await ex.respond(std::move(r));
      co_return;
    }
    auto r = json_response(200, status_json(**d));
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (req.method != "POST") {
    auto r = method_not_allowed(req.method, "POST");
    co_await ex.respond(std::move(r));
    co_return;
  }
  ParsedBody body = parse_body(req);
  if (body.error) {
    auto r = std::move(*body.error);
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (agents()->count(name) == 0) {
    auto r = error_response(404, "not_found", fmt::format("Unknown agent: {}.", name),
                            "Verify the agent name is correct.",
                            fmt::format("Available agents: {}", agent_list()));
    co_await ex.respond(std::move(r));
    co_return;
  }
  std::optional<std::string> problem;
  const json* input = find(body.payload, "input");
  if (input == nullptr || input->is_null()) {
    problem = "Send an \"input\" field (a string prompt or any JSON value).";
  } else if (input->is_string() && blank(input->as_string())) {
    problem = "The input field must not be an empty string.";
  }
  std::string session = "default";
  if (const json* s = find(body.payload, "session"); !problem && s && !s->is_null()) {
    if (!s->is_string() || blank(s->as_string())) {
      problem = "The session field must be a non-empty string.";
    } else {
      session = std::string(s->as_string());
    }
  }
  std::string key;
  if (const json* k = find(body.payload, "idempotency_key"); !problem && k && !k->is_null()) {
    if (!k->is_string() || blank(k->as_string()) || k->as_string().size() > kMaxKeyBytes) {
      problem = "The idempotency_key field must be a non-empty string of at most 255 bytes.";
    } else {
      key = std::string(k->as_string());
    }
  } else if (auto h = req.header("Idempotency-Key"); !problem && h) {
    if (blank(*h) || h->size() > kMaxKeyBytes) {
      problem = "The Idempotency-Key header must be non-empty and at most 255 bytes.";
    } else {
      key = *h;
    }
  }
  if (problem) {
    auto r = error_response(400, "invalid_request", "Request is invalid.", *problem);
    co_await ex.respond(std::move(r));
    co_return;
  }
  DispatchItem item;
  item.agent = name;
  item.instance_id = id;
  item.session = id + ":" + session;
  item.input = *input;
  item.idempotency_key = key;
  auto stored = enqueue(std::move(item));
  if (!stored) throw Exception(stored.error());
  auto r = json_response(202, receipt_json(*stored));
  co_await ex.respond(std::move(r));
}

}  // namespace cppflue::server
