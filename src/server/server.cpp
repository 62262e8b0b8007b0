// SPDX-License-Identifier: Apache-2.0
// The server: routing, agent instances, per-session queueing, prompts as JSON or SSE.
#include "cppflue/server/server.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <map>
#include <mutex>

#include "cppflue/core/config.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/harness/agent.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/event.hpp"
#include "cppflue/harness/project.hpp"
#include "cppflue/store/store.hpp"
#include "cppflue/version.hpp"
#include "server/routes.hpp"
#include "server/server_impl.hpp"

namespace cppflue::server {

using asio::use_awaitable;
using net::Exchange;
using net::ServerRequest;
using net::ServerResponse;

// Runs `fn` on the blocking pool; the caller resumes on its own executor. Exceptions rethrow.
asio::awaitable<void> run_blocking(asio::thread_pool& pool, std::function<void()> fn) {
  auto ex = co_await asio::this_coro::executor;
  auto done = std::make_shared<Signal>(ex, 1);
  auto error = std::make_shared<std::exception_ptr>();
  asio::post(pool, [done, error, fn = std::move(fn)] {
    try {
      fn();
    } catch (...) {
      *error = std::current_exception();
    }
    done->try_send(boost::system::error_code{});
  });
  auto [ec] = co_await done->async_receive(asio::as_tuple(use_awaitable));
  (void)ec;
  if (*error) std::rethrow_exception(*error);
}

asio::awaitable<bool> wait_signal(std::shared_ptr<Signal> wake, asio::steady_timer& timer,
                                  std::chrono::milliseconds timeout) {
  timer.expires_after(timeout);
  // The expiry may already be queued when the wait ends another way and the channel is gone
  // by the time it runs: hold the channel weakly. (A stale timeout left in a live channel only
  // makes a later wait return early; callers loop.)
  std::weak_ptr<Signal> weak = wake;
  timer.async_wait([weak](boost::system::error_code ec) {
    if (ec) return;
    if (auto w = weak.lock()) w->try_send(boost::asio::error::timed_out);
  });
  auto [ec] = co_await wake->async_receive(asio::as_tuple(use_awaitable));
  timer.cancel();
  co_return ec != boost::asio::error::timed_out;
}

asio::awaitable<void> SessionGates::acquire(const std::string& key) {
  std::shared_ptr<Signal> wait;
  {
    std::lock_guard lock(mu_);
    auto& gate = gates_[key];
    if (!gate.busy) {
      gate.busy = true;
      co_return;
    }
    wait = std::make_shared<Signal>(co_await asio::this_coro::executor, 1);
    gate.waiters.push_back(wait);
  }
  auto [ec] = co_await wait->async_receive(asio::as_tuple(use_awaitable));
  (void)ec;
}

void SessionGates::release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = gates_.find(key);
  if (it == gates_.end()) return;
  if (it->second.waiters.empty()) {
    gates_.erase(it);
    return;
  }
  auto next = it->second.waiters.front();
  it->second.waiters.pop_front();
  next->try_send(boost::system::error_code{});  // the session passes to the next one
}

json result_json(const PromptResult& r) {
  return json_object{{"text", r.text},
                     {"metadata", r.metadata},
                     {"usage", to_json(r.usage)},
                     {"model", json_object{{"id", r.model}}},
                     {"session_id", r.session_id}};
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

namespace {

// The prompt text of an agent request: "message", else "prompt"; a non-empty string.
tl::expected<std::string, std::string> message_of(const json& payload) {
  for (const char* key : {"message", "prompt"}) {
    const json* m = find(payload, key);
    if (m == nullptr || m->is_null()) continue;
    if (!m->is_string()) return tl::unexpected(fmt::format("The {} field must be a string.", key));
    if (blank(m->as_string())) break;
    return std::string(m->as_string());
  }
  return tl::unexpected(std::string("Send a non-empty \"message\" (or \"prompt\") string."));
}

}  // namespace

ServerResponse route_not_found(const ServerRequest& req) {
  return error_response(404, "not_found", "Route not found.",
                        fmt::format("No route matches {} {}.", req.method, req.path));
}

std::optional<ServerResponse> refuse_route(const ServerRequest& req, bool known_shape,
                                           std::string_view method) {
  if (!known_shape) return route_not_found(req);
  if (req.method != method) return method_not_allowed(req.method, method);
  return std::nullopt;
}

ServerResponse method_not_allowed(std::string_view method, std::string_view allowed) {
  auto r =
      error_response(405, "method_not_allowed", fmt::format("Method {} is not allowed.", method),
                     fmt::format("Use one of: {}.", allowed), {},
                     json_object{{"allowed", json_array{json(allowed)}}});
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)." : out + ".";
}

