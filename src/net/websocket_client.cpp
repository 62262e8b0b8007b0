// SPDX-License-Identifier: Apache-2.0
// A blocking WebSocket client on Beast: each operation is started asynchronously on the
// connection's own io_context, which then runs for at most the timeout; an operation still
// pending is cancelled by closing the socket.
#include "cppflue/net/websocket_client.hpp"

#include "cppflue/core/json.hpp"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>

namespace cppflue::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WebSocketClient::Impl {
  asio::io_context io;
  websocket::stream<tcp::socket> ws{io};
  std::string url;
  bool open = false;

  // Runs the loop until `done` or the timeout; a timeout closes the socket (the pending
  // operation then completes with an error) and is reported as such.
  bool run(const bool& done, std::chrono::milliseconds timeout) {
    io.restart();
    io.run_for(timeout);
    if (done) return true;
    beast::error_code ignored;
    ws.next_layer().close(ignored);
    open = false;
    io.restart();
    io.run_for(std::chrono::milliseconds(200));  // let the aborted operation complete
    return false;
  }

  Error timeout_error(std::string_view what, std::chrono::milliseconds timeout) const {
    return make_error(
        ErrorType::timeout,
        fmt::format("websocket {}: {} took longer than {} ms", url, what, timeout.count()),
        json_object{{"url", url}, {"operation", what}});
  }
  Error io_error(std::string_view what, const beast::error_code& ec) const {
    return make_error(ErrorType::connection_error,
                      fmt::format("websocket {}: {}: {}", url, what, ec.message()),
                      json_object{{"url", url}, {"operation", what}});
  }

  // The connect timeout, shared by its steps (resolve, connect, handshake); a step that runs out
  // of it reports the whole timeout.
  struct ConnectBudget {
    explicit ConnectBudget(std::chrono::milliseconds t)
        : timeout(t), deadline(std::chrono::steady_clock::now() + t) {}
    std::chrono::milliseconds timeout;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds left() const {
      return std::max(std::chrono::milliseconds(1),
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now()));
    }
  };

  Result<tcp::resolver::results_type> resolve(const std::string& host, const std::string& port,
                                              const ConnectBudget& budget) {
    tcp::resolver resolver(io);
    beast::error_code error;
    bool done = false;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(host, port, [&](beast::error_code e, tcp::resolver::results_type r) {
      error = e;
      endpoints = std::move(r);
      done = true;
    });
    if (!run(done, budget.left())) {
      resolver.cancel();
      return fail(timeout_error("resolve", budget.timeout));
    }
    if (error) return fail(io_error("resolve", error));
    return endpoints;
  }

  Result<void> connect_socket(const tcp::resolver::results_type& endpoints,
                              const ConnectBudget& budget) {
    beast::error_code error;
    bool done = false;
    asio::async_connect(ws.next_layer(), endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      error = e;
      done = true;
    });
    if (!run(done, budget.left())) return fail(timeout_error("connect", budget.timeout));
    if (error) return fail(io_error("connect", error));
    return {};
  }

  // The upgrade request, with our user agent and `headers`.
  Result<void> handshake(const std::string& host_header, const std::string& target,
                         const HttpHeaders& headers, const ConnectBudget& budget) {
    ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "cppflue-client");
      for (const auto& [k, v] : headers) req.set(k, v);
    }));
    websocket::response_type response;
    beast::error_code error;
    bool done = false;
    ws.async_handshake(response, host_header, target, [&](beast::error_code e) {
      error = e;
      done = true;
    });
    if (!run(done, budget.left())) return fail(timeout_error("handshake", budget.timeout));
    if (error) {
      if (error == websocket::error::upgrade_declined) return fail(declined_error(response));
      return fail(io_error("handshake", error));
    }
    return {};
  }

  // The server answered the upgrade with a plain HTTP response.
  Error declined_error(const websocket::response_type& response) const {
    std::string body = response.body();
    int status = static_cast<int>(response.result_int());
    return make_error(
        ErrorType::connection_error,
        fmt::format("websocket {}: the server declined the upgrade with HTTP {}", url, status),
        json_object{{"url", url}, {"status", status}, {"body", body}});
  }
};

