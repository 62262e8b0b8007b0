// SPDX-License-Identifier: Apache-2.0
// libcurl multi driven by the Asio event loop: curl tells us which sockets to watch
// (CURLMOPT_SOCKETFUNCTION) and when to call it back (CURLMOPT_TIMERFUNCTION); we watch them
// with stream_descriptor::async_wait on one strand, so every curl call is serialised and no
// thread is needed per request. libcurl itself is opened at the first request
// (net/curl_loader.hpp), so every curl function is called through curl().
#include "cppflue/net/http_client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <cstdlib>
#include <map>

#include "cppflue/core/json.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/unique_function.hpp"
#include "net/curl_loader.hpp"

namespace asio = boost::asio;

namespace cppflue {

using net::curl;

std::optional<std::string> find_header(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

namespace {

// A relocated deployment (the bundle) brings its own CA certificates: SSL_CERT_FILE names
// them, as it does for OpenSSL (libcurl would otherwise read only its built-in path).
void use_ca_file_from_env(CURL* easy) {
  if (const char* ca = std::getenv("SSL_CERT_FILE"); ca != nullptr && *ca != '\0') {
    curl().easy_setopt(easy, CURLOPT_CAINFO, ca);
  }
}

constexpr std::size_t kMaxBufferedBody = 64 * 1024 * 1024;

using Completion = UniqueFunction<Result<HttpResponse>>;

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpRequest request;
  HttpStreamHandlers handlers;
  HttpResponse response;
  Completion completion;
  char errbuf[CURL_ERROR_SIZE] = {0};
  bool head_delivered = false;
  bool stopped_by_receiver = false;
  std::optional<Error> forced_error;  // cancellation / idle timeout / overflow
  std::optional<asio::steady_timer> idle_timer;
  std::chrono::steady_clock::time_point last_activity;
  std::uint64_t cancel_id = 0;
  CancelToken cancel;

  ~Transfer() {
    // Both are set only after libcurl was loaded.
    if (easy) curl().easy_cleanup(easy);
    if (header_list) curl().slist_free_all(header_list);
  }
};

struct SocketWatch {
  explicit SocketWatch(asio::strand<asio::any_io_executor>& strand) : descriptor(strand) {}
  asio::posix::stream_descriptor descriptor;
  int wanted = 0;
  bool read_pending = false;
  bool write_pending = false;
  bool removed = false;
};

bool is_2xx(int status) {
  return status >= 200 && status < 300;
}

}  // namespace

struct HttpClient::Impl : std::enable_shared_from_this<Impl> {
  explicit Impl(const asio::any_io_executor& ex) : strand(asio::make_strand(ex)), timer(strand) {}

  ~Impl() {
    for (auto& [easy, t] : transfers) curl().multi_remove_handle(multi, easy);
    for (auto& [fd, w] : sockets) {
      w->removed = true;
      boost::system::error_code ec;
      w->descriptor.release();
      (void)ec;
    }
    transfers.clear();
    if (multi) curl().multi_cleanup(multi);
  }

