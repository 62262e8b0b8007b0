// SPDX-License-Identifier: Apache-2.0
// The HTTP model client against the scripted fake provider, for every wire API, streaming and
// not: success, retries (429 + Retry-After, 5xx, giving up after max_attempts), no retry for
// 400/401 or once output reached the caller, malformed streams, cancellation.
#include "cppflue/model/model_client.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cppflue/core/runtime.hpp"
#include "cppflue/net/http_client.hpp"
#include "support/fake_provider.hpp"
#include "support/turns.hpp"

namespace cppflue {

// Readable test parameters (found by argument-dependent lookup; internal linkage).
static void PrintTo(WireApi api, std::ostream* os) {
  *os << wire_api_name(api);
}

namespace {

namespace asio = boost::asio;
using cppflue::testing::closed_port;
using cppflue::testing::FakeProvider;
using cppflue::testing::FakeReply;
using cppflue::testing::ScriptedTurn;
using cppflue::testing::text_turn;
using Clock = std::chrono::steady_clock;

std::int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

bool contains(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

RetryPolicy fast_retries() {
  RetryPolicy p;
  p.max_attempts = 4;
  p.base_delay = std::chrono::milliseconds(1);
  p.max_delay = std::chrono::milliseconds(5);
  p.connect_timeout = std::chrono::milliseconds(2000);
  p.idle_timeout = std::chrono::milliseconds(5000);
  return p;
}

ResolvedModel resolved_for(WireApi api, const std::string& base_url) {
  ResolvedModel m;
  m.spec = "fake:fake-model";
  m.model = "fake-model";
  m.provider.name = "fake";
  m.provider.api = api;
  bool openai = api == WireApi::openai_chat || api == WireApi::openai_responses;
  m.provider.base_url = base_url + (openai ? "/v1" : "");
  m.provider.api_key = "test-key";
  m.provider.api_key_env = "FAKE_API_KEY";
  m.provider.headers = {{"X-Custom", "custom-value"}};
  return m;
}

ModelRequest simple_request(bool stream) {
  ModelRequest r;
  r.system = "You are terse.";
  Message u;
  u.role = Role::user;
  u.text = "Say hello.";
  r.messages.push_back(u);
  r.stream = stream;
  r.max_output_tokens = 256;
  return r;
}

// The usage every text turn of these tests reports.
constexpr Usage kTurnUsage{.input = 12, .output = 7};

// A plain coroutine function: its parameters live in the coroutine frame.
asio::awaitable<Result<ModelResponse>> call(std::shared_ptr<ModelClient> model, ModelRequest req,
                                            DeltaCallback on_delta, CancelToken cancel) {
  co_return co_await model->complete(std::move(req), std::move(on_delta), std::move(cancel));
}

// ---- the tests proper ----

std::string api_label(WireApi api) {
  std::string s(wire_api_name(api));
  for (char& c : s) {
    if (c == '-') c = '_';
  }
  return s;
}

class ModelClientFixture {
 protected:
  void start_client(WireApi api, RetryPolicy retry = fast_retries()) {
    api_ = api;
    http_ = std::make_shared<HttpClient>(rt_.executor());
    auto c = make_model_client(resolved_for(api, fake_.base_url()), http_, retry);
    ASSERT_TRUE(c.has_value()) << c.error().message;
    client_ = *c;
  }

  std::future<Result<ModelResponse>> start(ModelRequest req, DeltaCallback on_delta = {},
                                           CancelToken cancel = {}) {
    return asio::co_spawn(rt_.executor(),
                          call(client_, std::move(req), std::move(on_delta), std::move(cancel)),
                          asio::use_future);
  }

  Result<ModelResponse> complete(ModelRequest req, DeltaCallback on_delta = {},
                                 CancelToken cancel = {}) {
    auto f = start(std::move(req), std::move(on_delta), std::move(cancel));
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "the model call did not complete within 10 s";
      return fail(ErrorType::internal, "test: hung");
    }
    return f.get();
  }

  // Collects text deltas (callbacks may run on any runtime thread).
  struct Deltas {
    std::mutex mu;
    std::string text;
    int count = 0;
    DeltaCallback callback() {
      return [this](const ModelDelta& d) {
        std::lock_guard lock(mu);
        ++count;
        if (d.kind == ModelDelta::Kind::text) text += d.text;
      };
    }
    std::string get() {
      std::lock_guard lock(mu);
      return text;
    }
  };

  Runtime rt_;
  FakeProvider fake_;
  WireApi api_ = WireApi::openai_chat;
  std::shared_ptr<HttpClient> http_;
  std::shared_ptr<ModelClient> client_;
};

class ModelClientTest : public ModelClientFixture,
                        public ::testing::TestWithParam<std::tuple<WireApi, bool>> {
 protected:
  void SetUp() override { start_client(api(), fast_retries()); }
  WireApi api() const { return std::get<0>(GetParam()); }
  bool stream() const { return std::get<1>(GetParam()); }
};

TEST_P(ModelClientTest, Success) {
  fake_.enqueue_turn(api(), text_turn("Hello from the fake provider.", kTurnUsage), stream());
  Deltas deltas;
  auto r = complete(simple_request(stream()), deltas.callback());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.role, Role::assistant);
  EXPECT_EQ(r->message.text, "Hello from the fake provider.");
  EXPECT_EQ(r->finish_reason, FinishReason::stop);
  EXPECT_EQ(r->usage.input, 12);
  EXPECT_EQ(r->usage.output, 7);
  if (stream()) {
    EXPECT_EQ(deltas.get(), "Hello from the fake provider.");
    EXPECT_GE(deltas.count, 2) << "the answer arrives in several deltas";
  } else {
    EXPECT_EQ(deltas.count, 0);
  }

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& req = reqs[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.header("x-custom"), "custom-value") << "[providers.NAME] headers are sent";
  ASSERT_TRUE(req.json_body.is_object()) << req.body;
  std::string body = req.body;
  EXPECT_TRUE(contains(body, "Say hello.")) << body;
  EXPECT_TRUE(contains(body, "You are terse.")) << body;
  switch (api()) {
    case WireApi::openai_chat:
      EXPECT_EQ(req.target, "/v1/chat/completions");
      EXPECT_EQ(req.header("authorization"), "Bearer test-key");
      EXPECT_EQ(req.json_body.at("model"), "fake-model");
      break;
    case WireApi::openai_responses:
      EXPECT_EQ(req.target, "/v1/responses");
      EXPECT_EQ(req.header("authorization"), "Bearer test-key");
      EXPECT_EQ(req.json_body.at("model"), "fake-model");
      break;
    case WireApi::anthropic:
      EXPECT_EQ(req.target, "/v1/messages");
      EXPECT_EQ(req.header("x-api-key"), "test-key");
      EXPECT_TRUE(req.header("anthropic-version").has_value());
      EXPECT_EQ(req.json_body.at("model"), "fake-model");
      break;
    case WireApi::gemini:
      EXPECT_TRUE(contains(req.target, "/models/fake-model:")) << req.target;
      EXPECT_TRUE(contains(req.target, stream() ? "streamGenerateContent" : ":generateContent"))
          << req.target;
      EXPECT_EQ(req.header("x-goog-api-key"), "test-key");
      break;
  }
}

TEST_P(ModelClientTest, ToolCallTurn) {
  ScriptedTurn turn;
  turn.text = "Let me check.";
  ToolCall c;
  c.id = "call_1";
  c.name = "get_weather";
  c.arguments = json_object{{"city", "Paris"}, {"days", 3}};
  turn.tool_calls = {c};
  fake_.enqueue_turn(api(), turn, stream());
  auto r = complete(simple_request(stream()));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->message.tool_calls.size(), 1u);
  EXPECT_EQ(r->message.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r->message.tool_calls[0].arguments, c.arguments);
  EXPECT_EQ(r->finish_reason, FinishReason::tool_calls);
}

