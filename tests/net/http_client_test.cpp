// SPDX-License-Identifier: Apache-2.0
// HttpClient against the scripted fake provider on 127.0.0.1: round trips, statuses, streaming,
// receiver stop, refused connections, idle/total timeouts, cancellation, truncated bodies,
// concurrency and destruction with a request in flight.
#include "cppflue/net/http_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "cppflue/core/runtime.hpp"
#include "support/fake_provider.hpp"

namespace cppflue {
namespace {

namespace asio = boost::asio;
using cppflue::testing::closed_port;
using cppflue::testing::FakeProvider;
using cppflue::testing::FakeReply;
using Clock = std::chrono::steady_clock;

std::int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// A plain coroutine function rather than a capturing lambda coroutine: its parameters live in
// the coroutine frame, whereas a lambda's captures live in the closure object.
asio::awaitable<Result<HttpResponse>> do_request(HttpClient* client, HttpRequest req,
                                                 HttpStreamHandlers handlers = {},
                                                 CancelToken cancel = {}) {
  co_return co_await client->request(std::move(req), std::move(handlers), std::move(cancel));
}

class HttpClientTest : public ::testing::Test {
 protected:
  std::future<Result<HttpResponse>> start(HttpRequest req, HttpStreamHandlers handlers = {},
                                          CancelToken cancel = {}) {
    return asio::co_spawn(
        rt_.executor(),
        do_request(client_.get(), std::move(req), std::move(handlers), std::move(cancel)),
        asio::use_future);
  }

  // Waits at most `limit` for the future (a hung request fails the test instead of the run).
  static Result<HttpResponse> get(std::future<Result<HttpResponse>>& f,
                                  std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    if (f.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "request did not complete within " << limit.count() << " ms";
      return fail(ErrorType::internal, "test: request hung");
    }
    return f.get();
  }

  Result<HttpResponse> perform(HttpRequest req, HttpStreamHandlers handlers = {},
                               CancelToken cancel = {}) {
    auto f = start(std::move(req), std::move(handlers), std::move(cancel));
    return get(f);
  }

  HttpRequest get_request(std::string path) {
    HttpRequest r;
    r.method = "GET";
    r.url = fake_.base_url() + path;
    return r;
  }

  Runtime rt_;
  FakeProvider fake_;
  std::shared_ptr<HttpClient> client_ = std::make_shared<HttpClient>(rt_.executor());
};

TEST(FindHeader, IsCaseInsensitiveAndReturnsFirstMatch) {
  HttpHeaders h{{"Content-Type", "text/plain"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(find_header(h, "content-type"), "text/plain");
  EXPECT_EQ(find_header(h, "CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(find_header(h, "x-a"), "1");
  EXPECT_FALSE(find_header(h, "content-typ").has_value());
  EXPECT_FALSE(find_header({}, "x").has_value());
  HttpResponse resp;
  resp.headers = h;
  EXPECT_EQ(resp.header("X-A"), "1");
}

TEST_F(HttpClientTest, GetRoundTripRecordsTargetAndHeaders) {
  FakeReply reply;
  reply.content_type = "text/plain";
  reply.headers = {{"X-Reply", "yes"}};
  reply.chunks = {"hello ", "world"};
  fake_.enqueue(reply);

  HttpRequest req = get_request("/v1/things?q=1&r=two");
  req.headers = {{"X-Test", "abc"}, {"Authorization", "Bearer k"}};
  auto r = perform(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world");
  EXPECT_EQ(r->header("x-reply"), "yes");
  EXPECT_EQ(r->header("content-type"), "text/plain");

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/v1/things?q=1&r=two");
  EXPECT_EQ(reqs[0].header("x-test"), "abc");
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer k");
  EXPECT_TRUE(reqs[0].body.empty());
}

TEST_F(HttpClientTest, PostRoundTripSendsBodyAndHeaders) {
  FakeReply reply;
  reply.chunks = {R"({"ok":true})"};
  fake_.enqueue(reply);

  HttpRequest req;
  req.url = fake_.base_url() + "/v1/chat/completions";
  req.headers = {{"Content-Type", "application/json"}, {"X-Team", "a"}};
  req.body = R"({"model":"m","messages":[{"role":"user","content":"héllo"}]})";
  auto r = perform(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"ok":true})");

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].body, req.body);
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].header("x-team"), "a");
  ASSERT_TRUE(reqs[0].json_body.is_object());
  EXPECT_EQ(reqs[0].json_body.at("model"), "m");
  // We disable "Expect: 100-continue" (an extra round trip).
  EXPECT_FALSE(reqs[0].header("expect").has_value() && !reqs[0].header("expect")->empty());
}

TEST_F(HttpClientTest, LargePostBodyArrivesIntact) {
  FakeReply reply;
  reply.chunks = {"ok"};
  fake_.enqueue(reply);
  HttpRequest req;
  req.url = fake_.base_url() + "/big";
  req.body.reserve(300000);
  for (int i = 0; req.body.size() < 300000; ++i) req.body += fmt::format("{:08d},", i);
  auto r = perform(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "ok");
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body, req.body);
}

TEST_F(HttpClientTest, CustomMethodWithBody) {
  FakeReply reply;
  reply.status = 204;
  fake_.enqueue(reply);
  HttpRequest req;
  req.method = "PUT";
  req.url = fake_.base_url() + "/item/7";
  req.body = "payload";
  auto r = perform(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 204);
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].body, "payload");
}

