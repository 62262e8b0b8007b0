// SPDX-License-Identifier: Apache-2.0
// Tests for glob_files / grep_files: a data table of glob patterns over a fixed tree, escape and
// hidden-path refusals, limits, and grep behaviour (regex, filters, .gitignore, binary files,
// line cuts, caps, errors, catastrophic patterns, unicode).
#include "cppflue/sandbox/search.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "support/test_util.hpp"

namespace {

namespace fs = std::filesystem;
using cppflue::ErrorType;
using cppflue::GrepOptions;
using cppflue::Workspace;
using cppflue::WorkspaceOptions;
using cppflue::testing::TempDir;

void put(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  cppflue::testing::write_file(p, content);
}

// Tree:
//   README.md  notes.txt  b.txt  c.txt
//   a/x.c  a/yy.c  a/z.h
//   docs/guide.md  docs/deep/more/api.md
//   src/main.cpp  src/util/str.cpp  src/util/str.hpp
//   .cppflue/state.md (hidden)  .git/HEAD  .git/notes.md
class SearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "ws";
    put(root_ / "README.md", "# Readme\nhello world\n");
    put(root_ / "notes.txt", "alpha\nbeta\nHello again\n");
    put(root_ / "b.txt", "b\n");
    put(root_ / "c.txt", "c\n");
    put(root_ / "a" / "x.c", "int x;\n");
    put(root_ / "a" / "yy.c", "int yy;\n");
    put(root_ / "a" / "z.h", "int z;\n");
    put(root_ / "docs" / "guide.md", "guide hello\n");
    put(root_ / "docs" / "deep" / "more" / "api.md", "api\n");
    put(root_ / "src" / "main.cpp", "int main() {\n  return hello();\n}\n");
    put(root_ / "src" / "util" / "str.cpp", "// hello from str\n");
    put(root_ / "src" / "util" / "str.hpp", "#pragma once\n");
    put(root_ / ".cppflue" / "state.md", "hello hidden\n");
    put(root_ / ".git" / "HEAD", "hello git\n");
    put(root_ / ".git" / "notes.md", "hello\n");
    WorkspaceOptions opts;
    opts.hidden = {".cppflue"};
    opts.read_only = {".git"};
    auto ws = Workspace::open(root_, opts);
    ASSERT_TRUE(ws) << ws.error().message;
    ws_.emplace(std::move(*ws));
  }
  const Workspace& ws() const { return *ws_; }

  TempDir tmp_;
  fs::path root_;
  std::optional<Workspace> ws_;
};

// Suite names for --gtest_filter='Glob*:Grep*'.
using GlobTest = SearchTest;
using GrepTest = SearchTest;

struct GlobRow {
  const char* pattern;
  std::vector<std::string> expected;
};

TEST_F(GlobTest, PatternTable) {
  const std::vector<GlobRow> rows = {
      {"**/*.md", {"README.md", "docs/deep/more/api.md", "docs/guide.md"}},
      {"*.txt", {"b.txt", "c.txt", "notes.txt"}},
      {"a/?.c", {"a/x.c"}},
      {"a/*.c", {"a/x.c", "a/yy.c"}},
      {"[ab]*", {"a", "b.txt"}},
      {"[!abc]*.md", {"README.md"}},
      {"src/**", {"src/main.cpp", "src/util", "src/util/str.cpp", "src/util/str.hpp"}},
      {"src/**/*.cpp", {"src/main.cpp", "src/util/str.cpp"}},
      {"docs/**/api.md", {"docs/deep/more/api.md"}},
      {"**/str.*", {"src/util/str.cpp", "src/util/str.hpp"}},
      {"src/*/str.hpp", {"src/util/str.hpp"}},
      {"/workspace/a/*.h", {"a/z.h"}},
      {"README.md", {"README.md"}},
      {"missing/*.md", {}},
      {"*.{c,h}", {}},
      {"a/*.{c,h}", {"a/x.c", "a/yy.c", "a/z.h"}},
      {"**/*.zzz", {}},
      {".git/*", {}},
      {"**/HEAD", {}},
      {"**/state.md", {}},
      {".cppflue/*", {}},
  };
  for (const auto& row : rows) {
    auto r = cppflue::glob_files(ws(), row.pattern);
    ASSERT_TRUE(r) << row.pattern << ": " << r.error().message;
    EXPECT_EQ(r->paths, row.expected) << row.pattern;
    EXPECT_FALSE(r->truncated) << row.pattern;
  }
}