// ---- agents ----

std::string Server::Impl::agent_list() const {
  std::vector<std::string> names;
  for (const auto& [name, e] : *agents()) names.push_back(name);
  return name_list(names);
}

// The instance (name, id), built on first use (on the blocking pool: it reads files).
asio::awaitable<std::shared_ptr<Agent>> Server::Impl::instance(const std::string& name,
                                                               const std::string& id,
                                                               const json& payload) {
  {
    std::lock_guard lock(instances_mu);
    auto it = instances.find({name, id});
    if (it != instances.end()) {
      it->second.last_used = ++instance_clock;
      co_return it->second.agent;
    }
  }
  std::shared_ptr<Agent> made;
  auto build = [this, &made, name, id, payload] {
    auto factory = find_agent(name, config.root);
    if (!factory) throw Exception(factory.error());
    InitOptions defaults;
    defaults.root = config.root.string();
    if (!config.config_path.empty()) defaults.config_path = config.config_path.string();
    defaults.runtime = runtime;
    defaults.store = store;
    AgentContext context{id, {}, payload};
    std::string model = options.model;
    made = std::make_shared<Agent>(factory->instantiate(context, defaults, [&](InitOptions& o) {
      if (!model.empty()) o.model = model;
    }));
  };
  co_await run_blocking(runtime->blocking(), build);
  std::lock_guard lock(instances_mu);
  auto [it, inserted] = instances.emplace(std::make_pair(name, id), InstanceSlot{made, 0});
  it->second.last_used = ++instance_clock;
  std::shared_ptr<Agent> agent = it->second.agent;  // a concurrent request may have built it first
  if (inserted) evict_instances();
  co_return agent;
}

void Server::Impl::evict_instances() {
  const std::size_t limit = static_cast<std::size_t>(std::max(1, config.server.max_instances));
  while (instances.size() > limit) {
    auto victim = instances.end();
    for (auto it = instances.begin(); it != instances.end(); ++it) {
      // use_count 1: only the cache holds it (no request, run or dispatch is using it).
      if (it->second.agent.use_count() != 1) continue;
      if (victim == instances.end() || it->second.last_used < victim->second.last_used) {
        victim = it;
      }
    }
    if (victim == instances.end()) return;  // every instance is busy: keep them for now
    instances.erase(victim);
  }
}

// ---- routes ----

namespace {

// The exchange of a request that matches no entry of the route table (routes.hpp): error
// answers (the handlers' 400/404/405…) pass; any other answer would serve a route the table
// does not list, so it is replaced by 404 not_found and logged. Every route served is thus in
// http_routes(), which the documentation is checked against.
class UnlistedRouteExchange final : public Exchange {
 public:
  explicit UnlistedRouteExchange(Exchange& inner) : inner_(inner) {}
  const ServerRequest& request() const override { return inner_.request(); }
  asio::awaitable<void> respond(ServerResponse response) override {
    if (response.status >= 400) {
      co_await inner_.respond(std::move(response));
    } else {
      co_await refuse(std::to_string(response.status));
    }
  }
  asio::awaitable<bool> start_stream(int status, HttpHeaders) override {
    co_await refuse(std::to_string(status) + " (stream)");
    co_return false;
  }
  asio::awaitable<bool> write(std::string) override { co_return false; }
  CancelToken client_gone() const override { return inner_.client_gone(); }
  asio::awaitable<std::unique_ptr<net::ServerWebSocket>> accept_websocket() override {
    co_await refuse("a WebSocket");
    co_return nullptr;
  }

