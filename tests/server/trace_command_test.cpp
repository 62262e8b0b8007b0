// SPDX-License-Identifier: Apache-2.0
// `cppflue trace` on a stored session (from its entries) and a stored workflow run (from its
// events): the tree, its durations, tokens and cost, the JSON form, and an unknown id.
#include <gtest/gtest.h>

#include "cppflue/core/json.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using testing::CliRun;
using testing::contains;
using testing::TempDir;
using testing::write_file;

class TraceCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A price for the offline model, so that costs show.
    write_file(dir_.path() / "cppflue.toml",
               "[agent]\nmodel = \"test:demo\"\n[pricing.\"test:demo\"]\ninput = 1\noutput = 2\n");
  }
  CliRun run(const std::vector<std::string>& args, const std::string& binary = CPPFLUE_BINARY) {
    return testing::run_cli(dir_.path(), args, {},
                            {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                             "CPPFLUE_MODEL", "OTEL_EXPORTER_OTLP_ENDPOINT"},
                            binary);
  }
  static json parse(const std::string& text) {
    auto j = parse_json(text);
    EXPECT_TRUE(j) << text;
    return j ? *j : json(nullptr);
  }
  TempDir dir_;
};

TEST_F(TraceCommandTest, ASessionIsATreeOfItsOperationsWithTokensAndCost) {
  auto first = run({"run", "--json", "-p", "list the files"});
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  std::string session = std::string(parse(first.out).at("session_id").as_string());
  ASSERT_EQ(run({"run", "-s", session, "-p", "again"}).code, 0);

  auto text = run({"trace", session});
  ASSERT_EQ(text.code, 0) << text.err;
  auto lines = testing::lines_of(text.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].rfind("session " + session, 0), 0u) << text.out;
  EXPECT_TRUE(contains(lines[0], " out · $")) << "the session's total cost: " << text.out;
  // Two operations, each: a model call, the glob it asked for, the answer.
  EXPECT_TRUE(contains(text.out, "├─ stream")) << text.out;
  EXPECT_TRUE(contains(text.out, "└─ stream")) << text.out;
  EXPECT_TRUE(contains(text.out, "│  ├─ chat test:demo")) << text.out;
  EXPECT_TRUE(contains(text.out, "│  ├─ tool glob")) << text.out;

  json tree = parse(run({"trace", "--json", session}).out);
  EXPECT_EQ(tree.at("kind"), "session");
  const auto& ops = tree.at("children").as_array();
  ASSERT_EQ(ops.size(), 2u);
  const auto& steps = ops[0].at("children").as_array();
  ASSERT_EQ(steps.size(), 3u) << dump(ops[0]);
  EXPECT_EQ(steps[0].at("kind"), "chat");
  EXPECT_EQ(steps[1].at("kind"), "tool");
  EXPECT_EQ(steps[1].at("name"), "glob");
  EXPECT_EQ(steps[2].at("kind"), "chat");
  EXPECT_TRUE(steps[0].at("duration_ms").is_int64()) << dump(steps[0]);
  EXPECT_GT(find_path(steps[0], "usage/input")->to_number<int>(), 0);
  // The operation's usage is the sum of its calls, cost included.
  EXPECT_EQ(find_path(ops[0], "usage/output")->to_number<int>(),
            find_path(steps[0], "usage/output")->to_number<int>() +
                find_path(steps[2], "usage/output")->to_number<int>());
  EXPECT_NE(find_path(tree, "usage/cost/total"), nullptr);
}

TEST_F(TraceCommandTest, ARunIsATreeFromItsEvents) {
  auto r = run({"run", "greet", "--json", "--payload", R"({"name":"Ada"})"}, CPPFLUE_TEST_APP);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  std::string run_id = std::string(parse(r.out).at("run_id").as_string());
  auto text = run({"trace", run_id}, CPPFLUE_TEST_APP);
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "run greet")) << text.out;
  EXPECT_TRUE(contains(text.out, "└─ prompt")) << text.out;
  EXPECT_TRUE(contains(text.out, "   ├─ chat test:demo")) << text.out;
  EXPECT_TRUE(contains(text.out, "   ├─ tool glob")) << text.out;
  json tree = parse(run({"trace", "--json", run_id}, CPPFLUE_TEST_APP).out);
  EXPECT_EQ(tree.at("kind"), "run");
  EXPECT_FALSE(tree.at("is_error").as_bool());
  EXPECT_TRUE(tree.at("duration_ms").is_int64());
}

TEST_F(TraceCommandTest, AnUnknownIdIsNamed) {
  ASSERT_EQ(run({"run", "-p", "hi"}).code, 0);  // a store exists
  auto r = run({"trace", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "no session or run 'nope'")) << r.err;
}

}  // namespace
}  // namespace cppflue
