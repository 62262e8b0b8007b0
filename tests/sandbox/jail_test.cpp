// SPDX-License-Identifier: Apache-2.0
// The jail's command line, its refusals, the Landlock helper on its own, and the names of
// session workspaces. (Escape attempts through agents are in tests/harness/sandbox_tools_test.)
#include "cppflue/sandbox/jail.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>

#include "cppflue/core/runtime.hpp"
#include "cppflue/sandbox/sandbox.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
namespace fs = std::filesystem;

namespace {

bool has_sequence(const std::vector<std::string>& args, std::vector<std::string> seq) {
  return std::search(args.begin(), args.end(), seq.begin(), seq.end()) != args.end();
}

Result<SubprocessResult> run_sync(const JailSpec& spec, SubprocessOptions o) {
  auto rt = Runtime::shared();
  return boost::asio::co_spawn(rt->executor(), run_jailed(spec, std::move(o), CancelToken{}),
                               boost::asio::use_future)
      .get();
}

TEST(Jail, ArgumentsIsolateByDefault) {
  TempDir dir;
  fs::create_directories(dir.path() / ".git");
  fs::create_directories(dir.path() / ".cppflue");
  JailSpec spec;
  spec.workspace = fs::canonical(dir.path());
  spec.hidden = {".cppflue"};
  spec.read_only = {".git"};
  auto args = jail_arguments(spec, "");
  std::string ws = spec.workspace.string();
  for (const char* flag : {"--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent",
                           "--new-session", "--clearenv"}) {
    EXPECT_NE(std::find(args.begin(), args.end(), flag), args.end()) << flag;
  }
  EXPECT_TRUE(has_sequence(args, {"--cap-drop", "ALL"}));
  EXPECT_TRUE(has_sequence(args, {"--tmpfs", ws + "/.cppflue", "--remount-ro", ws + "/.cppflue"}));
  if (::geteuid() == 0) {
    // Root: the launch step binds the workspace by descriptor, re-binds .git read-only and drops
    // to the jail's uid before bwrap starts.
    EXPECT_EQ(args[1], "--launch");
    EXPECT_TRUE(has_sequence(args, {"--uid", "65534", "--gid", "65534", "--ws-fd", "6"}));
    EXPECT_TRUE(has_sequence(args, {"--ro", ".git"}));
    EXPECT_TRUE(has_sequence(args, {"--bind", "/tmp/cppflue/ws", ws}));
    EXPECT_TRUE(has_sequence(args, {"--bind", "/tmp/cppflue/ws", "/workspace"}));
  } else {
    EXPECT_TRUE(has_sequence(args, {"--bind-fd", "6", ws}));
    EXPECT_TRUE(has_sequence(args, {"--bind-fd", "7", "/workspace"}));
    EXPECT_TRUE(has_sequence(args, {"--ro-bind-fd", "8", ws + "/.git"}));
    EXPECT_TRUE(has_sequence(args, {"--ro-bind-fd", "9", "/workspace/.git"}));
  }
  // The command and its environment travel through a descriptor, never on a command line.
  EXPECT_TRUE(has_sequence(args, {"--exec-fd", "5"}));
  EXPECT_TRUE(has_sequence(args, {"--ro-bind", "/etc", "/etc"}));
  EXPECT_TRUE(has_sequence(args, {"--remount-ro", "/"}));
  EXPECT_EQ(std::find(args.begin(), args.end(), "/home"), args.end());
  EXPECT_EQ(std::find(args.begin(), args.end(), "/root"), args.end());
  // Everything an unprivileged user could not read in /etc is masked.
  struct stat st {};
  if (::stat("/etc/shadow", &st) == 0 && (st.st_mode & S_IROTH) == 0) {
    EXPECT_TRUE(has_sequence(args, {"--ro-bind", "/dev/null", "/etc/shadow"}));
  }
  spec.network = true;
  auto net = jail_arguments(spec, "");
  EXPECT_EQ(std::find(net.begin(), net.end(), "--unshare-net"), net.end());
}

TEST(Jail, StatusExplainsItself) {
  const auto& st = jail_status();
  if (st.available) {
    EXPECT_EQ(st.summary().rfind("jail (bubblewrap, seccomp", 0), 0u) << st.summary();
    EXPECT_TRUE(st.reason.empty());
  } else {
    EXPECT_FALSE(st.reason.empty());
    EXPECT_EQ(st.summary().rfind("unavailable: ", 0), 0u);
  }
}

TEST(Jail, WorkingDirectoryOutsideTheWorkspaceIsRefused) {
  if (!jail_status().available) GTEST_SKIP() << jail_status().reason;
  TempDir dir;
  JailSpec spec;
  spec.workspace = fs::canonical(dir.path());
  SubprocessOptions o;
  o.argv = {"/bin/true"};
  o.cwd = "/etc";
  auto r = run_sync(spec, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  o.cwd = (spec.workspace / ".." / "x").string();
  EXPECT_FALSE(run_sync(spec, o));
}

TEST(Jail, RunsACommandWithTheGivenEnvironmentOnly) {
  if (!jail_status().available) GTEST_SKIP() << jail_status().reason;
  TempDir dir;
  give_to_jail_user(dir.path());
  JailSpec spec;
  spec.workspace = fs::canonical(dir.path());
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "echo $A; env | wc -l; hostname; touch made"};
  o.env = {"A=1", "PATH=/usr/bin:/bin"};
  auto r = run_sync(spec, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 0) << r->stderr_text;
  EXPECT_EQ(r->stdout_text.substr(0, 2), "1\n");
  EXPECT_NE(r->stdout_text.find("cppflue"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "made"));
}

TEST(Jail, LandlockHelperConfinesWritesOnItsOwn) {
  const auto& st = jail_status();
  if (st.helper.empty() || st.landlock_abi <= 0) GTEST_SKIP() << "no helper or no Landlock";
  TempDir dir;
  fs::create_directories(dir.path() / "rw");
  fs::create_directories(dir.path() / "ro");
  SubprocessOptions o;
  o.argv = {st.helper, "--rw", (dir.path() / "rw").string(),       "--",
            "/bin/sh", "-c",   "touch rw/ok; touch ro/no; echo $?"};
  o.cwd = dir.path().string();
  auto rt = Runtime::shared();
  auto r = boost::asio::co_spawn(rt->executor(), run_subprocess(o, CancelToken{}),
                                 boost::asio::use_future)
               .get();
  ASSERT_TRUE(r);
  EXPECT_TRUE(fs::exists(dir.path() / "rw" / "ok"));
  EXPECT_FALSE(fs::exists(dir.path() / "ro" / "no"));
  EXPECT_NE(r->stderr_text.find("Permission denied"), std::string::npos) << r->stderr_text;
  // Bad usage is reported, not run.
  o.argv = {st.helper, "--bogus", "--", "/bin/true"};
  r = boost::asio::co_spawn(rt->executor(), run_subprocess(o, CancelToken{}),
                            boost::asio::use_future)
          .get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 125);
  EXPECT_NE(r->stderr_text.find("unknown argument"), std::string::npos);
}

TEST(SandboxNames, SessionDirectoriesAreSafe) {
  EXPECT_EQ(sandbox_directory_name("fix-123"), "fix-123");
  EXPECT_EQ(sandbox_directory_name("a.b_c"), "a.b_c");
  for (const std::string& id : std::vector<std::string>{"..", ".", "../../etc", "a/b",
                                                        std::string(200, 'x'), "sp ace", "é"}) {
    std::string name = sandbox_directory_name(id);
    EXPECT_EQ(name.find('/'), std::string::npos) << id;
    EXPECT_NE(name, "..");
    EXPECT_NE(name, ".");
    EXPECT_LE(name.size(), 80u);
    EXPECT_NE(name, sandbox_directory_name(id + "x")) << "distinct ids, distinct folders";
  }
  EXPECT_EQ(sandbox_directory_name("a/b"), sandbox_directory_name("a/b"));
}

}  // namespace
