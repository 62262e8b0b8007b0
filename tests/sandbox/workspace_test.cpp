// SPDX-License-Identifier: Apache-2.0
// Tests for cppflue::Workspace: a data table of escape attempts (every row run through openat2
// and through the forced O_NOFOLLOW fallback walk), then functional tests of each operation.
//
// Layout built under a fresh temp dir T for every test:
//   T/outside/secret.txt ("SECRET"), T/outside/dir/keep.txt — must never change or be read;
//   T/ws — the workspace root, with symlinks that try to lead outside (see make_layout()).
// Host files such as /etc/passwd are only ever named in refused paths; write-like rows aim at
// T/outside so that even a bug could not touch the host.
#include "cppflue/sandbox/workspace.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cppflue/core/json.hpp"
#include "support/test_util.hpp"

namespace {

namespace fs = std::filesystem;
using cppflue::ErrorType;
using cppflue::Workspace;
using cppflue::WorkspaceOptions;
using cppflue::testing::TempDir;

std::string rule_of(const cppflue::Error& e) {
  return cppflue::get_string_or(e.details, "rule", "");
}

class Layout {
 public:
  Layout() {
    ws_ = tmp_.path() / "ws";
    out_ = tmp_.path() / "outside";
    fs::create_directories(ws_);
    fs::create_directories(out_ / "dir");
    cppflue::testing::write_file(out_ / "secret.txt", "SECRET");
    cppflue::testing::write_file(out_ / "dir" / "keep.txt", "KEEP");
    // Inside files.
    fs::create_directories(ws_ / "a" / "b");
    cppflue::testing::write_file(ws_ / "a" / "b" / "f.txt", "inside");
    cppflue::testing::write_file(ws_ / ".cppflue" / "state.db", "state");
    cppflue::testing::write_file(ws_ / ".git" / "config", "[core]");
    // Symlinks that try to lead outside.
    fs::create_directory_symlink("/etc", ws_ / "etc");
    fs::create_directory_symlink(out_, ws_ / "out_link");
    fs::create_directory_symlink("..", ws_ / "up");
    fs::create_directories(ws_ / "sub");
    fs::create_directory_symlink("sub/l2", ws_ / "l1");
    fs::create_directory_symlink("../../outside", ws_ / "sub" / "l2");
    fs::create_directory_symlink("../../../outside", ws_ / "a" / "b" / "c_link");
    fs::create_symlink(out_ / "secret.txt", ws_ / "secret_link");
    fs::create_directory_symlink("/proc/self/root", ws_ / "proc_link");
    fs::create_directory_symlink("/proc/self/cwd", ws_ / "cwd_link");
    fs::create_symlink("loop", ws_ / "loop");
    // Symlinks that lead to hidden / read-only places inside.
    fs::create_directory_symlink(".cppflue", ws_ / "hid_link");
    fs::create_directory_symlink(".git", ws_ / "git_link");
  }
  const fs::path& ws() const { return ws_; }
  const fs::path& outside() const { return out_; }

  // The outside directory is exactly as created.
  void expect_outside_untouched() const {
    EXPECT_EQ(cppflue::testing::read_file(out_ / "secret.txt"), "SECRET");
    EXPECT_EQ(cppflue::testing::read_file(out_ / "dir" / "keep.txt"), "KEEP");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(out_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"dir", "secret.txt"}));
  }

 private:
  TempDir tmp_;
  fs::path ws_;
  fs::path out_;
};

Workspace open_ws(const Layout& l, bool fallback) {
  WorkspaceOptions o;
  o.hidden = {".cppflue"};
  o.read_only = {".git"};
  o.force_fallback = fallback;
  auto ws = Workspace::open(l.ws(), o);
  if (!ws) throw std::runtime_error(ws.error().message);
  return std::move(*ws);
}

// ---- the escape table --------------------------------------------------------------------------

enum class Op { to_relative, read, write, stat, exists, list, mkdir, mkdir_p, rm, rm_r };
enum class Expect {
  escape,     // permission, rule path_escape
  hidden,     // permission, rule hidden_path
  read_only,  // permission, rule read_only_path
  root,       // permission, rule workspace_root
  invalid,    // invalid_input
  not_found,  // not_found
  absent,     // exists() == false
  harmless,   // any outcome; the outside stays untouched
};

struct EscapeCase {
  const char* name;
  Op op;
  std::string path;  // "<root>" and "<outside>" are replaced by the absolute paths
  Expect expect;
};

