// SPDX-License-Identifier: Apache-2.0
// The HTTP model client: encode with the provider's codec, send (streaming or not), decode,
// and retry transient failures as long as nothing has reached the caller yet.
#include "cppflue/model/model_client.hpp"
#include "cppflue/model/wire.hpp"

#include <fmt/format.h>

#include <random>

#include "cppflue/core/async.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/metrics.hpp"
#include "cppflue/model/offline_model.hpp"
#include "cppflue/model/pricing.hpp"
#include "cppflue/net/http_client.hpp"

namespace asio = boost::asio;

namespace cppflue {
namespace {

bool retryable_status(int status) {
  switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
    case 529:
      return true;
    default:
      return false;
  }
}

bool retryable(const Error& e) {
  if (e.type == ErrorType::connection_error || e.type == ErrorType::rate_limited) return true;
  if (e.type == ErrorType::timeout) return true;
  if (auto s = get_int(e.details, "status")) return retryable_status(static_cast<int>(*s));
  return false;
}

// Retry-After: delta-seconds or an HTTP date; nullopt when absent or unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::optional<std::string>& v) {
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(v->c_str(), &end);
  if (end && *end == '\0' && secs >= 0) {
    return std::chrono::milliseconds(static_cast<long long>(secs * 1000));
  }
  std::tm tm{};
  if (strptime(v->c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) {
    auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
    auto diff = std::chrono::duration_cast<std::chrono::milliseconds>(
        when - std::chrono::system_clock::now());
    return diff.count() > 0 ? diff : std::chrono::milliseconds(0);
  }
  return std::nullopt;
}

std::chrono::milliseconds backoff(const RetryPolicy& p, int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  double base = static_cast<double>(p.base_delay.count()) * static_cast<double>(1 << (attempt - 1));
  base = std::min(base, static_cast<double>(p.max_delay.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(base * jitter(rng)));
}

bool is_event_stream(const HttpHeaders& headers) {
  auto ct = find_header(headers, "content-type");
  return ct && ct->find("text/event-stream") != std::string::npos;
}

class HttpModelClient final : public ModelClient {
 public:
  HttpModelClient(ResolvedModel model, std::shared_ptr<HttpClient> http, RetryPolicy retry)
      : model_(std::move(model)),
        http_(std::move(http)),
        retry_(retry),
        codec_(codec_for(model_.provider.api)) {
    endpoint_.base_url = model_.provider.base_url;
    endpoint_.api_key = model_.provider.api_key;
    endpoint_.headers = model_.provider.headers;
  }

  asio::awaitable<Result<ModelResponse>> complete(ModelRequest request, DeltaCallback on_delta,
                                                  CancelToken cancel) override {
    request.model = model_.model;
    EncodedRequest enc = codec_.encode(request, endpoint_);
    HttpRequest http_request;
    http_request.method = "POST";
    http_request.url = enc.url;
    http_request.headers = enc.headers;
    if (!request.traceparent.empty()) {
      http_request.headers.emplace_back("traceparent", request.traceparent);
      if (!request.tracestate.empty()) {
        http_request.headers.emplace_back("tracestate", request.tracestate);
      }
    }
    http_request.body = dump(enc.body);
    http_request.connect_timeout = retry_.connect_timeout;
    http_request.idle_timeout = retry_.idle_timeout;

    bool emitted = false;  // once true, no retry: the caller has seen output
    Error last;
    int max_attempts = std::max(1, retry_.max_attempts);
    int attempt = 1;
    for (;; ++attempt) {
      auto result = co_await attempt_once(http_request, request.stream, on_delta, cancel, emitted);
      if (result) co_return result;
      last = std::move(result.error());
      if (last.type == ErrorType::cancelled || cancel.cancelled()) {
        co_return fail(ErrorType::cancelled, "model request was aborted");
      }
      if (emitted || !retryable(last) || attempt >= max_attempts) break;
      if (last.retry_after && *last.retry_after > retry_.max_retry_after) {
        last.message +=
            fmt::format(" (the provider asks to retry after {} s; not waiting that long)",
                        last.retry_after->count() / 1000);
        break;
      }
      auto delay = last.retry_after ? *last.retry_after : backoff(retry_, attempt);
      log::get()->info("model {}: attempt {} failed ({}); retrying in {} ms", model_.spec, attempt,
                       last.message, delay.count());
      static auto& retries = metrics::registry().counter(
          "cppflue_model_retries_total", "Model calls sent again after a failure, by provider.");
      retries.inc(
          {{"provider", model_.provider.name}, {"error_type", std::string(wire_name(last.type))}});
      if (request.on_retry) request.on_retry(attempt, last, delay);
      if (!co_await sleep_for(delay, cancel)) {
        co_return fail(ErrorType::cancelled, "model request was aborted");
      }
    }
    if (attempt > 1) last.message += fmt::format(" (gave up after {} attempts)", attempt);
    co_return tl::unexpected<Error>(std::move(last));
  }

 private:
  asio::awaitable<Result<ModelResponse>> attempt_once(const HttpRequest& http_request, bool stream,
                                                      const DeltaCallback& on_delta,
                                                      const CancelToken& cancel, bool& emitted) {
    std::unique_ptr<StreamDecoder> decoder;
    SseParser parser;
    std::optional<Error> stream_error;
    bool sse = false;
    std::string json_body;  // a 2xx answer that is not SSE (some servers ignore "stream")
    std::vector<SseEvent> events;
    std::vector<ModelDelta> deltas;

    auto feed_events = [&](std::vector<SseEvent>& evs) -> bool {
      for (const auto& ev : evs) {
        auto r = decoder->on_event(ev, deltas);
        if (!r) {
          stream_error = r.error();
          return false;
        }
        for (const auto& d : deltas) {
          emitted = true;
          if (on_delta) on_delta(d);
        }
        deltas.clear();
      }
      evs.clear();
      return true;
    };

    HttpStreamHandlers handlers;
    if (stream) {
      decoder = codec_.stream_decoder();
      handlers.on_head = [&](int, const HttpHeaders& headers) { sse = is_event_stream(headers); };
      handlers.on_body = [&](std::string_view chunk) -> bool {
        if (!sse) {
          json_body.append(chunk);
          return true;
        }
        auto r = parser.feed(chunk, events);
        if (!r) {
          stream_error = make_error(
              ErrorType::provider_error,
              fmt::format("malformed event stream from {}: {}", model_.spec, r.error().message));
          return false;
        }
        return feed_events(events);
      };
    }
    auto response = co_await http_->request(http_request, std::move(handlers), cancel);
    if (stream_error) co_return tl::unexpected<Error>(*stream_error);
    if (!response) co_return tl::unexpected<Error>(response.error());
    if (response->status < 200 || response->status >= 300) {
      Error e = codec_.decode_error(response->status, response->body);
      e.retry_after = parse_retry_after(response->header("retry-after"));
      co_return tl::unexpected<Error>(std::move(e));
    }
    if (!stream) co_return codec_.decode(response->body);
    if (!sse) co_return codec_.decode(json_body);
    parser.finish(events);
    if (!feed_events(events)) co_return tl::unexpected<Error>(*stream_error);
    co_return decoder->finish();
  }

  ResolvedModel model_;
  std::shared_ptr<HttpClient> http_;
  RetryPolicy retry_;
  const WireCodec& codec_;
  WireEndpoint endpoint_;
};

// Fills `usage.cost` of every answer from the price table: the price of the model asked for,
// else of the model the provider says answered.
class MeteredModelClient final : public ModelClient {
 public:
  MeteredModelClient(std::shared_ptr<ModelClient> inner, const ResolvedModel& model,
                     std::shared_ptr<const PriceTable> prices)
      : inner_(std::move(inner)),
        provider_(model.provider.name),
        model_(model.model),
        prices_(std::move(prices)) {}

  asio::awaitable<Result<ModelResponse>> complete(ModelRequest request, DeltaCallback on_delta,
                                                  CancelToken cancel) override {
    const auto started = std::chrono::steady_clock::now();
    auto r = co_await inner_->complete(std::move(request), std::move(on_delta), std::move(cancel));
    if (r) {
      r->usage.cost = prices_->cost(provider_, model_, r->usage);
      if (!r->usage.cost && !r->model.empty()) {
        r->usage.cost = prices_->cost(provider_, r->model, r->usage);
      }
    }
    record(r, std::chrono::steady_clock::now() - started);
    co_return r;
  }

 private:
  // gen_ai_client_token_usage and gen_ai_client_operation_duration_seconds (the GenAI
  // semantic conventions' client metrics), and the cost.
  void record(const Result<ModelResponse>& r, std::chrono::steady_clock::duration elapsed) const {
    auto& reg = metrics::registry();
    static auto& tokens = reg.histogram("gen_ai_client_token_usage",
                                        "Tokens per model call, by provider, model and token type.",
                                        metrics::token_buckets());
    static auto& duration = reg.histogram("gen_ai_client_operation_duration_seconds",
                                          "How long model calls took, by provider and model.",
                                          metrics::duration_buckets());
    static auto& cost = reg.counter("cppflue_model_cost_usd_total",
                                    "What model calls cost in USD, by provider and model (only "
                                    "models with a known price).");
    metrics::Labels labels{{"gen_ai_provider_name", provider_}, {"gen_ai_request_model", model_}};
    metrics::Labels timing = labels;
    if (!r) timing.emplace_back("error_type", std::string(wire_name(r.error().type)));
    duration.observe(timing, std::chrono::duration<double>(elapsed).count());
    if (!r) return;
    const Usage& u = r->usage;
    const std::pair<const char*, std::int64_t> kinds[] = {{"input", u.input},
                                                          {"output", u.output},
                                                          {"cache_read", u.cache_read},
                                                          {"cache_write", u.cache_write}};
    for (const auto& [type, n] : kinds) {
      if (n == 0 &&
          (std::string_view(type) == "cache_read" || std::string_view(type) == "cache_write"))
        continue;
      metrics::Labels l = labels;
      l.emplace_back("gen_ai_token_type", type);
      tokens.observe(l, static_cast<double>(n));
    }
    if (u.cost) cost.inc(labels, u.cost->total);
  }

  std::shared_ptr<ModelClient> inner_;
  std::string provider_;
  std::string model_;
  std::shared_ptr<const PriceTable> prices_;
};

}  // namespace

Result<std::shared_ptr<ModelClient>> make_model_client(const ResolvedModel& model,
                                                       std::shared_ptr<HttpClient> http,
                                                       RetryPolicy retry) {
  if (model.provider.offline) {
    auto script = load_offline_script(model.model);
    if (!script) return fail(script.error());
    return make_offline_model(std::move(*script), model.spec);
  }
  if (!http) return fail(ErrorType::internal, "no HTTP client for model " + model.spec);
  return std::shared_ptr<ModelClient>(
      std::make_shared<HttpModelClient>(model, std::move(http), retry));
}

ModelClientCache::ModelClientCache(const boost::asio::any_io_executor& executor,
                                   std::map<std::string, ProviderOverride> providers,
                                   RetryPolicy retry,
                                   const std::map<std::string, ModelPrice>& pricing)
    : providers_(std::move(providers)),
      retry_(retry),
      prices_(std::make_shared<const PriceTable>(PriceTable::with_overrides(pricing))),
      http_(std::make_shared<HttpClient>(executor)) {}

ModelClientCache::~ModelClientCache() = default;

void ModelClientCache::prepare(const std::string& spec) {
  auto resolved = resolve_model(spec, providers_);
  if (resolved && !resolved->provider.offline) http_->prepare();
}

Result<ModelClientCache::Entry> ModelClientCache::get(const std::string& spec) {
  std::lock_guard lock(mu_);
  if (auto it = clients_.find(spec); it != clients_.end()) return it->second;
  auto resolved = resolve_model(spec, providers_);
  if (!resolved) return fail(resolved.error());
  auto client = make_model_client(*resolved, http_, retry_);
  if (!client) return fail(client.error());
  Entry e{std::make_shared<MeteredModelClient>(std::move(*client), *resolved, prices_), spec,
          std::nullopt};
  if (!resolved->provider.offline) e.api = resolved->provider.api;
  clients_.emplace(spec, e);
  return e;
}

}  // namespace cppflue