 private:
  asio::awaitable<void> refuse(const std::string& answer) {
    const ServerRequest& req = inner_.request();
    log::get()->error(
        "server: {} {} would be answered with {} but matches no route of the route table "
        "(src/server/routes.cpp); answering 404",
        req.method, req.path, answer);
    co_await inner_.respond(route_not_found(req));
  }
  Exchange& inner_;
};

}  // namespace

asio::awaitable<void> Server::Impl::handle(Exchange& ex) {
  const ServerRequest& req = ex.request();
  auto segments = path_segments(req.path);
  if (!segments) {
    {
      ServerResponse response = error_response(400, "invalid_request", "Request is invalid.",
                                               "The request path is not valid percent-encoding.");
      co_await ex.respond(std::move(response));
    }
    co_return;
  }
  const auto& seg = *segments;
  std::optional<ServerResponse> failure;
  try {
    if (match_route(req.method, req.websocket_upgrade, seg) != nullptr) {
      co_await route(ex, seg);
    } else {
      // Not in the route table: the handlers may only refuse it (see UnlistedRouteExchange).
      UnlistedRouteExchange unlisted(ex);
      co_await route(unlisted, seg);
    }
  } catch (const Exception& e) {
    log::get()->error("server: {} {}: {}", req.method, req.path, e.error().message);
    failure = error_response(e.error());
  } catch (const std::exception& e) {
    log::get()->error("server: {} {}: {}", req.method, req.path, e.what());
    failure = error_response(Error{});
  }
  if (failure) co_await ex.respond(std::move(*failure));  // ignored once answered
}

asio::awaitable<void> Server::Impl::route(Exchange& ex, const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  if (seg.size() == 1 && seg[0] == "health") {
    if (req.method != "GET") {
      {
        ServerResponse response = method_not_allowed(req.method, "GET");
        co_await ex.respond(std::move(response));
      }
    } else {
      {
        ServerResponse response = json_response(
            200, json_object{{"ok", true}, {"framework", "cppflue"}, {"version", kVersion}});
        co_await ex.respond(std::move(response));
      }
    }
    co_return;
  }
  if (seg.size() == 1 && seg[0] == "agents") {
    if (req.method != "GET") {
      {
        ServerResponse response = method_not_allowed(req.method, "GET");
        co_await ex.respond(std::move(response));
      }
    } else {
      {
        ServerResponse response = json_response(200, agents_json());
        co_await ex.respond(std::move(response));
      }
    }
    co_return;
  }
  if (!seg.empty() && seg[0] == "agents") {
    co_await agent_route(ex, seg);
    co_return;
  }
  if (!seg.empty() && seg[0] == "runs") {
    co_await runs_route(ex, seg);
    co_return;
  }
  if (!seg.empty() && seg[0] == "sessions") {
    co_await abort_route(ex, seg);
    co_return;
  }
  if (!seg.empty() && seg[0] == "webhooks") {
    co_await webhook_route(ex, seg);
    co_return;
  }
  if (!seg.empty() && seg[0] == "workflows") {
    co_await workflow_route(ex, seg);
    co_return;
  }
  if (!seg.empty() && seg[0] == "admin") {
    co_await admin_route(ex, seg);
    co_return;
  }
  if (!seg.empty() && seg[0] == "__cppflue") {
    co_await dashboard_route(ex, seg);
    co_return;
  }
  {
    ServerResponse response = route_not_found(req);
    co_await ex.respond(std::move(response));
  }
}