namespace {

struct WsTarget {
  std::string host;
  std::string port;
  std::string target;  // path and query
};

// Splits ws://host[:port]/path?query; the host may be a bracketed IPv6 address.
Result<WsTarget> parse_ws_url(const std::string& url) {
  auto bad = [&](std::string why) {
    return fail(ErrorType::invalid_input, fmt::format("websocket URL {}: {}", url, why),
                json_object{{"url", url}});
  };
  std::string_view rest = url;
  if (rest.rfind("wss://", 0) == 0) {
    return bad("wss:// is not supported; connect through a TLS-terminating proxy with ws://");
  }
  if (rest.rfind("ws://", 0) != 0) return bad("expected ws://host[:port]/path");
  rest.remove_prefix(5);
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string host(authority);
  std::string port = "80";
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("expected ':' after the IPv6 address");
      port = std::string(authority.substr(close + 2));
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  }
  int port_number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (host.empty()) return bad("missing host");
  if (ec != std::errc{} || end != port.data() + port.size() || port_number < 1 ||
      port_number > 65535) {
    return bad(fmt::format("bad port '{}'", port));
  }
  return WsTarget{std::move(host), std::move(port), std::move(target)};
}

}  // namespace

WebSocketClient::WebSocketClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebSocketClient::~WebSocketClient() {
  close();
}

Result<std::unique_ptr<WebSocketClient>> WebSocketClient::connect(
    const std::string& url, const HttpHeaders& headers, std::chrono::milliseconds timeout) {
  auto parsed = parse_ws_url(url);
  if (!parsed) return fail(parsed.error());
  const WsTarget& where = *parsed;

  auto impl = std::make_unique<Impl>();
  impl->url = url;
  const Impl::ConnectBudget budget{timeout};
  auto endpoints = impl->resolve(where.host, where.port, budget);
  if (!endpoints) return fail(endpoints.error());
  if (auto r = impl->connect_socket(*endpoints, budget); !r) return fail(r.error());
  std::string host_header =
      where.port == "80" ? where.host : fmt::format("{}:{}", where.host, where.port);
  if (auto r = impl->handshake(host_header, where.target, headers, budget); !r) {
    return fail(r.error());
  }
  impl->ws.text(true);
  impl->open = true;
  return std::unique_ptr<WebSocketClient>(new WebSocketClient(std::move(impl)));
}

Result<void> WebSocketClient::send(std::string_view text, std::chrono::milliseconds timeout) {
  if (!impl_->open) {
    return fail(ErrorType::connection_error,
                fmt::format("websocket {}: the connection is closed", impl_->url),
                json_object{{"url", impl_->url}});
  }
  beast::error_code error;
  bool done = false;
  impl_->ws.async_write(asio::buffer(text.data(), text.size()),
                        [&](beast::error_code e, std::size_t) {
                          error = e;
                          done = true;
                        });
  if (!impl_->run(done, timeout)) return fail(impl_->timeout_error("send", timeout));
  if (error) {
    impl_->open = false;
    return fail(impl_->io_error("send", error));
  }
  return {};
}

Result<std::optional<std::string>> WebSocketClient::receive(std::chrono::milliseconds timeout) {
  if (!impl_->open) return std::optional<std::string>();
  beast::flat_buffer buffer;
  beast::error_code error;
  bool done = false;
  impl_->ws.async_read(buffer, [&](beast::error_code e, std::size_t) {
    error = e;
    done = true;
  });
  if (!impl_->run(done, timeout)) return fail(impl_->timeout_error("receive", timeout));
  if (error == websocket::error::closed || error == asio::error::eof ||
      error == asio::error::connection_reset) {
    impl_->open = false;
    return std::optional<std::string>();
  }
  if (error) {
    impl_->open = false;
    return fail(impl_->io_error("receive", error));
  }
  return std::optional<std::string>(beast::buffers_to_string(buffer.data()));
}

void WebSocketClient::close() {
  if (!impl_ || !impl_->open) return;
  impl_->open = false;
  bool done = false;
  impl_->ws.async_close(websocket::close_code::normal, [&](beast::error_code) { done = true; });
  impl_->run(done, std::chrono::milliseconds(1000));
  beast::error_code ignored;
  impl_->ws.next_layer().close(ignored);
}

}  // namespace cppflue::net