TEST_F(HttpClientTest, Status500IsNotATransportErrorAndBodyIsAccumulated) {
  FakeReply reply;
  reply.status = 500;
  reply.headers = {{"Retry-After", "3"}};
  reply.chunks = {R"({"error":)", R"({"message":"boom"}})"};
  fake_.enqueue(reply);

  int head_status = 0;
  int body_calls = 0;
  HttpStreamHandlers h;
  h.on_head = [&](int status, const HttpHeaders&) { head_status = status; };
  h.on_body = [&](std::string_view) {
    ++body_calls;
    return true;
  };
  auto r = perform(get_request("/fail"), h);
  ASSERT_TRUE(r.has_value()) << "an HTTP error status must not be a transport error: "
                             << r.error().message;
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, R"({"error":{"message":"boom"}})");
  EXPECT_EQ(r->header("retry-after"), "3");
  EXPECT_EQ(head_status, 500);
  EXPECT_EQ(body_calls, 0) << "non-2xx bodies are accumulated, not streamed";
}

TEST_F(HttpClientTest, Status404And429AreResponsesToo) {
  for (int status : {404, 429}) {
    FakeReply reply;
    reply.status = status;
    reply.chunks = {fmt::format("status {}", status)};
    fake_.enqueue(reply);
    auto r = perform(get_request("/x"));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(r->body, fmt::format("status {}", status));
  }
}

TEST_F(HttpClientTest, StreamingDeliversHeadThenChunksInOrder) {
  FakeReply reply;
  reply.content_type = "text/event-stream";
  reply.headers = {{"X-Stream", "1"}};
  reply.chunks = {"data: one\n\n", "data: two\n\n", "data: three\n\n"};
  reply.chunk_delay_ms = 30;
  fake_.enqueue(reply);

  std::vector<std::string> log;  // "head:<status>" then the chunks, in arrival order
  std::optional<std::string> head_ct, head_custom;
  HttpStreamHandlers h;
  h.on_head = [&](int status, const HttpHeaders& headers) {
    log.push_back(fmt::format("head:{}", status));
    head_ct = find_header(headers, "content-type");
    head_custom = find_header(headers, "x-stream");
  };
  h.on_body = [&](std::string_view chunk) {
    log.emplace_back(chunk);
    return true;
  };
  auto r = perform(get_request("/stream"), h);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty()) << "a streamed 2xx body is not also accumulated";
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log.front(), "head:200");
  EXPECT_EQ(std::count(log.begin(), log.end(), "head:200"), 1) << "on_head is called once";
  std::string all;
  for (std::size_t i = 1; i < log.size(); ++i) all += log[i];
  EXPECT_EQ(all, "data: one\n\ndata: two\n\ndata: three\n\n");
  // With 30 ms between them the chunks cannot all arrive in one read.
  EXPECT_GE(log.size(), 3u);
  EXPECT_EQ(head_ct, "text/event-stream");
  EXPECT_EQ(head_custom, "1");
}

