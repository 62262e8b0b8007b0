// SPDX-License-Identifier: Apache-2.0
// The C++ client: requests go through the shared runtime's HttpClient (curl multi); the calling
// thread waits. Streams are parsed on the calling thread, so event handlers never run on a
// runtime thread and may call the client again.
#include "cppflue/client/client.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/net/http_client.hpp"
#include "cppflue/net/sse.hpp"
#include "cppflue/net/websocket_client.hpp"

namespace cppflue {

namespace asio = boost::asio;

namespace {

std::string encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// The envelope's type decides when it is telling (WebSocket errors have no status); then the
// HTTP status.
ErrorType error_type_for(int status, std::string_view type) {
  if (type == "unauthorized" || type == "auth_error") return ErrorType::auth_error;
  if (type == "session_busy") return ErrorType::session_busy;
  if (type == "aborted") return ErrorType::cancelled;
  if (type == "rate_limited") return ErrorType::rate_limited;
  if (type == "request_timeout" || type == "timeout") return ErrorType::timeout;
  if (type == "internal_error") return ErrorType::internal;
  if (ends_with(type, "not_found")) return ErrorType::not_found;
  if (type.rfind("invalid_", 0) == 0 || type == "unsupported_media_type" ||
      type == "payload_too_large" || type == "headers_too_large") {
    return ErrorType::invalid_input;
  }
  if (type == "permission_denied" || type == "policy_denied") return ErrorType::permission;
  switch (status) {
    case 400:
    case 405:
    case 413:
    case 415:
    case 422:
    case 431:
      return ErrorType::invalid_input;
    case 401:
      return ErrorType::auth_error;
    case 403:
      return ErrorType::permission;
    case 404:
      return ErrorType::not_found;
    case 408:
    case 504:
      return ErrorType::timeout;
    case 409:
      return ErrorType::session_busy;
    case 429:
      return ErrorType::rate_limited;
    case 502:
      return ErrorType::provider_error;
    default:
      return ErrorType::internal;
  }
}

// Throws the ClientError for an error envelope (or any non-2xx body).
[[noreturn]] void throw_envelope(int status, const json& envelope, std::string_view what) {
  std::string type = "http_error";
  std::string message = status > 0 ? fmt::format("HTTP {}", status) : "error";
  if (const json* e = find(envelope, "error"); e != nullptr && e->is_object()) {
    type = get_string_or(*e, "type", type);
    message = get_string_or(*e, "message", message);
  }
  Error error =
      make_error(error_type_for(status, type),
                 status > 0 ? fmt::format("{}: HTTP {} {}: {}", what, status, type, message)
                            : fmt::format("{}: {}: {}", what, type, message),
                 json_object{{"status", status}, {"type", type}, {"envelope", envelope}});
  throw ClientError(std::move(error), status, std::move(type), envelope);
}

[[noreturn]] void throw_status(const HttpResponse& r, std::string_view what) {
  auto parsed = parse_json(r.body);
  json envelope = parsed ? *parsed : json(r.body);
  throw_envelope(r.status, envelope, what);
}

ClientEvent to_client_event(const SseEvent& e) {
  ClientEvent out;
  out.type = e.event.empty() ? "message" : e.event;
  out.id = e.id;
  auto parsed = parse_json(e.data);
  out.data = parsed ? *parsed : json(e.data);
  return out;
}

std::string run_id_of(const HttpResponse& r, const json& body) {
  if (const json* meta = find(body, "_meta")) {
    if (auto id = get_string(*meta, "runId")) return *id;
    if (auto id = get_string(*meta, "run_id")) return *id;
  }
  if (auto id = get_string(body, "runId")) return *id;
  if (auto id = get_string(body, "run_id")) return *id;
  return r.header("X-Flue-Run-Id").value_or("");
}

// What the runtime thread hands to the thread reading a stream: body chunks as they arrive,
// then the request's outcome.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> chunks;
  bool finished = false;
  std::optional<Result<HttpResponse>> result;