std::string expand(std::string p, const Layout& l) {
  auto rep = [&](const std::string& key, const std::string& value) {
    for (auto pos = p.find(key); pos != std::string::npos; pos = p.find(key)) {
      p.replace(pos, key.size(), value);
    }
  };
  rep("<root>", l.ws().string());
  rep("<outside>", l.outside().string());
  return p;
}

// Runs an operation; the value is a printable summary (file content for reads).
cppflue::Result<std::string> run(const Workspace& ws, Op op, const std::string& path) {
  using R = cppflue::Result<std::string>;
  auto done = [](cppflue::Result<void> r) -> R {
    if (!r) return cppflue::fail(r.error());
    return std::string("ok");
  };
  switch (op) {
    case Op::to_relative:
      return ws.to_relative(path);
    case Op::read:
      return ws.read_file(path);
    case Op::write:
      return done(ws.write_file(path, "PWNED"));
    case Op::stat: {
      auto r = ws.stat(path);
      if (!r) return cppflue::fail(r.error());
      return r->path;
    }
    case Op::exists: {
      auto r = ws.exists(path);
      if (!r) return cppflue::fail(r.error());
      return std::string(*r ? "true" : "false");
    }
    case Op::list: {
      auto r = ws.list_dir(path);
      if (!r) return cppflue::fail(r.error());
      std::string s;
      for (const auto& e : *r) s += e.name + ",";
      return s;
    }
    case Op::mkdir:
      return done(ws.mkdir(path, false));
    case Op::mkdir_p:
      return done(ws.mkdir(path, true));
    case Op::rm:
      return done(ws.remove(path, false, false));
    case Op::rm_r:
      return done(ws.remove(path, true, false));
  }
  return R("unreachable");
}