TEST_F(HttpClientTest, OnBodyReturningFalseStopsWithCancelledError) {
  FakeReply reply;
  reply.chunks = {"first", "second", "third"};
  reply.chunk_delay_ms = 200;
  fake_.enqueue(reply);

  int calls = 0;
  HttpStreamHandlers h;
  h.on_body = [&](std::string_view) {
    ++calls;
    return false;
  };
  auto t0 = Clock::now();
  auto r = perform(get_request("/stop"), h);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled) << r.error().message;
  EXPECT_EQ(calls, 1);
  EXPECT_LT(ms_since(t0), 350) << "the transfer must stop at once, not wait for the rest";

  // The client is still usable afterwards.
  FakeReply ok;
  ok.chunks = {"fine"};
  fake_.enqueue(ok);
  auto r2 = perform(get_request("/after"));
  ASSERT_TRUE(r2.has_value()) << r2.error().message;
  EXPECT_EQ(r2->body, "fine");
}

TEST_F(HttpClientTest, ConnectionRefusedIsConnectionErrorNamingTheUrl) {
  HttpRequest req;
  req.url = fmt::format("http://127.0.0.1:{}/v1/chat/completions", closed_port());
  req.body = "{}";
  auto t0 = Clock::now();
  auto r = perform(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::connection_error) << r.error().message;
  EXPECT_NE(r.error().message.find(req.url), std::string::npos) << r.error().message;
  EXPECT_LT(ms_since(t0), 2000);
}

TEST_F(HttpClientTest, MalformedUrlIsAnErrorNotACrash) {
  for (std::string url : {"", "http://", "http://127.0.0.1:99999/x", "nosuchscheme://127.0.0.1/"}) {
    HttpRequest req;
    req.method = "GET";
    req.url = url;
    auto r = perform(req);
    ASSERT_FALSE(r.has_value()) << "url '" << url << "'";
    EXPECT_EQ(r.error().type, ErrorType::connection_error) << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST_F(HttpClientTest, IdleTimeoutFiresWhenNoBytesArrive) {
  FakeReply reply;
  reply.chunks = {"a", "b"};
  reply.chunk_delay_ms = 1000;
  fake_.enqueue(reply);

  HttpRequest req = get_request("/idle");
  req.idle_timeout = std::chrono::milliseconds(200);
  std::string received;
  HttpStreamHandlers h;
  h.on_body = [&](std::string_view c) {
    received.append(c);
    return true;
  };
  auto t0 = Clock::now();
  auto r = perform(req, h);
  auto elapsed = ms_since(t0);
  ASSERT_FALSE(r.has_value()) << "expected an idle timeout, got status " << r->status;
  EXPECT_EQ(r.error().type, ErrorType::timeout) << r.error().message;
  EXPECT_NE(r.error().message.find(req.url), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("idle"), std::string::npos) << r.error().message;
  EXPECT_EQ(received, "a");
  EXPECT_GE(elapsed, 180);
  EXPECT_LT(elapsed, 900) << "the idle timeout is 200 ms; the next chunk would come at 1000 ms";
}

TEST_F(HttpClientTest, IdleTimeoutAlsoCoversAServerThatNeverAnswers) {
  FakeReply reply;
  reply.initial_delay_ms = 1500;
  reply.chunks = {"late"};
  fake_.enqueue(reply);
  HttpRequest req = get_request("/silent");
  req.idle_timeout = std::chrono::milliseconds(200);
  auto t0 = Clock::now();
  auto r = perform(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::timeout) << r.error().message;
  EXPECT_LT(ms_since(t0), 1000);
}

TEST_F(HttpClientTest, SteadyTrickleDoesNotTripTheIdleTimeout) {
  FakeReply reply;
  reply.chunks = {"1", "2", "3", "4", "5", "6"};
  reply.chunk_delay_ms = 80;  // total ~400 ms, each gap well under the idle timeout
  fake_.enqueue(reply);
  HttpRequest req = get_request("/trickle");
  req.idle_timeout = std::chrono::milliseconds(250);
  auto r = perform(req);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->body, "123456");
}

TEST_F(HttpClientTest, TotalTimeoutIsATimeoutError) {
  FakeReply reply;
  reply.chunks = {"a", "b", "c", "d"};
  reply.chunk_delay_ms = 100;
  fake_.enqueue(reply);
  HttpRequest req = get_request("/total");
  req.total_timeout = std::chrono::milliseconds(150);
  auto t0 = Clock::now();
  auto r = perform(req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::timeout) << r.error().message;
  EXPECT_LT(ms_since(t0), 300);
}

TEST_F(HttpClientTest, CancelDuringSlowStreamCompletesPromptly) {
  FakeReply reply;
  reply.chunks = {"first", "second"};
  reply.chunk_delay_ms = 2000;
  fake_.enqueue(reply);

  std::promise<void> first_chunk;
  std::atomic<bool> signalled{false};
  HttpStreamHandlers h;
  h.on_body = [&](std::string_view) {
    if (!signalled.exchange(true)) first_chunk.set_value();
    return true;
  };
  CancelSource source;
  auto f = start(get_request("/slow"), h, source.token());
  ASSERT_EQ(first_chunk.get_future().wait_for(std::chrono::seconds(2)), std::future_status::ready);
  auto t0 = Clock::now();
  EXPECT_TRUE(source.cancel());
  auto r = get(f, std::chrono::seconds(3));
  auto elapsed = ms_since(t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled) << r.error().message;
  EXPECT_LT(elapsed, 100);
}

TEST_F(HttpClientTest, CancelBeforeTheResponseHeadArrives) {
  FakeReply reply;
  reply.initial_delay_ms = 2000;
  reply.chunks = {"late"};
  fake_.enqueue(reply);
  CancelSource source;
  auto f = start(get_request("/slow-head"), {}, source.token());
  // Let the request reach the server first.
  for (int i = 0; i < 200 && fake_.request_count() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(fake_.request_count(), 1u);
  auto t0 = Clock::now();
  source.cancel();
  auto r = get(f, std::chrono::seconds(3));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
  EXPECT_LT(ms_since(t0), 100);
}

TEST_F(HttpClientTest, AlreadyCancelledTokenSendsNothing) {
  FakeReply reply;
  reply.chunks = {"x"};
  fake_.enqueue(reply);
  CancelSource source;
  source.cancel();
  auto r = perform(get_request("/never"), {}, source.token());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fake_.request_count(), 0u);
}

TEST_F(HttpClientTest, CancelAfterCompletionIsHarmless) {
  FakeReply reply;
  reply.chunks = {"done"};
  fake_.enqueue(reply);
  CancelSource source;
  auto r = perform(get_request("/quick"), {}, source.token());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(source.cancel());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r->body, "done");
}