  void push(std::string_view chunk) {
    {
      std::lock_guard lock(mu);
      chunks.emplace_back(chunk);
    }
    cv.notify_one();
  }
  void complete(const std::exception_ptr& e, Result<HttpResponse> r) {
    {
      std::lock_guard lock(mu);
      if (e) {
        result = tl::unexpected<Error>(
            make_error(ErrorType::internal, "the stream failed unexpectedly"));
      } else {
        result = std::move(r);
      }
      finished = true;
    }
    cv.notify_one();
  }
  // Waits for chunks or the end and moves the chunks into `out`; true once the request ended.
  bool take(std::deque<std::string>& out) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !chunks.empty() || finished; });
    out.swap(chunks);
    return finished;
  }
  void wait_finished() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished; });
  }
};

// However the reading thread leaves (a handler may throw), the request is not left running.
struct StopOnExit {
  CancelSource& source;
  std::shared_ptr<StreamState> state;
  ~StopOnExit() {
    source.cancel();
    state->wait_finished();
  }
};

// Parses the body as it arrives and hands each event to `on_event`, until the request ends.
// Returns true when `on_event` stopped the stream: the request is then cancelled and the rest
// of the body dropped.
bool deliver_events(StreamState& st, SseParser& parser, CancelSource& stop,
                    const std::function<bool(const SseEvent&)>& on_event) {
  bool stopped = false;
  std::vector<SseEvent> events;
  for (;;) {
    std::deque<std::string> chunks;
    bool finished = st.take(chunks);
    for (const auto& c : chunks) {
      if (stopped) break;
      events.clear();
      (void)parser.feed(c, events);  // an over-long line drops that event only
      for (const auto& e : events) {
        if (!on_event(e)) {
          stopped = true;
          stop.cancel();
          break;
        }
      }
    }
    if (finished) return stopped;
  }
}

}  // namespace

ClientError::ClientError(Error error, int status, std::string type, json envelope)
    : Exception(std::move(error)),
      status_(status),
      type_(std::move(type)),
      envelope_(std::move(envelope)) {}

std::string AgentReply::text() const {
  return get_string_or(result, "text", "");
}

struct Client::Impl {
  std::string base;
  ClientOptions options;
  std::shared_ptr<Runtime> runtime = Runtime::shared();
  std::shared_ptr<HttpClient> http = std::make_shared<HttpClient>(runtime->executor());

  void check_thread() const {
    if (runtime->in_io_thread()) {
      throw Exception(make_error(ErrorType::invalid_input,
                                 "cppflue::Client methods block; do not call them from a runtime "
                                 "thread (use them from your own threads)"));
    }
  }

  HttpRequest make(std::string method, const std::string& target, const json* body) const {
    HttpRequest req;
    req.method = std::move(method);
    req.url = base + target;
    req.connect_timeout = options.connect_timeout;
    req.total_timeout = options.timeout;
    req.idle_timeout = options.timeout;
    req.headers = options.headers;
    if (!options.token.empty())
      req.headers.emplace_back("Authorization", "Bearer " + options.token);
    if (body != nullptr) {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = serialize(*body);
    }
    return req;
  }

  HttpResponse send(HttpRequest req) const {
    check_thread();
    auto fut = asio::co_spawn(runtime->executor(), http->request(std::move(req)), asio::use_future);
    auto r = fut.get();
    if (!r) throw Exception(std::move(r.error()));
    return std::move(*r);
  }

  // A JSON answer: 2xx → the body; otherwise ClientError.
  json call(std::string method, const std::string& target, const json* body,
            HttpResponse* raw = nullptr, HttpHeaders extra = {}) const {
    HttpRequest req = make(method, target, body);
    for (auto& h : extra) req.headers.push_back(std::move(h));
    HttpResponse r = send(std::move(req));
    std::string what = fmt::format("{} {}", method, target);
    if (r.status < 200 || r.status >= 300) throw_status(r, what);
    auto parsed = parse_json(r.body);
    if (!parsed) {
      throw Exception(make_error(
          ErrorType::invalid_input,
          fmt::format("{}: the server's answer is not JSON: {}", what, parsed.error().message),
          json_object{{"status", r.status}}));
    }
    if (raw != nullptr) *raw = std::move(r);
    return std::move(*parsed);
  }