const std::vector<EscapeCase>& escape_cases() {
  static const std::vector<EscapeCase> cases = {
      // ".." chains
      {"dotdot_etc_passwd", Op::read, "../../etc/passwd", Expect::escape},
      {"dotdot_after_name", Op::read, "a/../../x", Expect::escape},
      {"dot_dotdot", Op::read, "./..", Expect::escape},
      {"dotdot_alone", Op::list, "..", Expect::escape},
      {"dotdot_to_outside_stat", Op::stat, "../outside/secret.txt", Expect::escape},
      {"dotdot_write", Op::write, "../outside/new.txt", Expect::escape},
      {"deep_dotdot_write", Op::write, "a/b/../../../outside/x", Expect::escape},
      {"dotdot_mkdir_p", Op::mkdir_p, "a/../../outside/newdir", Expect::escape},
      {"dotdot_to_relative", Op::to_relative, "a/b/../../..", Expect::escape},
      // absolute host paths
      {"abs_etc_passwd", Op::read, "/etc/passwd", Expect::escape},
      {"abs_root_ssh", Op::read, "/root/.ssh/id_rsa", Expect::escape},
      {"abs_proc_self_root", Op::read, "/proc/self/root/etc/passwd", Expect::escape},
      {"abs_proc_self_cwd", Op::read, "/proc/self/cwd/x", Expect::escape},
      {"abs_proc_self_fd", Op::read, "/proc/self/fd/0", Expect::escape},
      {"abs_dev_null", Op::read, "/dev/null", Expect::escape},
      {"abs_double_slash", Op::write, "//etc/passwd", Expect::escape},
      {"abs_outside_read", Op::read, "<outside>/secret.txt", Expect::escape},
      {"abs_outside_write", Op::write, "<outside>/new.txt", Expect::escape},
      {"abs_outside_exists", Op::exists, "<outside>/secret.txt", Expect::escape},
      {"abs_tmp_rm", Op::rm_r, "<outside>", Expect::escape},
      // /workspace and the root's own path, then climbing
      {"workspace_dotdot", Op::read, "/workspace/../etc/passwd", Expect::escape},
      {"workspace_dotdot2", Op::read, "/workspace/a/../../etc/passwd", Expect::escape},
      {"workspace_prefix_only", Op::read, "/workspacex/a", Expect::escape},
      {"root_dotdot", Op::read, "<root>/../outside/secret.txt", Expect::escape},
      {"root_dotdot_alone", Op::list, "<root>/..", Expect::escape},
      {"root_prefix_sibling", Op::read, "<root>x/secret.txt", Expect::escape},
      // a symlink inside pointing at /etc (read-like ops) or at the outside dir (write-like ops)
      {"link_etc_read", Op::read, "etc/passwd", Expect::escape},
      {"link_etc_stat", Op::stat, "etc/passwd", Expect::escape},
      {"link_etc_list", Op::list, "etc", Expect::escape},
      {"link_etc_exists", Op::exists, "etc/passwd", Expect::escape},
      {"link_etc_stat_link", Op::stat, "etc", Expect::escape},
      {"link_out_read", Op::read, "out_link/secret.txt", Expect::escape},
      {"link_out_write", Op::write, "out_link/pwned.txt", Expect::escape},
      {"link_out_overwrite", Op::write, "out_link/secret.txt", Expect::escape},
      {"link_out_mkdir", Op::mkdir, "out_link/newdir", Expect::escape},
      {"link_out_mkdir_p", Op::mkdir_p, "out_link/x/y", Expect::escape},
      {"link_out_rm", Op::rm, "out_link/secret.txt", Expect::escape},
      {"link_out_rm_r", Op::rm_r, "out_link/dir", Expect::escape},
      {"link_out_list", Op::list, "out_link", Expect::escape},
      // a symlink to ".." and relative chains climbing out
      {"link_up_read", Op::read, "up/outside/secret.txt", Expect::escape},
      {"link_up_list", Op::list, "up", Expect::escape},
      {"link_up_write", Op::write, "up/outside/pwned.txt", Expect::escape},
      {"chain_read", Op::read, "l1/secret.txt", Expect::escape},
      {"chain_write", Op::write, "l1/pwned.txt", Expect::escape},
      {"deep_chain_read", Op::read, "a/b/c_link/secret.txt", Expect::escape},
      {"deep_chain_rm_r", Op::rm_r, "a/b/c_link/dir", Expect::escape},
      // a file symlink to the outside
      {"file_link_read", Op::read, "secret_link", Expect::escape},
      {"file_link_write", Op::write, "secret_link", Expect::escape},
      {"file_link_stat", Op::stat, "secret_link", Expect::escape},
      {"file_link_rm_removes_link_only", Op::rm, "secret_link", Expect::harmless},
      {"dir_link_rm_r_removes_link_only", Op::rm_r, "out_link", Expect::harmless},
      // magic links
      {"magic_proc_root", Op::read, "proc_link/etc/passwd", Expect::escape},
      {"magic_proc_cwd", Op::list, "cwd_link", Expect::escape},
      // hidden and read-only paths, also reached through symlinks
      {"hidden_read", Op::read, ".cppflue/state.db", Expect::hidden},
      {"hidden_abs_read", Op::read, "/workspace/.cppflue/state.db", Expect::hidden},
      {"hidden_dotted_read", Op::read, "a/../.cppflue/./state.db", Expect::hidden},
      {"hidden_exists", Op::exists, ".cppflue/state.db", Expect::absent},
      {"hidden_list", Op::list, ".cppflue", Expect::hidden},
      {"hidden_write", Op::write, ".cppflue/x", Expect::hidden},
      {"hidden_rm_r", Op::rm_r, ".cppflue", Expect::hidden},
      {"hidden_via_link_read", Op::read, "hid_link/state.db", Expect::hidden},
      {"hidden_via_link_exists", Op::exists, "hid_link/state.db", Expect::absent},
      {"read_only_write", Op::write, ".git/config", Expect::read_only},
      {"read_only_mkdir", Op::mkdir, ".git/hooks2", Expect::read_only},
      {"read_only_rm", Op::rm, ".git/config", Expect::read_only},
      {"read_only_rm_dir", Op::rm_r, ".git", Expect::read_only},
      {"read_only_via_link_write", Op::write, "git_link/config", Expect::read_only},
      {"read_only_via_link_mkdir", Op::mkdir_p, "git_link/x/y", Expect::read_only},
      // the root itself
      {"rm_slash", Op::rm_r, "/", Expect::root},
      {"rm_dot", Op::rm_r, ".", Expect::root},
      {"rm_empty", Op::rm_r, "", Expect::root},
      {"rm_workspace", Op::rm_r, "/workspace", Expect::root},
      {"rm_root_abs", Op::rm_r, "<root>", Expect::root},
      {"rm_root_abs_slash", Op::rm, "<root>/", Expect::root},
      {"rm_a_dotdot", Op::rm_r, "a/..", Expect::root},
      {"write_root", Op::write, "/", Expect::invalid},
      // malformed paths
      {"nul_in_path", Op::read, std::string("a\0/../../etc/passwd", 19), Expect::invalid},
      {"nul_write", Op::write, std::string("x\0y", 3), Expect::invalid},
      {"longer_than_path_max", Op::read, std::string(5000, 'a'), Expect::invalid},
      {"long_component_chain", Op::write,
       [] {
         std::string s;
         for (int i = 0; i < 1500; ++i) s += "ab/";
         return s + "f";
       }(),
       Expect::invalid},
      {"name_over_name_max", Op::write, std::string(300, 'n'), Expect::invalid},
      {"symlink_loop", Op::read, "loop", Expect::invalid},
      // "~" is a literal name, never $HOME
      {"tilde_ssh", Op::read, "~/.ssh/id_rsa", Expect::not_found},
      {"tilde_root", Op::read, "~root/.bashrc", Expect::not_found},
      {"backslash_dotdot", Op::read, "..\\etc\\passwd", Expect::not_found},
  };
  return cases;
}