TEST_F(HttpClientTest, TruncatedChunkedBodyIsAnError) {
  FakeReply reply;
  reply.chunks = {"partial ", "answer"};
  reply.truncate = true;
  fake_.enqueue(reply);
  auto r = perform(get_request("/cut"));
  ASSERT_FALSE(r.has_value()) << "a body cut off mid-stream was accepted: '" << r->body << "'";
  EXPECT_EQ(r.error().type, ErrorType::connection_error) << r.error().message;
  EXPECT_NE(r.error().message.find("/cut"), std::string::npos) << r.error().message;
}

TEST_F(HttpClientTest, TruncatedStreamedBodyIsAnErrorAfterDeliveringTheData) {
  FakeReply reply;
  reply.content_type = "text/event-stream";
  reply.chunks = {"data: a\n\n", "data: b\n\n"};
  reply.chunk_delay_ms = 10;
  reply.truncate = true;
  fake_.enqueue(reply);
  std::string got;
  HttpStreamHandlers h;
  h.on_body = [&](std::string_view c) {
    got.append(c);
    return true;
  };
  auto r = perform(get_request("/cut-stream"), h);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::connection_error) << r.error().message;
  EXPECT_EQ(got, "data: a\n\ndata: b\n\n");
}

TEST_F(HttpClientTest, FiftyConcurrentRequestsAllCompleteWithTheirOwnReplies) {
  constexpr int kN = 50;
  // Reply k goes to the k-th request the fake receives; the recording says which one that is.
  for (int k = 0; k < kN; ++k) {
    FakeReply reply;
    reply.chunks = {fmt::format("reply-{}", k), fmt::format("-end-{}", k)};
    reply.initial_delay_ms = (k * 7) % 40;  // finish out of order
    fake_.enqueue(reply);
  }
  std::vector<std::future<Result<HttpResponse>>> futures;
  std::vector<std::vector<std::string>> streamed(kN);
  for (int i = 0; i < kN; ++i) {
    HttpRequest req;
    req.url = fake_.base_url() + fmt::format("/req/{}", i);
    req.body = fmt::format("request-{}", i);
    HttpStreamHandlers h;
    if (i % 2 == 0) {  // half of them streamed
      h.on_body = [&streamed, i](std::string_view c) {
        streamed[i].emplace_back(c);
        return true;
      };
    }
    futures.push_back(start(std::move(req), std::move(h)));
  }
  std::vector<std::string> bodies(kN);
  for (int i = 0; i < kN; ++i) {
    auto r = get(futures[i], std::chrono::seconds(10));
    ASSERT_TRUE(r.has_value()) << "request " << i << ": " << r.error().message;
    EXPECT_EQ(r->status, 200);
    if (i % 2 == 0) {
      for (const auto& c : streamed[i]) bodies[i] += c;
      EXPECT_TRUE(r->body.empty());
    } else {
      bodies[i] = r->body;
    }
  }
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), static_cast<std::size_t>(kN));
  std::map<std::string, int> position;  // request body -> arrival index
  for (int k = 0; k < kN; ++k) position[reqs[k].body] = k;
  ASSERT_EQ(position.size(), static_cast<std::size_t>(kN)) << "every request body is distinct";
  for (int i = 0; i < kN; ++i) {
    auto it = position.find(fmt::format("request-{}", i));
    ASSERT_NE(it, position.end()) << "request " << i << " never reached the server";
    EXPECT_EQ(reqs[it->second].target, fmt::format("/req/{}", i));
    EXPECT_EQ(bodies[i], fmt::format("reply-{}-end-{}", it->second, it->second))
        << "request " << i << " got another request's reply";
  }
}

