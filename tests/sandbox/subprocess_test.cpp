// SPDX-License-Identifier: Apache-2.0
// Tests of run_subprocess: exit codes, pipes, environment, limits, timeouts, cancellation and
// the cleanup of process groups.
#include "cppflue/sandbox/subprocess.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>

#include "cppflue/core/runtime.hpp"
#include "support/test_util.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace cppflue {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> base_env() {
  return {"PATH=/usr/bin:/bin"};
}

SubprocessOptions opts(std::vector<std::string> argv) {
  SubprocessOptions o;
  o.argv = std::move(argv);
  o.env = base_env();
  return o;
}

SubprocessOptions sh(const std::string& script) {
  return opts({"sh", "-c", script});
}

class SubprocessTest : public ::testing::Test {
 protected:
  Result<SubprocessResult> run(SubprocessOptions o, CancelToken cancel = {}) {
    auto coro = [o = std::move(o), cancel]() -> asio::awaitable<Result<SubprocessResult>> {
      co_return co_await run_subprocess(o, cancel);
    };
    return asio::co_spawn(rt_.executor(), coro, asio::use_future).get();
  }
  SubprocessResult ok(SubprocessOptions o) {
    auto r = run(std::move(o));
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? *r : SubprocessResult{};
  }

  Runtime rt_{RuntimeOptions{2, 1}};
};

