// SPDX-License-Identifier: Apache-2.0
// The per-command cgroups: the parsers that decide where each controller lives (cgroup v1 or
// the unified v2 hierarchy) and whether a process is inside, and the limits on this host.
#include "sandbox/cgroups.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cppflue/core/runtime.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::detail;

TEST(Cgroups, FindsTheUnifiedMountInMountinfo) {
  // Debian 12 (unified only).
  EXPECT_EQ(cgroup2_mount("24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
                          "29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 "
                          "rw,nsdelegate,memory_recursiveprot\n"),
            "/sys/fs/cgroup");
  // Hybrid: v1 controllers plus /sys/fs/cgroup/unified; optional fields before " - ".
  EXPECT_EQ(
      cgroup2_mount("30 29 0:27 / /sys/fs/cgroup/pids rw shared:9 - cgroup cgroup rw,pids\n"
                    "31 29 0:28 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n"),
      "/sys/fs/cgroup/unified");
  // Octal escapes in the mount point.
  EXPECT_EQ(cgroup2_mount("40 1 0:40 / /mnt/my\\040cgroups rw - cgroup2 none rw\n"),
            "/mnt/my cgroups");
  // None, or only lookalikes.
  EXPECT_EQ(cgroup2_mount(""), "");
  EXPECT_EQ(cgroup2_mount("30 29 0:27 / /sys/fs/cgroup/cgroup2 rw - cgroup cgroup rw,pids\n"
                          "garbage line without a separator\n"),
            "");
}

TEST(Cgroups, MatchesProcCgroupLinesForV1AndV2) {
  const std::string hybrid =
      "9:name=systemd:/\n8:pids:/cppflue/12-3\n4:cpu,cpuacct:/cppflue/12-3\n"
      "3:memory:/process_api/x\n0::/\n";
  EXPECT_TRUE(cgroup_line_matches(hybrid, "pids", "/cppflue/12-3"));
  EXPECT_TRUE(cgroup_line_matches(hybrid, "cpuacct", "/cppflue/12-3"));
  EXPECT_FALSE(cgroup_line_matches(hybrid, "memory", "/cppflue/12-3"));
  EXPECT_FALSE(cgroup_line_matches(hybrid, "", "/cppflue/12-3"));
  // A prefix is not a match, and name=systemd is not the unified line.
  EXPECT_FALSE(cgroup_line_matches("8:pids:/cppflue/12-30\n", "pids", "/cppflue/12-3"));
  EXPECT_FALSE(cgroup_line_matches("9:name=systemd:/cppflue/1-1\n", "", "/cppflue/1-1"));
  const std::string unified = "0::/cppflue/7-0\n";
  EXPECT_TRUE(cgroup_line_matches(unified, "", "/cppflue/7-0"));
  EXPECT_FALSE(cgroup_line_matches(unified, "pids", "/cppflue/7-0"));
  EXPECT_FALSE(cgroup_line_matches("", "", "/cppflue/7-0"));
  EXPECT_FALSE(cgroup_line_matches("no colons\n", "", "/"));
}

TEST(Cgroups, ReadsTheOomKillCounter) {
  // v2 memory.events
  EXPECT_EQ(oom_kill_count("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"), 1);
  // v1 memory.oom_control
  EXPECT_EQ(oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3);
  EXPECT_EQ(oom_kill_count("low 0\nhigh 0\nmax 0\noom 0\n"), 0);
  EXPECT_EQ(oom_kill_count(""), 0);
}

TEST(Cgroups, TheProbeAgreesWithTheJailStatus) {
  // Whatever this host offers, the status reports it and a set can be created and removed.
  CgroupSupport s = probe_cgroups();
  const JailStatus& st = jail_status();
  EXPECT_EQ(s.pids, st.cgroup_pids);
  EXPECT_EQ(s.memory, st.cgroup_memory);
  EXPECT_EQ(s.pids_v2 || s.memory_v2, st.cgroup_v2);
  if (s.pids_v2 || s.memory_v2) {
    EXPECT_FALSE(s.v2_base.empty());
  }
  auto set = CommandCgroups::create(s, 64, 64ll << 20);
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->empty(), !s.pids && !s.memory);
  EXPECT_FALSE(set->memory_exhausted());
  auto rt = Runtime::shared();
  boost::asio::co_spawn(rt->executor(), set->remove(true), boost::asio::use_future).get();
}

namespace {

std::vector<int> children(int pid) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(t.path() / "children");
    for (int c = 0; in >> c;) out.push_back(c);
  }
  return out;
}

std::string proc_cgroup(int pid) {
  return cppflue::testing::read_proc_file("/proc/" + std::to_string(pid) + "/cgroup");
}

}  // namespace

TEST(Cgroups, AUnifiedHierarchyCgroupHoldsAndKillsAProcessTree) {
  // The v2 path (mkdir under <cgroup2>/cppflue, adoption checked through "0::/…", cgroup.kill,
  // removal), driven without controllers so it runs on hybrid hosts too.
  std::filesystem::path mount = cgroup2_mount();
  if (mount.empty() || ::geteuid() != 0) GTEST_SKIP() << "needs root and a cgroup2 mount";
  CgroupSupport s;
  s.v2_base = mount / "cppflue";
  std::error_code ec;
  std::filesystem::create_directories(s.v2_base, ec);
  if (ec) GTEST_SKIP() << "cannot create " << s.v2_base << ": " << ec.message();
  s.v2_group = true;
  auto set = CommandCgroups::create(s, 64, 0);
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_FALSE(set->empty());

  int pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", "sleep 60 & sleep 60 & wait", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::vector<int> kids;
  for (int i = 0; i < 500 && kids.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    kids = children(pid);
  }
  ASSERT_EQ(kids.size(), 2u);
  ASSERT_TRUE(set->adopt(pid));
  std::string name;
  for (int p : {pid, kids[0], kids[1]}) {
    std::string text = proc_cgroup(p);
    auto at = text.find("0::/cppflue/");
    ASSERT_NE(at, std::string::npos) << text;
    std::string line = text.substr(at + 3, text.find('\n', at) - at - 3);
    if (name.empty()) name = line;
    EXPECT_EQ(line, name) << "process " << p;
    EXPECT_TRUE(cgroup_line_matches(text, "", name));
  }
  std::filesystem::path dir = mount / name.substr(1);
  EXPECT_TRUE(std::filesystem::is_directory(dir));

  auto rt = Runtime::shared();
  boost::asio::co_spawn(rt->executor(), set->remove(true), boost::asio::use_future).get();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (int k : kids) {
    // Re-parented to init and reaped there: gone within a moment.
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
      gone = ::kill(k, 0) != 0 && errno == ESRCH;
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(gone) << "process " << k << " outlived the cgroup";
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}