std::optional<ServerResponse> Server::Impl::refuse_agent(const std::string& name) const {
  auto catalog = agents();
  auto entry = catalog->find(name);
  if (entry == catalog->end()) {
    return error_response(
        404, "agent_not_found", fmt::format("Agent \"{}\" is not registered.", name),
        "Verify the agent name is correct.", fmt::format("Available agents: {}", agent_list()));
  }
  if (const json* webhook = find(entry->second.triggers, "webhook");
      webhook != nullptr && webhook->is_bool() && !webhook->as_bool()) {
    return error_response(404, "agent_not_webhook",
                          fmt::format("Agent \"{}\" is not webhook-enabled.", name),
                          "This agent cannot be invoked through the HTTP webhook endpoint.");
  }
  return std::nullopt;
}

json Server::Impl::agents_json() const {
  json_array list;
  for (const auto& [name, e] : *agents()) {
    list.push_back(json_object{{"name", name},
                               {"path", fmt::format("/agents/{}/{{agent_id}}", name)},
                               {"triggers", e.triggers}});
  }
  return json_object{{"agents", std::move(list)}};
}

asio::awaitable<void> Server::Impl::agent_route(Exchange& ex, const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  if ((seg.size() == 4 || seg.size() == 5) && seg[3] == "dispatch") {
    co_await dispatch_route(ex, seg);
    co_return;
  }
  if (seg.size() != 3) {
    {
      ServerResponse response = error_response(
          seg.size() < 3 ? 400 : 404, seg.size() < 3 ? "invalid_request" : "not_found",
          seg.size() < 3 ? "Request is invalid." : "Route not found.",
          "Webhook URLs must have the shape /agents/{name}/{agent_id} with non-empty segments.");
      co_await ex.respond(std::move(response));
    }
    co_return;
  }
  if (req.websocket_upgrade && !blank(seg[1]) && !blank(seg[2])) {
    co_await agent_socket(ex, seg[1], seg[2]);
    co_return;
  }
  if (req.method != "POST") {
    {
      ServerResponse response = method_not_allowed(req.method, "POST");
      co_await ex.respond(std::move(response));
    }
    co_return;
  }
  const std::string& name = seg[1];
  const std::string& id = seg[2];
  if (blank(name) || blank(id)) {
    {
      ServerResponse response = error_response(
          400, "invalid_request", "Request is invalid.",
          "Webhook URLs must have the shape /agents/{name}/{agent_id} with non-empty segments.");
      co_await ex.respond(std::move(response));
    }
    co_return;
  }
  ParsedBody body = parse_body(req);
  if (body.error) {
    {
      ServerResponse response = std::move(*body.error);
      co_await ex.respond(std::move(response));
    }
    co_return;
  }
  if (auto refusal = refuse_agent(name)) {
    auto r = std::move(*refusal);
    co_await ex.respond(std::move(r));
    co_return;
  }
  auto message = message_of(body.payload);
  if (!message) {
    {
      ServerResponse response =
          error_response(400, "invalid_request", "Request is invalid.", message.error());
      co_await ex.respond(std::move(response));
    }
    co_return;
  }
  std::string session = "default";
  if (const json* s = find(body.payload, "session"); s != nullptr && !s->is_null()) {
    if (!s->is_string() || blank(s->as_string())) {
      {
        ServerResponse response = error_response(400, "invalid_request", "Request is invalid.",
                                                 "The session field must be a non-empty string.");
        co_await ex.respond(std::move(response));
      }
      co_return;
    }
    session = std::string(s->as_string());
  }
  auto agent = co_await instance(name, id, body.payload);
  std::string key = id + ":" + session;
  if (auto webhook = req.header("X-Webhook"); webhook && iequals(*webhook, "true")) {
    co_await webhook_run(ex, agent, name, id, key, std::move(*message), body.payload);
    co_return;
  }
  if (wants_event_stream(req)) {
    co_await stream_prompt(ex, agent, key, std::move(*message));
    co_return;
  }
  co_await gates->acquire(key);
  SessionGates::Guard guard(gates.get(), key);
  ActiveSessions::Guard running(active, key, agent);
  Session s = agent->session(key);
  PromptResult result = co_await s.async_prompt(std::move(*message));
  {
    ServerResponse response = json_response(200, json_object{{"result", result_json(result)}});
    co_await ex.respond(std::move(response));
  }
}

