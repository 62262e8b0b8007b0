// SPDX-License-Identifier: Apache-2.0
// Tests for glob_files / grep_files: a data table of glob patterns over a fixed tree, escape and
// hidden-path refusals, limits, and grep behaviour (regex, filters, .gitignore, binary files,
// line cuts, caps, errors, catastrophic patterns, unicode).
#include "cppflue/sandbox/search.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
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

// ---------------------------------------------------------------------------------------------
// Many files: searched on several threads, merged in path order.

// Names chosen so that the order of full paths differs from a walk that sorts each directory by
// name alone ("a-b/x" < "a.txt" < "a/x" < "a0"), plus upper case and non-ASCII names.
const std::vector<std::string> kTrickyDirs = {"a", "a-b", "a.b", "a0", "A", "b", "é", "a b", "a!"};
const std::vector<std::string> kTrickyFiles = {"a.txt",   "a-b.txt", "a",     "x",  "x.txt",
                                               "x-y.txt", "Z.txt",   "é.txt", "x!", "x.txt.bak"};

TEST_F(GrepTest, ManyFilesMergedInPathOrder) {
  std::vector<std::pair<std::string, int>> expected;  // (path, line)
  int n = 0;
  for (const auto& d1 : kTrickyDirs) {
    for (const auto& d2 : {std::string(), std::string("sub"), std::string("sub-2")}) {
      for (const auto& f : kTrickyFiles) {
        std::string rel = "t/" + d1 + (d2.empty() ? "" : "/" + d2) + "/" + f;
        ++n;
        std::string text;
        for (int line = 1; line <= 1 + n % 7; ++line) {
          if ((line + n) % 3 == 0) {
            text += "needle " + std::to_string(line) + "\n";
            expected.emplace_back(rel, line);
          } else {
            text += "hay " + std::to_string(line) + "\n";
          }
        }
        put(root_ / rel, text);
      }
    }
  }
  for (const char* f : {"a.txt", "a-b.txt", "a.b.txt", "a00", "a!.txt", "Z.txt", "é.txt", "b-"}) {
    put(root_ / "t" / f, "needle top\n");  // files next to the directories
    expected.emplace_back(std::string("t/") + f, 1);
  }
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> want;
  for (const auto& [path, line] : expected) {
    want.push_back(path + ":" + std::to_string(line) + ":needle " +
                   (path.find('/', 2) == std::string::npos ? "top" : std::to_string(line)));
  }
  auto o = opts("^needle");
  o.path = "t";
  o.max_matches = 100000;
  for (int run = 0; run < 3; ++run) {
    auto r = cppflue::grep_files(ws(), o);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->lines, want);
    EXPECT_FALSE(r->truncated);
    EXPECT_EQ(r->files_searched, static_cast<std::size_t>(n) + 8);
  }
  // The same files reached from the root, mixed with the fixture's own files.
  o.path.clear();
  auto all = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->lines, want);
  EXPECT_EQ(all->files_searched, static_cast<std::size_t>(n) + 8 + 12);
}

TEST_F(GrepTest, ManyFilesKeepFiltersAndSkips) {
  put(root_ / ".gitignore", "*.log\nskip/\n");
  std::vector<std::string> want;
  for (int i = 0; i < 120; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "m/d%02d/f%03d", i % 10, i);
    put(root_ / (std::string(name) + ".txt"), "x\nhello " + std::to_string(i) + "\n");
    put(root_ / (std::string(name) + ".log"), "hello log\n");
    put(root_ / "m" / "skip" / (std::to_string(i) + ".txt"), "hello skipped\n");
    want.push_back(std::string(name) + ".txt:2:hello " + std::to_string(i));
  }
  put(root_ / "m" / "bin.txt", std::string("hello\0binary\n", 13));
  put(root_ / "m" / "zz" / "big.txt", std::string(cppflue::kGrepMaxFileBytes + 1, 'x'));
  std::sort(want.begin(), want.end());
  auto o = opts("hello");
  o.path = "m";
  o.include = "*.txt";
  o.max_matches = 1000;
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->lines, want);
  EXPECT_EQ(r->files_searched, 120u);
  EXPECT_EQ(r->files_binary, 1u);
  EXPECT_EQ(r->files_too_large, 1u);
  EXPECT_FALSE(r->truncated);
}