class WorkspaceEscapeTest : public ::testing::TestWithParam<std::tuple<bool, EscapeCase>> {};

TEST_P(WorkspaceEscapeTest, RefusedOrHarmless) {
  const auto& [fallback, c] = GetParam();
  Layout layout;
  auto ws = open_ws(layout, fallback);
  EXPECT_EQ(ws.uses_fallback(), fallback);
  const std::string path = expand(c.path, layout);
  auto r = run(ws, c.op, path);
  auto expect_perm = [&](const char* rule) {
    ASSERT_FALSE(r.has_value()) << "unexpected success: " << *r;
    EXPECT_EQ(r.error().type, ErrorType::permission) << r.error().message;
    EXPECT_EQ(rule_of(r.error()), rule) << r.error().message;
  };
  switch (c.expect) {
    case Expect::escape:
      expect_perm("path_escape");
      if (!r) {
        EXPECT_NE(r.error().message.find("file tools only reach the workspace"), std::string::npos)
            << r.error().message;
      }
      break;
    case Expect::hidden:
      expect_perm("hidden_path");
      break;
    case Expect::read_only:
      expect_perm("read_only_path");
      break;
    case Expect::root:
      expect_perm("workspace_root");
      break;
    case Expect::invalid:
      ASSERT_FALSE(r.has_value()) << "unexpected success: " << *r;
      EXPECT_EQ(r.error().type, ErrorType::invalid_input) << r.error().message;
      break;
    case Expect::not_found:
      ASSERT_FALSE(r.has_value()) << "unexpected success: " << *r;
      EXPECT_EQ(r.error().type, ErrorType::not_found) << r.error().message;
      break;
    case Expect::absent:
      ASSERT_TRUE(r.has_value()) << r.error().message;
      EXPECT_EQ(*r, "false");
      break;
    case Expect::harmless:
      break;
  }
  if (r) {
    EXPECT_EQ(r->find("SECRET"), std::string::npos);
    EXPECT_EQ(r->find("root:"), std::string::npos);
  }
  layout.expect_outside_untouched();
  // The workspace itself survives every row.
  EXPECT_TRUE(fs::is_directory(layout.ws()));
  EXPECT_EQ(cppflue::testing::read_file(layout.ws() / "a" / "b" / "f.txt"), "inside");
  EXPECT_EQ(cppflue::testing::read_file(layout.ws() / ".git" / "config"), "[core]");
  EXPECT_EQ(cppflue::testing::read_file(layout.ws() / ".cppflue" / "state.db"), "state");
}

INSTANTIATE_TEST_SUITE_P(WorkspaceTable, WorkspaceEscapeTest,
                         ::testing::Combine(::testing::Values(false, true),
                                            ::testing::ValuesIn(escape_cases())),
                         [](const ::testing::TestParamInfo<WorkspaceEscapeTest::ParamType>& info) {
                           return std::string(std::get<0>(info.param) ? "fallback_" : "openat2_") +
                                  std::get<1>(info.param).name;
                         });

TEST(WorkspaceEscapeTable, HasAtLeastThirtyRows) {
  EXPECT_GE(escape_cases().size(), 30u);
}

// ---- functional tests, run in both modes -----------------------------------------------------

