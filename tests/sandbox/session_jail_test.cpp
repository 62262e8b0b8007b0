// SPDX-License-Identifier: Apache-2.0
// One jail per session (src/sandbox/jail_session.hpp): commands share a jail that is set up once,
// and nothing of one command — processes, /tmp, System V IPC, environment — is there for the
// next; deadlines, cancellation and a command that attacks the jail's resident helper end the
// jail, and the next command gets a new one.
#include "sandbox/jail_session.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "cppflue/core/runtime.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

class SessionJailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!jail_status().available) GTEST_SKIP() << jail_status().reason;
    give_to_jail_user(dir_.path());
    spec_.workspace = fs::canonical(dir_.path());
    jail_ = detail::SessionJail::create(spec_, 60s);
  }

  std::future<Result<SubprocessResult>> start(const std::string& script,
                                              std::chrono::milliseconds timeout = 20s,
                                              CancelToken cancel = {}) {
    SubprocessOptions o;
    o.argv = {"/bin/sh", "-c", script};
    o.env = {"PATH=/usr/bin:/bin", "HOME=" + spec_.workspace.string()};
    o.cwd = spec_.workspace.string();
    o.timeout = timeout;
    return boost::asio::co_spawn(Runtime::shared()->executor(),
                                 jail_->run(std::move(o), std::move(cancel)),
                                 boost::asio::use_future);
  }

  SubprocessResult run(const std::string& script, std::chrono::milliseconds timeout = 20s) {
    auto r = start(script, timeout).get();
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : SubprocessResult{};
  }

  TempDir dir_;
  JailSpec spec_;
  std::shared_ptr<detail::SessionJail> jail_;
};

TEST_F(SessionJailTest, CommandsShareOneJailWithTheirOwnEnvironment) {
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "echo \"A=$A B=$B\"; pwd"};
  o.env = {"PATH=/usr/bin:/bin", "A=1"};
  o.cwd = spec_.workspace.string();
  fs::create_directories(dir_.path() / "sub");
  give_to_jail_user(dir_.path() / "sub");
  auto first = boost::asio::co_spawn(Runtime::shared()->executor(), jail_->run(o, {}),
                                     boost::asio::use_future)
                   .get();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->stdout_text, "A=1 B=\n" + spec_.workspace.string() + "\n");
  o.env = {"PATH=/usr/bin:/bin", "B=2"};
  o.cwd = (spec_.workspace / "sub").string();
  o.stdin_data = "from stdin\n";
  o.argv = {"/bin/sh", "-c", "echo \"A=$A B=$B\"; pwd; cat"};
  auto second = boost::asio::co_spawn(Runtime::shared()->executor(), jail_->run(o, {}),
                                      boost::asio::use_future)
                    .get();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->stdout_text,
            "A= B=2\n" + (spec_.workspace / "sub").string() + "\nfrom stdin\n");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(run("exit " + std::to_string(i)).exit_code, i);
  EXPECT_EQ(jail_->jails_started(), 1);
  EXPECT_TRUE(jail_->holds_jail());
}

TEST_F(SessionJailTest, TheWorkspaceKeepsWhatCommandsWrite) {
  // The workspace is under /tmp here (bound inside the jail's own /tmp, which is emptied after
  // every command): it must survive that.
  ASSERT_EQ(run("echo kept > file && mkdir -p d/e && echo deep > d/e/f").exit_code, 0);
  auto r = run("cat file d/e/f");
  EXPECT_EQ(r.stdout_text, "kept\ndeep\n") << r.stderr_text;
  EXPECT_TRUE(fs::exists(dir_.path() / "d" / "e" / "f"));
  EXPECT_EQ(jail_->jails_started(), 1);
}

// Each row: what a command leaves behind, and a check the next command runs (exit 0: clean).
struct Leftover {
  const char* name;
  const char* leave;
  const char* check;
};