TEST_F(GrepTest, EarlyStopIsDeterministic) {
  // 200 files with 3 matches each: the 251st match is in the 84th file.
  std::vector<std::string> all;
  for (int i = 0; i < 200; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "cap/f%03d.txt", i);
    put(root_ / name, "match a\nno\nmatch b\nmatch c\n");
    for (const char* l : {":1:match a", ":3:match b", ":4:match c"})
      all.push_back(name + std::string(l));
  }
  auto o = opts("^match");
  o.path = "cap";
  o.max_matches = 250;
  for (int run = 0; run < 5; ++run) {
    auto r = cppflue::grep_files(ws(), o);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->truncated);
    EXPECT_EQ(r->lines, std::vector<std::string>(all.begin(), all.begin() + 250));
    EXPECT_EQ(r->files_searched, 84u);
  }
  // A cap on a file boundary: the 252nd match does not exist before file 85, which is searched.
  o.max_matches = 252;
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->lines.size(), 252u);
  EXPECT_EQ(r->files_searched, 85u);
  // No cap reached: every file searched.
  o.max_matches = 600;
  r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->lines, all);
  EXPECT_EQ(r->files_searched, 200u);
  // A cap of 0: truncated at the first match, nothing listed.
  o.max_matches = 0;
  r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->truncated);
  EXPECT_TRUE(r->lines.empty());
  EXPECT_EQ(r->files_searched, 1u);
}

TEST_F(GrepTest, SkippedLinesCountedUpToTheCap) {
  // Each file: a match, a line that hits the match limit, a match. The cap is reached at the
  // second match of file 8, after that file's skipped line.
  const std::string evil = std::string(40, 'a') + "b";
  for (int i = 0; i < 40; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "ev/f%02d.txt", i);
    put(root_ / name, "go 1\n" + evil + "\ngo 2\n");
  }
  auto o = opts("^go|^(a+)+$");
  o.path = "ev";
  o.max_matches = 15;
  for (int run = 0; run < 3; ++run) {
    auto r = cppflue::grep_files(ws(), o);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->truncated);
    ASSERT_EQ(r->lines.size(), 15u);
    EXPECT_EQ(r->lines.back(), "ev/f07.txt:1:go 1");
    EXPECT_EQ(r->files_searched, 8u);
    EXPECT_EQ(r->lines_skipped, 8u);
  }
  o.max_matches = 1000;
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines.size(), 80u);
  EXPECT_EQ(r->lines_skipped, 40u);
}

// ---------------------------------------------------------------------------------------------
// Every line is matched on its own: a match never spans lines, and what is around a line
// (the "\n" before and after it) is invisible to the pattern.

std::vector<std::string> grep_lines(const Workspace& ws, const std::string& pattern,
                                    const std::string& path) {
  auto o = opts(pattern);
  o.path = path;
  o.max_matches = 100000;
  auto r = cppflue::grep_files(ws, o);
  EXPECT_TRUE(r) << pattern << ": " << (r ? "" : r.error().message);
  return r ? r->lines : std::vector<std::string>{};
}