class WorkspaceModeTest : public ::testing::TestWithParam<bool> {
 protected:
  Layout layout;
  Workspace ws = open_ws(layout, GetParam());
};

INSTANTIATE_TEST_SUITE_P(WorkspaceModes, WorkspaceModeTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "fallback" : "openat2";
                         });

TEST_P(WorkspaceModeTest, ToRelativeMapping) {
  const std::string root = layout.ws().string();
  auto rel = [&](std::string_view p) {
    auto r = ws.to_relative(p);
    return r ? *r : "ERR:" + r.error().message;
  };
  EXPECT_EQ(rel("/"), ".");
  EXPECT_EQ(rel(""), ".");
  EXPECT_EQ(rel("."), ".");
  EXPECT_EQ(rel("///"), ".");
  EXPECT_EQ(rel("/workspace"), ".");
  EXPECT_EQ(rel("/workspace/"), ".");
  EXPECT_EQ(rel("/workspace/a"), "a");
  EXPECT_EQ(rel("/workspace//a/./b/"), "a/b");
  EXPECT_EQ(rel(root), ".");
  EXPECT_EQ(rel(root + "/"), ".");
  EXPECT_EQ(rel(root + "/a"), "a");
  EXPECT_EQ(rel(root + "/a/b/../c"), "a/c");
  EXPECT_EQ(rel("a/b/../c"), "a/c");
  EXPECT_EQ(rel("a/.."), ".");
  EXPECT_EQ(rel("./a//b/"), "a/b");
  EXPECT_EQ(rel("~"), "~");
  EXPECT_EQ(rel("~/x"), "~/x");
  EXPECT_EQ(rel("..."), "...");
  EXPECT_EQ(ws.root(), fs::canonical(layout.ws()));
  auto e = ws.to_relative("/etc/passwd");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().type, ErrorType::permission);
  EXPECT_EQ(rule_of(e.error()), "path_escape");
  EXPECT_EQ(cppflue::get_string_or(e.error().details, "path", ""), "/etc/passwd");
  EXPECT_NE(e.error().message.find("/workspace"), std::string::npos);
  EXPECT_NE(e.error().message.find(root), std::string::npos);
}

TEST_P(WorkspaceModeTest, WriteReadRoundTripAndCreateParents) {
  ASSERT_TRUE(ws.write_file("x/y/z.txt", "hello"));
  EXPECT_EQ(*ws.read_file("x/y/z.txt"), "hello");
  EXPECT_EQ(*ws.read_file("/workspace/x/y/z.txt"), "hello");
  EXPECT_EQ(*ws.read_file((layout.ws() / "x/y/z.txt").string()), "hello");
  EXPECT_EQ(cppflue::testing::read_file(layout.ws() / "x/y/z.txt"), "hello");
  // Binary data with NULs survives.
  std::string bin("a\0b\xff", 4);
  ASSERT_TRUE(ws.write_file("bin", bin));
  EXPECT_EQ(*ws.read_file("bin"), bin);
  // Empty file.
  ASSERT_TRUE(ws.write_file("empty", ""));
  EXPECT_EQ(*ws.read_file("empty"), "");
  // Without create_parents a missing parent is not_found.
  auto r = ws.write_file("nope/f.txt", "x", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::not_found);
  EXPECT_NE(r.error().message.find("/nope"), std::string::npos);
}

TEST_P(WorkspaceModeTest, AtomicOverwriteKeepsModeAndLeavesNoTemp) {
  ASSERT_TRUE(ws.write_file("f.txt", "one"));
  ::chmod((layout.ws() / "f.txt").c_str(), 0600);
  // A reader holding the old file keeps seeing the old inode's content.
  std::ifstream old(layout.ws() / "f.txt");
  ASSERT_TRUE(ws.write_file("f.txt", "two-longer"));
  std::string old_content;
  std::getline(old, old_content);
  EXPECT_EQ(old_content, "one");
  EXPECT_EQ(*ws.read_file("f.txt"), "two-longer");
  EXPECT_EQ(fs::status(layout.ws() / "f.txt").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  for (const auto& e : fs::directory_iterator(layout.ws())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
}

TEST_P(WorkspaceModeTest, ReadErrors) {
  auto d = ws.read_file("a");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().type, ErrorType::invalid_input);
  auto m = ws.read_file("missing.txt");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().type, ErrorType::not_found);
  EXPECT_NE(m.error().message.find("/missing.txt"), std::string::npos);
  auto big = ws.read_file("a/b/f.txt", 3);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().type, ErrorType::invalid_input);
  auto w = ws.write_file("a", "x");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().type, ErrorType::invalid_input);
  auto under_file = ws.read_file("a/b/f.txt/x");
  ASSERT_FALSE(under_file);
  EXPECT_EQ(under_file.error().type, ErrorType::not_found);
}