TEST_F(HttpClientTest, DestroyingTheClientWithARequestInFlightDoesNotCrash) {
  FakeReply reply;
  reply.chunks = {"first", "second"};
  reply.chunk_delay_ms = 2000;
  fake_.enqueue(reply);

  std::promise<void> first_chunk;
  std::atomic<bool> signalled{false};
  HttpStreamHandlers h;
  h.on_body = [&](std::string_view) {
    if (!signalled.exchange(true)) first_chunk.set_value();
    return true;
  };
  auto client = std::make_unique<HttpClient>(rt_.executor());
  HttpRequest req = get_request("/inflight");
  auto f = asio::co_spawn(rt_.executor(), do_request(client.get(), req, h), asio::use_future);
  ASSERT_EQ(first_chunk.get_future().wait_for(std::chrono::seconds(2)), std::future_status::ready);
  auto t0 = Clock::now();
  client.reset();
  auto r = get(f, std::chrono::seconds(3));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled) << r.error().message;
  EXPECT_LT(ms_since(t0), 500);
}

TEST_F(HttpClientTest, DestroyingTheClientBeforeTheResponseHeadDoesNotCrash) {
  FakeReply reply;
  reply.initial_delay_ms = 1000;
  reply.chunks = {"x"};
  fake_.enqueue(reply);
  auto client = std::make_unique<HttpClient>(rt_.executor());
  HttpRequest req = get_request("/early");
  auto f = asio::co_spawn(rt_.executor(), do_request(client.get(), req), asio::use_future);
  // request() must have started (it holds its own reference to the client's state) before
  // the HttpClient object goes away.
  for (int i = 0; i < 400 && fake_.request_count() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(fake_.request_count(), 1u);
  client.reset();
  auto r = get(f, std::chrono::seconds(3));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled) << r.error().message;
}

// prepare() starts loading libcurl on an I/O thread. If the client is destroyed meanwhile and the
// process then exits, exit runs OpenSSL's clean-up (registered while curl_global_init runs), which
// frees locks the loading thread is still using: a crash or a hang at exit, seen in CI. So the
// client's destruction calls off a load not yet started and waits for one under way. Each child
// exits at a different point of the few milliseconds the load takes; with the wait removed some
// of them crash or hang (the alarm ends a hang).
TEST(HttpClientPrepare, TheProcessCanExitRightAfterAPreparedClientIsDestroyed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (int i = 0; i < 100; ++i) {
    EXPECT_EXIT(
        {
          ::alarm(20);
          auto runtime = Runtime::shared();
          {
            HttpClient client(runtime->executor());
            client.prepare();
            // 0 to 10 ms: the window is somewhere in the load, wherever its OpenSSL part falls.
            std::this_thread::sleep_for(std::chrono::microseconds(100 * i));
          }
          std::exit(0);
        },
        ::testing::ExitedWithCode(0), "")
        << "child " << i;
  }
}

}  // namespace
}  // namespace cppflue
