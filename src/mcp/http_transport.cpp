// SPDX-License-Identifier: Apache-2.0
// The MCP Streamable HTTP transport (protocol 2025-11-25) on top of HttpClient.
//
// Outgoing messages go through a queue on our strand, in order: a request is POSTed by its
// own coroutine (its answer may be a long SSE stream, during which the server can send us
// requests we answer with new POSTs), while notifications and responses are POSTed one after
// the other, so `notifications/initialized` reaches the server before the next request.
//
// Incoming messages are delivered under a (recursive) mutex, so handlers never run
// concurrently: SSE messages from HttpClient's strand as they arrive, JSON bodies from our
// strand when the POST completes. The negotiated protocol version is read from the answer to
// `initialize` before it is delivered, and the session id from the response headers, so the
// client's next message already carries both.
//
// An SSE stream that ends before the response to its request is resumed with a GET carrying
// `Last-Event-ID`, after the server's `retry:` delay (SEP-1699).
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "cppflue/core/async.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/mcp/client.hpp"
#include "cppflue/mcp/jsonrpc.hpp"
#include "cppflue/net/http_client.hpp"
#include "cppflue/net/sse.hpp"

namespace cppflue::mcp {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds kDefaultRetry{1000};
constexpr std::chrono::milliseconds kDeleteTimeout{1000};
constexpr int kMaxResumptions = 5;

bool is_event_stream(const HttpHeaders& headers) {
  auto ct = find_header(headers, "content-type");
  return ct && ct->find("text/event-stream") != std::string::npos;
}

std::string snippet(std::string_view body) {
  std::string s(body.substr(0, 300));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (body.size() > 300) s += "...";
  return s;
}

std::optional<RequestId> to_request_id(const json& id) {
  if (id.is_int64()) return RequestId{id.as_int64()};
  if (id.is_uint64()) return RequestId{static_cast<std::int64_t>(id.as_uint64())};
  if (id.is_string()) return RequestId{std::string(id.as_string())};
  return std::nullopt;
}

bool same_id(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    auto x = to_request_id(a);
    auto y = to_request_id(b);
    return x && y && *x == *y;
  }
  return a == b;
}

// One HTTP response being read (a POST answer or a resumption GET).
struct Stream {
  json request_id = nullptr;  // the request whose response we wait for (null: none)
  int status = 0;
  bool sse = false;
  SseParser parser;
  std::vector<SseEvent> events;
  std::string body;  // non-SSE 2xx body
  bool got_response = false;
  bool stop_after_response = false;  // resumption GET: stop reading once answered
  bool stopped = false;
  std::string last_event_id;
  std::optional<long> retry_ms;
  std::optional<Error> error;
};

struct State : std::enable_shared_from_this<State> {
  std::string name;
  std::string url;
  HttpHeaders custom_headers;
  McpOptions options;
  asio::strand<asio::any_io_executor> strand;
  std::unique_ptr<HttpClient> http;
  CancelSource cancel_all;

  std::mutex mu;  // guards the fields below
  std::string session_id;
  std::string protocol_version;
  std::optional<json> init_id;
  bool closed = false;
  int busy = 0;  // coroutines that may still have a transfer in flight
  std::condition_variable idle;

  std::recursive_mutex deliver_mu;  // handlers never run concurrently
  McpTransport::Handlers handlers;
  bool finished = false;

  // Only touched on `strand`.
  std::deque<json> queue;
  bool sending = false;

  // Not the Runtime itself: the last reference could then be dropped on one of its threads.
  explicit State(const asio::any_io_executor& executor)
      : strand(asio::make_strand(executor)), http(std::make_unique<HttpClient>(executor)) {}

  // Counts a coroutine as busy until the returned token is dropped (with its frame).
  std::shared_ptr<void> track() {
    {
      std::lock_guard lock(mu);
      ++busy;
    }
    auto self = shared_from_this();
    return std::shared_ptr<void>(static_cast<void*>(this), [self](void*) {
      std::lock_guard lock(self->mu);
      if (--self->busy == 0) self->idle.notify_all();
    });
  }

