// SPDX-License-Identifier: Apache-2.0
// The model's file tools over a Workspace: behaviour, limits and the documented errors.
#include <gtest/gtest.h>

#include "cppflue/sandbox/file_tools.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;

namespace {

class FileToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ws = Workspace::open(dir_.path(),
                              WorkspaceOptions{.hidden = {".cppflue"}, .read_only = {".git"}});
    ASSERT_TRUE(ws.has_value()) << ws.error().message;
    holder_.emplace(std::move(*ws));
  }
  TempDir dir_;
  std::optional<Workspace> holder_;
  const Workspace& ws() const { return *holder_; }
  FileToolPolicy rw_{.allow_write = true};
  FileToolPolicy ro_{.allow_write = false};
};

std::string error_of(const Result<std::string>& r) {
  return r ? "(no error: " + *r + ")" : r.error().message;
}

TEST_F(FileToolsTest, WriteReadEditRoundTrip) {
  auto w =
      tool_write(ws(), rw_, json_object{{"path", "src/a.txt"}, {"content", "one\ntwo\nthree\n"}});
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_EQ(*w, "wrote 14 bytes to /src/a.txt");
  auto r = tool_read(ws(), json_object{{"path", "/workspace/src/a.txt"}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, "one\ntwo\nthree\n");
  auto e = tool_edit(ws(), rw_,
                     json_object{{"path", "src/a.txt"}, {"old_text", "two"}, {"new_text", "2"}});
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_EQ(*e, "replaced 1 occurrence in /src/a.txt");
  EXPECT_EQ(read_file(dir_.path() / "src/a.txt"), "one\n2\nthree\n");
}

TEST_F(FileToolsTest, EditErrors) {
  write_file(dir_.path() / "f.txt", "x = 1\nx = 1\n");
  auto none =
      tool_edit(ws(), rw_, json_object{{"path", "f.txt"}, {"old_text", "y"}, {"new_text", "z"}});
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message.find("not found"), std::string::npos) << error_of(none);
  auto two = tool_edit(
      ws(), rw_, json_object{{"path", "f.txt"}, {"old_text", "x = 1"}, {"new_text", "x = 2"}});
  ASSERT_FALSE(two.has_value());
  EXPECT_NE(two.error().message.find("occurs 2 times"), std::string::npos) << error_of(two);
  EXPECT_NE(two.error().message.find("replace_all"), std::string::npos);
  auto all = tool_edit(
      ws(), rw_,
      json_object{
          {"path", "f.txt"}, {"old_text", "x = 1"}, {"new_text", "x = 2"}, {"replace_all", true}});
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_EQ(*all, "replaced 2 occurrences in /f.txt");
  EXPECT_EQ(read_file(dir_.path() / "f.txt"), "x = 2\nx = 2\n");
  auto empty =
      tool_edit(ws(), rw_, json_object{{"path", "f.txt"}, {"old_text", ""}, {"new_text", "z"}});
  EXPECT_FALSE(empty.has_value());
}

TEST_F(FileToolsTest, WritesNeedAllowWrite) {
  write_file(dir_.path() / "f.txt", "abc");
  std::vector<Result<std::string>> results{
      tool_write(ws(), ro_, json_object{{"path", "g.txt"}, {"content", "x"}}),
      tool_edit(ws(), ro_, json_object{{"path", "f.txt"}, {"old_text", "a"}, {"new_text", "b"}}),
      tool_mkdir(ws(), ro_, json_object{{"path", "d"}}),
      tool_rm(ws(), ro_, json_object{{"path", "f.txt"}}),
  };
  for (const auto& r : results) {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().type, ErrorType::policy);
    EXPECT_EQ(get_string_or(r.error().details, "rule", ""), "allow_write");
    EXPECT_NE(r.error().message.find("allow_write is off"), std::string::npos);
  }
  EXPECT_EQ(read_file(dir_.path() / "f.txt"), "abc");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "g.txt"));
}

