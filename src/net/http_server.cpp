// SPDX-License-Identifier: Apache-2.0
// HttpServer on Beast: an accept loop, one coroutine per connection (on its own strand), limits
// and timeouts enforced before a handler runs, chunked streaming with disconnect detection,
// WebSocket upgrade, graceful stop.
#include "cppflue/net/http_server.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <map>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <mutex>
#include <thread>

#include "cppflue/core/log.hpp"

namespace cppflue::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::use_awaitable;

namespace {

constexpr auto kTuple = asio::as_tuple(use_awaitable);

ServerResponse default_error_response(int status, std::string_view reason) {
  ServerResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
  r.body = std::string(reason) + "\n";
  return r;
}

}  // namespace

struct Connection : std::enable_shared_from_this<Connection> {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::uint64_t id = 0;
  std::string remote;
  std::atomic<bool> in_request{false};
  std::atomic<bool> closing{false};
  // After a WebSocket upgrade the socket lives in the WebSocket; this closes it.
  std::function<void()> close_upgraded;  // used on the strand only

  // Closes the socket on the connection's strand (any thread).
  void close() {
    closing = true;
    asio::dispatch(stream.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      if (self->close_upgraded) {
        self->close_upgraded();
        return;
      }
      self->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream.socket().close(ec);
    });
  }
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::any_io_executor executor, HttpServerOptions o, RequestHandler h)
      : ex(std::move(executor)),
        options(std::move(o)),
        handler(std::move(h)),
        acceptor(asio::make_strand(ex)) {
    if (!options.error_response) options.error_response = default_error_response;
  }
  asio::any_io_executor ex;
  HttpServerOptions options;
  RequestHandler handler;
  tcp::acceptor acceptor;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> open_connections{0};
  std::mutex mu;
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::uint64_t next_id = 0;

  // For returning memory after a crowd leaves (see remove()).
  std::size_t peak_since_trim = 0;
  std::size_t closed_since_trim = 0;

  void add(const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(mu);
    c->id = ++next_id;
    connections[c->id] = c;
    ++open_connections;
    peak_since_trim = std::max<std::size_t>(peak_since_trim, open_connections);
  }
  void remove(const Connection& c) {
    bool trim = false;
    {
      std::lock_guard lock(mu);
      connections.erase(c.id);
      --open_connections;
      // When most of a large crowd of connections has gone (e.g. thousands of SSE clients),
      // hand the freed memory back to the system instead of keeping it in malloc's arenas.
      if (++closed_since_trim >= 256 && open_connections * 4 <= peak_since_trim) {
        closed_since_trim = 0;
        peak_since_trim = open_connections;
        trim = true;
      }
    }
#ifdef __GLIBC__
    if (trim) ::malloc_trim(0);
#else
    (void)trim;
#endif
  }
  // Closes every connection (`idle_only`: those not inside a request).
  void close_connections(bool idle_only) {
    std::vector<std::shared_ptr<Connection>> all;
    {
      std::lock_guard lock(mu);
      for (auto& [id, weak] : connections) {
        if (auto c = weak.lock()) all.push_back(std::move(c));
      }
    }
    for (auto& c : all) {
      if (!idle_only || !c->in_request) c->close();
    }
  }
};