TEST_F(GlobTest, AbsoluteRootPath) {
  auto r = cppflue::glob_files(ws(), (root_ / "a" / "*.h").string());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->paths, std::vector<std::string>{"a/z.h"});
}

TEST_F(GlobTest, EscapesRefused) {
  for (const char* p : {"../*", "/etc/*", "a/../../*", "{a,..}/*", "/etc/**", "/a/*.h"}) {
    auto r = cppflue::glob_files(ws(), p);
    ASSERT_FALSE(r) << p;
    EXPECT_EQ(r.error().type, ErrorType::permission) << p;
    EXPECT_EQ(cppflue::get_string_or(r.error().details, "rule", ""), "path_escape") << p;
  }
  auto empty = cppflue::glob_files(ws(), "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().type, ErrorType::invalid_input);
}

TEST_F(GlobTest, StarStarListsNoHiddenNoGitSorted) {
  auto r = cppflue::glob_files(ws(), "**");
  ASSERT_TRUE(r) << r.error().message;
  for (const auto& p : r->paths) {
    EXPECT_EQ(p.find(".cppflue"), std::string::npos) << p;
    EXPECT_EQ(p.find(".git"), std::string::npos) << p;
  }
  EXPECT_TRUE(std::is_sorted(r->paths.begin(), r->paths.end()));
  EXPECT_EQ(r->paths.size(), 18u);
}

TEST_F(GlobTest, LimitTruncates) {
  for (int i = 0; i < 30; ++i) put(root_ / "many" / ("f" + std::to_string(100 + i) + ".txt"), "");
  auto r = cppflue::glob_files(ws(), "many/*.txt", 10);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->truncated);
  ASSERT_EQ(r->paths.size(), 10u);
  EXPECT_EQ(r->paths.front(), "many/f100.txt");
  EXPECT_EQ(r->paths.back(), "many/f109.txt");
  auto all = cppflue::glob_files(ws(), "many/*.txt", 30);
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->truncated);
  EXPECT_EQ(all->paths.size(), 30u);
}

TEST_F(GlobTest, SymlinksStayInside) {
  fs::create_directory_symlink("/etc", root_ / "etc_link");
  fs::create_directory_symlink("a", root_ / "a_link");
  auto r = cppflue::glob_files(ws(), "**/*");
  ASSERT_TRUE(r);
  for (const auto& p : r->paths) EXPECT_NE(p.rfind("etc_link", 0), 0u) << p;
  // A symlink to an inside directory is listed but not descended into.
  EXPECT_NE(std::find(r->paths.begin(), r->paths.end(), "a_link"), r->paths.end());
  EXPECT_EQ(std::find(r->paths.begin(), r->paths.end(), "a_link/x.c"), r->paths.end());
}

// ---------------------------------------------------------------------------------------------

GrepOptions opts(std::string pattern) {
  GrepOptions o;
  o.pattern = std::move(pattern);
  return o;
}

TEST_F(GrepTest, LiteralSortedSkipsHiddenAndGit) {
  auto r = cppflue::grep_files(ws(), opts("hello"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->lines,
            (std::vector<std::string>{"README.md:2:hello world", "docs/guide.md:1:guide hello",
                                      "src/main.cpp:2:  return hello();",
                                      "src/util/str.cpp:1:// hello from str"}));
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->files_searched, 12u);
}