TEST_F(FileToolsTest, ReadRefusesBinaryFiles) {
  write_file(dir_.path() / "bin.dat", std::string("ab\0cd", 5));
  auto r = tool_read(ws(), json_object{{"path", "bin.dat"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("binary"), std::string::npos) << error_of(r);
  EXPECT_NE(r.error().message.find("read_bytes"), std::string::npos) << error_of(r);
}

TEST_F(FileToolsTest, RmOfTheWorkspaceRootIsRefused) {
  for (const char* root : {"/", ".", "/workspace"}) {
    auto r = tool_rm(ws(), rw_, json_object{{"path", root}, {"recursive", true}, {"force", true}});
    EXPECT_FALSE(r.has_value()) << root;
  }
  EXPECT_TRUE(std::filesystem::exists(dir_.path()));
}

TEST_F(FileToolsTest, ReadCapsAndPaging) {
  std::string big;
  for (int i = 1; i <= 2500; ++i) big += "line " + std::to_string(i) + "\n";
  write_file(dir_.path() / "big.txt", big);
  auto first = tool_read(ws(), json_object{{"path", "big.txt"}});
  ASSERT_TRUE(first.has_value());
  EXPECT_NE(first->find("line 2000\n"), std::string::npos);
  EXPECT_EQ(first->find("line 2001\n"), std::string::npos);
  EXPECT_NE(first->find("[showing lines 1-2000 of 2500; continue with offset=2001]"),
            std::string::npos)
      << first->substr(first->size() - 100);
  auto next = tool_read(ws(), json_object{{"path", "big.txt"}, {"offset", 2001}});
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->rfind("line 2001\n", 0), 0u);
  EXPECT_NE(next->find("line 2500\n"), std::string::npos);
  EXPECT_EQ(next->find("[showing"), std::string::npos);
  auto window = tool_read(ws(), json_object{{"path", "big.txt"}, {"offset", 10}, {"limit", 3}});
  ASSERT_TRUE(window.has_value());
  EXPECT_EQ(*window,
            "line 10\nline 11\nline 12\n[showing lines 10-12 of 2500; continue with offset=13]\n");
  // 50 KiB cap with long lines.
  std::string wide;
  for (int i = 0; i < 100; ++i) wide += std::string(1000, 'x') + "\n";
  write_file(dir_.path() / "wide.txt", wide);
  auto capped = tool_read(ws(), json_object{{"path", "wide.txt"}});
  ASSERT_TRUE(capped.has_value());
  EXPECT_LE(capped->size(), kReadMaxBytes + 200);
  EXPECT_NE(capped->find("(50 KiB limit)"), std::string::npos);
  auto past = tool_read(ws(), json_object{{"path", "big.txt"}, {"offset", 9999}});
  EXPECT_FALSE(past.has_value());
}

TEST_F(FileToolsTest, ReadListsDirectories) {
  write_file(dir_.path() / "b.txt", "b");
  write_file(dir_.path() / "a/x.txt", "x");
  write_file(dir_.path() / ".cppflue/state.db", "secret");
  auto r = tool_read(ws(), json_object{{"path", "/"}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, "a/\nb.txt\n");
}

TEST_F(FileToolsTest, EscapesAndHiddenPathsAreRefused) {
  for (const char* path :
       {"../x", "/etc/passwd", "/proc/self/root/etc/passwd", ".cppflue/state.db"}) {
    auto r = tool_read(ws(), json_object{{"path", path}});
    EXPECT_FALSE(r.has_value()) << path;
    auto w = tool_write(ws(), rw_, json_object{{"path", path}, {"content", "x"}});
    EXPECT_FALSE(w.has_value()) << path;
  }
  write_file(dir_.path() / ".git/HEAD", "ref");
  auto git = tool_write(ws(), rw_, json_object{{"path", ".git/HEAD"}, {"content", "evil"}});
  EXPECT_FALSE(git.has_value());
  EXPECT_EQ(read_file(dir_.path() / ".git/HEAD"), "ref");
}

TEST_F(FileToolsTest, StatExistsMkdirRm) {
  ASSERT_TRUE(
      tool_mkdir(ws(), rw_, json_object{{"path", "a/b/c"}, {"recursive", true}}).has_value());
  EXPECT_EQ(*tool_exists(ws(), json_object{{"path", "a/b/c"}}), "true");
  EXPECT_EQ(*tool_exists(ws(), json_object{{"path", "nope"}}), "false");
  EXPECT_FALSE(tool_mkdir(ws(), rw_, json_object{{"path", "x/y"}}).has_value())
      << "parents need recursive";
  write_file(dir_.path() / "a/f.txt", "12345");
  auto st = tool_stat(ws(), json_object{{"path", "a/f.txt"}});
  ASSERT_TRUE(st.has_value());
  auto j = parse_json(*st);
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->at("path").as_string(), "/a/f.txt");
  EXPECT_EQ(j->at("size").to_number<int>(), 5);
  EXPECT_TRUE(j->at("is_file").as_bool());
  EXPECT_FALSE(tool_rm(ws(), rw_, json_object{{"path", "a"}}).has_value())
      << "a directory needs recursive";
  EXPECT_TRUE(tool_rm(ws(), rw_, json_object{{"path", "a"}, {"recursive", true}}).has_value());
  EXPECT_EQ(*tool_exists(ws(), json_object{{"path", "a"}}), "false");
  EXPECT_FALSE(tool_rm(ws(), rw_, json_object{{"path", "gone"}}).has_value());
  EXPECT_TRUE(tool_rm(ws(), rw_, json_object{{"path", "gone"}, {"force", true}}).has_value());
}

TEST_F(FileToolsTest, BadArgumentsNameTheProblem) {
  struct Row {
    Result<std::string> r;
    const char* expect;
  };
  Row rows[] = {
      {tool_read(ws(), json_object{}), "missing required argument 'path'"},
      {tool_read(ws(), json_object{{"path", 5}}), "'path' must be a string"},
      {tool_read(ws(), json_object{{"path", "a"}, {"offset", "x"}}),
       "'offset' must be a whole number"},
      {tool_read(ws(), json_object{{"path", "a"}, {"limit", 0}}), "'limit' must be at least 1"},
      {tool_write(ws(), rw_, json_object{{"path", "a"}}), "missing required argument 'content'"},
      {tool_edit(ws(), rw_,
                 json_object{
                     {"path", "a"}, {"old_text", "x"}, {"new_text", "y"}, {"replace_all", "yes"}}),
       "'replace_all' must be a boolean"},
  };
  for (const auto& row : rows) {
    ASSERT_FALSE(row.r.has_value()) << row.expect;
    EXPECT_NE(row.r.error().message.find(row.expect), std::string::npos) << row.r.error().message;
  }
}

TEST_F(FileToolsTest, SchemasExistForEveryFileTool) {
  for (const char* t : {"read", "write", "edit", "stat", "exists", "mkdir", "rm"}) {
    json s = file_tool_parameters(t);
    ASSERT_TRUE(s.is_object()) << t;
    EXPECT_EQ(s.at("type").as_string(), "object");
    EXPECT_FALSE(file_tool_description(t).empty());
  }
  EXPECT_TRUE(file_tool_parameters("bash").is_null());
}

}  // namespace
