// SPDX-License-Identifier: Apache-2.0
// cppflue/net/http_server.hpp — the HTTP/1.1 + WebSocket server under `cppflue serve`.
//
// Beast does the protocol work behind this small interface (only src/net includes Beast). Each
// connection is a coroutine on its own strand of the given executor: keep-alive, one request at
// a time. The server itself answers what never reaches a handler — a header block over
// `max_header_bytes` (431), a body over `max_body_bytes` (413), a malformed request (400), a
// client too slow to send its header or body (408, then the connection closes) — through
// `error_response`, so the application chooses the envelope. A handler answers with one
// response, with a streamed (chunked) response whose writes report when the client has gone, or
// by accepting a WebSocket on an upgrade request.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/net/http_client.hpp"

namespace cppflue::net {

struct ServerRequest {
  std::string method;  // as sent, e.g. "POST"
  std::string target;  // path and query, as sent
  std::string path;    // the target before '?'
  std::string query;   // after '?' ("" when none)
  HttpHeaders headers;
  std::string body;
  std::string remote_address;
  bool websocket_upgrade = false;
  std::optional<std::string> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

struct ServerResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Length is set by the server
  std::string body;
};

// A server-side WebSocket (text messages).
class ServerWebSocket {
 public:
  virtual ~ServerWebSocket() = default;
  // The next text message; nullopt when the peer closed or the connection failed.
  virtual boost::asio::awaitable<std::optional<std::string>> read() = 0;
  // False when the connection is gone.
  virtual boost::asio::awaitable<bool> write(std::string text) = 0;
  virtual boost::asio::awaitable<void> close() = 0;
};

// One request and its answer. Exactly one of respond / start_stream / accept_websocket.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const ServerRequest& request() const = 0;
  virtual boost::asio::awaitable<void> respond(ServerResponse response) = 0;
  // Sends the status and headers of a chunked response (e.g. text/event-stream). False when
  // the client is gone.
  virtual boost::asio::awaitable<bool> start_stream(int status, HttpHeaders headers) = 0;
  // One chunk; false when the client is gone (or the write did not finish in the write timeout).
  virtual boost::asio::awaitable<bool> write(std::string data) = 0;
  // Fires when the client disconnects during a streamed response.
  virtual CancelToken client_gone() const = 0;
  // Completes the WebSocket handshake of an upgrade request; null when it failed.
  virtual boost::asio::awaitable<std::unique_ptr<ServerWebSocket>> accept_websocket() = 0;
};

using RequestHandler = std::function<boost::asio::awaitable<void>(Exchange&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = an ephemeral port (see HttpServer::port)
  std::size_t max_body_bytes = 10 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds header_timeout{10000};  // to receive a whole request header
  std::chrono::milliseconds body_timeout{30000};    // to receive the body after the header
  std::chrono::milliseconds idle_timeout{60000};    // between keep-alive requests
  std::chrono::milliseconds write_timeout{30000};   // for one write to a slow reader
  std::size_t max_connections = 20000;              // beyond: accepted and closed at once
  // The answer for requests the server refuses itself (400, 408, 413, 431, 503).
  std::function<ServerResponse(int status, std::string_view reason)> error_response;
};

class HttpServer {
 public:
  struct Impl;
  // Binds and starts accepting. Errors: connection_error naming host:port (address in use,
  // bad address).
  static Result<std::unique_ptr<HttpServer>> start(boost::asio::any_io_executor executor,
                                                   HttpServerOptions options,
                                                   RequestHandler handler);
  explicit HttpServer(std::shared_ptr<Impl> impl);
  ~HttpServer();  // stop(0)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  std::size_t connections() const;
  // Stops accepting; idle keep-alive connections close at once; requests in flight get up to
  // `grace` to finish, then every connection is closed. Blocks; call it from a thread that is
  // not running the executor. `before_close`, when given, runs once the requests have finished
  // or the grace is over, while the connections are still open; what it lets end by itself
  // (a stream it gives its last event) gets up to 1 s more.
  void stop(std::chrono::milliseconds grace, const std::function<void()>& before_close = {});

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace cppflue::net
