// SPDX-License-Identifier: Apache-2.0
// cppflue/model/model_client.hpp — one model call, with retries.
//
// `ModelClient::complete` sends a `ModelRequest`, streams deltas to a callback and returns the
// decoded `ModelResponse`. The HTTP implementation retries connection errors and 408, 429,
// 500, 502, 503, 504, 529 up to `max_attempts` with exponential backoff and jitter, honouring
// `Retry-After`, but never once output has reached the caller. The offline `test:` provider
// implements the same interface in-process (see offline_model.hpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cppflue/core/cancel.hpp"
#include "cppflue/model/message.hpp"
#include "cppflue/model/provider.hpp"

namespace cppflue {

class HttpClient;
class PriceTable;

struct RetryPolicy {
  int max_attempts = 4;
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{30000};
  // A Retry-After longer than this is not waited for: the error is returned at once (with the
  // provider's retry_after), rather than blocking the operation for minutes.
  std::chrono::milliseconds max_retry_after{60000};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};
};

using DeltaCallback = std::function<void(const ModelDelta&)>;

class ModelClient {
 public:
  virtual ~ModelClient() = default;
  virtual boost::asio::awaitable<Result<ModelResponse>> complete(ModelRequest request,
                                                                 DeltaCallback on_delta,
                                                                 CancelToken cancel) = 0;
};

// A client for `model` (HTTP for real providers, in-process for `test:`).
Result<std::shared_ptr<ModelClient>> make_model_client(const ResolvedModel& model,
                                                       std::shared_ptr<HttpClient> http,
                                                       RetryPolicy retry = {});

// The model clients of one agent: resolves `provider:model` strings against the configured
// providers, makes each client once and keeps it. The clients share one HTTP client, owned
// here, so users of the model layer never deal with the transport. Every answer's usage gets
// its cost from the built-in price table with `pricing` (cppflue.toml's [pricing]) over it.
// Thread-safe.
class ModelClientCache {
 public:
  struct Entry {
    std::shared_ptr<ModelClient> client;
    std::string spec;            // the model string it was made for
    std::optional<WireApi> api;  // nullopt for the offline model
  };

  ModelClientCache(const boost::asio::any_io_executor& executor,
                   std::map<std::string, ProviderOverride> providers, RetryPolicy retry = {},
                   const std::map<std::string, ModelPrice>& pricing = {});
  ~ModelClientCache();
  ModelClientCache(const ModelClientCache&) = delete;
  ModelClientCache& operator=(const ModelClientCache&) = delete;

  Result<Entry> get(const std::string& spec);
  // When `spec` names a remote model, starts opening the HTTP transport in the background
  // (HttpClient::prepare), so that the first prompt does not wait for it. Nothing otherwise.
  void prepare(const std::string& spec);
  const RetryPolicy& retry() const { return retry_; }

 private:
  std::map<std::string, ProviderOverride> providers_;
  RetryPolicy retry_;
  std::shared_ptr<const PriceTable> prices_;
  std::shared_ptr<HttpClient> http_;
  std::mutex mu_;
  std::map<std::string, Entry> clients_;
};

}  // namespace cppflue