  // Outcome of a streamed request.
  struct StreamEnd {
    bool stopped = false;            // the handler returned false
    bool completed = false;          // the server ended the response normally
    std::optional<Error> transport;  // the connection failed (not our stop)
  };

  // Streams an SSE response, calling `on_event` on this thread. A non-2xx answer throws.
  StreamEnd stream(HttpRequest req, const std::function<bool(const SseEvent&)>& on_event) const {
    check_thread();
    auto st = std::make_shared<StreamState>();
    req.total_timeout = std::chrono::milliseconds(0);
    req.headers.emplace_back("Accept", "text/event-stream");
    std::string what = fmt::format("{} {}", req.method, req.url.substr(base.size()));
    HttpStreamHandlers handlers;
    handlers.on_body = [st](std::string_view chunk) {
      st->push(chunk);
      return true;
    };
    CancelSource stop;
    asio::co_spawn(runtime->executor(), http->request(std::move(req), handlers, stop.token()),
                   [st](const std::exception_ptr& e, Result<HttpResponse> r) {
                     st->complete(e, std::move(r));
                   });
    StopOnExit stop_on_exit{stop, st};
    SseParser parser;
    StreamEnd end;
    end.stopped = deliver_events(*st, parser, stop, on_event);
    Result<HttpResponse>& r = *st->result;
    if (end.stopped) return end;
    if (!r) {
      end.transport = r.error();
      return end;
    }
    if (r->status < 200 || r->status >= 300) throw_status(*r, what);
    std::vector<SseEvent> events;
    parser.finish(events);
    for (const auto& e : events) {
      if (!on_event(e)) {
        end.stopped = true;
        return end;
      }
    }
    end.completed = true;
    return end;
  }

  std::string ws_url(const std::string& target) const {
    std::string url = base + target;
    if (url.rfind("http://", 0) == 0) return "ws://" + url.substr(7);
    if (url.rfind("https://", 0) == 0) return "wss://" + url.substr(8);
    return url;
  }

  std::unique_ptr<net::WebSocketClient> ws_connect(const std::string& target) const {
    HttpHeaders headers = options.headers;
    if (!options.token.empty()) headers.emplace_back("Authorization", "Bearer " + options.token);
    auto ws = net::WebSocketClient::connect(ws_url(target), headers, options.connect_timeout);
    if (!ws) {
      // A refused upgrade carries the server's envelope.
      const json& d = ws.error().details;
      if (const json* status = find(d, "status"); status != nullptr && status->is_int64()) {
        auto body = parse_json(get_string_or(d, "body", ""));
        throw_envelope(static_cast<int>(status->as_int64()),
                       body ? *body : json(get_string_or(d, "body", "")),
                       fmt::format("WS {}", target));
      }
      throw Exception(std::move(ws.error()));
    }
    return std::move(*ws);
  }
};

// ---- AgentSocket ----

struct AgentSocket::Impl {
  std::unique_ptr<net::WebSocketClient> ws;
  std::chrono::milliseconds timeout;
  std::string target;
};