TEST_F(SessionJailTest, NothingOfACommandIsLeftForTheNext) {
  // Background processes let go of the output pipes (> /dev/null): otherwise the drain would
  // catch them and the whole jail would go, which is not what is tested here.
  const Leftover rows[] = {
      {"background process", "sleep 600 >/dev/null 2>&1 & echo $! > pid",
       "! kill -0 $(cat pid) 2>/dev/null"},
      {"new session", "setsid sleep 600 >/dev/null 2>&1 & echo $! > pid",
       "! kill -0 $(cat pid) 2>/dev/null"},
      {"double fork", "(sh -c 'sleep 600 >/dev/null 2>&1 & echo $! > pid' &) ; sleep 0.1",
       "! kill -0 $(cat pid) 2>/dev/null"},
      {"stopped process", "sleep 600 >/dev/null 2>&1 & echo $! > pid; kill -STOP $!",
       "! kill -0 $(cat pid) 2>/dev/null"},
      {"ignores SIGTERM", "sh -c 'trap \"\" TERM HUP; sleep 600' >/dev/null 2>&1 & echo $! > pid",
       "! kill -0 $(cat pid) 2>/dev/null"},
      {"file in /tmp", "echo x > /tmp/f", "test ! -e /tmp/f"},
      {"file in /var/tmp", "echo x > /var/tmp/g", "test ! -e /var/tmp/g && test ! -e /tmp/g"},
      {"tree in /tmp", "mkdir -p /tmp/a/b/c && touch /tmp/a/b/c/x && chmod 000 /tmp/a/b",
       "test ! -e /tmp/a"},
      {"symlink out of /tmp", "ln -s \"$HOME\" /tmp/ws && ln -s / /tmp/root",
       "test ! -e /tmp/ws && test ! -L /tmp/root && test -e \"$HOME/pid\""},
      {"fifo and socket",
       "mkfifo /tmp/p && python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); "
       "s.bind(\"/tmp/s\")' 2>/dev/null; true",
       "test ! -e /tmp/p && test ! -e /tmp/s"},
      {"hidden file", "touch /tmp/.hidden", "test -z \"$(ls -A /tmp | grep hidden)\""},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto left = run(row.leave);
    EXPECT_EQ(left.exit_code, 0) << left.stderr_text;
    auto check = run(row.check);
    EXPECT_EQ(check.exit_code, 0) << check.stdout_text << check.stderr_text;
    EXPECT_EQ(jail_->jails_started(), 1);
  }
  // None of that needed a new jail.
  EXPECT_EQ(jail_->jails_started(), 1);
}

TEST_F(SessionJailTest, SystemVIpcObjectsCostTheJail) {
  if (::access("/usr/bin/ipcmk", X_OK) != 0) GTEST_SKIP() << "no ipcmk (util-linux)";
  ASSERT_EQ(run("true").exit_code, 0);  // the session's first jail
  for (const char* kind : {"-M 4096", "-S 1", "-Q"}) {
    SCOPED_TRACE(kind);
    int before = jail_->jails_started();
    auto made = run(std::string("ipcmk ") + kind);
    EXPECT_EQ(made.exit_code, 0) << made.stderr_text;
    // The helper reported it: the jail was discarded, and the next command has a fresh one.
    EXPECT_FALSE(jail_->holds_jail());
    auto r = run("ipcs -m -s -q | grep -c '^0x' || true");
    EXPECT_EQ(r.stdout_text, "0\n") << r.stderr_text;
    EXPECT_EQ(jail_->jails_started(), before + 1);
  }
}

TEST_F(SessionJailTest, TheResidentHelperIsOutOfReach) {
  // The command's parent is the helper: not dumpable, so its descriptors, memory and
  // environment are closed to the command (same uid); ptrace is refused by seccomp.
  auto r = run("ls /proc/$PPID/fd; cat /proc/$PPID/environ; head -c1 /proc/$PPID/mem");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.stdout_text.empty()) << r.stdout_text;
  // The command's own descriptors are 0-2 only (the control socket is not among them).
  r = run("ls /proc/self/fd | sort -n | tr '\\n' ' '");
  EXPECT_EQ(r.stdout_text, "0 1 2 3 ") << r.stderr_text;  // 3: ls's own directory
  EXPECT_EQ(jail_->jails_started(), 1);
}

TEST_F(SessionJailTest, ACommandThatKillsTheHelperEndsOnlyItsJail) {
  ASSERT_EQ(run("true").exit_code, 0);  // the session's first jail
  const char* attacks[] = {"kill -9 $PPID; sleep 1", "kill -9 -1", "kill -STOP 1; kill -9 $PPID"};
  for (const char* attack : attacks) {
    SCOPED_TRACE(attack);
    int before = jail_->jails_started();
    auto t0 = std::chrono::steady_clock::now();
    auto r = start(attack).get();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_NE(r->exit_code, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    auto next = run("echo alive");
    EXPECT_EQ(next.stdout_text, "alive\n") << next.stderr_text;
    EXPECT_EQ(jail_->jails_started(), before + 1);
  }
}

TEST_F(SessionJailTest, AStoppedHelperCannotOutliveTheDeadline) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run("kill -STOP $PPID; sleep 600", 500ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(run("echo alive").stdout_text, "alive\n");
  EXPECT_EQ(jail_->jails_started(), 2);
}

TEST_F(SessionJailTest, DeadlineAndCancellationEndTheJail) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run("sleep 600", 300ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_FALSE(jail_->holds_jail());
  CancelSource cancel;
  auto pending = start("sleep 600", 60s, cancel.token());
  std::this_thread::sleep_for(200ms);
  t0 = std::chrono::steady_clock::now();
  cancel.cancel();
  auto c = pending.get();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().type, ErrorType::cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(run("echo alive").stdout_text, "alive\n");
  EXPECT_EQ(jail_->jails_started(), 3);
}

TEST_F(SessionJailTest, AConcurrentCommandGetsAJailOfItsOwn) {
  auto a = start("sleep 0.5; echo a");
  std::this_thread::sleep_for(100ms);
  auto b = start("echo b");
  auto rb = b.get();
  auto ra = a.get();
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->stdout_text, "a\n");
  EXPECT_EQ(rb->stdout_text, "b\n");
  EXPECT_EQ(jail_->jails_started(), 1);
}