TEST_F(GrepTest, RegexAndIgnoreCase) {
  auto r = cppflue::grep_files(ws(), opts(R"(^\w+ \w+$)"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->lines,
            (std::vector<std::string>{"README.md:2:hello world", "docs/guide.md:1:guide hello",
                                      "notes.txt:3:Hello again"}));
  auto o = opts("HELLO");
  o.ignore_case = true;
  auto ci = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->lines.size(), 5u);
  auto cs = cppflue::grep_files(ws(), opts("HELLO"));
  ASSERT_TRUE(cs);
  EXPECT_TRUE(cs->lines.empty());
}

TEST_F(GrepTest, IncludeAndPath) {
  auto o = opts("hello");
  o.include = "*.cpp";
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines, (std::vector<std::string>{"src/main.cpp:2:  return hello();",
                                                "src/util/str.cpp:1:// hello from str"}));
  o.include = "*.{md,txt}";
  r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines.size(), 2u);
  o.include = "src/util/*";
  r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines, std::vector<std::string>{"src/util/str.cpp:1:// hello from str"});

  auto p = opts("hello");
  p.path = "src";
  r = cppflue::grep_files(ws(), p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines.size(), 2u);
  p.path = "/workspace/docs/guide.md";
  r = cppflue::grep_files(ws(), p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines, std::vector<std::string>{"docs/guide.md:1:guide hello"});
  EXPECT_EQ(r->files_searched, 1u);

  p.path = "nope";
  r = cppflue::grep_files(ws(), p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::not_found);
  for (const char* bad : {"../", "/etc", ".cppflue"}) {
    p.path = bad;
    r = cppflue::grep_files(ws(), p);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().type, ErrorType::permission) << bad;
  }
}

TEST_F(GrepTest, RespectsGitignore) {
  put(root_ / ".gitignore", "# comment\n\n*.log\nbuild/\n/top.txt\ngen/*.cpp\n!keep.log\n");
  put(root_ / "app.log", "hello log\n");
  put(root_ / "keep.log", "hello keep\n");
  put(root_ / "build" / "out.cpp", "hello build\n");
  put(root_ / "top.txt", "hello top\n");
  put(root_ / "sub" / "top.txt", "hello sub top\n");
  put(root_ / "sub" / "x.log", "hello sub log\n");
  put(root_ / "gen" / "a.cpp", "hello gen\n");
  put(root_ / "gen" / "a.h", "hello gen h\n");
  auto o = opts("hello");
  o.include = "**";
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r) << r.error().message;
  std::vector<std::string> files;
  for (const auto& l : r->lines) files.push_back(l.substr(0, l.find(':')));
  auto has = [&](const std::string& f) {
    return std::find(files.begin(), files.end(), f) != files.end();
  };
  EXPECT_FALSE(has("app.log"));
  EXPECT_TRUE(has("keep.log"));
  EXPECT_FALSE(has("build/out.cpp"));
  EXPECT_FALSE(has("top.txt"));
  EXPECT_TRUE(has("sub/top.txt"));
  EXPECT_FALSE(has("sub/x.log"));
  EXPECT_FALSE(has("gen/a.cpp"));
  EXPECT_TRUE(has("gen/a.h"));
}

TEST_F(GrepTest, SkipsBinaryAndLargeFiles) {
  put(root_ / "bin.dat", std::string("hello\0world\n", 12));
  put(root_ / "big.txt", std::string(cppflue::kGrepMaxFileBytes + 10, 'x') + "\nhello\n");
  auto o = opts("hello");
  o.include = "*.{dat,txt}";
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->lines.empty());
  EXPECT_EQ(r->files_binary, 1u);
  EXPECT_EQ(r->files_too_large, 1u);
}