  // Waits (bounded) until no transfer is left.
  void wait_idle(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu);
    idle.wait_for(lock, limit, [this] { return busy == 0; });
  }

  bool is_closed() {
    std::lock_guard lock(mu);
    return closed;
  }

  std::string prefix() const { return "MCP server '" + name + "' (" + url + ")"; }

  HttpHeaders headers(bool with_session) {
    HttpHeaders h = custom_headers;
    std::lock_guard lock(mu);
    if (!protocol_version.empty()) h.emplace_back("MCP-Protocol-Version", protocol_version);
    if (with_session && !session_id.empty()) h.emplace_back("Mcp-Session-Id", session_id);
    return h;
  }

  HttpRequest make_post(std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = headers(true);
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Accept", "application/json, text/event-stream");
    r.body = std::move(body);
    r.idle_timeout = std::chrono::milliseconds(0);  // the client's request timeout applies
    return r;
  }

  void deliver(json message) {
    if (message.is_array()) {
      for (auto& m : message.as_array()) deliver(std::move(m));
      return;
    }
    {
      std::lock_guard lock(mu);
      const json* id = find(message, "id");
      if (init_id && id != nullptr && find(message, "method") == nullptr &&
          same_id(*id, *init_id)) {
        if (const json* result = find(message, "result")) {
          protocol_version = get_string_or(*result, "protocolVersion", "");
        }
        init_id.reset();
      }
    }
    std::lock_guard lock(deliver_mu);
    if (finished || !handlers.on_message) return;
    handlers.on_message(std::move(message));
  }

  // Ends the connection: cancels every stream and reports `why` (once).
  void finish(Error why) {
    {
      std::lock_guard lock(mu);
      closed = true;
    }
    cancel_all.cancel();
    std::lock_guard lock(deliver_mu);
    if (finished) return;
    finished = true;
    if (handlers.on_closed) handlers.on_closed(std::move(why));
  }

  void finish_connection_error(std::string message) {
    finish(make_error(ErrorType::connection_error, std::move(message)));
  }

  // Fails one request with a JSON-RPC error (the server's own when its body is one).
  void fail_request(const json& id, int status, std::string_view body, std::string text) {
    if (auto parsed = parse_json(body); parsed && parsed->is_object()) {
      const json* err = find(*parsed, "error");
      const json* pid = find(*parsed, "id");
      if (err != nullptr && err->is_object() && pid != nullptr && same_id(*pid, id)) {
        deliver(std::move(*parsed));
        return;
      }
    }
    if (status != 0) log::get()->warn("mcp[{}]: {}", name, text);
    deliver(make_error_response(to_request_id(id), kInternalError, text));
  }

  bool is_response_to(const json& message, const json& id) {
    if (id.is_null() || !message.is_object() || find(message, "method") != nullptr) return false;
    const json* mid = find(message, "id");
    return mid != nullptr && same_id(*mid, id);
  }

  void handle_message_text(Stream& st, std::string_view text) {
    auto parsed = parse_json(text, "MCP message");
    if (!parsed) {
      log::get()->warn("mcp[{}]: skipping an event that is not JSON: {}", name,
                       parsed.error().message);
      return;
    }
    if (is_response_to(*parsed, st.request_id)) st.got_response = true;
    if (parsed->is_array()) {
      for (const auto& m : parsed->as_array()) {
        if (is_response_to(m, st.request_id)) st.got_response = true;
      }
    }
    deliver(std::move(*parsed));
  }

  // Delivers the parsed events; false to stop reading.
  bool drain(Stream& st) {
    for (auto& ev : st.events) {
      if (ev.retry_ms) st.retry_ms = ev.retry_ms;
      if (!ev.event.empty() && ev.event != "message") continue;
      if (ev.data.find_first_not_of(" \t\r\n") == std::string::npos) continue;  // priming
      handle_message_text(st, ev.data);
    }
    st.events.clear();
    st.last_event_id = st.parser.last_event_id();
    if (st.stop_after_response && st.got_response) {
      st.stopped = true;
      return false;
    }
    return true;
  }

  HttpStreamHandlers handlers_for(Stream& st) {
    HttpStreamHandlers h;
    auto self = shared_from_this();
    h.on_head = [self, &st](int status, const HttpHeaders& response_headers) {
      st.status = status;
      st.sse = is_event_stream(response_headers);
      if (status < 200 || status >= 300) return;
      auto sid = find_header(response_headers, "mcp-session-id");
      if (sid && !sid->empty()) {
        std::lock_guard lock(self->mu);
        if (self->session_id.empty()) self->session_id = *sid;
      }
    };
    h.on_body = [self, &st](std::string_view chunk) -> bool {
      if (!st.sse) {
        if (st.body.size() + chunk.size() > self->options.max_message_bytes) {
          st.error = make_error(ErrorType::provider_error,
                                self->prefix() + ": message too large (over " +
                                    std::to_string(self->options.max_message_bytes) + " bytes)");
          return false;
        }
        st.body.append(chunk);
        return true;
      }
      auto r = st.parser.feed(chunk, st.events);
      if (!r) {
        st.error = make_error(ErrorType::provider_error,
                              self->prefix() + ": malformed event stream: " + r.error().message);
        return false;
      }
      return self->drain(st);
    };
    return h;
  }
};