asio::awaitable<void> Server::Impl::agent_socket(Exchange& ex, std::string name, std::string id) {
  auto ws = co_await ex.accept_websocket();
  if (!ws) co_return;
  auto error_message = [](std::string_view type, std::string message) {
    return serialize(json_object{{"type", "error"},
                                 {"error", json_object{{"type", type}, {"message", message}}}});
  };
  auto catalog = agents();
  auto entry = catalog->find(name);
  std::optional<std::string> refusal;
  if (entry == catalog->end()) {
    refusal = error_message("not_found", fmt::format("Unknown persistent agent: {}.", name));
  } else if (const json* webhook = find(entry->second.triggers, "webhook");
             webhook != nullptr && webhook->is_bool() && !webhook->as_bool()) {
    refusal = error_message("agent_not_webhook",
                            fmt::format("Agent \"{}\" is not webhook-enabled.", name));
  }
  if (refusal) {
    co_await ws->write(std::move(*refusal));
    co_await ws->close();
    co_return;
  }
  // Many prompts per connection, one at a time.
  for (;;) {
    auto text = co_await ws->read();
    if (!text) co_return;
    auto parsed = parse_json(*text);
    std::optional<std::string> reply;
    if (!parsed || !parsed->is_object()) {
      reply = error_message(parsed ? "invalid_request" : "invalid_json",
                            "Send a JSON object {\"type\":\"prompt\",\"message\":...}.");
    }
    std::string session = "default";
    std::optional<std::string> message;
    if (!reply) {
      auto m = message_of(*parsed);
      if (!m)
        reply = error_message("invalid_request", m.error());
      else
        message = std::move(*m);
      if (const json* s = find(*parsed, "session"); !reply && s && !s->is_null()) {
        if (!s->is_string() || blank(s->as_string())) {
          reply = error_message("invalid_request", "The session field must be a non-empty string.");
        } else {
          session = std::string(s->as_string());
        }
      }
    }
    if (!reply) {
      std::optional<Error> failure;
      try {
        auto agent = co_await instance(name, id, *parsed);
        std::string key = id + ":" + session;
        co_await gates->acquire(key);
        SessionGates::Guard guard(gates.get(), key);
        ActiveSessions::Guard running(active, key, agent);
        Session s = agent->session(key);
        PromptResult r = co_await s.async_prompt(std::move(*message));
        reply = serialize(json_object{{"type", "result"}, {"result", result_json(r)}});
      } catch (const Exception& e) {
        failure = e.error();
      } catch (const std::exception& e) {
        failure = make_error(ErrorType::internal, e.what());
      }
      if (failure) {
        auto envelope = parse_json(error_response(*failure).body);
        json error = envelope ? envelope->at("error") : json(nullptr);
        reply = serialize(json_object{{"type", "error"}, {"error", error}});
      }
    }
    if (!co_await ws->write(std::move(*reply))) co_return;
  }
}