TEST_F(GrepTest, MatchesNeverSpanLines) {
  put(root_ / "ml.txt", "foo\nbar\na\nb\nfoo  \nfoo bar\n\n  bar\nx\r\n\r\nend");
  struct Row {
    const char* pattern;
    std::vector<std::string> lines;
  };
  const std::vector<Row> rows = {
      {R"(a\sb)", {}},
      {R"(foo\s+bar)", {"ml.txt:6:foo bar"}},
      {R"(o\s*$)", {"ml.txt:1:foo", "ml.txt:5:foo  "}},
      {R"(foo[^x]bar)", {"ml.txt:6:foo bar"}},
      {R"(foo[^x]*bar)", {"ml.txt:6:foo bar"}},
      {R"(foo(?!\s*bar))", {"ml.txt:1:foo", "ml.txt:5:foo  "}},
      {R"((?<=\s)bar)", {"ml.txt:6:foo bar", "ml.txt:8:  bar"}},
      {R"((?<!\S)bar)", {"ml.txt:2:bar", "ml.txt:6:foo bar", "ml.txt:8:  bar"}},
      {R"(\n)", {}},
      {R"([\s\S]{4})", {"ml.txt:5:foo  ", "ml.txt:6:foo bar", "ml.txt:8:  bar"}},
      {R"(^\s*$)", {"ml.txt:7:", "ml.txt:10:"}},
      {R"(^$)", {"ml.txt:7:", "ml.txt:10:"}},  // line 10 is "\r": $ matches before it
      {R"(\W$)", {"ml.txt:5:foo  ", "ml.txt:9:x", "ml.txt:10:"}},
      {R"(\Abar)", {"ml.txt:2:bar"}},
      {R"(o\z)", {"ml.txt:1:foo"}},
      {R"((?s)o.b)", {"ml.txt:6:foo bar"}},
      {R"(o\Rb)", {}},
      {R"(\x0a|\cJ|\012|\N{U+000A})", {}},
      {R"([\x00-\x1f])", {"ml.txt:9:x", "ml.txt:10:"}},
      {R"(\p{Cc})", {"ml.txt:9:x", "ml.txt:10:"}},
      {R"((?>\s*)bar)", {"ml.txt:2:bar", "ml.txt:6:foo bar", "ml.txt:8:  bar"}},
      {R"(^\s++bar)", {"ml.txt:8:  bar"}},
      {R"((\w)\s\1)", {}},
      {R"(d(?-m)$)", {"ml.txt:11:end"}},
      {R"((*COMMIT)bar)", {"ml.txt:2:bar", "ml.txt:6:foo bar", "ml.txt:8:  bar"}},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(grep_lines(ws(), row.pattern, "ml.txt"), row.lines) << row.pattern;
  }
}