  // libcurl is opened, and the multi handle made, at the first request rather than in the
  // constructor: every model client cache builds a client, and most runs (offline models,
  // local commands) never send a request.
  Result<void> ensure_multi() {
    if (multi) return {};
    if (auto loaded = net::load_curl(); !loaded) return loaded;
    multi = curl().multi_init();
    if (!multi) return fail(ErrorType::internal, "curl_multi_init failed");
    curl().multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::socket_cb);
    curl().multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl().multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::timer_cb);
    curl().multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    return {};
  }

  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;
  CURLM* multi = nullptr;
  std::map<CURL*, std::shared_ptr<Transfer>> transfers;
  std::map<curl_socket_t, std::shared_ptr<SocketWatch>> sockets;
  bool shut_down = false;
  // The load prepare() posted: kNone, kPosted, kLoading, kDone. Shared with the posted job, which
  // may run after the client is gone (and then does nothing).
  std::shared_ptr<std::atomic<int>> preload = std::make_shared<std::atomic<int>>(0);

  // ---- curl callbacks (always invoked from inside curl_multi_* on the strand) ----

  static int socket_cb(CURL*, curl_socket_t fd, int what, void* userp, void*) {
    auto* self = static_cast<Impl*>(userp);
    if (what == CURL_POLL_REMOVE) {
      auto it = self->sockets.find(fd);
      if (it != self->sockets.end()) {
        auto watch = it->second;
        watch->removed = true;
        boost::system::error_code ec;
        watch->descriptor.cancel(ec);
        // curl owns the fd and closes it itself: give it back without closing.
        watch->descriptor.release();
        self->sockets.erase(it);
      }
      return 0;
    }
    auto& watch = self->sockets[fd];
    if (!watch) {
      watch = std::make_shared<SocketWatch>(self->strand);
      boost::system::error_code ec;
      watch->descriptor.assign(fd, ec);
      if (ec) {
        log::get()->error("http: cannot watch socket {}: {}", fd, ec.message());
        self->sockets.erase(fd);
        return -1;
      }
    }
    watch->wanted = what;
    self->arm(fd, watch);
    return 0;
  }

  static int timer_cb(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    if (timeout_ms < 0) {
      self->timer.cancel();
      return 0;
    }
    self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer.async_wait(asio::bind_executor(
        self->strand, [weak = self->weak_from_this()](boost::system::error_code ec) {
          if (ec) return;
          if (auto s = weak.lock()) s->socket_action(CURL_SOCKET_TIMEOUT, 0);
        }));
    return 0;
  }

  void arm(curl_socket_t fd, const std::shared_ptr<SocketWatch>& watch) {
    if ((watch->wanted & CURL_POLL_IN) && !watch->read_pending) {
      watch->read_pending = true;
      watch->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                                   asio::bind_executor(strand, [weak = weak_from_this(), watch,
                                                                fd](boost::system::error_code ec) {
                                     watch->read_pending = false;
                                     if (ec || watch->removed) return;
                                     auto self = weak.lock();
                                     if (!self) return;
                                     self->socket_action(fd, CURL_CSELECT_IN);
                                     if (!watch->removed) self->arm(fd, watch);
                                   }));
    }
    if ((watch->wanted & CURL_POLL_OUT) && !watch->write_pending) {
      watch->write_pending = true;
      watch->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                                   asio::bind_executor(strand, [weak = weak_from_this(), watch,
                                                                fd](boost::system::error_code ec) {
                                     watch->write_pending = false;
                                     if (ec || watch->removed) return;
                                     auto self = weak.lock();
                                     if (!self) return;
                                     self->socket_action(fd, CURL_CSELECT_OUT);
                                     if (!watch->removed) self->arm(fd, watch);
                                   }));
    }
  }

  void socket_action(curl_socket_t fd, int mask) {
    int running = 0;
    curl().multi_socket_action(multi, fd, mask, &running);
    collect_done();
  }

  void collect_done() {
    int left = 0;
    while (CURLMsg* msg = curl().multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode code = msg->data.result;
      finish(easy, code);
    }
  }

  static std::size_t header_cb(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    std::size_t len = size * n;
    t->last_activity = std::chrono::steady_clock::now();
    std::string_view line(data, len);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.rfind("HTTP/", 0) == 0) {
      // A new status line (redirects, 100-continue): start the header set again.
      t->response.headers.clear();
      auto sp = line.find(' ');
      t->response.status =
          sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
      return len;
    }
    if (line.empty()) {
      if (t->response.status >= 200 && !t->head_delivered) {
        t->head_delivered = true;
        if (t->handlers.on_head) t->handlers.on_head(t->response.status, t->response.headers);
      }
      return len;
    }
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      t->response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return len;
  }

  static std::size_t write_cb(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    std::size_t len = size * n;
    t->last_activity = std::chrono::steady_clock::now();
    if (is_2xx(t->response.status) && t->handlers.on_body) {
      if (!t->handlers.on_body(std::string_view(data, len))) {
        t->stopped_by_receiver = true;
        return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
      }
      return len;
    }
    if (t->response.body.size() + len > kMaxBufferedBody) {
      t->forced_error = make_error(
          ErrorType::connection_error,
          fmt::format("response from {} exceeds {} bytes", t->request.url, kMaxBufferedBody));
      return 0;
    }
    t->response.body.append(data, len);
    return len;
  }

  // ---- transfer lifecycle (on the strand) ----

  // The easy handle's options for t's request: callbacks, timeouts, method, body, headers.
  static void set_options(Transfer& t) {
    CURL* easy = t.easy;
    const HttpRequest& r = t.request;
    curl().easy_setopt(easy, CURLOPT_URL, r.url.c_str());
    curl().easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl().easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl().easy_setopt(easy, CURLOPT_ERRORBUFFER, t.errbuf);
    curl().easy_setopt(easy, CURLOPT_PRIVATE, &t);
    curl().easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::header_cb);
    curl().easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl().easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::write_cb);
    curl().easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl().easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(r.connect_timeout.count()));
    if (r.total_timeout.count() > 0) {
      curl().easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r.total_timeout.count()));
    }
    curl().easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    use_ca_file_from_env(easy);
    if (r.method == "POST") {
      curl().easy_setopt(easy, CURLOPT_POST, 1L);
      curl().easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      curl().easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
    } else if (r.method != "GET") {
      curl().easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
      if (!r.body.empty()) {
        curl().easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                           static_cast<curl_off_t>(r.body.size()));
        curl().easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
      }
    }
    bool has_expect = false;
    for (const auto& [k, v] : r.headers) {
      std::string line = k + ": " + v;
      t.header_list = curl().slist_append(t.header_list, line.c_str());
      if (find_header({{k, v}}, "expect")) has_expect = true;
    }
    // Without this curl waits for "100 Continue" on large bodies: a round trip we do not need.
    if (!has_expect) t.header_list = curl().slist_append(t.header_list, "Expect:");
    curl().easy_setopt(easy, CURLOPT_HTTPHEADER, t.header_list);
  }

  void start(std::shared_ptr<Transfer> t) {
    if (shut_down) {
      complete(t, fail(ErrorType::cancelled, "HTTP client is shut down"));
      return;
    }
    if (t->cancel.cancelled()) {
      complete(t, fail(ErrorType::cancelled, "request cancelled before it started"));
      return;
    }
    if (auto ready = ensure_multi(); !ready) {
      complete(t, fail(std::move(ready.error())));
      return;
    }
    CURL* easy = curl().easy_init();
    if (!easy) {
      complete(t, fail(ErrorType::internal, "curl_easy_init failed"));
      return;
    }
    t->easy = easy;
    set_options(*t);

    transfers.emplace(easy, t);
    t->last_activity = std::chrono::steady_clock::now();
    if (t->request.idle_timeout.count() > 0) {
      t->idle_timer.emplace(strand);
      arm_idle(t);
    }
    std::weak_ptr<Impl> weak = weak_from_this();
    std::weak_ptr<Transfer> weak_t = t;
    t->cancel_id = t->cancel.on_cancel([weak, weak_t] {
      auto self = weak.lock();
      if (!self) return;
      // post, not dispatch: cancel() may run inside a curl callback, where the handle must
      // not be removed.
      asio::post(self->strand, [self, weak_t] {
        if (auto tt = weak_t.lock()) {
          self->abort(tt, make_error(ErrorType::cancelled,
                                     fmt::format("request to {} was cancelled", tt->request.url)));
        }
      });
    });
    CURLMcode mc = curl().multi_add_handle(multi, easy);
    if (mc != CURLM_OK) {
      transfers.erase(easy);
      complete(t, fail(ErrorType::internal,
                       std::string("curl_multi_add_handle: ") + curl().multi_strerror(mc)));
    }
  }

  void arm_idle(const std::shared_ptr<Transfer>& t) {
    auto idle = t->request.idle_timeout;
    auto deadline = t->last_activity + idle;
    t->idle_timer->expires_at(deadline);
    t->idle_timer->async_wait(asio::bind_executor(
        strand, [weak = weak_from_this(),
                 weak_t = std::weak_ptr<Transfer>(t)](boost::system::error_code ec) {
          if (ec) return;
          auto self = weak.lock();
          auto tt = weak_t.lock();
          if (!self || !tt || !self->transfers.count(tt->easy)) return;
          if (std::chrono::steady_clock::now() - tt->last_activity >= tt->request.idle_timeout) {
            auto secs = std::chrono::duration<double>(tt->request.idle_timeout).count();
            self->abort(tt, make_error(ErrorType::timeout,
                                       fmt::format("no data from {} for {:g} s (idle timeout)",
                                                   tt->request.url, secs)));
          } else {
            self->arm_idle(tt);
          }
        }));
  }

  // Stops a running transfer and completes it with `error`.
  void abort(const std::shared_ptr<Transfer>& t, Error error) {
    auto it = transfers.find(t->easy);
    if (it == transfers.end()) return;
    curl().multi_remove_handle(multi, t->easy);
    transfers.erase(it);
    complete(t, tl::unexpected<Error>(std::move(error)));
  }

  void finish(CURL* easy, CURLcode code) {
    auto it = transfers.find(easy);
    if (it == transfers.end()) return;
    auto t = it->second;
    curl().multi_remove_handle(multi, easy);
    transfers.erase(it);
    if (t->forced_error) {
      complete(t, tl::unexpected<Error>(*t->forced_error));
      return;
    }
    if (code == CURLE_OK) {
      long status = 0;
      curl().easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      t->response.status = static_cast<int>(status);
      complete(t, std::move(t->response));
      return;
    }
    if (t->stopped_by_receiver) {
      complete(t,
               fail(ErrorType::cancelled,
                    fmt::format("response from {} was stopped by its receiver", t->request.url)));
      return;
    }
    std::string detail =
        t->errbuf[0] ? std::string(t->errbuf) : std::string(curl().easy_strerror(code));
    ErrorType type = ErrorType::connection_error;
    if (code == CURLE_OPERATION_TIMEDOUT) type = ErrorType::timeout;
    complete(t, fail(type, fmt::format("request to {} failed: {}", t->request.url, detail),
                     json_object{{"curl_code", static_cast<int>(code)}, {"url", t->request.url}}));
  }

  void complete(const std::shared_ptr<Transfer>& t, Result<HttpResponse> result) {
    if (t->idle_timer) t->idle_timer->cancel();
    t->cancel.remove(t->cancel_id);
    if (!t->completion) return;
    auto completion = std::move(t->completion);
    std::move(completion)(std::move(result));  // posts to the caller's executor
  }

  void shutdown() {
    shut_down = true;
    std::vector<std::shared_ptr<Transfer>> all;
    all.reserve(transfers.size());
    for (auto& [e, t] : transfers) all.push_back(t);
    for (auto& t : all) abort(t, make_error(ErrorType::cancelled, "HTTP client shut down"));
    timer.cancel();
  }
};