namespace {

using Impl = HttpServer::Impl;

http::response<http::string_body> to_beast(const ServerResponse& r, unsigned version,
                                           bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  for (const auto& [k, v] : r.headers) res.insert(k, v);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

class WebSocketImpl final : public ServerWebSocket {
 public:
  WebSocketImpl(beast::tcp_stream stream, std::shared_ptr<Connection> c)
      : ws_(std::move(stream)), c_(std::move(c)) {}
  // The connection can no longer reach the socket through us (runs on the strand).
  ~WebSocketImpl() override {
    c_->close_upgraded = [] {};
  }
  websocket::stream<beast::tcp_stream>& ws() { return ws_; }

  asio::awaitable<std::optional<std::string>> read() override {
    beast::flat_buffer buffer;
    auto [ec, n] = co_await ws_.async_read(buffer, kTuple);
    (void)n;
    if (ec) co_return std::nullopt;
    co_return beast::buffers_to_string(buffer.data());
  }
  asio::awaitable<bool> write(std::string text) override {
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(asio::buffer(text), kTuple);
    (void)n;
    co_return !ec;
  }
  asio::awaitable<void> close() override {
    if (!ws_.is_open()) co_return;
    auto [ec] = co_await ws_.async_close(websocket::close_code::normal, kTuple);
    (void)ec;
  }

 private:
  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<Connection> c_;
};

class ExchangeImpl final : public Exchange {
 public:
  ExchangeImpl(Impl& server, std::shared_ptr<Connection> c, http::request<http::string_body>& raw,
               ServerRequest request)
      : server_(server), c_(std::move(c)), raw_(raw), request_(std::move(request)) {}

  const ServerRequest& request() const override { return request_; }

  bool answered() const { return answered_; }
  bool keep_alive() const { return keep_alive_ && !gone_.cancelled(); }
  bool streaming() const { return streaming_; }
  bool upgraded() const { return upgraded_; }

  asio::awaitable<void> respond(ServerResponse response) override {
    if (answered_) co_return;
    answered_ = true;
    bool close = server_.stopping || !raw_.keep_alive();
    for (const auto& [k, v] : response.headers) {
      if (beast::iequals(k, "Connection") && beast::iequals(v, "close")) close = true;
    }
    keep_alive_ = !close;
    auto res = to_beast(response, raw_.version(), keep_alive_);
    c_->stream.expires_after(server_.options.write_timeout);
    auto [ec, n] = co_await http::async_write(c_->stream, res, kTuple);
    (void)n;
    if (ec) keep_alive_ = false;
  }

  asio::awaitable<bool> start_stream(int status, HttpHeaders headers) override {
    if (answered_) co_return false;
    answered_ = true;
    streaming_ = true;
    keep_alive_ = !server_.stopping && raw_.keep_alive();
    http::response<http::empty_body> res{static_cast<http::status>(status), raw_.version()};
    for (const auto& [k, v] : headers) res.insert(k, v);
    res.keep_alive(keep_alive_);
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    c_->stream.expires_after(server_.options.write_timeout);
    auto [ec, n] = co_await http::async_write_header(c_->stream, sr, kTuple);
    (void)n;
    if (ec) {
      gone_.cancel();
      co_return false;
    }
    watch_disconnect();
    co_return true;
  }

  asio::awaitable<bool> write(std::string data) override {
    if (!streaming_ || gone_.cancelled()) co_return false;
    if (data.empty()) co_return true;
    c_->stream.expires_after(server_.options.write_timeout);
    auto [ec, n] =
        co_await asio::async_write(c_->stream, http::make_chunk(asio::buffer(data)), kTuple);
    (void)n;
    if (ec) {
      gone_.cancel();
      co_return false;
    }
    co_return true;
  }

  // The last chunk of a streamed response.
  asio::awaitable<void> finish_stream() {
    if (!streaming_ || gone_.cancelled()) co_return;
    c_->stream.expires_after(server_.options.write_timeout);
    auto [ec, n] = co_await asio::async_write(c_->stream, http::make_chunk_last(), kTuple);
    (void)n;
    if (ec) gone_.cancel();
  }

  CancelToken client_gone() const override { return gone_.token(); }

  asio::awaitable<std::unique_ptr<ServerWebSocket>> accept_websocket() override {
    if (answered_ || !request_.websocket_upgrade) co_return nullptr;
    answered_ = true;
    upgraded_ = true;
    keep_alive_ = false;
    c_->stream.expires_never();
    auto ws = std::make_unique<WebSocketImpl>(std::move(c_->stream), c_);
    ws->ws().set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws->ws().read_message_max(server_.options.max_body_bytes);
    auto* raw_ws = &ws->ws();
    c_->close_upgraded = [raw_ws] {
      beast::error_code ec;
      beast::get_lowest_layer(*raw_ws).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(*raw_ws).socket().close(ec);
    };
    auto [ec] = co_await ws->ws().async_accept(raw_, kTuple);
    if (ec) co_return nullptr;
    co_return ws;
  }

 private:
  // While a stream is open the client sends nothing more; the socket becoming readable with
  // no data means it closed the connection.
  void watch_disconnect() {
    auto c = c_;
    CancelSource gone = gone_;
    c->stream.socket().async_wait(tcp::socket::wait_read, [c, gone](beast::error_code ec) mutable {
      if (ec) {
        if (ec != asio::error::operation_aborted) gone.cancel();
        return;
      }
      beast::error_code aec;
      std::size_t available = c->stream.socket().available(aec);
      if (aec || available == 0) gone.cancel();
    });
  }

  Impl& server_;
  std::shared_ptr<Connection> c_;
  http::request<http::string_body>& raw_;
  ServerRequest request_;
  CancelSource gone_;
  bool answered_ = false;
  bool keep_alive_ = false;
  bool streaming_ = false;
  bool upgraded_ = false;
};

ServerRequest make_request(const http::request<http::string_body>& raw, const std::string& remote) {
  ServerRequest r;
  r.method = std::string(raw.method_string());
  r.target = std::string(raw.target());
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  r.query = q == std::string::npos ? std::string() : r.target.substr(q + 1);
  for (const auto& field : raw) {
    r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  r.body = raw.body();
  r.remote_address = remote;
  r.websocket_upgrade = websocket::is_upgrade(raw);
  return r;
}

// Answers a request the server refuses itself, then the connection closes.
asio::awaitable<void> refuse(Impl& s, Connection& c, int status, std::string_view reason) {
  ServerResponse r = s.options.error_response(status, reason);
  r.headers.emplace_back("Connection", "close");
  auto res = to_beast(r, 11, false);
  c.stream.expires_after(std::chrono::seconds(5));
  auto [ec, n] = co_await http::async_write(c.stream, res, kTuple);
  (void)n;
  if (ec) co_return;
  // Lingering close: stop sending, then read (and drop) what the client is still sending for
  // a moment, so closing with unread data does not reset the connection before the client
  // has read our answer.
  beast::error_code ignored;
  c.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 16384> sink{};
  std::size_t drained = 0;
  c.stream.expires_after(std::chrono::seconds(2));
  while (drained < 4 * 1024 * 1024) {
    auto [rec, rn] = co_await c.stream.async_read_some(asio::buffer(sink), kTuple);
    if (rec) break;
    drained += rn;
  }
}

// A deadline for reading a request that, unlike tcp_stream's own expiry, leaves the socket
// open (it cancels the read), so the 408 can still be written. Lives on the connection's strand.
class ReadDeadline {
 public:
  ReadDeadline(const asio::any_io_executor& ex, const std::shared_ptr<Connection>& c,
               std::chrono::milliseconds timeout)
      : timer_(ex) {
    c->stream.expires_never();
    timer_.expires_after(timeout);
    timer_.async_wait([c, fired = fired_](const beast::error_code& ec) {
      if (ec) return;
      *fired = true;
      beast::error_code ignored;
      c->stream.socket().cancel(ignored);
    });
  }
  ~ReadDeadline() { timer_.cancel(); }
  ReadDeadline(const ReadDeadline&) = delete;
  ReadDeadline& operator=(const ReadDeadline&) = delete;
  bool fired() const { return *fired_; }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<bool> fired_ = std::make_shared<bool>(false);
};

int refusal_status(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  if (ec == beast::error::timeout) return 408;
  return 400;
}

using Request = http::request<http::string_body>;
using RequestParser = http::request_parser<http::string_body>;

// Waits for the first bytes of the next request (within the idle timeout, or the header timeout
// for a new connection). false: closed, reset or idle, with nothing to answer.
asio::awaitable<bool> await_request(Impl& s, Connection& c, bool first) {
  if (c.buffer.size() != 0) co_return true;
  c.stream.expires_after(first ? s.options.header_timeout : s.options.idle_timeout);
  auto [ec, n] = co_await c.stream.async_read_some(c.buffer.prepare(4096), kTuple);
  if (ec) co_return false;
  c.buffer.commit(n);
  co_return true;
}

// Reads the whole header within the header timeout; refuses a late or invalid one. false: the
// connection ends.
asio::awaitable<bool> read_header(Impl& s, std::shared_ptr<Connection> c, RequestParser& parser) {
  auto executor = co_await asio::this_coro::executor;
  bool header_late = false;
  beast::error_code hec;
  {
    ReadDeadline deadline(executor, c, s.options.header_timeout);
    auto [ec, hn] = co_await http::async_read_header(c->stream, c->buffer, parser, kTuple);
    (void)hn;
    hec = ec;
    header_late = deadline.fired();
  }
  if (!hec) co_return true;
  if (header_late) {
    co_await refuse(s, *c, 408, "request header timeout");
  } else if (hec != http::error::end_of_stream && hec != asio::error::connection_reset &&
             hec != asio::error::eof) {
    co_await refuse(s, *c, refusal_status(hec), hec.message());
  }
  co_return false;
}

// "100 Continue" for a client that waits for it before sending the body.
asio::awaitable<bool> send_continue(Impl& s, Connection& c, unsigned version) {
  http::response<http::empty_body> cont{http::status::continue_, version};
  c.stream.expires_after(s.options.write_timeout);
  auto [cec, cn] = co_await http::async_write(c.stream, cont, kTuple);
  (void)cn;
  co_return !cec;
}

// Reads the body within the body timeout; refuses a late or invalid one. false: the connection
// ends.
asio::awaitable<bool> read_body(Impl& s, std::shared_ptr<Connection> c, RequestParser& parser) {
  auto executor = co_await asio::this_coro::executor;
  bool body_late = false;
  beast::error_code bec;
  {
    ReadDeadline deadline(executor, c, s.options.body_timeout);
    auto [ec, bn] = co_await http::async_read(c->stream, c->buffer, parser, kTuple);
    (void)bn;
    bec = ec;
    body_late = deadline.fired();
  }
  if (!bec) co_return true;
  if (body_late) {
    co_await refuse(s, *c, 408, "request body timeout");
  } else if (bec != http::error::end_of_stream && bec != asio::error::connection_reset) {
    co_await refuse(s, *c, refusal_status(bec), bec.message());
  }
  co_return false;
}

// One request within the server's limits and timeouts; nullopt when the connection ends.
asio::awaitable<std::optional<Request>> read_request(Impl& s, std::shared_ptr<Connection> c) {
  RequestParser parser;
  parser.header_limit(static_cast<std::uint32_t>(s.options.max_header_bytes));
  parser.body_limit(s.options.max_body_bytes);
  if (!co_await read_header(s, c, parser)) co_return std::nullopt;
  auto& header = parser.get();
  if (beast::iequals(header[http::field::expect], "100-continue") && !parser.is_done()) {
    if (!co_await send_continue(s, *c, header.version())) co_return std::nullopt;
  }
  if (!parser.is_done()) {
    if (!co_await read_body(s, c, parser)) co_return std::nullopt;
  }
  c->stream.expires_never();
  co_return std::optional<Request>(parser.release());
}

// Runs the handler, then completes what it left open: a 500 when it did not answer, the last
// chunk of a stream. false: the connection ends.
asio::awaitable<bool> handle_request(Impl& s, std::shared_ptr<Connection> c, Request& raw) {
  ExchangeImpl exchange(s, c, raw, make_request(raw, c->remote));
  bool failed = false;
  try {
    co_await s.handler(exchange);
  } catch (const std::exception& e) {
    log::get()->error("http: handler for {} {} failed: {}", exchange.request().method,
                      exchange.request().path, e.what());
    failed = true;
  }
  if (exchange.upgraded()) co_return false;  // the WebSocket owned the socket and is done with it
  if (!exchange.answered()) {
    ServerResponse r = s.options.error_response(500, failed ? "handler failed" : "no answer");
    co_await exchange.respond(std::move(r));
  } else if (exchange.streaming()) {
    co_await exchange.finish_stream();
  }
  c->in_request = false;
  co_return exchange.keep_alive();
}

// The coroutine owns `s` and `c`; the helpers it awaits may borrow them.
asio::awaitable<void> serve_connection(std::shared_ptr<Impl> s, std::shared_ptr<Connection> c) {
  struct Release {
    Impl& s;
    Connection& c;
    ~Release() { s.remove(c); }
  } release{*s, *c};
  bool first = true;
  for (;;) {
    if (s->stopping || c->closing) break;
    // Wait for the next request (idle timeout), then the whole header (header timeout), so a
    // client that trickles bytes cannot hold the connection.
    if (!co_await await_request(*s, *c, first)) break;
    first = false;
    c->in_request = true;
    std::optional<Request> raw = co_await read_request(*s, c);
    if (!raw) break;
    if (!co_await handle_request(*s, c, *raw)) break;
  }
  beast::error_code ec;
  if (!c->close_upgraded && beast::get_lowest_layer(c->stream).socket().is_open()) {
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.socket().close(ec);
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<Impl> s) {
  for (;;) {
    auto strand = asio::make_strand(s->ex);
    tcp::socket socket(strand);
    auto [ec] = co_await s->acceptor.async_accept(socket, kTuple);
    if (ec) {
      if (s->stopping || !s->acceptor.is_open() || ec == asio::error::operation_aborted) {
        co_return;
      }
      // Out of file descriptors and the like: back off instead of spinning.
      log::get()->warn("http: accept failed: {}", ec.message());
      asio::steady_timer t(s->acceptor.get_executor(), std::chrono::milliseconds(50));
      auto [tec] = co_await t.async_wait(kTuple);
      (void)tec;
      continue;
    }
    if (s->open_connections >= s->options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    beast::error_code rec;
    auto endpoint = socket.remote_endpoint(rec);
    socket.set_option(tcp::no_delay(true), rec);
    auto c = std::make_shared<Connection>(std::move(socket));
    c->remote = rec ? std::string() : endpoint.address().to_string();
    s->add(c);
    asio::co_spawn(c->stream.get_executor(), serve_connection(s, c), asio::detached);
  }
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(asio::any_io_executor executor,
                                                      HttpServerOptions options,
                                                      RequestHandler handler) {
  auto impl = std::make_shared<Impl>(std::move(executor), std::move(options), std::move(handler));
  std::string where = fmt::format("{}:{}", impl->options.host, impl->options.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(impl->options.host, ec);
  if (ec) {
    return fail(
        ErrorType::config_error,
        fmt::format("cannot listen on {}: '{}' is not an IP address", where, impl->options.host));
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(impl->options.port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ErrorType::connection_error,
                fmt::format("cannot listen on {}: {}", where, ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint(ec).port();
  asio::co_spawn(impl->acceptor.get_executor(), accept_loop(impl), asio::detached);
  return std::make_unique<HttpServer>(impl);
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop(std::chrono::milliseconds(0));
}

int HttpServer::port() const {
  return impl_->port;
}

std::size_t HttpServer::connections() const {
  return impl_->open_connections;
}

void HttpServer::stop(std::chrono::milliseconds grace, const std::function<void()>& before_close) {
  if (impl_->stopping.exchange(true)) return;
  auto impl = impl_;
  asio::dispatch(impl->acceptor.get_executor(), [impl] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  impl->close_connections(/*idle_only=*/true);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl->open_connections > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    impl->close_connections(/*idle_only=*/true);
  }
  if (before_close) {
    before_close();
    auto more = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (impl->open_connections > 0 && std::chrono::steady_clock::now() < more) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      impl->close_connections(/*idle_only=*/true);
    }
  }
  impl->close_connections(/*idle_only=*/false);
  auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (impl->open_connections > 0 && std::chrono::steady_clock::now() < hard) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace cppflue::net