TEST_F(GrepTest, CutsLongLinesUtf8Safe) {
  std::string line;
  for (int i = 0; i < 400; ++i) line += "é";  // 2 bytes each
  line += "needle";
  for (int i = 0; i < 400; ++i) line += "€";  // 3 bytes each
  put(root_ / "long.txt", line + "\n");
  auto r = cppflue::grep_files(ws(), opts("needle"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->lines.size(), 1u);
  std::string text = r->lines[0].substr(std::string("long.txt:1:").size());
  std::string expected;
  for (int i = 0; i < 400; ++i) expected += "é";
  expected += "needle";
  for (int i = 0; i < 94; ++i) expected += "€";
  EXPECT_EQ(text, expected);
}

TEST_F(GrepTest, UnicodeAndInvalidUtf8) {
  put(root_ / "u.txt", "naïve café\nЖурнал ошибок\n\xff\xfe bad bytes café\n");
  auto r = cppflue::grep_files(ws(), opts("café"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->lines,
            (std::vector<std::string>{"u.txt:1:naïve café",
                                      "u.txt:3:\xEF\xBF\xBD\xEF\xBF\xBD bad bytes café"}));
  auto o = opts("журнал");
  o.ignore_case = true;
  r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines, std::vector<std::string>{"u.txt:2:Журнал ошибок"});
}

TEST_F(GrepTest, MatchCap) {
  std::string text;
  for (int i = 1; i <= 150; ++i) text += "match " + std::to_string(i) + "\n";
  put(root_ / "m1.txt", text);
  put(root_ / "m2.txt", text);
  auto r = cppflue::grep_files(ws(), opts("^match"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->truncated);
  ASSERT_EQ(r->lines.size(), 100u);
  EXPECT_EQ(r->lines.front(), "m1.txt:1:match 1");
  EXPECT_EQ(r->lines.back(), "m1.txt:100:match 100");
  auto o = opts("^match");
  o.max_matches = 300;
  r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->truncated);
  ASSERT_EQ(r->lines.size(), 300u);
  EXPECT_EQ(r->lines[150], "m2.txt:1:match 1");
}

TEST_F(GrepTest, BadRegexNamesPatternAndOffset) {
  auto r = cppflue::grep_files(ws(), opts("foo(bar"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  EXPECT_NE(r.error().message.find("foo(bar"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("missing closing parenthesis"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("offset 7"), std::string::npos) << r.error().message;
  EXPECT_EQ(cppflue::get_string_or(r.error().details, "pattern", ""), "foo(bar");
  auto e = cppflue::grep_files(ws(), opts(""));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().type, ErrorType::invalid_input);
}

TEST_F(GrepTest, CatastrophicPatternEndsPromptly) {
  std::string evil = std::string(5000, 'a') + "b";
  put(root_ / "evil.txt", "ok aaa\n" + evil + "\n" + evil + "\nlast aaa\n");
  auto t0 = std::chrono::steady_clock::now();
  auto o = opts("(a+)+$");
  o.include = "evil.txt";
  auto r = cppflue::grep_files(ws(), o);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  // The evil lines are skipped; the others are still searched.
  EXPECT_EQ(r->lines, (std::vector<std::string>{"evil.txt:1:ok aaa", "evil.txt:4:last aaa"}));
  EXPECT_EQ(r->lines_skipped, 2u);

  // Deep backtracking over a 200k-character line: a limit error (skipped line), no crash.
  put(root_ / "deep.txt", std::string(200000, 'a') + "\nshort aac\n");
  auto d = opts("(a|aa)*c");
  d.include = "deep.txt";
  t0 = std::chrono::steady_clock::now();
  r = cppflue::grep_files(ws(), d);
  elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_EQ(r->lines, std::vector<std::string>{"deep.txt:2:short aac"});
}

TEST_F(GrepTest, EmptyMatchesAndCrlf) {
  put(root_ / "crlf.txt", "one\r\ntwo\r\n");
  auto o = opts("o$");
  o.include = "crlf.txt";
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines, (std::vector<std::string>{"crlf.txt:2:two"}));
  o.pattern = "^";
  r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines, (std::vector<std::string>{"crlf.txt:1:one", "crlf.txt:2:two"}));
}

}  // namespace