TEST_F(SessionJailTest, AnIdleJailIsReaped) {
  jail_ = detail::SessionJail::create(spec_, 300ms);
  EXPECT_EQ(run("true").exit_code, 0);
  EXPECT_TRUE(jail_->holds_jail());
  for (int i = 0; i < 50 && jail_->holds_jail(); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(jail_->holds_jail());
  EXPECT_EQ(run("echo again").stdout_text, "again\n");
  EXPECT_EQ(jail_->jails_started(), 2);
}

// The helper empties /tmp between commands: a workspace that is /tmp or /var/tmp, or holds them,
// never gets a shared jail (every command a fresh one, as before).
TEST(SessionJailRefusal, WorkspacesAtOrAboveTmpGetAJailPerCommand) {
  if (!jail_status().available) GTEST_SKIP() << jail_status().reason;
  if (jail_status().landlock_abi <= 0) {
    JailSpec spec;
    spec.workspace = "/srv/project";
    EXPECT_FALSE(detail::shared_jail_refusal(spec).empty()) << "no Landlock: no shared jail";
    GTEST_SKIP() << "no Landlock";
  }
  for (const char* ws : {"/tmp", "/tmp/", "/var/tmp", "/var", "/", "/tmp/../tmp", "/var/./tmp"}) {
    JailSpec spec;
    spec.workspace = ws;
    EXPECT_FALSE(detail::shared_jail_refusal(spec).empty()) << ws;
  }
  for (const char* ws : {"/tmp/project", "/var/tmp/x/y", "/srv/tmp", "/home/tmp"}) {
    JailSpec spec;
    spec.workspace = ws;
    EXPECT_EQ(detail::shared_jail_refusal(spec), "") << ws;
  }
  // And in use: a command with the workspace at /tmp leaves the host's /tmp alone.
  TempDir marker_dir;  // under /tmp
  write_file(marker_dir.path() / "keep", "x");
  JailSpec spec;
  spec.workspace = "/tmp";
  auto jail = detail::SessionJail::create(spec, 60s);
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "true"};
  o.env = {"PATH=/usr/bin:/bin"};
  o.cwd = "/tmp";
  for (int i = 0; i < 2; ++i) {
    auto r = boost::asio::co_spawn(Runtime::shared()->executor(), jail->run(o, {}),
                                   boost::asio::use_future)
                 .get();
    ASSERT_TRUE(r) << r.error().message;
  }
  EXPECT_EQ(jail->jails_started(), 0);
  EXPECT_TRUE(fs::exists(marker_dir.path() / "keep"));
}

// What the jail hides or binds read-only is bound once: when the host replaces such an entry
// (or creates one that was missing) between commands, the next command gets a new jail that
// binds what is there now.
TEST_F(SessionJailTest, ReplacedProtectedEntriesGetANewJail) {
  write_file(dir_.path() / ".env", "SECRET=old\n");
  write_file(dir_.path() / "AGENTS.md", "rules\n");
  jail_ = nullptr;
  spec_.hidden = {".env"};
  spec_.read_only = {"AGENTS.md", ".git"};
  jail_ = detail::SessionJail::create(spec_, 60s);
  auto first = run("cat .env; echo more >> AGENTS.md; mkdir -p .git/hooks");
  EXPECT_FALSE(contains(first.stdout_text, "SECRET")) << first.stdout_text;
  EXPECT_EQ(jail_->jails_started(), 1);
  // .git did not exist: the command could make it (the sandbox's own check moves a protected
  // path a command creates aside; here only the jail is under test).
  fs::remove_all(dir_.path() / ".git");
  // The host: an atomic save of .env and AGENTS.md, and a new .git.
  write_file(dir_.path() / ".env.new", "SECRET=new\n");
  fs::rename(dir_.path() / ".env.new", dir_.path() / ".env");
  write_file(dir_.path() / "AGENTS.md.new", "new rules\n");
  fs::rename(dir_.path() / "AGENTS.md.new", dir_.path() / "AGENTS.md");
  fs::create_directories(dir_.path() / ".git");
  give_to_jail_user(dir_.path() / ".git");
  auto second = run("cat .env; echo more >> AGENTS.md; mkdir .git/hooks; echo done");
  EXPECT_FALSE(contains(second.stdout_text, "SECRET")) << second.stdout_text;
  EXPECT_EQ(read_file(dir_.path() / "AGENTS.md"), "new rules\n");
  EXPECT_FALSE(fs::exists(dir_.path() / ".git" / "hooks"));
  EXPECT_EQ(jail_->jails_started(), 2);
  // Nothing changed since: the jail is kept.
  run("true");
  EXPECT_EQ(jail_->jails_started(), 2);
}

