// SPDX-License-Identifier: Apache-2.0
#include "cppflue/harness/backend.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <mutex>

namespace asio = boost::asio;

namespace cppflue {
namespace {

class NativeBackend final : public HarnessBackend {
 public:
  asio::awaitable<Result<ModelResponse>> run(TurnContext& ctx) override {
    for (int turn = 1;; ++turn) {
      auto response = co_await ctx.call_model();
      if (!response) co_return response;
      if (auto r = ctx.append(response->message); !r) co_return fail(r.error());
      if (response->message.tool_calls.empty()) co_return response;
      auto results = co_await ctx.run_tools(response->message.tool_calls);
      if (!results) co_return fail(results.error());
      for (auto& m : *results) {
        if (auto r = ctx.append(std::move(m)); !r) co_return fail(r.error());
      }
      if (turn >= ctx.max_turns()) {
        co_return fail(ErrorType::max_turns_exceeded,
                       fmt::format("stopped after {} model turns: the model was still calling "
                                   "tools (raise max_turns to allow more)",
                                   turn),
                       json_object{{"max_turns", ctx.max_turns()}});
      }
    }
  }
};

struct Registry {
  std::mutex mu;
  std::map<std::string, HarnessFactory> factories{
      {"native", [] { return std::make_shared<NativeBackend>(); }}};
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_harness(std::string name, HarnessFactory factory) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.factories[std::move(name)] = std::move(factory);
}

std::vector<std::string> harness_names() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  names.reserve(r.factories.size());
  for (const auto& [n, f] : r.factories) names.push_back(n);
  return names;
}

Result<std::shared_ptr<HarnessBackend>> create_harness(std::string_view name) {
  auto& r = registry();
  HarnessFactory factory;
  {
    std::lock_guard lock(r.mu);
    auto it = r.factories.find(std::string(name.empty() ? "native" : name));
    if (it != r.factories.end()) factory = it->second;
  }
  if (!factory) {
    return fail(ErrorType::config_error, fmt::format("unknown harness backend '{}' (available: {})",
                                                     name, fmt::join(harness_names(), ", ")));
  }
  auto backend = factory();
  if (!backend)
    return fail(ErrorType::internal, fmt::format("harness '{}' factory returned null", name));
  return backend;
}

}  // namespace cppflue