HttpClient::HttpClient(const asio::any_io_executor& executor)
    : impl_(std::make_shared<Impl>(executor)) {}

namespace {
constexpr int kPreloadNone = 0;
constexpr int kPreloadPosted = 1;
constexpr int kPreloadLoading = 2;
constexpr int kPreloadDone = 3;
}  // namespace

HttpClient::~HttpClient() {
  // A load prepare() posted must not outlive its client: once the client is gone, its owner may
  // return and the process exit, and exit runs OpenSSL's atexit clean-up, which frees the locks
  // that curl_global_init is using on the I/O thread (a crash or a hang). A load not yet started
  // is called off; one under way is waited for (a few ms): load_curl()'s call_once blocks until
  // the running call has finished.
  int state = kPreloadPosted;
  if (!impl_->preload->compare_exchange_strong(state, kPreloadDone) && state == kPreloadLoading) {
    (void)net::load_curl();
  }
  auto impl = impl_;
  asio::dispatch(impl->strand, [impl] { impl->shutdown(); });
}

void HttpClient::prepare() {
  int state = kPreloadNone;
  if (!impl_->preload->compare_exchange_strong(state, kPreloadPosted)) return;
  // On an I/O thread (idle while an agent is being set up): the first request would open
  // libcurl there anyway; load_curl() runs once, and a request that comes first waits for it.
  asio::post(impl_->strand, [preload = impl_->preload] {
    int expected = kPreloadPosted;
    if (!preload->compare_exchange_strong(expected, kPreloadLoading)) return;  // called off
    (void)net::load_curl();
    preload->store(kPreloadDone);
  });
}