TEST_P(WorkspaceModeTest, SymlinksInsideAreFollowedForReading) {
  fs::create_symlink("b/f.txt", layout.ws() / "a" / "rel_link");
  fs::create_directory_symlink("../a/b", layout.ws() / "sub" / "to_b");
  EXPECT_EQ(*ws.read_file("a/rel_link"), "inside");
  EXPECT_EQ(*ws.read_file("sub/to_b/f.txt"), "inside");
  auto st = ws.stat("a/rel_link");
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(st->is_symlink);
  EXPECT_TRUE(st->is_file);
  EXPECT_EQ(st->size, 6u);
  // Writing through an inside link writes the target.
  ASSERT_TRUE(ws.write_file("a/rel_link", "changed"));
  EXPECT_EQ(cppflue::testing::read_file(layout.ws() / "a/b/f.txt"), "changed");
  EXPECT_TRUE(fs::is_symlink(layout.ws() / "a" / "rel_link"));
  // Absolute symlinks are refused even when they point inside (as with RESOLVE_BENEATH).
  fs::create_symlink(layout.ws() / "a/b/f.txt", layout.ws() / "abs_link");
  auto r = ws.read_file("abs_link");
  ASSERT_FALSE(r);
  EXPECT_EQ(rule_of(r.error()), "path_escape");
  // Dangling link: exists() is false, stat() reports the link.
  fs::create_symlink("nowhere", layout.ws() / "dangling");
  EXPECT_FALSE(*ws.exists("dangling"));
  auto ds = ws.stat("dangling");
  ASSERT_TRUE(ds);
  EXPECT_TRUE(ds->is_symlink);
  EXPECT_FALSE(ds->is_file);
}

TEST_P(WorkspaceModeTest, StatFields) {
  ASSERT_TRUE(ws.write_file("s/file.txt", "12345"));
  auto before = std::chrono::system_clock::now() - std::chrono::minutes(1);
  auto f = ws.stat("/workspace/s/file.txt");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->path, "/s/file.txt");
  EXPECT_TRUE(f->is_file);
  EXPECT_FALSE(f->is_dir);
  EXPECT_FALSE(f->is_symlink);
  EXPECT_EQ(f->size, 5u);
  EXPECT_GT(f->mtime, before);
  EXPECT_LT(f->mtime, std::chrono::system_clock::now() + std::chrono::minutes(1));
  auto d = ws.stat("s");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->path, "/s");
  EXPECT_TRUE(d->is_dir);
  EXPECT_FALSE(d->is_file);
  auto root = ws.stat("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->path, "/");
  EXPECT_TRUE(root->is_dir);
  auto missing = ws.stat("s/none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type, ErrorType::not_found);
}

TEST_P(WorkspaceModeTest, ExistsAndListSorted) {
  EXPECT_TRUE(*ws.exists("a/b/f.txt"));
  EXPECT_TRUE(*ws.exists("/"));
  EXPECT_FALSE(*ws.exists("a/b/none"));
  EXPECT_FALSE(*ws.exists("a/b/f.txt/x"));
  EXPECT_FALSE(*ws.exists(".cppflue"));
  ASSERT_TRUE(ws.mkdir("l", false));
  ASSERT_TRUE(ws.write_file("l/zeta", "z"));
  ASSERT_TRUE(ws.write_file("l/Alpha", "a"));
  ASSERT_TRUE(ws.mkdir("l/mid", false));
  ASSERT_TRUE(ws.write_file("l/beta", "b"));
  fs::create_symlink("beta", layout.ws() / "l" / "link");
  auto r = ws.list_dir("l");
  ASSERT_TRUE(r) << r.error().message;
  std::vector<std::string> names;
  for (const auto& e : *r) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Alpha", "beta", "link", "mid", "zeta"}));
  EXPECT_TRUE((*r)[3].is_dir);
  EXPECT_FALSE((*r)[1].is_dir);
  EXPECT_TRUE((*r)[2].is_symlink);
  // The root listing hides .cppflue but shows .git.
  auto top = ws.list_dir("/");
  ASSERT_TRUE(top);
  bool saw_git = false;
  for (const auto& e : *top) {
    EXPECT_NE(e.name, ".cppflue");
    saw_git = saw_git || e.name == ".git";
  }
  EXPECT_TRUE(saw_git);
  auto nd = ws.list_dir("l/beta");
  ASSERT_FALSE(nd);
  EXPECT_EQ(nd.error().type, ErrorType::invalid_input);
  auto nf = ws.list_dir("nothing");
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error().type, ErrorType::not_found);
  // Reading .git is allowed (read-only, not hidden).
  EXPECT_EQ(*ws.read_file(".git/config"), "[core]");
}