// A process is gone when it no longer exists or is a zombie waiting for init.
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::istringstream stat(
      cppflue::testing::read_proc_file("/proc/" + std::to_string(pid) + "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds within) {
  auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    if (process_gone(pid)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return process_gone(pid);
}

// True when a process that is not a zombie belongs to process group `pgid`.
bool group_has_live_process(pid_t pgid) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (!std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::istringstream stat(cppflue::testing::read_proc_file(entry.path() / "stat"));
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    long ppid = 0, pg = 0;
    rest >> state >> ppid >> pg;
    if (pg == pgid && state != "Z") return true;
  }
  return false;
}

pid_t read_pid(const std::filesystem::path& p) {
  std::string text = testing::read_file(p);
  return static_cast<pid_t>(std::stol(text));
}

TEST_F(SubprocessTest, TrueAndFalseExitCodes) {
  auto t = ok(opts({"true"}));
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_EQ(t.signal, 0);
  EXPECT_FALSE(t.timed_out);
  EXPECT_FALSE(t.truncated);
  auto f = ok(opts({"false"}));
  EXPECT_EQ(f.exit_code, 1);
  EXPECT_EQ(ok(sh("exit 42")).exit_code, 42);
}

TEST_F(SubprocessTest, SeparatesStdoutAndStderr) {
  auto r = ok(sh("echo out; echo err >&2; echo out2"));
  EXPECT_EQ(r.stdout_text, "out\nout2\n");
  EXPECT_EQ(r.stderr_text, "err\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(SubprocessTest, FeedsStdinThenClosesIt) {
  auto o = opts({"cat"});
  o.stdin_data = "hello\nworld";
  EXPECT_EQ(ok(o).stdout_text, "hello\nworld");

  // More than a pipe buffer, written while the child reads.
  auto big = opts({"wc", "-c"});
  big.stdin_data.assign(1'000'000, 'x');
  EXPECT_EQ(ok(big).stdout_text, "1000000\n");

  // Without stdin_data, stdin is at EOF at once (cat would otherwise hang until the timeout).
  auto none = opts({"cat"});
  none.timeout = 2000ms;
  auto r = ok(none);
  EXPECT_EQ(r.stdout_text, "");
  EXPECT_FALSE(r.timed_out);
}

TEST_F(SubprocessTest, ChildThatIgnoresStdinDoesNotKillUsWithSigpipe) {
  auto o = opts({"true"});
  o.stdin_data.assign(4'000'000, 'x');
  auto r = ok(o);
  EXPECT_EQ(r.exit_code, 0);
  // Still alive, and SIGPIPE is neither pending nor ignored as a side effect.
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
  struct sigaction sa {};
  sigaction(SIGPIPE, nullptr, &sa);
  EXPECT_EQ(sa.sa_handler, SIG_DFL);
}

TEST_F(SubprocessTest, EnvironmentIsExactlyWhatWePass) {
  auto o = opts({"env"});
  o.env = {"FOO=bar", "PATH=/usr/bin:/bin", "EMPTY="};
  auto r = ok(o);
  EXPECT_EQ(r.stdout_text, "FOO=bar\nPATH=/usr/bin:/bin\nEMPTY=\n");

  o.env = {};  // no PATH: execvp's default /bin:/usr/bin still finds env
  EXPECT_EQ(ok(o).stdout_text, "");
}

TEST_F(SubprocessTest, CommandIsLookedUpInTheChildPathNotOurs) {
  auto o = opts({"env"});
  o.env = {"PATH=/nonexistent-dir"};
  auto r = run(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::not_found);

  testing::TempDir dir;
  auto tool = dir.path() / "my-tool";
  testing::write_file(tool, "#!/bin/sh\necho from-my-tool\n");
  std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
  o.argv = {"my-tool"};
  o.env = {"PATH=/usr/bin:/bin:" + dir.path().string()};
  EXPECT_EQ(ok(o).stdout_text, "from-my-tool\n");
}

TEST_F(SubprocessTest, RunsInTheGivenWorkingDirectory) {
  testing::TempDir dir;
  auto o = opts({"pwd"});
  o.cwd = dir.path().string();
  EXPECT_EQ(ok(o).stdout_text, std::filesystem::canonical(dir.path()).string() + "\n");

  // A relative command path is relative to cwd.
  testing::write_file(dir.path() / "script.sh", "#!/bin/sh\necho relative\n");
  std::filesystem::permissions(dir.path() / "script.sh", std::filesystem::perms::owner_all);
  o.argv = {"./script.sh"};
  EXPECT_EQ(ok(o).stdout_text, "relative\n");

  o.argv = {"pwd"};
  o.cwd = (dir.path() / "missing").string();
  auto r = run(o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  EXPECT_NE(r.error().message.find("missing"), std::string::npos);
}

TEST_F(SubprocessTest, CommandNotFoundIsAClearError) {
  auto r = run(opts({"no-such-command-xyz", "arg"}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::not_found);
  EXPECT_NE(r.error().message.find("no-such-command-xyz"), std::string::npos);

  r = run(opts({"/nonexistent/abs-command"}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::not_found);
  EXPECT_NE(r.error().message.find("/nonexistent/abs-command"), std::string::npos);

  testing::TempDir dir;
  testing::write_file(dir.path() / "not-exec", "echo hi\n");
  r = run(opts({(dir.path() / "not-exec").string()}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::permission);

  r = run(opts({}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
}

TEST_F(SubprocessTest, TimeoutKillsTheGroupWithExitCode124) {
  testing::TempDir dir;
  auto marker = dir.path() / "pid";
  auto o = sh("sleep 10 & echo $! > '" + marker.string() + "'; echo started; wait");
  o.timeout = 300ms;
  auto t0 = Clock::now();
  auto r = ok(o);
  auto elapsed = Clock::now() - t0;
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.stdout_text, "started\n");
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 800ms);
  EXPECT_TRUE(wait_gone(read_pid(marker), 2s));

  auto plain = opts({"sleep", "10"});
  plain.timeout = 300ms;
  t0 = Clock::now();
  r = ok(plain);
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_LT(Clock::now() - t0, 800ms);
}

TEST_F(SubprocessTest, GrandchildHoldingThePipeIsDrainedThenKilled) {
  testing::TempDir dir;
  auto marker = dir.path() / "pid";
  auto o = sh("sleep 10 & echo $! > '" + marker.string() + "'; echo hi");
  o.drain_timeout = 300ms;
  auto t0 = Clock::now();
  auto r = ok(o);
  auto elapsed = Clock::now() - t0;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.stdout_text, "hi\n");
  EXPECT_GE(elapsed, 280ms);  // it did wait for the drain
  EXPECT_LT(elapsed, 300ms + 400ms);
  EXPECT_TRUE(wait_gone(read_pid(marker), 2s));
}

TEST_F(SubprocessTest, OutputOfAGrandchildDuringTheDrainIsKept) {
  auto o = sh("(sleep 0.1; echo late) & echo early");
  o.drain_timeout = 2000ms;
  auto t0 = Clock::now();
  auto r = ok(o);
  EXPECT_EQ(r.stdout_text, "early\nlate\n");
  EXPECT_LT(Clock::now() - t0, 1500ms);  // ended at EOF, not at the drain timeout
}

TEST_F(SubprocessTest, BackgroundProcessWithoutPipesIsKilledToo) {
  testing::TempDir dir;
  auto marker = dir.path() / "pid";
  auto r = ok(sh("sleep 10 >/dev/null 2>&1 & echo $! > '" + marker.string() + "'"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(wait_gone(read_pid(marker), 2s));
}

TEST_F(SubprocessTest, CancellationKillsTheGroupPromptly) {
  testing::TempDir dir;
  auto marker = dir.path() / "pgid";
  auto o = sh("echo $$ > '" + marker.string() + "'; sleep 10 & sleep 10; wait");
  CancelSource source;
  auto coro = [o, token = source.token()]() -> asio::awaitable<Result<SubprocessResult>> {
    co_return co_await run_subprocess(o, token);
  };
  auto fut = asio::co_spawn(rt_.executor(), coro, asio::use_future);
  auto deadline = Clock::now() + 3s;
  while (!std::filesystem::exists(marker) || testing::read_file(marker).empty()) {
    ASSERT_LT(Clock::now(), deadline);
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(50ms);  // let the shell start its sleeps
  auto t0 = Clock::now();
  source.cancel();
  ASSERT_EQ(fut.wait_for(2s), std::future_status::ready);
  auto elapsed = Clock::now() - t0;
  auto r = fut.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
  EXPECT_LT(elapsed, 100ms);
  pid_t pgid = read_pid(marker);
  // No process of the group remains (killed grandchildren may linger as zombies of init).
  deadline = Clock::now() + 2s;
  while (group_has_live_process(pgid) && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(group_has_live_process(pgid));
}

TEST_F(SubprocessTest, AlreadyCancelledTokenDoesNotSpawn) {
  testing::TempDir dir;
  CancelSource source;
  source.cancel();
  auto r = run(sh("touch '" + (dir.path() / "ran").string() + "'"), source.token());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ran"));
}

TEST_F(SubprocessTest, HugeOutputIsCappedAndDrainedQuickly) {
  auto o = sh("head -c 100000000 /dev/zero | tr '\\0' 'a'; echo done >&2");
  o.timeout = 20000ms;
  auto t0 = Clock::now();
  auto r = ok(o);
  auto elapsed = Clock::now() - t0;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.stdout_text.size(), 50u * 1024u);
  EXPECT_EQ(r.stdout_text, std::string(50 * 1024, 'a'));
  EXPECT_EQ(r.stderr_text, "done\n");
  EXPECT_LT(elapsed, 10s);
  std::cout << "[ info ] 100 MB of output read in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";
}

TEST_F(SubprocessTest, LineCapKeepsWholeLines) {
  auto o = opts({"seq", "1", "5000"});
  auto r = ok(o);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(std::count(r.stdout_text.begin(), r.stdout_text.end(), '\n'), 2000);
  EXPECT_TRUE(r.stdout_text.ends_with("\n1999\n2000\n"));

  o.max_output_lines = 3;
  o.argv = {"seq", "1", "3"};  // exactly at the cap: nothing was cut
  r = ok(o);
  EXPECT_EQ(r.stdout_text, "1\n2\n3\n");
  EXPECT_FALSE(r.truncated);

  o.argv = {"sh", "-c", "seq 1 3; printf x"};
  r = ok(o);
  EXPECT_EQ(r.stdout_text, "1\n2\n3\n");
  EXPECT_TRUE(r.truncated);
}

TEST_F(SubprocessTest, ByteCapIsPerStreamAndDoesNotSplitUtf8) {
  auto o = sh("printf 'abcd\\303\\251'; printf 'xy' >&2");  // "abcdé", é is two bytes
  o.max_output_bytes = 5;
  auto r = ok(o);
  EXPECT_EQ(r.stdout_text, "abcd");
  EXPECT_EQ(r.stderr_text, "xy");
  EXPECT_TRUE(r.truncated);

  o.max_output_bytes = 6;
  r = ok(o);
  EXPECT_EQ(r.stdout_text, "abcd\xc3\xa9");
  EXPECT_FALSE(r.truncated);
}

TEST_F(SubprocessTest, KilledBySignalGives128PlusSignal) {
  auto r = ok(sh("kill -9 $$"));
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_FALSE(r.timed_out);
  r = ok(sh("kill -TERM $$"));
  EXPECT_EQ(r.exit_code, 128 + SIGTERM);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST_F(SubprocessTest, AddressSpaceLimitIsApplied) {
  auto o = sh("ulimit -v");
  o.max_address_space = 256L * 1024 * 1024;
  auto r = ok(o);
  EXPECT_EQ(r.stdout_text, "262144\n");

  // Allocating 1 GiB fails under the limit; 64 MiB fits.
  o.argv = {"dd", "if=/dev/zero", "of=/dev/null", "bs=1G", "count=1"};
  r = ok(o);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("memory exhausted"), std::string::npos) << r.stderr_text;
  o.argv = {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"};
  EXPECT_EQ(ok(o).exit_code, 0);

  // The environment stays exact through the limit wrapper.
  o.argv = {"env"};
  o.env = {"PATH=/usr/bin:/bin", "A=1"};
  o.max_processes = 500;
  r = ok(o);
  EXPECT_EQ(r.stdout_text, "PATH=/usr/bin:/bin\nA=1\n");

  o.max_address_space = -1;
  auto bad = run(o);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().type, ErrorType::invalid_input);
}

TEST_F(SubprocessTest, ProcessLimitIsSet) {
  // Root ignores RLIMIT_NPROC (CAP_SYS_ADMIN): only check that the limit is in place.
  auto o = sh("ulimit -p 2>/dev/null || ulimit -u");
  o.max_processes = 64;
  EXPECT_EQ(ok(o).stdout_text, "64\n");
}

TEST_F(SubprocessTest, TwentyConcurrentRunsOnTwoThreads) {
  std::vector<std::future<Result<SubprocessResult>>> futures;
  for (int i = 0; i < 20; ++i) {
    auto o = sh("sleep 0.1; echo out-$0; echo err-$0 >&2; exit $(($0 % 7))");
    o.argv.push_back(std::to_string(i));
    auto coro = [o]() -> asio::awaitable<Result<SubprocessResult>> {
      co_return co_await run_subprocess(o, CancelToken{});
    };
    futures.push_back(asio::co_spawn(rt_.executor(), coro, asio::use_future));
  }
  auto t0 = Clock::now();
  for (int i = 0; i < 20; ++i) {
    auto r = futures[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->stdout_text, "out-" + std::to_string(i) + "\n");
    EXPECT_EQ(r->stderr_text, "err-" + std::to_string(i) + "\n");
    EXPECT_EQ(r->exit_code, i % 7);
  }
  EXPECT_LT(Clock::now() - t0, 5s);  // they ran in parallel, not one after the other
}

TEST_F(SubprocessTest, LatencyOfTrue) {
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    auto r = ok(opts({"true"}));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    ASSERT_EQ(r.exit_code, 0);
  }
  std::sort(ms.begin(), ms.end());
  double p50 = ms[ms.size() / 2];
  double p99 = ms[ms.size() * 99 / 100];
  RecordProperty("true_p50_us", static_cast<int>(p50 * 1000));
  std::cout << "[ info ] run_subprocess(true): p50 " << p50 << " ms, p99 " << p99 << " ms\n";
}

}  // namespace
}  // namespace cppflue