asio::awaitable<Result<HttpResponse>> HttpClient::request(HttpRequest request) {
  return this->request(std::move(request), HttpStreamHandlers{}, CancelToken{});
}

asio::awaitable<Result<HttpResponse>> HttpClient::request(HttpRequest request,
                                                          HttpStreamHandlers handlers) {
  return this->request(std::move(request), std::move(handlers), CancelToken{});
}

asio::awaitable<Result<HttpResponse>> HttpClient::request(HttpRequest request,
                                                          HttpStreamHandlers handlers,
                                                          CancelToken cancel) {
  auto impl = impl_;
  // A named initiation object: GCC 12 destroys lambda temporaries that appear inside a
  // co_await expression twice (their captures' refcounts go wrong), so never write one there.
  auto initiation = [impl, &request, &handlers, &cancel](auto handler) {
    auto t = std::make_shared<Transfer>();
    t->request = std::move(request);
    t->handlers = std::move(handlers);
    t->cancel = std::move(cancel);
    // Resume the caller on its own executor, never inline on the curl strand.
    auto ex = asio::get_associated_executor(handler, impl->strand);
    t->completion = Completion([h = std::move(handler), ex](Result<HttpResponse> r) mutable {
      asio::post(ex,
                 [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
    });
    asio::dispatch(impl->strand, [impl, t] { impl->start(t); });
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(Result<HttpResponse>)>(std::move(initiation),
                                                                      asio::use_awaitable);
}

}  // namespace cppflue