TEST_P(WorkspaceModeTest, MkdirRecursiveAndNot) {
  ASSERT_TRUE(ws.mkdir("m1/m2/m3", true));
  EXPECT_TRUE(fs::is_directory(layout.ws() / "m1/m2/m3"));
  ASSERT_TRUE(ws.mkdir("m1/m2/m3", true));  // idempotent
  ASSERT_TRUE(ws.mkdir("/", true));
  auto again = ws.mkdir("m1", false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().type, ErrorType::invalid_input);
  auto no_parent = ws.mkdir("n1/n2", false);
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error().type, ErrorType::not_found);
  ASSERT_TRUE(ws.mkdir("n1", false));
  // mkdir -p through an inside symlink creates inside the target.
  ASSERT_TRUE(ws.mkdir("sub_link_target", false));
  fs::create_directory_symlink("sub_link_target", layout.ws() / "sl");
  ASSERT_TRUE(ws.mkdir("sl/deep/er", true));
  EXPECT_TRUE(fs::is_directory(layout.ws() / "sub_link_target/deep/er"));
  // mkdir -p over a file fails cleanly.
  auto over_file = ws.mkdir("a/b/f.txt/x", true);
  ASSERT_FALSE(over_file);
}

TEST_P(WorkspaceModeTest, RemoveRecursiveDoesNotFollowSymlinks) {
  ASSERT_TRUE(ws.write_file("tree/a/1.txt", "1"));
  ASSERT_TRUE(ws.write_file("tree/a/b/2.txt", "2"));
  ASSERT_TRUE(ws.mkdir("tree/empty", false));
  fs::create_directory_symlink(layout.outside(), layout.ws() / "tree" / "a" / "to_outside");
  fs::create_directory_symlink(layout.outside() / "dir", layout.ws() / "tree" / "to_dir");
  fs::create_symlink(layout.outside() / "secret.txt", layout.ws() / "tree" / "to_secret");
  auto not_rec = ws.remove("tree", false, false);
  ASSERT_FALSE(not_rec);
  EXPECT_EQ(not_rec.error().type, ErrorType::invalid_input);
  ASSERT_TRUE(ws.remove("tree", true, false));
  EXPECT_FALSE(fs::exists(fs::symlink_status(layout.ws() / "tree")));
  layout.expect_outside_untouched();
  // Files, empty dirs, force.
  ASSERT_TRUE(ws.write_file("f", "x"));
  ASSERT_TRUE(ws.remove("f", false, false));
  EXPECT_FALSE(fs::exists(layout.ws() / "f"));
  ASSERT_TRUE(ws.mkdir("e", false));
  ASSERT_TRUE(ws.remove("e", false, false));
  auto missing = ws.remove("e", false, false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type, ErrorType::not_found);
  EXPECT_TRUE(ws.remove("e", false, true));
  EXPECT_TRUE(ws.remove("no/such/parent", true, true));
}

// A directory component is swapped for a symlink to the outside after the lexical check (and,
// in the race below, continuously while operations run): nothing outside is ever read or written.
TEST_P(WorkspaceModeTest, SymlinkSwappedAfterLexicalCheck) {
  ASSERT_TRUE(ws.write_file("swap/secret.txt", "inside-secret"));
  auto rel = ws.to_relative("swap/secret.txt");
  ASSERT_TRUE(rel);
  fs::remove_all(layout.ws() / "swap");
  fs::create_directory_symlink(layout.outside(), layout.ws() / "swap");
  auto r = ws.read_file(*rel);
  ASSERT_FALSE(r);
  EXPECT_EQ(rule_of(r.error()), "path_escape");
  EXPECT_FALSE(ws.write_file(*rel, "PWNED"));
  EXPECT_FALSE(ws.remove(*rel, false, false));
  layout.expect_outside_untouched();
}