// Differential check of the whole-buffer search against matching line by line: the suffix
// "(?:\G|)" matches the empty string, so it changes no result, but a pattern with \G is always
// searched one line at a time.
TEST_F(GrepTest, WholeBufferSearchAgreesWithLineByLine) {
  const std::vector<std::string> patterns = {
      R"(a\sb)",
      R"(a\s*$)",
      R"(\s+$)",
      R"(^\s*$)",
      R"([^x]+y)",
      R"(x[^a]*$)",
      R"(b(?!\s*a))",
      R"((?<=\s)a)",
      R"((?<!\S)b)",
      R"(\W+b)",
      R"(\D$)",
      R"(^$)",
      R"($)",
      R"(^)",
      R"(\bab\b)",
      R"([\x00-\x1f])",
      R"(\p{Cc}|\p{Zs})",
      R"((?i)AB)",
      R"((?m)^b)",
      R"((a)\s\1)",
      R"((?>\s*)b)",
      R"(\s++b)",
      R"(a\K\s)",
      R"(\h+)",
      R"(\v)",
      R"([[:space:]]x)",
      R"([[:alpha:]]+$)",
      R"(\N+)",
      R"(.+)",
      R"(\r)",
      R"(^\r?$)",
      R"(\s\S\s)",
      R"([^\w\r]{2})",
      R"(a(?=\s))",
      R"((?<=\s\s)b)",
      R"(b\s?$)",
      R"(\x{d}$)",
      R"([\t-\r]b)",
      R"(\Hb)",
      R"((?:a|\s)+$)",
      // Empty matches at the end of a line ending in "\r": PCRE2 never starts a match between
      // the "\r" and the "\n" of a CRLF in a buffer, while a lone line ends there.
      R"(\B)",
      R"(.*\B)",
      R"(.*(?<=\r))",
      R"((?<=\r))",
      R"((?<=\W)$)",
      R"(x?(?<=\s))",
      R"(\b(?!\w))",
      // `^` is true between the "\r" and the "\n" of a CRLF in a buffer, not at a line's end.
      R"(\H(?<!^))",
      R"(\s(?!^))",
      R"(\r(?=^))",
      // Lookbehinds at the edges of invalid UTF-8.
      R"((?<=\H))",
      R"((?<=\D))",
      R"((?<=[^a]))",
      R"((?<=\s)(?<!$))",
  };
  // Pseudo-random lines over small alphabets (LCG, fixed seed); the second one has bytes that
  // make "é" or invalid UTF-8.
  std::uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  struct Text {
    std::string alphabet, head, tail;
  };
  const std::vector<Text> texts = {
      {"ab xy\t\r", "", "ab y"},  // the tail has no final newline
      {"ab xy\t\r\xC3\xA9\xFF", "\r\xA9\n1\n\r\xA9\n\r\xFF\n\xFF\n \xFF\nx\xC3\n\xC3\xA9\n\n",
       "x\n\r\xA9"},
  };
  for (const auto& t : texts) {
    std::string text = t.head;
    for (int line = 0; line < 400; ++line) {
      std::size_t len = next() % 7;
      for (std::size_t k = 0; k < len; ++k) text += t.alphabet[next() % t.alphabet.size()];
      text += '\n';
    }
    text += t.tail;
    put(root_ / "diff.txt", text);
    for (const auto& p : patterns) {
      auto fast = grep_lines(ws(), p, "diff.txt");
      auto slow = grep_lines(ws(), p + R"((?:\G|))", "diff.txt");
      EXPECT_EQ(fast, slow) << p << " over " << t.alphabet;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The whole call is bounded: a catastrophic pattern over a 10 MB file ends with a clear error
// (the per-call allowance of limit-hitting lines, or the deadline), and a cancellation stops it
// within one line's match.

class GrepBudgetTest : public SearchTest {
 protected:
  void SetUp() override {
    SearchTest::SetUp();
    std::string line = std::string(28, 'a') + "!\n";
    std::string big;
    big.reserve(std::size_t{10} << 20);
    while (big.size() + line.size() <= (std::size_t{10} << 20)) big += line;
    put(root_ / "redos.txt", big);
  }
};

TEST_F(GrepBudgetTest, CatastrophicPatternStopsWithAClearError) {
  auto o = opts("^(a|aa)+$");
  o.path = "redos.txt";
  auto start = std::chrono::steady_clock::now();
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  EXPECT_NE(r.error().message.find("match limit"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, o.timeout);
}

TEST_F(GrepBudgetTest, DeadlineEndsTheCall) {
  auto o = opts("^(a|aa)+$");
  o.path = "redos.txt";
  o.max_limit_hits = std::size_t{1} << 40;  // only the deadline stops it
  o.timeout = std::chrono::milliseconds(1500);
  auto start = std::chrono::steady_clock::now();
  auto r = cppflue::grep_files(ws(), o);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::timeout);
  EXPECT_NE(r.error().message.find("deadline"), std::string::npos) << r.error().message;
  EXPECT_LT(took, std::chrono::milliseconds(3000));
}

TEST_F(GrepBudgetTest, CancelStopsWithinOneHundredMilliseconds) {
  auto o = opts("^(a|aa)+$");
  o.path = "redos.txt";
  o.max_limit_hits = std::size_t{1} << 40;
  o.timeout = std::chrono::milliseconds(0);
  cppflue::CancelSource source;
  o.cancel = source.token();
  std::chrono::steady_clock::time_point cancelled_at;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancelled_at = std::chrono::steady_clock::now();
    source.cancel();
  });
  auto r = cppflue::grep_files(ws(), o);
  auto returned_at = std::chrono::steady_clock::now();
  canceller.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
  EXPECT_LT(returned_at - cancelled_at, std::chrono::milliseconds(100));
}

TEST_F(GrepTest, FileNamesCannotForgeOutputLines) {
  put(root_ / "n" / "evil.txt\nn/fake.txt:1:FAKE MATCH", "needle\n");
  put(root_ / "n" / "tab\there.txt", "needle\n");
  auto o = opts("needle");
  o.path = "n";
  auto r = cppflue::grep_files(ws(), o);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->lines.size(), 2u);
  for (const auto& line : r->lines) {
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_EQ(line.find('\t'), std::string::npos) << line;
  }
  EXPECT_EQ(r->lines[0], "n/evil.txt\\x0an/fake.txt:1:FAKE MATCH:1:needle");
}

TEST_F(GlobTest, CancellationEndsTheWalk) {
  for (int i = 0; i < 300; ++i) {
    put(root_ / "big" / ("d" + std::to_string(i % 30)) / (std::to_string(i) + ".txt"), "x");
  }
  cppflue::CancelSource source;
  source.cancel();
  auto cancelled =
      cppflue::glob_files(ws(), "big/**", 1000, std::chrono::seconds(30), source.token());
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().type, ErrorType::cancelled);
  // Without a deadline or a cancellation the same walk lists everything.
  auto all = cppflue::glob_files(ws(), "big/**", 1000, std::chrono::milliseconds(0));
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->paths.size(), 330u);
}

}  // namespace
