// SPDX-License-Identifier: Apache-2.0
// The price table: the compiled-in file, lookups, cost arithmetic and cppflue.toml overrides.
#include <gtest/gtest.h>

#include "cppflue/core/config.hpp"
#include "cppflue/model/pricing.hpp"

namespace cppflue {
namespace {

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(Pricing, TheBuiltInTableParsesWithItsDateAndSources) {
  const PriceTable& t = PriceTable::builtin();
  EXPECT_EQ(t.date().size(), 10u) << "date = YYYY-MM-DD in data/pricing.toml";
  EXPECT_GE(t.file().models.size(), 10u);
  EXPECT_FALSE(t.file().sources.empty());
  for (const auto& [key, price] : t.file().models) {
    EXPECT_NE(key.find(':'), std::string::npos) << key;
    EXPECT_GT(price.input + price.output, 0) << key;
  }
  // The default models of the built-in providers have prices.
  EXPECT_TRUE(t.find("openai", "gpt-5"));
  EXPECT_TRUE(t.find("anthropic", "claude-sonnet-4-5"));
  EXPECT_TRUE(t.find("google", "gemini-2.5-flash"));
}

TEST(Pricing, FindsDatedVersionsAndProviderAliases) {
  PriceFile f;
  f.models["openai:gpt-4o"] = {2.5, 10, 1.25, 0};
  f.models["anthropic:claude-sonnet-4-5"] = {3, 15, 0.3, 3.75};
  f.models["google:gemini-2.5-flash"] = {0.3, 2.5, 0.03, 0};
  PriceTable t(f);
  EXPECT_DOUBLE_EQ(t.find("openai", "gpt-4o")->input, 2.5);
  EXPECT_DOUBLE_EQ(t.find("openai", "gpt-4o-2024-08-06")->input, 2.5);
  EXPECT_DOUBLE_EQ(t.find("openai-responses", "gpt-4o")->output, 10);
  EXPECT_DOUBLE_EQ(t.find("anthropic", "claude-sonnet-4-5-20250929")->cache_write, 3.75);
  EXPECT_DOUBLE_EQ(t.find("anthropic", "claude-sonnet-4-5@20250929")->cache_read, 0.3);
  EXPECT_DOUBLE_EQ(t.find("gemini", "gemini-2.5-flash")->output, 2.5);
  PriceFile zero;
  zero.models["anthropic:claude-sonnet-4-0"] = {3, 15, 0.3, 3.75};
  EXPECT_TRUE(PriceTable(zero).find("anthropic", "claude-sonnet-4-20250514"));
  EXPECT_FALSE(PriceTable(zero).find("anthropic", "claude-sonnet-4"));
  // Not a date: another model, which has no price.
  EXPECT_FALSE(t.find("openai", "gpt-4o-mini"));
  EXPECT_FALSE(t.find("openai", "gpt-4o-2024"));
  EXPECT_FALSE(t.find("openai", "gpt-4o-20240806x"));
  // The same model at another provider is not assumed to cost the same.
  EXPECT_FALSE(t.find("openrouter", "gpt-4o"));
  EXPECT_FALSE(t.find("test", "demo"));
  EXPECT_FALSE(t.cost("ollama", "llama3", Usage{10, 10, 0, 0, 20, std::nullopt}));
}

TEST(Pricing, CachedTokensAreChargedAtTheirOwnPrice) {
  // 1,000,000 input tokens of which 600,000 read from and 100,000 written to the cache.
  Usage u{1000000, 200000, 600000, 100000, 1200000, std::nullopt};
  Cost c = cost_of(u, ModelPrice{3, 15, 0.3, 3.75});
  EXPECT_DOUBLE_EQ(c.input, 0.9);  // 300,000 uncached at $3
  EXPECT_DOUBLE_EQ(c.output, 3.0);
  EXPECT_DOUBLE_EQ(c.cache_read, 0.18);
  EXPECT_DOUBLE_EQ(c.cache_write, 0.375);
  EXPECT_DOUBLE_EQ(c.total, 0.9 + 3.0 + 0.18 + 0.375);
  // Counts that do not add up (more cached than input) never give a negative cost.
  Cost odd = cost_of(Usage{10, 0, 20, 0, 10, std::nullopt}, ModelPrice{1, 1, 1, 1});
  EXPECT_GE(odd.input, 0);
}

TEST(Pricing, ConfigOverridesAndAddsModels) {
  auto config = parse_config(R"(
[pricing."openai:gpt-4o"]
input = 1
output = 2
[pricing."local:my-model"]
input = 0.5
output = 1.5
cache_read = 0.05
)",
                             "cppflue.toml");
  ASSERT_TRUE(config) << config.error().message;
  PriceTable t = PriceTable::with_overrides(config->pricing);
  EXPECT_DOUBLE_EQ(t.find("openai", "gpt-4o")->input, 1);
  EXPECT_DOUBLE_EQ(t.find("openai", "gpt-4o")->cache_read, 0);
  EXPECT_DOUBLE_EQ(t.find("local", "my-model")->cache_read, 0.05);
  auto cost = t.cost("local", "my-model", Usage{2000000, 1000000, 0, 0, 3000000, std::nullopt});
  ASSERT_TRUE(cost);
  EXPECT_DOUBLE_EQ(cost->total, 2.5);
  // The built-in entries stay for the other models.
  EXPECT_TRUE(t.find("anthropic", "claude-sonnet-4-5"));
}

TEST(Pricing, BadPricesAreNamedWithTheirPlace) {
  struct Case {
    const char* toml;
    const char* expected;
  };
  const Case cases[] = {
      {"[pricing.gpt-4o]\ninput = 1\noutput = 2\n", "keyed by \"provider:model\""},
      {"[pricing.\":gpt\"]\ninput = 1\noutput = 2\n", "keyed by \"provider:model\""},
      {"[pricing.\"a:b\"]\ninput = -1\noutput = 2\n",
       "pricing.\"a:b\".input: value -1 out of range"},
      {"[pricing.\"a:b\"]\ninput = 1\n", "'input' and 'output' are required"},
      {"[pricing.\"a:b\"]\ninput = 1\nouput = 2\n", "did you mean 'output'?"},
      {"[pricing.\"a:b\"]\ninput = \"1\"\noutput = 2\n", "expected number, got string"},
      {"[pricing.\"a:b\"]\ninput = nan\noutput = 2\n", "out of range"},
      {"[pricing]\n\"a:b\" = 3\n", "expected table"},
  };
  for (const auto& c : cases) {
    auto config = parse_config(c.toml, "cppflue.toml");
    ASSERT_FALSE(config) << c.toml;
    EXPECT_TRUE(has(config.error().message, c.expected)) << config.error().message;
    EXPECT_TRUE(has(config.error().message, "cppflue.toml:")) << config.error().message;
  }
}

TEST(Pricing, APriceFileWithAnUnknownSourceOrBadDateIsRefused) {
  auto bad_source = parse_price_file(
      "date = 2026-12-06\n[sources]\na = \"https://a\"\n[models.\"x:y\"]\ninput = 1\noutput = "
      "1\nsource = \"b\"\n",
      "prices.toml");
  ASSERT_FALSE(bad_source);
  EXPECT_TRUE(has(bad_source.error().message, "not a name from [sources]"));
  auto bad_date = parse_price_file("date = \"yesterday\"\n", "prices.toml");
  ASSERT_FALSE(bad_date);
  EXPECT_TRUE(has(bad_date.error().message, "expected date")) << bad_date.error().message;
  auto broken = parse_price_file("date = \n", "prices.toml");
  ASSERT_FALSE(broken);
  EXPECT_TRUE(has(broken.error().message, "prices.toml:1")) << broken.error().message;
  auto ok = parse_price_file(
      "date = 2026-12-06\n[sources]\na = \"https://a\"\n[models.\"x:y\"]\ninput = 1\noutput = "
      "2\nsource = \"a\"\n",
      "prices.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->date, "2026-12-06");
  EXPECT_DOUBLE_EQ(ok->models.at("x:y").output, 2);
}

}  // namespace
}  // namespace cppflue
