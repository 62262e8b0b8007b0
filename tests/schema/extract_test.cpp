// SPDX-License-Identifier: Apache-2.0
// Finding the JSON answer in model text: delimiters, fences, prose, and hostile input.
#include "cppflue/schema/extract.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "cppflue/core/json.hpp"

namespace cppflue {
namespace {

json parse(std::string_view text) {
  return parse_json(text).value();
}

ExtractSource source_of(std::string_view text) {
  auto r = try_extract_json(text);
  EXPECT_TRUE(r) << text;
  return r ? r->source : ExtractSource::whole_text;
}

TEST(Extract, ResultBlockWithAndWithoutNewlines) {
  EXPECT_EQ(extract_json("Done.\n---RESULT_START---\n{\"ok\": true}\n---RESULT_END---\n"),
            parse(R"({"ok": true})"));
  // PyFlue required a newline after the start marker; we do not.
  EXPECT_EQ(extract_json("---RESULT_START---{\"ok\": 1}---RESULT_END---"), parse(R"({"ok": 1})"));
  EXPECT_EQ(extract_json("x ---RESULT_START---   [1, 2]   ---RESULT_END--- y"), parse("[1, 2]"));
  EXPECT_EQ(source_of("---RESULT_START---{}---RESULT_END---"), ExtractSource::result_block);
  // A missing end marker: the body runs to the end of the text.
  EXPECT_EQ(extract_json("---RESULT_START---\n{\"a\": \"b\"}\n"), parse(R"({"a": "b"})"));
  // A fence inside the block, and prose around the value inside the block.
  EXPECT_EQ(extract_json("---RESULT_START---\n```json\n{\"a\": 1}\n```\n---RESULT_END---"),
            parse(R"({"a": 1})"));
  EXPECT_EQ(extract_json("---RESULT_START---\nHere: {\"a\": 2} done\n---RESULT_END---"),
            parse(R"({"a": 2})"));
  // Scalars are answers too.
  EXPECT_EQ(extract_json("---RESULT_START---\n\"text\"\n---RESULT_END---"), json("text"));
}

TEST(Extract, LastResultBlockWins) {
  std::string text =
      "Draft:\n---RESULT_START---\n{\"v\": 1}\n---RESULT_END---\n"
      "Final:\n---RESULT_START---\n{\"v\": 2}\n---RESULT_END---\n";
  EXPECT_EQ(extract_json(text), parse(R"({"v": 2})"));
}

TEST(Extract, BrokenResultBlockSaysWhy) {
  // The markers decide: a broken block is an error even if other JSON is around.
  auto r = try_extract_json("{\"other\": 1}\n---RESULT_START---\n{\"v\": oops}\n---RESULT_END---");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  EXPECT_EQ(
      r.error().message.rfind("the ---RESULT_START--- block does not contain valid JSON: ", 0), 0u)
      << r.error().message;
  auto empty = try_extract_json("---RESULT_START---\n---RESULT_END---");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message,
            "the ---RESULT_START--- block does not contain valid JSON: it is empty");
}

TEST(Extract, WholeTextAndFencedBlocks) {
  EXPECT_EQ(extract_json("  {\"a\": [1, 2, {\"b\": null}]}\n"),
            parse(R"({"a": [1, 2, {"b": null}]})"));
  EXPECT_EQ(source_of(" [true] "), ExtractSource::whole_text);
  EXPECT_EQ(extract_json("42"), json(42));

  std::string fenced =
      "Here is an example:\n```json\n{\"example\": true}\n```\n"
      "And the answer:\n```JSON\n{\"answer\": 42}\n```\nHope that helps!";
  EXPECT_EQ(extract_json(fenced), parse(R"({"answer": 42})"));
  EXPECT_EQ(source_of(fenced), ExtractSource::fenced_block);
  // A bare fence counts; a python fence does not; a later non-JSON fence is skipped.
  EXPECT_EQ(extract_json("```\n[1]\n```\n```\nnot json\n```"), parse("[1]"));
  EXPECT_EQ(extract_json("```python\nx = {'a': 1}\n```"), std::nullopt);
  // Leniency: comments and trailing commas, as models write them.
  EXPECT_EQ(extract_json("```json\n{\n  \"a\": 1, // one\n}\n```"), parse(R"({"a": 1})"));
  // An unterminated fence (truncated answer) still yields its JSON.
  EXPECT_EQ(extract_json("Sure:\n```json\n{\"a\": 1}\n"), parse(R"({"a": 1})"));
}

TEST(Extract, ObjectEmbeddedInProse) {
  EXPECT_EQ(extract_json("Sure! The result is {\"total\": 3, \"items\": [1, 2]}. Anything else?"),
            parse(R"({"total": 3, "items": [1, 2]})"));
  EXPECT_EQ(source_of("Result: {\"a\": 1} ok"), ExtractSource::embedded);
  // Braces and quotes inside strings do not confuse the matcher.
  EXPECT_EQ(extract_json(R"(Note {"s": "a } b { \" ] [", "n": {"m": "}"}} end)"),
            parse(R"({"s": "a } b { \" ] [", "n": {"m": "}"}})"));
  // The last object wins over earlier ones and over a footnote-style array after it.
  EXPECT_EQ(extract_json("First {\"v\": 1}, corrected {\"v\": 2} [1]"), parse(R"({"v": 2})"));
  // A non-JSON bracketed span is skipped and values inside it are still found.
  EXPECT_EQ(extract_json("[see {\"a\": 1} here]"), parse(R"({"a": 1})"));
  // Arrays are used when there is no object.
  EXPECT_EQ(extract_json("The ids are [1, 2, 3]."), parse("[1, 2, 3]"));
}