// Reads what the server sends on a stream after its request completed. Returns the transport
// failure (already reported) as false.
bool check_transport(State& s, Stream& st, const Result<HttpResponse>& r) {
  if (s.is_closed()) return false;
  if (st.stopped) return true;
  if (st.error) {
    s.finish(*st.error);
    return false;
  }
  if (!r) {
    s.finish_connection_error("MCP server '" + s.name + "': " + r.error().message);
    return false;
  }
  return true;
}

asio::awaitable<void> resume_stream(std::shared_ptr<State> s, Stream& first) {
  std::string last_id = first.last_event_id;
  std::optional<long> retry = first.retry_ms;
  for (int attempt = 1; attempt <= kMaxResumptions; ++attempt) {
    if (last_id.empty()) {
      s->fail_request(first.request_id, 0, "",
                      "the event stream from " + s->url +
                          " ended without a response (and without an event id to resume from)");
      co_return;
    }
    auto delay = retry ? std::chrono::milliseconds(*retry) : kDefaultRetry;
    auto sleep = sleep_for(delay, s->cancel_all.token());
    bool slept = co_await std::move(sleep);
    if (!slept || s->is_closed()) co_return;

    Stream st;
    st.request_id = first.request_id;
    st.stop_after_response = true;
    HttpRequest req;
    req.method = "GET";
    req.url = s->url;
    req.headers = s->headers(true);
    req.headers.emplace_back("Accept", "text/event-stream");
    req.headers.emplace_back("Last-Event-ID", last_id);
    req.idle_timeout = std::chrono::milliseconds(0);
    log::get()->debug("mcp[{}]: resuming the event stream after {} (attempt {})", s->name, last_id,
                      attempt);
    HttpStreamHandlers handlers = s->handlers_for(st);
    auto op = s->http->request(std::move(req), std::move(handlers), s->cancel_all.token());
    auto r = co_await std::move(op);
    if (!check_transport(*s, st, r)) co_return;
    if (st.got_response) co_return;
    if (r->status < 200 || r->status >= 300) {
      s->fail_request(first.request_id, r->status, r->body,
                      fmt::format("HTTP {} from {} when resuming the event stream: {}", r->status,
                                  s->url, snippet(r->body)));
      co_return;
    }
    st.parser.finish(st.events);
    s->drain(st);
    if (st.got_response) co_return;
    if (!st.last_event_id.empty()) last_id = st.last_event_id;
    if (st.retry_ms) retry = st.retry_ms;
  }
  s->fail_request(first.request_id, 0, "",
                  fmt::format("no response from {} after resuming the event stream {} times",
                              s->url, kMaxResumptions));
}