TEST_P(ModelClientTest, ServerErrorThenSuccessIsRetried) {
  fake_.enqueue_error(api(), 500, "temporary glitch");
  fake_.enqueue_turn(api(), text_turn("recovered", kTurnUsage), stream());
  auto r = complete(simple_request(stream()));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.text, "recovered");
  EXPECT_EQ(fake_.request_count(), 2u);
  auto reqs = fake_.requests();
  EXPECT_EQ(reqs[0].body, reqs[1].body) << "a retry resends the same request";
}

TEST_P(ModelClientTest, ServerErrorForeverGivesUpAfterFourAttempts) {
  FakeReply err;
  err.status = 500;
  err.chunks = {testing::error_json(api(), 500, "upstream exploded")};
  fake_.set_default(err);
  auto r = complete(simple_request(stream()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(fake_.request_count(), 4u);
  const std::string& m = r.error().message;
  EXPECT_EQ(r.error().type, ErrorType::provider_error) << m;
  EXPECT_TRUE(contains(m, "500")) << m;
  EXPECT_TRUE(contains(m, "upstream exploded")) << m;
  EXPECT_TRUE(contains(m, "4 attempts")) << m;
  EXPECT_EQ(get_int(r.error().details, "status"), 500);
}

TEST_P(ModelClientTest, BadRequestIsNotRetried) {
  fake_.enqueue_error(api(), 400, "field 'x' is not allowed");
  fake_.enqueue_turn(api(), text_turn("should not be reached", kTurnUsage), stream());
  auto r = complete(simple_request(stream()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::provider_error) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "field 'x' is not allowed")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "400")) << r.error().message;
  EXPECT_FALSE(contains(r.error().message, "attempts")) << r.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(fake_.request_count(), 1u);
}