TEST(Extract, GarbageGivesNothing) {
  EXPECT_EQ(extract_json(""), std::nullopt);
  EXPECT_EQ(extract_json("   \n\t"), std::nullopt);
  EXPECT_EQ(extract_json("no json here, just {braces and [brackets"), std::nullopt);
  EXPECT_EQ(extract_json("{\"unterminated\": \"string}"), std::nullopt);
  EXPECT_EQ(extract_json("```json\n```"), std::nullopt);
  EXPECT_EQ(extract_json("---RESULT_END--- only the end"), std::nullopt);
  auto r = try_extract_json("hello");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "no JSON value found in the answer (expected it between ---RESULT_START--- and "
            "---RESULT_END---)");
  EXPECT_EQ(try_extract_json("").error().message, "the answer is empty");
}

TEST(Extract, HostileInputIsSafe) {
  std::string nul("{\"a\"\0: 1}", 9);
  EXPECT_EQ(extract_json(nul), std::nullopt);
  EXPECT_EQ(extract_json("\xff\xfe{\"a\": 1}\x80"), parse(R"({"a": 1})"));
  EXPECT_EQ(extract_json("{\"a\": \"\xff\"}"), std::nullopt);  // invalid UTF-8 inside a string
  // Deep nesting and long runs of openers stay bounded.
  EXPECT_EQ(extract_json(std::string(200000, '{')), std::nullopt);
  EXPECT_EQ(extract_json(std::string(100000, '[') + std::string(100000, ']')), std::nullopt);
  EXPECT_EQ(extract_json(std::string(50000, '"')), std::nullopt);
  EXPECT_EQ(extract_json(std::string(30000, '`')), std::nullopt);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 200; ++round) {
    std::string noise(static_cast<std::size_t>(round * 13), '\0');
    for (char& c : noise) c = static_cast<char>(byte(rng));
    if (round % 3 == 0) noise.insert(noise.size() / 2, "---RESULT_START---");
    if (round % 5 == 0) noise.insert(noise.size() / 3, "```json\n");
    (void)try_extract_json(noise);  // must not crash or throw
  }
}

}  // namespace
}  // namespace cppflue