AgentSocket::AgentSocket(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AgentSocket::AgentSocket(AgentSocket&&) noexcept = default;
AgentSocket& AgentSocket::operator=(AgentSocket&&) noexcept = default;
AgentSocket::~AgentSocket() = default;

json AgentSocket::prompt(const std::string& message, const std::string& session) {
  if (!impl_) throw Exception(make_error(ErrorType::invalid_input, "the socket was moved from"));
  std::string text =
      serialize(json_object{{"type", "prompt"}, {"message", message}, {"session", session}});
  if (auto r = impl_->ws->send(text, impl_->timeout); !r) throw Exception(std::move(r.error()));
  auto got = impl_->ws->receive(impl_->timeout);
  if (!got) throw Exception(std::move(got.error()));
  if (!*got) {
    throw Exception(make_error(ErrorType::connection_error,
                               fmt::format("WS {}: the server closed the socket", impl_->target)));
  }
  auto parsed = parse_json(**got);
  if (!parsed || !parsed->is_object()) {
    throw Exception(make_error(ErrorType::invalid_input,
                               fmt::format("WS {}: the server sent a message that is not a JSON "
                                           "object",
                                           impl_->target)));
  }
  if (get_string_or(*parsed, "type", "") == "error") {
    throw_envelope(0, json_object{{"error", parsed->at("error")}},
                   fmt::format("WS {}", impl_->target));
  }
  return std::move(*parsed);
}

void AgentSocket::close() {
  if (impl_ && impl_->ws) impl_->ws->close();
}

// ---- Client ----

Client::Client(std::string base_url, ClientOptions options) : impl_(std::make_unique<Impl>()) {
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0) {
    throw Exception(
        make_error(ErrorType::invalid_input,
                   fmt::format("client base URL '{}': expected http:// or https://", base_url)));
  }
  impl_->base = std::move(base_url);
  std::string& admin = options.admin_base_path;
  while (!admin.empty() && admin.back() == '/') admin.pop_back();
  if (!admin.empty() && admin.front() != '/') admin.insert(admin.begin(), '/');
  impl_->options = std::move(options);
}

Client::~Client() = default;

const std::string& Client::base_url() const {
  return impl_->base;
}

json Client::health() {
  return impl_->call("GET", "/health", nullptr);
}

// ---- agents ----

json Client::Agents::list() {
  json body = c_.impl_->call("GET", "/agents", nullptr);
  const json* agents = find(body, "agents");
  return agents != nullptr ? *agents : json(json_array{});
}

AgentReply Client::Agents::invoke(const std::string& name, const std::string& id,
                                  const json& payload) {
  json body = json_object{{"payload", payload}};
  HttpResponse raw;
  AgentReply reply;
  reply.body = c_.impl_->call("POST", "/agents/" + encode(name) + "/" + encode(id), &body, &raw);
  const json* result = find(reply.body, "result");
  reply.result = result != nullptr ? *result : reply.body;
  reply.run_id = run_id_of(raw, reply.body);
  return reply;
}

std::string Client::Agents::invoke_webhook(const std::string& name, const std::string& id,
                                           const json& payload) {
  json body = json_object{{"payload", payload}};
  HttpResponse raw;
  json answer = c_.impl_->call("POST", "/agents/" + encode(name) + "/" + encode(id), &body, &raw,
                               {{"X-Webhook", "true"}});
  return run_id_of(raw, answer);
}

json Client::Agents::stream(const std::string& name, const std::string& id, const json& payload,
                            const ClientEventHandler& on_event) {
  std::string target = "/agents/" + encode(name) + "/" + encode(id);
  json body = json_object{{"payload", payload}};
  json result = nullptr;
  std::optional<json> failure;
  auto end = c_.impl_->stream(c_.impl_->make("POST", target, &body), [&](const SseEvent& e) {
    ClientEvent ev = to_client_event(e);
    // The final events: "result" ({"type":"result","result"}) or an error envelope.
    if (ev.type == "error" && find(ev.data, "error") != nullptr) {
      failure = ev.data;
      return false;
    }
    if (ev.type == "result") {
      const json* r = find(ev.data, "result");
      result = r != nullptr ? *r : ev.data;
    }
    return on_event(ev);
  });
  if (failure) throw_envelope(0, *failure, "POST " + target);
  if (end.transport) throw Exception(std::move(*end.transport));
  return result;
}

json Client::Agents::dispatch(const std::string& name, const std::string& id, const json& input,
                              const DispatchOptions& options) {
  json body = json_object{{"input", input}};
  if (!options.session.empty()) body.as_object()["session"] = options.session;
  if (!options.idempotency_key.empty()) {
    body.as_object()["idempotency_key"] = options.idempotency_key;
  }
  return c_.impl_->call("POST", "/agents/" + encode(name) + "/" + encode(id) + "/dispatch", &body);
}