TEST_P(WorkspaceModeTest, SymlinkSwapRace) {
  const fs::path dir = layout.ws() / "race";
  const fs::path tmp_link = layout.ws() / "race_link.tmp";
  const fs::path tmp_dir = layout.ws() / "race_dir.tmp";
  cppflue::testing::write_file(dir / "secret.txt", "inside");
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    // Alternate "race" between a real directory and a symlink to the outside, atomically.
    std::error_code ec;
    for (int i = 0; !stop.load(); ++i) {
      if (i % 2 == 0) {
        fs::remove(tmp_link, ec);
        fs::create_directory_symlink(layout.outside(), tmp_link, ec);
        fs::rename(dir, tmp_dir, ec);
        fs::rename(tmp_link, dir, ec);
      } else {
        fs::rename(dir, tmp_link, ec);
        fs::rename(tmp_dir, dir, ec);
      }
    }
  });
  int inside_reads = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = ws.read_file("race/secret.txt");
    if (r) {
      EXPECT_EQ(*r, "inside");
      ++inside_reads;
    }
    auto w = ws.write_file("race/pwned.txt", "PWNED", false);
    (void)w;
    auto s = ws.stat("race/secret.txt");
    if (s) {
      EXPECT_EQ(s->size, 6u);
    }
    (void)ws.remove("race/pwned.txt", false, true);
  }
  stop = true;
  swapper.join();
  layout.expect_outside_untouched();
  (void)inside_reads;
}

// A hard link is a real inode in the workspace: whoever created it already had access to the
// file outside, so reading it through the workspace is allowed. The API has no way to create one.
TEST_P(WorkspaceModeTest, HardLinkToOutsideFileIsReadable) {
  std::error_code ec;
  fs::create_hard_link(layout.outside() / "secret.txt", layout.ws() / "hard", ec);
  if (ec) GTEST_SKIP() << "cannot create a hard link here: " << ec.message();
  EXPECT_EQ(*ws.read_file("hard"), "SECRET");
  // Overwriting replaces the directory entry atomically; the outside inode keeps its content.
  ASSERT_TRUE(ws.write_file("hard", "new"));
  EXPECT_EQ(*ws.read_file("hard"), "new");
  EXPECT_EQ(cppflue::testing::read_file(layout.outside() / "secret.txt"), "SECRET");
}

// ---- open() -------------------------------------------------------------------------------------

TEST(WorkspaceOpen, Errors) {
  TempDir tmp;
  auto missing = Workspace::open(tmp.path() / "none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type, ErrorType::not_found);
  cppflue::testing::write_file(tmp.path() / "file", "x");
  auto file = Workspace::open(tmp.path() / "file");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().type, ErrorType::invalid_input);
  WorkspaceOptions bad;
  bad.hidden = {"../x"};
  auto b = Workspace::open(tmp.path(), bad);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().type, ErrorType::invalid_input);
}

TEST(WorkspaceOpen, RootReachedThroughSymlinkMapsBothSpellings) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "real");
  fs::create_directory_symlink("real", tmp.path() / "alias");
  auto ws = Workspace::open(tmp.path() / "alias");
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->root(), fs::canonical(tmp.path() / "real"));
  EXPECT_EQ(*ws->to_relative((tmp.path() / "alias" / "x").string()), "x");
  EXPECT_EQ(*ws->to_relative((tmp.path() / "real" / "x").string()), "x");
  // Copies share the root fd and stay usable after the original is gone.
  std::optional<Workspace> copy;
  {
    Workspace w2 = *ws;
    copy = w2;
  }
  ASSERT_TRUE(copy->write_file("f", "v"));
  EXPECT_EQ(*ws->read_file("f"), "v");
}

TEST(WorkspaceOpen, ReadOnlyRootRefusesAllWrites) {
  TempDir tmp;
  WorkspaceOptions o;
  o.read_only = {"."};
  auto ws = Workspace::open(tmp.path(), o);
  ASSERT_TRUE(ws);
  auto w = ws->write_file("f", "x");
  ASSERT_FALSE(w);
  EXPECT_EQ(rule_of(w.error()), "read_only_path");
  EXPECT_FALSE(ws->mkdir("d", true));
  EXPECT_TRUE(*ws->exists("/"));
}

}  // namespace
