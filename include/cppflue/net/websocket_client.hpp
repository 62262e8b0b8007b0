// SPDX-License-Identifier: Apache-2.0
// cppflue/net/websocket_client.hpp — a small blocking WebSocket client (text messages).
//
// Used by the C++ client (`cppflue::Client`) for the server's agent and workflow sockets. Each
// connection owns its own event loop, so it may be used from any thread (one thread at a time)
// without the shared runtime. Every operation takes a timeout. `ws://` only: put a TLS proxy in
// front for `wss://` (refused with a clear error).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cppflue/core/error.hpp"
#include "cppflue/net/http_client.hpp"

namespace cppflue::net {

class WebSocketClient {
 public:
  // Connects to `url` (ws://host[:port]/path?query) and performs the upgrade with `headers`
  // added. Errors: invalid_input (bad URL, wss), connection_error (refused, upgrade rejected:
  // the details carry the HTTP status and body), timeout.
  static Result<std::unique_ptr<WebSocketClient>> connect(const std::string& url,
                                                          const HttpHeaders& headers,
                                                          std::chrono::milliseconds timeout);
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  Result<void> send(std::string_view text, std::chrono::milliseconds timeout);
  // The next text message; nullopt when the peer closed the socket.
  Result<std::optional<std::string>> receive(std::chrono::milliseconds timeout);
  // Sends a close frame (best effort) and closes the connection.
  void close();

 private:
  struct Impl;
  explicit WebSocketClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cppflue::net