TEST_P(ModelClientTest, UnauthorizedIsAnAuthErrorWithoutRetry) {
  fake_.enqueue_error(api(), 401, "invalid api key provided");
  auto r = complete(simple_request(stream()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::auth_error) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "invalid api key provided")) << r.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(fake_.request_count(), 1u);
}

TEST_P(ModelClientTest, ConnectionRefusedIsRetriedThenReported) {
  ResolvedModel m = resolved_for(api(), fmt::format("http://127.0.0.1:{}", closed_port()));
  auto c = make_model_client(m, http_, fast_retries());
  ASSERT_TRUE(c.has_value());
  client_ = *c;
  auto r = complete(simple_request(stream()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::connection_error) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "127.0.0.1")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "4 attempts")) << r.error().message;
}

TEST_P(ModelClientTest, TruncatedAnswerIsRetriedOnlyIfNothingReachedTheCaller) {
  // An answer containing a marker word, cut off right after the event that carries it.
  ScriptedTurn turn = text_turn("Alpha beta gamma delta epsilon zeta eta theta.", kTurnUsage);
  FakeReply cut;
  if (stream()) {
    cut.content_type = "text/event-stream";
    for (const auto& ev : testing::response_sse(api(), turn)) {
      cut.chunks.push_back(ev);
      if (contains(ev, "Alpha")) break;
    }
    ASSERT_LT(cut.chunks.size(), testing::response_sse(api(), turn).size());
  } else {
    std::string body = testing::response_json(api(), turn);
    cut.chunks = {body.substr(0, body.size() / 2)};
  }
  cut.truncate = true;
  fake_.enqueue(cut);
  fake_.enqueue_turn(api(), turn, stream());

  Deltas deltas;
  auto r = complete(simple_request(stream()), deltas.callback());
  if (stream()) {
    // "Alpha" was streamed to the caller: a retry would show it twice.
    ASSERT_FALSE(r.has_value()) << "the broken stream was retried after output was delivered";
    EXPECT_TRUE(contains(deltas.get(), "Alpha")) << deltas.get();
    EXPECT_FALSE(contains(r.error().message, "attempts")) << r.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_EQ(fake_.request_count(), 1u);
  } else {
    // Nothing was delivered yet, so the connection error is retried.
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->message.text, turn.text);
    EXPECT_EQ(fake_.request_count(), 2u);
  }
}

TEST_P(ModelClientTest, MalformedPayloadIsAProviderError) {
  FakeReply bad;
  if (stream()) {
    bad.content_type = "text/event-stream";
    std::string event_line;
    if (api() == WireApi::anthropic) event_line = "event: content_block_delta\n";
    if (api() == WireApi::openai_responses) event_line = "event: response.output_text.delta\n";
    bad.chunks = {event_line + "data: {not json at all\n\n"};
  } else {
    bad.chunks = {"{not json at all"};
  }
  fake_.enqueue(bad);
  auto r = complete(simple_request(stream()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::provider_error) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "JSON")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "not json"))
      << "the message quotes the payload: " << r.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(fake_.request_count(), 1u) << "a malformed answer is not retried";
}

// Streaming-only behaviour.
class ModelClientStreamTest : public ModelClientTest {};

