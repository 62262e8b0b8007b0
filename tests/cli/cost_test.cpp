// SPDX-License-Identifier: Apache-2.0
// Cost end to end through the real CLI: a model with a price in cppflue.toml gets its usage
// priced in --json, in the turn events and in the stored turns that `sessions show` adds up; a
// model without one has no cost at all (not 0).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "support/fake_provider.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

namespace cppflue {
namespace {

using testing::CliRun;
using testing::contains;
using testing::FakeProvider;
using testing::TempDir;
using testing::write_file;

// 1000 input tokens, 400 of them read from the cache, and 100 output tokens.
constexpr Usage kUsage{.input = 1000, .output = 100, .cache_read = 400};
// At $2 / $10 / $0.5 per million: 600 x 2 + 100 x 10 + 400 x 0.5, per million.
constexpr double kCost = 0.0012 + 0.001 + 0.0002;

class CostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_.path() / "cppflue.toml", fmt::format(R"([providers.mine]
api = "openai-chat"
base_url = "{0}/v1"
api_key = "k"

[providers.free]
api = "openai-chat"
base_url = "{0}/v1"
api_key = "k"

[pricing."mine:gpt-test"]
input = 2
output = 10
cache_read = 0.5
)",
                                                         fake_.base_url()));
  }
  CliRun run(const std::vector<std::string>& args) {
    return testing::run_cli(dir_.path(), args, {},
                            {"OPENAI_API_KEY", "CPPFLUE_MODEL", "OTEL_EXPORTER_OTLP_ENDPOINT",
                             "http_proxy", "HTTP_PROXY"},
                            CPPFLUE_BINARY);
  }
  static json parse(const std::string& text) {
    auto j = parse_json(text);
    EXPECT_TRUE(j) << text;
    return j ? *j : json(nullptr);
  }

  TempDir dir_;
  FakeProvider fake_;
};

TEST_F(CostTest, APricedModelsCostIsInResultsEventsAndSessionTotals) {
  fake_.enqueue_turn(WireApi::openai_chat, testing::text_turn("One.", kUsage), true);
  auto r = run({"run", "--json", "-m", "mine:gpt-test", "-p", "hi"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json result = parse(r.out);
  const json* cost = find_path(result, "usage/cost");
  ASSERT_NE(cost, nullptr) << r.out;
  EXPECT_NEAR(cost->at("total").to_number<double>(), kCost, 1e-12);
  EXPECT_NEAR(cost->at("cache_read").to_number<double>(), 0.0002, 1e-12);
  const std::string session = std::string(result.at("session_id").as_string());

  // The turn event of --stream, in the same session.
  fake_.enqueue_turn(WireApi::openai_chat, testing::text_turn("Two.", kUsage), true);
  auto streamed = run({"run", "--stream", "-m", "mine:gpt-test", "-s", session, "-p", "again"});
  ASSERT_EQ(streamed.code, 0) << streamed.out << streamed.err;
  bool seen = false;
  for (const auto& line : testing::lines_of(streamed.out)) {
    json e = parse(line);
    if (get_string_or(e, "type", "") != "turn") continue;
    seen = true;
    EXPECT_NEAR(find_path(e, "usage/cost/total")->to_number<double>(), kCost, 1e-12) << line;
  }
  EXPECT_TRUE(seen) << streamed.out;

  // The stored turns add up.
  auto show = run({"sessions", "show", session});
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_TRUE(contains(show.out, "total: 2 model turns · 2000 in · 200 out · 800 cached · $0.0048"))
      << show.out;
  auto shown = parse(run({"sessions", "show", "--json", session}).out);
  EXPECT_EQ(shown.at("turns"), 2);
  EXPECT_NEAR(find_path(shown, "usage/cost/total")->to_number<double>(), 2 * kCost, 1e-12);
  // Each answer keeps its turn: id, model, usage.
  bool stored = false;
  for (const auto& e : shown.at("entries").as_array()) {
    if (const json* turn = find_path(e, "content/turn")) {
      stored = true;
      EXPECT_EQ(get_string_or(*turn, "id", "").rfind("turn_", 0), 0u);
      EXPECT_EQ(find_path(*turn, "usage/input")->to_number<int>(), 1000);
    }
  }
  EXPECT_TRUE(stored);
}

TEST_F(CostTest, AModelWithoutAPriceHasNoCostRatherThanZero) {
  fake_.enqueue_turn(WireApi::openai_chat, testing::text_turn("One.", kUsage), true);
  auto r = run({"run", "--json", "-m", "free:gpt-test", "-p", "hi"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json result = parse(r.out);
  EXPECT_EQ(find_path(result, "usage/cost"), nullptr) << r.out;
  EXPECT_EQ(find_path(result, "usage/input")->to_number<int>(), 1000);
  auto show = run({"sessions", "show", std::string(result.at("session_id").as_string())});
  EXPECT_TRUE(contains(show.out,
                       "total: 1 model turns · 1000 in · 100 out · 400 cached · cost "
                       "unknown"))
      << show.out;
}

TEST_F(CostTest, ABadPriceIsAnErrorNamingItsPlace) {
  write_file(dir_.path() / "cppflue.toml", "[pricing.\"mine:gpt-test\"]\ninput = 2\nouptut = 3\n");
  auto r = run({"run", "-m", "test:echo", "-p", "hi"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "cppflue.toml:3")) << r.err;
  EXPECT_TRUE(contains(r.err, "did you mean 'output'?")) << r.err;
}

}  // namespace
}  // namespace cppflue