json Client::Agents::dispatch_status(const std::string& name, const std::string& id,
                                     const std::string& dispatch_id) {
  return c_.impl_->call(
      "GET", "/agents/" + encode(name) + "/" + encode(id) + "/dispatch/" + encode(dispatch_id),
      nullptr);
}

bool Client::Agents::abort(const std::string& session_id) {
  json body = json_object{};
  json answer = c_.impl_->call("POST", "/sessions/" + encode(session_id) + "/abort", &body);
  const json* aborted = find(answer, "aborted");
  return aborted != nullptr && aborted->is_bool() && aborted->as_bool();
}

AgentSocket Client::Agents::connect(const std::string& name, const std::string& id) {
  c_.impl_->check_thread();
  std::string target = "/agents/" + encode(name) + "/" + encode(id);
  auto impl = std::make_unique<AgentSocket::Impl>();
  impl->ws = c_.impl_->ws_connect(target);
  impl->timeout = c_.impl_->options.timeout;
  impl->target = target;
  return AgentSocket(std::move(impl));
}

// ---- workflows ----

std::string Client::Workflows::invoke(const std::string& name, const json& payload) {
  json body = json_object{{"payload", payload}};
  HttpResponse raw;
  json answer = c_.impl_->call("POST", "/workflows/" + encode(name), &body, &raw);
  return run_id_of(raw, answer);
}

json Client::Workflows::wait(const std::string& name, const json& payload) {
  json body = json_object{{"payload", payload}};
  return c_.impl_->call("POST", "/workflows/" + encode(name) + "?wait=result", &body);
}

json Client::Workflows::stream(const std::string& name, const json& payload,
                               const ClientEventHandler& on_event) {
  std::string target = "/workflows/" + encode(name);
  json body = json_object{{"payload", payload}};
  json result = nullptr;
  std::optional<json> failure;
  auto end = c_.impl_->stream(c_.impl_->make("POST", target, &body), [&](const SseEvent& e) {
    ClientEvent ev = to_client_event(e);
    // (Run events carry an event_index; the closing error envelope does not.)
    if (ev.type == "error" && find(ev.data, "error") != nullptr &&
        find(ev.data, "event_index") == nullptr) {
      failure = ev.data;
      return false;
    }
    if (ev.type == "run_end") {
      if (const json* data = find(ev.data, "data")) {
        if (const json* r = find(*data, "result")) result = *r;
      }
    }
    return on_event(ev);
  });
  if (failure) throw_envelope(0, *failure, "POST " + target);
  if (end.transport) throw Exception(std::move(*end.transport));
  return result;
}

json Client::Workflows::run_socket(const std::string& name, const json& payload,
                                   const ClientEventHandler& on_event) {
  c_.impl_->check_thread();
  std::string target = "/workflows/" + encode(name);
  auto ws = c_.impl_->ws_connect(target);
  auto timeout = c_.impl_->options.timeout;
  if (auto r = ws->send(serialize(json_object{{"payload", payload}}), timeout); !r) {
    throw Exception(std::move(r.error()));
  }
  for (;;) {
    auto got = ws->receive(timeout);
    if (!got) throw Exception(std::move(got.error()));
    if (!*got) {
      throw Exception(make_error(ErrorType::connection_error,
                                 fmt::format("WS {}: closed before the run ended", target)));
    }
    auto parsed = parse_json(**got);
    if (!parsed || !parsed->is_object()) continue;
    std::string type = get_string_or(*parsed, "type", "");
    bool run_event = find(*parsed, "event_index") != nullptr;
    if (!run_event && type == "result") {
      ws->close();
      return std::move(*parsed);
    }
    if (!run_event && type == "error") {
      ws->close();
      throw_envelope(0, json_object{{"error", parsed->at("error")}}, "WS " + target);
    }
    ClientEvent ev;
    ev.type = type;
    if (const json* index = find(*parsed, "event_index")) ev.id = serialize(*index);
    ev.data = std::move(*parsed);
    if (!on_event(ev)) {
      ws->close();
      return nullptr;
    }
  }
}

// ---- runs ----

json Client::Runs::get(const std::string& run_id) {
  return c_.impl_->call("GET", "/runs/" + encode(run_id), nullptr);
}

