// SPDX-License-Identifier: Apache-2.0
// cppflue/model/pricing.hpp — what a model call costs.
//
// The built-in table (data/pricing.toml, compiled in) gives USD per million input, output,
// cache-read and cache-write tokens for the current models of the built-in providers;
// `[pricing."provider:model"]` in cppflue.toml overrides or adds entries. A model that is in
// neither has no cost: `Usage::cost` stays absent rather than a made-up 0.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cppflue/core/config.hpp"
#include "cppflue/model/message.hpp"

namespace cppflue {

class PriceTable {
 public:
  PriceTable() = default;
  explicit PriceTable(PriceFile file) : file_(std::move(file)) {}

  // The compiled-in table.
  static const PriceTable& builtin();
  // The built-in table with `overrides` (cppflue.toml's [pricing]) taking precedence.
  static PriceTable with_overrides(const std::map<std::string, ModelPrice>& overrides);

  // The price of `model` at `provider`. Tried in order: "provider:model"; the same with the
  // provider's vendor name (openai-responses -> openai, gemini -> google); then both again with
  // a trailing date version taken off the model ("claude-sonnet-4-5-20250929",
  // "gpt-4o-2024-08-06").
  std::optional<ModelPrice> find(std::string_view provider, std::string_view model) const;

  // The cost of `usage`, or nullopt for a model without a price.
  std::optional<Cost> cost(std::string_view provider, std::string_view model,
                           const Usage& usage) const;

  const std::string& date() const { return file_.date; }
  const PriceFile& file() const { return file_; }

 private:
  PriceFile file_;
};

// The cost of `usage` at `price`: uncached input (input minus cache reads and writes) at the
// input price, and each other kind at its own.
Cost cost_of(const Usage& usage, const ModelPrice& price);

}  // namespace cppflue