// POSTs one message. For a request, waits for its response on the answer (or a resumed
// stream); for notifications and responses, only checks the status.
asio::awaitable<void> post_message(std::shared_ptr<State> s, json message, bool is_request,
                                   [[maybe_unused]] std::shared_ptr<void> busy) {
  Stream st;
  if (is_request) st.request_id = *find(message, "id");
  bool had_session = false;
  {
    std::lock_guard lock(s->mu);
    had_session = !s->session_id.empty();
  }
  HttpRequest req = s->make_post(dump(message));
  // The caller's trace context, which the client puts in params._meta, also as the HTTP header
  // (validated there: a W3C traceparent is hex digits and dashes only).
  if (const json* tp = find_path(message, "params/_meta/traceparent"); tp && tp->is_string()) {
    req.headers.emplace_back("traceparent", std::string(tp->as_string()));
  }
  HttpStreamHandlers handlers = s->handlers_for(st);
  auto op = s->http->request(std::move(req), std::move(handlers), s->cancel_all.token());
  auto r = co_await std::move(op);
  if (!check_transport(*s, st, r)) co_return;
  int status = r->status;
  if (status == 404 && had_session) {
    // The server forgot the session, so it did not process this message: the client may
    // initialize a new session and send it again (details.request_id says which one).
    json_object details;
    details["session_expired"] = true;
    details["request_id"] = is_request ? st.request_id : json(nullptr);
    s->finish(make_error(ErrorType::connection_error,
                         s->prefix() + ": the session expired (HTTP 404)", std::move(details)));
    co_return;
  }
  if (status < 200 || status >= 300) {
    std::string text = fmt::format("HTTP {} from {}: {}", status, s->url, snippet(r->body));
    if (is_request) {
      s->fail_request(st.request_id, status, r->body, std::move(text));
    } else {
      log::get()->warn("mcp[{}]: {}", s->name, text);
    }
    co_return;
  }
  if (!is_request) co_return;  // 202 expected; anything else carries nothing for us
  if (!st.sse) {
    if (st.body.find_first_not_of(" \t\r\n") == std::string::npos) {
      s->fail_request(st.request_id, 0, "",
                      fmt::format("HTTP {} from {} without a response", status, s->url));
      co_return;
    }
    s->handle_message_text(st, st.body);
    if (!st.got_response) {
      s->fail_request(st.request_id, 0, "",
                      "the HTTP answer from " + s->url + " did not contain the response");
    }
    co_return;
  }
  st.parser.finish(st.events);
  s->drain(st);
  if (st.got_response) co_return;
  auto resume = resume_stream(s, st);
  co_await std::move(resume);
}

// The standalone GET stream, opened after the handshake: servers send requests that are not
// tied to one of ours (e.g. elicitation from a tool handler that has no related request) and
// notifications there. A server without one answers 405 (or any non-SSE status): we stop. A
// stream that ends is reopened after the server's retry delay, with Last-Event-ID; after a few
// consecutive streams that failed or carried nothing we give up.
asio::awaitable<void> listen(std::shared_ptr<State> s,
                             [[maybe_unused]] std::shared_ptr<void> busy) {
  std::string last_id;
  std::optional<long> retry;
  int idle_streams = 0;
  while (!s->is_closed()) {
    Stream st;
    HttpRequest req;
    req.method = "GET";
    req.url = s->url;
    req.headers = s->headers(true);
    req.headers.emplace_back("Accept", "text/event-stream");
    if (!last_id.empty()) req.headers.emplace_back("Last-Event-ID", last_id);
    req.idle_timeout = std::chrono::milliseconds(0);
    HttpStreamHandlers handlers = s->handlers_for(st);
    auto op = s->http->request(std::move(req), std::move(handlers), s->cancel_all.token());
    auto r = co_await std::move(op);
    if (s->is_closed()) co_return;
    if (r && (r->status < 200 || r->status >= 300 || !st.sse)) {
      log::get()->debug("mcp[{}]: no standalone event stream (HTTP {})", s->name, r->status);
      co_return;
    }
    if (!r || st.error) {
      log::get()->debug("mcp[{}]: standalone event stream failed: {}", s->name,
                        st.error ? st.error->message : r.error().message);
    } else {
      st.parser.finish(st.events);
      s->drain(st);
    }
    if (st.parser.bytes_seen() == 0) {
      if (++idle_streams >= 3) co_return;
    } else {
      idle_streams = 0;
    }
    if (!st.last_event_id.empty()) last_id = st.last_event_id;
    if (st.retry_ms) retry = st.retry_ms;
    auto delay = retry ? std::chrono::milliseconds(*retry) : kDefaultRetry;
    auto sleep = sleep_for(delay, s->cancel_all.token());
    bool slept = co_await std::move(sleep);
    if (!slept) co_return;
  }
}

