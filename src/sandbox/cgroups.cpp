// SPDX-License-Identifier: Apache-2.0
// Per-command cgroups of the jail (see cgroups.hpp).
#include "sandbox/cgroups.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "cppflue/core/async.hpp"
#include "cppflue/core/cancel.hpp"
#include "cppflue/core/log.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace cppflue::detail {

namespace {

const fs::path kPidsBase = "/sys/fs/cgroup/pids/cppflue";
const fs::path kMemoryBase = "/sys/fs/cgroup/memory/cppflue";
std::atomic<unsigned> g_seq{0};

bool write_file(const fs::path& p, const std::string& text) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// The descendants of `pid` (children of every thread), read from /proc.
std::vector<int> children_of(int pid) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream in(task.path() / "children");
    int child = 0;
    while (in >> child) out.push_back(child);
  }
  return out;
}

// Whether `pid` is in the cgroup `dir` of its controller.
bool in_cgroup(int pid, const fs::path& dir) {
  // "/sys/fs/cgroup/pids/cppflue/1-2" → controller "pids", name "/cppflue/1-2".
  auto rel = dir.lexically_relative("/sys/fs/cgroup");
  if (rel.empty()) return false;
  std::string controller = rel.begin()->string();
  std::string name = "/" + rel.lexically_relative(controller).string();
  std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    if (line.compare(first + 1, second - first - 1, controller) == 0) {
      return line.compare(second + 1, std::string::npos, name) == 0;
    }
  }
  return false;
}

void kill_all(const fs::path& dir) {
  std::ifstream in(dir / "cgroup.procs");
  for (int p = 0; in >> p;) ::kill(p, SIGKILL);
}

bool usable(const fs::path& base, const char* probe_file) {
  std::error_code ec;
  if (!fs::is_directory(base.parent_path(), ec)) return false;
  fs::create_directories(base, ec);
  if (ec) return false;
  fs::path probe = base / fmt::format("probe-{}", ::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) return false;
  bool ok = fs::exists(probe / probe_file, ec) && fs::exists(probe / "cgroup.procs", ec);
  ::rmdir(probe.c_str());
  return ok;
}

// Removes cgroups "<pid>-<n>" and "probe-<pid>" whose process is gone (a kill -9 leaves them).
void remove_leftovers(const fs::path& base) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(base, ec)) {
    std::string name = e.path().filename().string();
    std::string digits =
        name.rfind("probe-", 0) == 0 ? name.substr(6) : name.substr(0, name.find('-'));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    long pid = std::strtol(digits.c_str(), nullptr, 10);
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    kill_all(e.path());
    if (::rmdir(e.path().c_str()) == 0) {
      log::get()->info("removed the cgroup {} of a process that is gone", e.path().string());
    }
  }
}

asio::awaitable<void> remove_later(std::vector<fs::path> dirs) {
  CancelToken never;
  for (int attempt = 0; attempt < 1000 && !dirs.empty(); ++attempt) {
    std::erase_if(dirs, [](const fs::path& d) {
      kill_all(d);
      return ::rmdir(d.c_str()) == 0 || errno == ENOENT;
    });
    if (!dirs.empty()) co_await sleep_for(std::chrono::milliseconds(5), never);
  }
  for (const auto& d : dirs) {
    log::get()->warn("cannot remove the cgroup {}: {}", d.string(), std::strerror(errno));
  }
}

}  // namespace

CgroupSupport probe_cgroups() {
  CgroupSupport s;
  s.pids = usable(kPidsBase, "pids.max");
  s.memory = usable(kMemoryBase, "memory.limit_in_bytes");
  if (s.pids) remove_leftovers(kPidsBase);
  if (s.memory) remove_leftovers(kMemoryBase);
  return s;
}

Result<CommandCgroups> CommandCgroups::create(bool pids, long max_processes, bool memory,
                                              long long memory_max) {
  CommandCgroups c;
  std::string name = fmt::format("{}-{}", ::getpid(), g_seq.fetch_add(1));
  auto fail_with = [&](const fs::path& dir, const char* what) -> Result<CommandCgroups> {
    int e = errno;
    for (const auto& d : c.dirs_) ::rmdir(d.c_str());
    ::rmdir(dir.c_str());
    return fail(ErrorType::internal, fmt::format("cannot create the {} cgroup {}: {}", what,
                                                 dir.string(), std::strerror(e)));
  };
  if (pids) {
    fs::path dir = kPidsBase / name;
    if (::mkdir(dir.c_str(), 0755) != 0 ||
        !write_file(dir / "pids.max", std::to_string(max_processes))) {
      return fail_with(dir, "pids");
    }
    c.dirs_.push_back(dir);
  }
  if (memory && memory_max > 0) {
    fs::path dir = kMemoryBase / name;
    if (::mkdir(dir.c_str(), 0755) != 0 ||
        !write_file(dir / "memory.limit_in_bytes", std::to_string(memory_max))) {
      return fail_with(dir, "memory");
    }
    // With swap accounting the limit covers swap too (otherwise the file is absent).
    if (fs::path sw = dir / "memory.memsw.limit_in_bytes"; ::access(sw.c_str(), W_OK) == 0) {
      write_file(sw, std::to_string(memory_max));
    }
    c.dirs_.push_back(dir);
    c.memory_dir_ = dir;
  }
  return c;
}

Result<void> CommandCgroups::adopt(int pid) const {
  for (const auto& dir : dirs_) {
    // Top-down: a process forked after its parent moved is born inside.
    std::vector<int> pending = {pid};
    std::set<int> moved;
    fs::path procs = dir / "cgroup.procs";
    while (!pending.empty()) {
      int p = pending.back();
      pending.pop_back();
      if (!moved.insert(p).second) continue;
      // A migration costs about a millisecond (cgroup v1 takes a global lock): skip children
      // already born inside.
      if (p != pid && in_cgroup(p, dir)) continue;
      if (!write_file(procs, std::to_string(p)) && ::kill(p, 0) == 0) {
        return fail(ErrorType::internal,
                    fmt::format("cannot move process {} into the cgroup {}: {}", p, dir.string(),
                                std::strerror(errno)));
      }
      for (int c : children_of(p)) pending.push_back(c);
    }
  }
  return {};
}

bool CommandCgroups::memory_exhausted() const {
  if (memory_dir_.empty()) return false;
  // memory.oom_control has "oom_kill N" on current kernels; failcnt counts hits of the limit.
  std::ifstream oom(memory_dir_ / "memory.oom_control");
  std::string key;
  long long value = 0;
  while (oom >> key >> value) {
    if (key == "oom_kill") return value > 0;
  }
  // Kernels without the oom_kill counter: the limit was reached at least once.
  std::ifstream failcnt(memory_dir_ / "memory.failcnt");
  return failcnt >> value && value > 0;
}

asio::awaitable<void> CommandCgroups::remove(bool wait) const {
  if (dirs_.empty()) co_return;
  std::vector<fs::path> left = dirs_;
  CancelToken never;
  for (int attempt = 0; attempt < (wait ? 250 : 1) && !left.empty(); ++attempt) {
    std::erase_if(left, [](const fs::path& d) {
      kill_all(d);
      return ::rmdir(d.c_str()) == 0 || errno == ENOENT;
    });
    if (!left.empty()) co_await sleep_for(std::chrono::milliseconds(2), never);
  }
  if (!left.empty()) {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, remove_later(std::move(left)), asio::detached);
  }
}

}  // namespace cppflue::detail
