// SPDX-License-Identifier: Apache-2.0
// The .env parser and loader: the format, errors with file and line, the environment winning,
// and files that must not hang or be read (FIFOs, directories, huge files).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "cppflue/core/dotenv.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;

namespace {

using Vars = std::vector<std::pair<std::string, std::string>>;

Vars parse_ok(std::string_view text) {
  auto r = parse_dotenv(text, ".env");
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : Vars{};
}

std::string parse_error(std::string_view text) {
  auto r = parse_dotenv(text, "proj/.env");
  EXPECT_FALSE(r) << "accepted: " << text;
  return r ? "" : r.error().message;
}

TEST(Dotenv, TheCommonForms) {
  auto vars = parse_ok(
      "# a comment\n"
      "\n"
      "OPENAI_API_KEY=sk-123\n"
      "export REGION = eu-west-1   \n"
      "  INDENTED=yes\n"
      "EMPTY=\n"
      "WITH_HASH=a#b\n"
      "COMMENTED=value # a note\n"
      "DQ=\"two words # not a comment\"\n"
      "SQ='literal \\n $HOME ${X}'\n"
      "ESC=\"a\\nb\\t\\\"c\\\\\"\n"
      "MULTI=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\n"
      "CRLF=windows\r\n"
      "LAST=no newline");
  Vars want = {{"OPENAI_API_KEY", "sk-123"},
               {"REGION", "eu-west-1"},
               {"INDENTED", "yes"},
               {"EMPTY", ""},
               {"WITH_HASH", "a#b"},
               {"COMMENTED", "value"},
               {"DQ", "two words # not a comment"},
               {"SQ", "literal \\n $HOME ${X}"},
               {"ESC", "a\nb\t\"c\\"},
               {"MULTI", "-----BEGIN KEY-----\nabc\n-----END KEY-----"},
               {"CRLF", "windows"},
               {"LAST", "no newline"}};
  EXPECT_EQ(vars, want);
}

TEST(Dotenv, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(parse_error("A=1\nnot a line\n"),
            "proj/.env:2: expected KEY=VALUE, where KEY is letters, digits and '_' (not starting "
            "with a digit)");
  EXPECT_NE(parse_error("1ABC=x").find("proj/.env:1:"), std::string::npos);
  EXPECT_NE(parse_error("=x").find("proj/.env:1:"), std::string::npos);
  EXPECT_NE(parse_error("A-B=x").find("proj/.env:1:"), std::string::npos);
  EXPECT_EQ(parse_error("A=1\nB=\"never closed\nC=3\n"),
            "proj/.env:2: unterminated double-quoted value");
  EXPECT_EQ(parse_error("A='x"), "proj/.env:1: unterminated single-quoted value");
  EXPECT_EQ(parse_error("A=\"x\ny\" junk\n"),
            "proj/.env:2: unexpected text after the closing quote");
}

TEST(Dotenv, LoadingSetsWhatTheEnvironmentDoesNotHave) {
  TempDir dir;
  write_file(dir.path() / ".env",
             "CPPFLUE_DOTENV_TEST_NEW=from-file\nCPPFLUE_DOTENV_TEST_SET=from-file\n");
  ::setenv("CPPFLUE_DOTENV_TEST_SET", "from-env", 1);
  ::unsetenv("CPPFLUE_DOTENV_TEST_NEW");
  auto r = load_dotenv(dir.path() / ".env");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 1);
  EXPECT_STREQ(std::getenv("CPPFLUE_DOTENV_TEST_NEW"), "from-file");
  EXPECT_STREQ(std::getenv("CPPFLUE_DOTENV_TEST_SET"), "from-env");
  ::unsetenv("CPPFLUE_DOTENV_TEST_NEW");
  ::unsetenv("CPPFLUE_DOTENV_TEST_SET");
}

TEST(Dotenv, AMissingFileLoadsNothingAndOddFilesAreRefusedWithoutHanging) {
  TempDir dir;
  auto missing = load_dotenv(dir.path() / ".env");
  ASSERT_TRUE(missing);
  EXPECT_EQ(*missing, 0);

  ASSERT_EQ(::mkfifo((dir.path() / "fifo").c_str(), 0600), 0);
  auto t0 = std::chrono::steady_clock::now();
  auto fifo = load_dotenv(dir.path() / "fifo");
  EXPECT_FALSE(fifo);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  if (!fifo) {
    EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos);
  }

  std::filesystem::create_directory(dir.path() / "d");
  EXPECT_FALSE(load_dotenv(dir.path() / "d"));

  write_file(dir.path() / "big", std::string((1 << 20) + 1, 'x'));
  EXPECT_FALSE(load_dotenv(dir.path() / "big"));

  write_file(dir.path() / "bad", "A=1\nB\n");
  auto bad = load_dotenv(dir.path() / "bad");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(":2: expected KEY=VALUE"), std::string::npos);
}

}  // namespace