// The prompt's events as SSE, then a `result` event (or `error` with an envelope).
asio::awaitable<void> Server::Impl::stream_prompt(Exchange& ex, std::shared_ptr<Agent> agent,
                                                  std::string key, std::string message) {
  struct Shared {
    std::mutex mu;
    std::deque<std::string> out;
    bool done = false;
  };
  auto executor = co_await asio::this_coro::executor;
  auto shared = std::make_shared<Shared>();
  auto wake = std::make_shared<Signal>(executor, 1);
  auto push = [shared, wake](std::string chunk, bool last) {
    {
      std::lock_guard lock(shared->mu);
      shared->out.push_back(std::move(chunk));
      if (last) shared->done = true;
    }
    wake->try_send(boost::system::error_code{});
  };
  HttpHeaders sse_headers{{"Content-Type", "text/event-stream"},
                          {"Cache-Control", "no-cache"},
                          {"X-Accel-Buffering", "no"}};
  if (!co_await ex.start_stream(200, std::move(sse_headers))) {
    co_return;
  }
  CancelRegistration on_gone(ex.client_gone(),
                             [wake] { wake->try_send(boost::system::error_code{}); });
  auto run = [](std::shared_ptr<SessionGates> gates, std::shared_ptr<ActiveSessions> active,
                std::shared_ptr<Agent> agent, std::string key, std::string message,
                std::function<void(std::string, bool)> push) -> asio::awaitable<void> {
    co_await gates->acquire(key);
    SessionGates::Guard guard(gates.get(), key);
    ActiveSessions::Guard running(active, key, agent);
    try {
      Session s = agent->session(key);
      EventCallback on_event = [push](const Event& e) {
        push(sse_event(e.type, to_json(e)), false);
      };
      PromptResult r = co_await s.async_stream(std::move(message), on_event);
      push(sse_event("result", json_object{{"type", "result"}, {"result", result_json(r)}}), true);
    } catch (const Exception& e) {
      auto envelope = parse_json(error_response(e.error()).body);
      push(sse_event("error", envelope ? *envelope : json(nullptr)), true);
    } catch (const std::exception& e) {
      auto envelope = parse_json(error_response(Error{}).body);
      push(sse_event("error", envelope ? *envelope : json(nullptr)), true);
    }
  };
  // The prompt runs on its own, so a client that goes away does not cut it short.
  asio::co_spawn(runtime->executor(), run(gates, active, agent, key, std::move(message), push),
                 asio::detached);
  auto heartbeat = std::make_shared<asio::steady_timer>(executor);
  for (;;) {
    std::deque<std::string> chunks;
    bool done = false;
    {
      std::lock_guard lock(shared->mu);
      chunks.swap(shared->out);
      done = shared->done;
    }
    std::string text;
    for (auto& c : chunks) text += c;
    if (!text.empty() && !co_await ex.write(std::move(text))) co_return;
    if (done || ex.client_gone().cancelled()) co_return;
    // Wait for more, writing a heartbeat comment when nothing came for a while.
    if (!co_await wait_signal(wake, *heartbeat, options.heartbeat)) {
      std::string comment = ": heartbeat\n\n";
      if (!co_await ex.write(std::move(comment))) co_return;
    }
  }
}

Result<AgentCatalog> discover_served_agents(const Config& config) {
  AgentCatalog agents;
  for (const auto& name : registered_agents()) {
    agents[name] = AgentEntry{name, json_object{{"webhook", true}}, true};
  }
  auto defs = discover_agent_definitions(config.root / ".agents" / "agents");
  if (!defs) return fail(defs.error());
  for (const auto& [name, def] : *defs) {
    if (agents.count(name) != 0) continue;  // a compiled agent of that name wins
    AgentEntry e{name, json_object{{"webhook", true}}, false};
    if (def.triggers.is_object() && !def.triggers.as_object().empty()) e.triggers = def.triggers;
    agents[name] = std::move(e);
  }
  return agents;
}

Result<json> describe_routes(const std::string& config_path) {
  auto config = discover_config(config_path, std::filesystem::current_path());
  if (!config) return fail(config.error());
  auto catalog = discover_served_agents(*config);
  if (!catalog) return fail(catalog.error());
  json_array agents;
  for (const auto& [name, e] : *catalog) {
    agents.push_back(json_object{{"name", name},
                                 {"path", fmt::format("/agents/{}/{{agent_id}}", name)},
                                 {"triggers", e.triggers},
                                 {"kind", e.compiled ? "compiled" : "markdown"}});
  }
  json_array workflows;
  for (const auto& w : registered_workflows()) {
    workflows.push_back(json_object{{"name", w}, {"path", fmt::format("/workflows/{}", w)}});
  }
  return json(json_object{{"agents", std::move(agents)}, {"workflows", std::move(workflows)}});
}