TEST_P(ModelClientStreamTest, StreamThatEndsEarlyIsAnError) {
  // A complete HTTP response whose event stream stops before the final event(s).
  ScriptedTurn turn = text_turn("Short answer that never finishes properly.", kTurnUsage);
  auto events = testing::response_sse(api(), turn);
  FakeReply early;
  early.content_type = "text/event-stream";
  early.chunks.assign(events.begin(), events.begin() + 1);
  fake_.enqueue(early);
  auto r = complete(simple_request(true));
  ASSERT_FALSE(r.has_value()) << "an unfinished stream was accepted as '" << r->message.text << "'";
}

TEST_P(ModelClientStreamTest, ServerIgnoringStreamFlagStillWorks) {
  fake_.enqueue_turn(api(), text_turn("plain JSON answer", kTurnUsage), /*stream=*/false);
  auto r = complete(simple_request(true));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.text, "plain JSON answer");
}

TEST_P(ModelClientStreamTest, CancelDuringASlowStreamStopsAtOnceWithoutRetry) {
  ScriptedTurn turn = text_turn("One two three four five six.", kTurnUsage);
  fake_.enqueue_turn(api(), turn, true, 3, /*chunk_delay_ms=*/2000);
  CancelSource source;
  std::promise<void> first;
  std::atomic<bool> signalled{false};
  auto f = start(
      simple_request(true),
      [&](const ModelDelta&) {
        if (!signalled.exchange(true)) first.set_value();
      },
      source.token());
  // The first event may carry no delta (e.g. a "message start"); cancel after the request
  // reached the server and either a delta arrived or 300 ms passed.
  for (int i = 0; i < 200 && fake_.request_count() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(fake_.request_count(), 1u);
  first.get_future().wait_for(std::chrono::milliseconds(300));
  auto t0 = Clock::now();
  source.cancel();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  auto r = f.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled) << r.error().message;
  EXPECT_LT(ms_since(t0), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(fake_.request_count(), 1u);
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<WireApi, bool>>& info) {
  return api_label(std::get<0>(info.param)) + (std::get<1>(info.param) ? "_stream" : "_nonstream");
}

INSTANTIATE_TEST_SUITE_P(AllApis, ModelClientTest,
                         ::testing::Combine(::testing::Values(WireApi::openai_chat,
                                                              WireApi::openai_responses,
                                                              WireApi::anthropic, WireApi::gemini),
                                            ::testing::Bool()),
                         param_name);
INSTANTIATE_TEST_SUITE_P(AllApis, ModelClientStreamTest,
                         ::testing::Combine(::testing::Values(WireApi::openai_chat,
                                                              WireApi::openai_responses,
                                                              WireApi::anthropic, WireApi::gemini),
                                            ::testing::Values(true)),
                         param_name);

// 429 with Retry-After: one case per API (alternating streaming), since each waits ~1 s.
class ModelClientRetryAfterTest : public ModelClientFixture,
                                  public ::testing::TestWithParam<WireApi> {
 protected:
  void SetUp() override { start_client(GetParam(), fast_retries()); }
  bool stream() const {
    return GetParam() == WireApi::openai_chat || GetParam() == WireApi::anthropic;
  }
};

TEST_P(ModelClientRetryAfterTest, RateLimitHonoursRetryAfter) {
  fake_.enqueue_error(GetParam(), 429, "rate limit reached", {{"Retry-After", "1"}});
  fake_.enqueue_turn(GetParam(), text_turn("after the pause", kTurnUsage), stream());
  auto t0 = Clock::now();
  auto r = complete(simple_request(stream()));
  auto elapsed = ms_since(t0);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.text, "after the pause");
  EXPECT_EQ(fake_.request_count(), 2u);
  EXPECT_GE(elapsed, 900) << "Retry-After: 1 was not honoured (base delay is 1 ms)";
  EXPECT_LT(elapsed, 3000);
}

TEST_P(ModelClientRetryAfterTest, RateLimitForeverIsRateLimited) {
  FakeReply err;
  err.status = 429;
  err.chunks = {testing::error_json(GetParam(), 429, "quota exhausted")};
  fake_.set_default(err);
  auto r = complete(simple_request(stream()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::rate_limited) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "quota exhausted")) << r.error().message;
  EXPECT_EQ(fake_.request_count(), 4u);
}