asio::awaitable<void> pump(std::shared_ptr<State> s) {
  while (!s->queue.empty()) {
    json message = std::move(s->queue.front());
    s->queue.pop_front();
    if (s->is_closed()) {
      s->queue.clear();
      break;
    }
    const json* method = find(message, "method");
    const json* id = find(message, "id");
    bool is_request = method != nullptr && id != nullptr && !id->is_null();
    if (is_request) {
      auto op = post_message(s, std::move(message), true, s->track());
      asio::co_spawn(s->strand, std::move(op), asio::detached);
    } else {
      bool initialized = method != nullptr && method->is_string() &&
                         method->as_string() == "notifications/initialized";
      auto op = post_message(s, std::move(message), false, s->track());
      co_await std::move(op);
      if (initialized && !s->is_closed()) {
        auto listener = listen(s, s->track());
        asio::co_spawn(s->strand, std::move(listener), asio::detached);
      }
    }
  }
  s->sending = false;
}

asio::awaitable<void> send_delete(std::shared_ptr<State> s, std::string session,
                                  [[maybe_unused]] std::shared_ptr<void> busy) {
  HttpRequest req;
  req.method = "DELETE";
  req.url = s->url;
  req.headers = s->custom_headers;
  req.headers.emplace_back("Mcp-Session-Id", session);
  req.total_timeout = kDeleteTimeout;
  req.connect_timeout = kDeleteTimeout;
  auto op = s->http->request(std::move(req));
  auto r = co_await std::move(op);
  if (!r)
    log::get()->debug("mcp[{}]: DELETE of the session failed: {}", s->name, r.error().message);
}

class HttpTransport final : public McpTransport {
 public:
  explicit HttpTransport(std::shared_ptr<State> s) : s_(std::move(s)) {}
  ~HttpTransport() override { close(); }

  Result<void> start(Handlers handlers) override {
    std::lock_guard lock(s_->deliver_mu);
    s_->handlers = std::move(handlers);
    return {};
  }

  void send(json message) override {
    {
      std::lock_guard lock(s_->mu);
      if (s_->closed) return;
      if (get_string_or(message, "method", "") == "initialize") {
        if (const json* id = find(message, "id")) s_->init_id = *id;
      }
    }
    auto s = s_;
    auto enqueue = [s, m = std::move(message)]() mutable {
      s->queue.push_back(std::move(m));
      if (s->sending) return;
      s->sending = true;
      auto op = pump(s);
      asio::co_spawn(s->strand, std::move(op), asio::detached);
    };
    asio::post(s->strand, std::move(enqueue));
  }

  void close() override {
    std::string session;
    {
      std::lock_guard lock(s_->mu);
      if (!s_->closed) session = s_->session_id;
    }
    s_->finish_connection_error("MCP server '" + s_->name + "': connection closed by client");
    if (!session.empty()) {
      auto op = send_delete(s_, std::move(session), s_->track());
      asio::co_spawn(s_->strand, std::move(op), asio::detached);
    }
    // Unless on a runtime thread, wait (briefly) for the cancelled streams and the DELETE to
    // end: a program that closes and exits must not leave transfers behind while the runtime
    // shuts down.
    if (!Runtime::shared()->in_io_thread()) s_->wait_idle(kDeleteTimeout);
  }

 private:
  std::shared_ptr<State> s_;
};

}  // namespace

Result<std::unique_ptr<McpTransport>> make_http_transport(std::string server_name,
                                                          HttpServerOptions server,
                                                          McpOptions options) {
  if (server.url.rfind("http://", 0) != 0 && server.url.rfind("https://", 0) != 0) {
    return fail(
        ErrorType::config_error,
        "MCP server '" + server_name + "': url must start with http:// or https://: " + server.url);
  }
  auto s = std::make_shared<State>(Runtime::shared()->executor());
  s->name = std::move(server_name);
  s->url = std::move(server.url);
  for (auto& [k, v] : server.headers) s->custom_headers.emplace_back(k, v);
  s->options = std::move(options);
  return std::unique_ptr<McpTransport>(std::make_unique<HttpTransport>(std::move(s)));
}

}  // namespace cppflue::mcp
