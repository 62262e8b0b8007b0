// SPDX-License-Identifier: Apache-2.0
// cppflue/net/http_client.hpp — asynchronous HTTP client (libcurl multi on the Asio loop).
//
// One `HttpClient` drives any number of concurrent requests without a thread each: curl's
// socket and timer callbacks are served by the Asio event loop. Bodies can be streamed to a
// callback as they arrive (used for SSE). Requests honour a connect timeout, an idle timeout
// (no bytes for that long is an error), cancellation, and proxies from the environment
// (`https_proxy`, `http_proxy`, `no_proxy`). Nothing here parses provider formats.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/core/headers.hpp"

namespace cppflue {

// HttpHeaders: see cppflue/core/headers.hpp.

// Case-insensitive header lookup.
std::optional<std::string> find_header(const HttpHeaders& headers, std::string_view name);

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};  // 0 = none
  std::chrono::milliseconds total_timeout{0};      // 0 = none
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;  // accumulated unless a 2xx body was streamed to `on_body`
  std::optional<std::string> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

struct HttpStreamHandlers {
  // Called once when the status line and headers are complete.
  std::function<void(int status, const HttpHeaders&)> on_head;
  // Called for each body chunk of a 2xx response; return false to stop the transfer (the
  // request then completes with a cancelled error). Non-2xx bodies are always accumulated.
  std::function<bool(std::string_view chunk)> on_body;
};

class HttpClient {
 public:
  explicit HttpClient(const boost::asio::any_io_executor& executor);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the request. Transport failures (refused, DNS, TLS, timeouts) are errors of type
  // connection_error/timeout naming the URL; HTTP error statuses are *not* errors here.
  // Callbacks run on the client's internal strand. (Overloads, not default arguments: GCC 12
  // destroys default-argument temporaries of a call inside co_await twice.)
  boost::asio::awaitable<Result<HttpResponse>> request(HttpRequest request);
  boost::asio::awaitable<Result<HttpResponse>> request(HttpRequest request,
                                                       HttpStreamHandlers handlers);
  boost::asio::awaitable<Result<HttpResponse>> request(HttpRequest request,
                                                       HttpStreamHandlers handlers,
                                                       CancelToken cancel);

  // Starts opening libcurl now, on the client's executor, so that the first request need not
  // wait for it (it takes a few milliseconds: libcurl and ~30 libraries). Requests made meanwhile
  // wait for it as they would anyway. Once per client (the library loads once per process); a
  // failure is reported by the request. Destroying the client calls off a load not yet started
  // and waits for one under way, so that the process may exit right after.
  void prepare();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace cppflue
