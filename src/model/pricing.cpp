// SPDX-License-Identifier: Apache-2.0
// The price table: the compiled-in data/pricing.toml and cppflue.toml's [pricing] overrides.
#include "cppflue/model/pricing.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

namespace cppflue {

namespace detail {
std::string_view builtin_pricing_toml();  // pricing_data.cpp, generated from data/pricing.toml
}  // namespace detail

namespace {

// Built-in providers that sell the same models under another name.
std::string_view vendor_of(std::string_view provider) {
  if (provider == "openai-responses") return "openai";
  if (provider == "gemini") return "google";
  return provider;
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "gpt-4o-2024-08-06" -> "gpt-4o", "claude-sonnet-4-5-20250929" -> "claude-sonnet-4-5",
// "claude-3-5-haiku@20241022" -> "claude-3-5-haiku"; other names are returned unchanged.
std::string_view without_date(std::string_view model) {
  if (auto at = model.rfind('@'); at != std::string_view::npos && all_digits(model.substr(at + 1)))
    return model.substr(0, at);
  if (model.size() > 9) {
    auto tail = model.substr(model.size() - 9);  // -YYYYMMDD
    if (tail[0] == '-' && all_digits(tail.substr(1))) return model.substr(0, model.size() - 9);
  }
  if (model.size() > 11) {
    auto tail = model.substr(model.size() - 11);  // -YYYY-MM-DD
    if (tail[0] == '-' && tail[5] == '-' && tail[8] == '-' && all_digits(tail.substr(1, 4)) &&
        all_digits(tail.substr(6, 2)) && all_digits(tail.substr(9, 2)))
      return model.substr(0, model.size() - 11);
  }
  return model;
}

}  // namespace

const PriceTable& PriceTable::builtin() {
  static const PriceTable table = [] {
    auto file = parse_price_file(detail::builtin_pricing_toml(), "data/pricing.toml");
    if (!file) {
      // The file is checked by a test; a broken build still runs, only without costs.
      spdlog::error("built-in price table: {}", file.error().message);
      return PriceTable{};
    }
    return PriceTable(std::move(*file));
  }();
  return table;
}

PriceTable PriceTable::with_overrides(const std::map<std::string, ModelPrice>& overrides) {
  PriceFile file = builtin().file();
  for (const auto& [key, price] : overrides) file.models[key] = price;
  return PriceTable(std::move(file));
}

std::optional<ModelPrice> PriceTable::find(std::string_view provider,
                                           std::string_view model) const {
  auto lookup = [&](std::string_view p, std::string_view m) -> std::optional<ModelPrice> {
    std::string key;
    key.reserve(p.size() + 1 + m.size());
    key.append(p).append(":").append(m);
    if (auto it = file_.models.find(key); it != file_.models.end()) return it->second;
    return std::nullopt;
  };
  const std::string_view vendor = vendor_of(provider);
  const std::string_view bare = without_date(model);
  // Anthropic's dated "claude-sonnet-4-20250514" is the model whose alias is "claude-sonnet-4-0".
  const std::string bare_zero = bare != model ? std::string(bare) + "-0" : std::string();
  for (std::string_view m : {model, bare, std::string_view(bare_zero)}) {
    if (m.empty()) continue;
    if (auto p = lookup(provider, m)) return p;
    if (vendor != provider) {
      if (auto p = lookup(vendor, m)) return p;
    }
  }
  return std::nullopt;
}

Cost cost_of(const Usage& usage, const ModelPrice& price) {
  constexpr double kPerToken = 1e-6;
  // In double: counts from a provider are not trusted not to overflow when subtracted.
  const double uncached =
      std::max(static_cast<double>(usage.input) - static_cast<double>(usage.cache_read) -
                   static_cast<double>(usage.cache_write),
               0.0);
  Cost c;
  c.input = uncached * price.input * kPerToken;
  c.output = static_cast<double>(usage.output) * price.output * kPerToken;
  c.cache_read = static_cast<double>(usage.cache_read) * price.cache_read * kPerToken;
  c.cache_write = static_cast<double>(usage.cache_write) * price.cache_write * kPerToken;
  c.total = c.input + c.output + c.cache_read + c.cache_write;
  return c;
}

std::optional<Cost> PriceTable::cost(std::string_view provider, std::string_view model,
                                     const Usage& usage) const {
  auto price = find(provider, model);
  if (!price) return std::nullopt;
  return cost_of(usage, *price);
}

}  // namespace cppflue