json Client::Runs::events(const std::string& run_id, const RunEventsQuery& query) {
  std::string target =
      fmt::format("/runs/{}/events?after={}&limit={}", encode(run_id), query.after, query.limit);
  if (!query.types.empty()) {
    std::string types;
    for (const auto& t : query.types) types += (types.empty() ? "" : ",") + t;
    target += "&types=" + encode(types);
  }
  return c_.impl_->call("GET", target, nullptr);
}

std::int64_t Client::Runs::stream(const std::string& run_id, const ClientEventHandler& on_event,
                                  std::int64_t after, int max_reconnects) {
  std::string target = "/runs/" + encode(run_id) + "/stream";
  std::int64_t last = after;
  int failures = 0;
  for (;;) {
    HttpRequest req = c_.impl_->make("GET", target, nullptr);
    req.headers.emplace_back("Last-Event-ID", std::to_string(last));
    bool ended = false;
    bool progressed = false;
    auto end = c_.impl_->stream(std::move(req), [&](const SseEvent& e) {
      ClientEvent ev = to_client_event(e);
      if (!ev.id.empty()) {
        try {
          last = std::stoll(ev.id);
        } catch (const std::exception&) {
        }
      }
      progressed = true;
      if (ev.type == "run_end") ended = true;
      return on_event(ev) && !ended;
    });
    if (end.stopped || ended) return last;
    // The response ended (or broke) before run_end: resume from the last event seen.
    failures = progressed ? 1 : failures + 1;
    if (failures > max_reconnects) {
      if (end.transport) throw Exception(std::move(*end.transport));
      throw Exception(make_error(
          ErrorType::connection_error,
          fmt::format("GET {}: the stream ended before run_end {} times", target, failures),
          json_object{{"run_id", run_id}, {"last_event_id", last}}));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * failures));
  }
}

// ---- admin ----

namespace {

std::string admin_query(const AdminQuery& q, bool runs) {
  std::string out = fmt::format("?limit={}", q.limit);
  if (!q.cursor.empty()) out += "&cursor=" + encode(q.cursor);
  if (!q.status.empty()) out += "&status=" + encode(q.status);
  if (runs && !q.agent.empty()) out += "&agentName=" + encode(q.agent);
  return out;
}

AdminPage admin_page(json body, const char* list) {
  AdminPage page;
  if (const json* items = find(body, list)) page.items = *items;
  page.next_cursor = get_string_or(body, "nextCursor", "");
  page.body = std::move(body);
  return page;
}

}  // namespace

AdminPage Client::Admin::agents(const AdminQuery& query) {
  const std::string& base = c_.impl_->options.admin_base_path;
  return admin_page(c_.impl_->call("GET", base + "/agents" + admin_query(query, false), nullptr),
                    "agents");
}

AdminPage Client::Admin::instances(const std::string& agent, const AdminQuery& query) {
  const std::string& base = c_.impl_->options.admin_base_path;
  return admin_page(
      c_.impl_->call("GET",
                     base + "/agents/" + encode(agent) + "/instances" + admin_query(query, false),
                     nullptr),
      "instances");
}

AdminPage Client::Admin::runs(const AdminQuery& query) {
  const std::string& base = c_.impl_->options.admin_base_path;
  return admin_page(c_.impl_->call("GET", base + "/runs" + admin_query(query, true), nullptr),
                    "runs");
}

AdminPage Client::Admin::instance_runs(const std::string& agent, const std::string& id,
                                       const AdminQuery& query) {
  const std::string& base = c_.impl_->options.admin_base_path;
  return admin_page(c_.impl_->call("GET",
                                   base + "/agents/" + encode(agent) + "/instances/" + encode(id) +
                                       "/runs" + admin_query(query, false),
                                   nullptr),
                    "runs");
}

json Client::Admin::run(const std::string& run_id) {
  return c_.impl_->call("GET", c_.impl_->options.admin_base_path + "/runs/" + encode(run_id),
                        nullptr);
}

}  // namespace cppflue