TEST_P(ModelClientRetryAfterTest, VeryLongRetryAfterIsNotWaitedFor) {
  fake_.enqueue_error(GetParam(), 429, "come back in an hour", {{"Retry-After", "3600"}});
  fake_.enqueue_turn(GetParam(), text_turn("too late", kTurnUsage), stream());
  auto t0 = Clock::now();
  auto r = complete(simple_request(stream()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::rate_limited) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "3600 s")) << r.error().message;
  ASSERT_TRUE(r.error().retry_after.has_value());
  EXPECT_EQ(r.error().retry_after->count(), 3600000);
  EXPECT_EQ(fake_.request_count(), 1u);
  EXPECT_LT(ms_since(t0), 1000);
}

INSTANTIATE_TEST_SUITE_P(AllApis, ModelClientRetryAfterTest,
                         ::testing::Values(WireApi::openai_chat, WireApi::openai_responses,
                                           WireApi::anthropic, WireApi::gemini),
                         [](const ::testing::TestParamInfo<WireApi>& info) {
                           return api_label(info.param);
                         });

class ModelClientOptionsTest : public ModelClientFixture, public ::testing::Test {};

TEST_F(ModelClientOptionsTest, MaxAttemptsOneMeansNoRetry) {
  RetryPolicy p = fast_retries();
  p.max_attempts = 1;
  start_client(WireApi::openai_chat, p);
  fake_.enqueue_error(WireApi::openai_chat, 503, "overloaded");
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("unreached", kTurnUsage), true);
  auto r = complete(simple_request(true));
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, "503")) << r.error().message;
  EXPECT_EQ(fake_.request_count(), 1u);
}

TEST_F(ModelClientOptionsTest, IdleTimeoutIsRetried) {
  RetryPolicy p = fast_retries();
  p.idle_timeout = std::chrono::milliseconds(200);
  start_client(WireApi::openai_chat, p);
  FakeReply silent;
  silent.initial_delay_ms = 1500;
  silent.chunks = {testing::response_json(WireApi::openai_chat, text_turn("too late", kTurnUsage))};
  fake_.enqueue(silent);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("second try", kTurnUsage), true);
  auto r = complete(simple_request(true));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->message.text, "second try");
  EXPECT_EQ(fake_.request_count(), 2u);
}

TEST_F(ModelClientOptionsTest, CancelDuringBackoffStopsRetrying) {
  RetryPolicy p = fast_retries();
  p.base_delay = std::chrono::milliseconds(3000);
  p.max_delay = std::chrono::milliseconds(3000);
  start_client(WireApi::openai_chat, p);
  fake_.enqueue_error(WireApi::openai_chat, 502, "bad gateway");
  CancelSource source;
  auto f = start(simple_request(true), {}, source.token());
  for (int i = 0; i < 200 && fake_.request_count() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // now in the backoff sleep
  auto t0 = Clock::now();
  source.cancel();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  auto r = f.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled) << r.error().message;
  EXPECT_LT(ms_since(t0), 300);
  EXPECT_EQ(fake_.request_count(), 1u);
}

TEST(ModelClientFactory, HttpProviderNeedsAnHttpClient) {
  ResolvedModel m = resolved_for(WireApi::openai_chat, "http://127.0.0.1:1");
  auto c = make_model_client(m, nullptr);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().type, ErrorType::internal);
}

}  // namespace
}  // namespace cppflue

namespace cppflue {
namespace {

bool libcurl_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/libcurl.so.4") != std::string::npos) return true;
  }
  return false;
}

// An agent with a remote model opens libcurl while it is being set up, in the background, so the
// first prompt need not wait for it; an offline model never opens it.
TEST(ModelClientCachePrepare, OpensTheHttpTransportOnlyForRemoteModels) {
  if (libcurl_mapped()) GTEST_SKIP() << "libcurl is already loaded in this process";
  auto runtime = Runtime::shared();
  ModelClientCache cache(runtime->executor(),
                         {{"mine", ProviderOverride{.api = "openai-chat",
                                                    .base_url = "http://127.0.0.1:9/v1",
                                                    .api_key = "sk-test"}}});
  cache.prepare("test:echo");
  cache.prepare("nosuchprovider:model");  // unresolvable: nothing, the run reports it later
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(libcurl_mapped());
  cache.prepare("mine:m");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!libcurl_mapped() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(libcurl_mapped());
}

}  // namespace
}  // namespace cppflue