// A command shares the helper's uid, so it can change the helper's limits and scheduling
// (prlimit --pid, renice, taskset, ionice); every later command would inherit them. The helper
// notices and the jail is discarded.
TEST_F(SessionJailTest, ChangesToTheHelpersAttributesCostTheJail) {
  ASSERT_EQ(run("true").exit_code, 0);
  const char* attacks[] = {
      "prlimit --pid $PPID --nofile=64:64",
      "prlimit --pid $PPID --fsize=100:100",
      "prlimit --pid $PPID --nproc=1:1",
      "renice -n 10 -p $PPID >/dev/null",
      "ionice -c 3 -p $PPID",
  };
  for (const char* attack : attacks) {
    SCOPED_TRACE(attack);
    int before = jail_->jails_started();
    auto r = run(attack);
    if (r.exit_code != 0) {
      GTEST_LOG_(INFO) << "not possible here: " << r.stderr_text;
      continue;
    }
    EXPECT_FALSE(jail_->holds_jail());
    auto next = run("head -c 1000 /dev/zero > big && wc -c < big && ulimit -n");
    EXPECT_EQ(next.exit_code, 0) << next.stderr_text;
    EXPECT_TRUE(contains(next.stdout_text, "1000\n")) << next.stdout_text;
    EXPECT_EQ(jail_->jails_started(), before + 1);
  }
}

// POSIX message queues and the metadata of /tmp itself outlive the processes: reset, or the
// jail is discarded.
TEST_F(SessionJailTest, MessageQueuesAndTmpMetadataDoNotCarryOver) {
  ASSERT_EQ(run("true").exit_code, 0);
  auto mode = run("chmod 0700 /tmp && stat -c %a /tmp");
  EXPECT_EQ(mode.stdout_text, "700\n");
  EXPECT_EQ(run("stat -c %a /tmp").stdout_text, "1777\n");
  EXPECT_EQ(jail_->jails_started(), 1);
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no python3";
  auto queue =
      run("python3 -c \"import ctypes, os; l = ctypes.CDLL('librt.so.1', use_errno=True); "
          "print(l.mq_open(b'/leak', os.O_CREAT | os.O_RDONLY, 0o600, None))\"");
  EXPECT_EQ(queue.exit_code, 0) << queue.stderr_text;
  if (!contains(queue.stdout_text, "-1")) {
    EXPECT_FALSE(jail_->holds_jail()) << "a message queue was left";
    EXPECT_EQ(run("ls /dev/mqueue | wc -l").stdout_text, "0\n");
  }
  int before = jail_->jails_started();
  auto xattr = run("python3 -c \"import os; os.setxattr('/tmp', 'user.leak', b'x')\"");
  if (xattr.exit_code == 0) {
    EXPECT_FALSE(jail_->holds_jail()) << "an extended attribute on /tmp was left";
    auto next = run("python3 -c \"import os; print(os.listxattr('/tmp'))\"");
    EXPECT_FALSE(contains(next.stdout_text, "user.leak")) << next.stdout_text;
    EXPECT_EQ(jail_->jails_started(), before + 1);
  }
}

TEST_F(SessionJailTest, OutputCapsAndExitStatusesAreThoseOfAFreshJail) {
  auto r = run("yes | head -c 200000; exit 3");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(r.truncated);
  r = run("kill -TERM $$");
  EXPECT_EQ(r.signal, 15);
  EXPECT_EQ(r.exit_code, 128 + 15);
  r = run("exec /nonexistent");
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(jail_->jails_started(), 1);
}

}  // namespace