Result<std::size_t> Server::reload() {
  auto catalog = discover_served_agents(impl_->config);
  if (!catalog) return fail(catalog.error());
  std::size_t count = catalog->size();
  {
    std::lock_guard lock(impl_->agents_mu);
    impl_->agents_ptr = std::make_shared<const AgentCatalog>(std::move(*catalog));
  }
  // Requests in flight keep the instance they hold; the next ones build fresh instances from
  // the files as they are now.
  std::lock_guard lock(impl_->instances_mu);
  impl_->instances.clear();
  return count;
}

Result<std::unique_ptr<Server>> Server::start(ServeOptions options) {
  auto impl = std::make_unique<Impl>();
  std::filesystem::path cwd =
      options.root.empty() ? std::filesystem::current_path() : std::filesystem::path(options.root);
  auto config = discover_config(options.config_path, cwd);
  if (!config) return fail(config.error());
  apply_env_defaults(*config);
  impl->config = std::move(*config);
  impl->options = std::move(options);
  impl->runtime = Runtime::shared();
  impl->reply_client = std::make_shared<HttpClient>(impl->runtime->executor());
  if (auto r = impl->load_security(); !r) return fail(r.error());
  // The store creates the state directory (0700: it holds the history and the workspaces).
  auto store = open_sqlite_store(impl->config.state_dir() / "state.db");
  if (!store) return fail(store.error());
  impl->store = std::move(*store);

  auto catalog = discover_served_agents(impl->config);
  if (!catalog) return fail(catalog.error());
  impl->agents_ptr = std::make_shared<const AgentCatalog>(std::move(*catalog));

  net::HttpServerOptions http;
  http.host = impl->options.host.value_or(impl->config.server.host);
  http.port = impl->options.port.value_or(impl->config.server.port);
  http.max_body_bytes = static_cast<std::size_t>(impl->config.server.max_body_bytes);
  http.header_timeout = impl->options.header_timeout;
  http.body_timeout = impl->options.body_timeout;
  http.error_response = [](int status, std::string_view reason) {
    switch (status) {
      case 413:
        return error_response(413, "payload_too_large", "Request body is too large.",
                              "Send a smaller body (see [server] max_body_bytes).");
      case 431:
        return error_response(431, "headers_too_large", "Request headers are too large.",
                              "Send fewer or shorter headers.");
      case 408:
        return error_response(408, "request_timeout", "The request took too long to arrive.",
                              "Send the whole request promptly.");
      case 400:
        return error_response(400, "invalid_request", "Request is invalid.",
                              "The HTTP request could not be parsed.", reason);
      default:
        return error_response(500, "internal_error", "An internal error occurred.",
                              "The server encountered an unexpected error while handling this "
                              "request.");
    }
  };
  impl->host = http.host;
  Impl* self = impl.get();
  auto server = net::HttpServer::start(
      impl->runtime->executor(), std::move(http),
      [self](Exchange& ex) -> asio::awaitable<void> { return self->front_door(ex); });
  if (!server) return fail(server.error());
  impl->http = std::move(*server);
  if (auto r = impl->start_dispatch(); !r) {
    impl->http->stop(std::chrono::milliseconds(0));
    return fail(r.error());
  }
  return std::make_unique<Server>(std::move(impl));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop(std::chrono::milliseconds(0));
}

const std::string& Server::host() const {
  return impl_->host;
}

int Server::port() const {
  return impl_->http ? impl_->http->port() : 0;
}

void Server::stop(std::chrono::milliseconds grace) {
  auto deadline = std::chrono::steady_clock::now() + grace;
  if (impl_->dispatch) impl_->dispatch->stopping = true;  // no new leases from now on
  if (impl_->http) impl_->http->stop(grace);
  impl_->stop_dispatch(deadline);
}

}  // namespace cppflue::server
