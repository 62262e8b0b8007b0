// SPDX-License-Identifier: Apache-2.0
// Per-command cgroups of the jail (see cgroups.hpp).
#include "sandbox/cgroups.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
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
#include <sstream>

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

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool has_word(const std::string& text, std::string_view word) {
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    if (w == word) return true;
  }
  return false;
}

bool is_filesystem(const fs::path& p, long magic) {
  struct statfs st {};
  return ::statfs(p.c_str(), &st) == 0 && static_cast<long>(st.f_type) == magic;
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

bool in_cgroup(int pid, const CommandCgroups::Group& g) {
  return cgroup_line_matches(read_file(fmt::format("/proc/{}/cgroup", pid)), g.controller, g.name);
}

void kill_all(const fs::path& dir) {
  // cgroup v2 (Linux 5.14+) kills the whole cgroup, including processes forked meanwhile.
  if (::access((dir / "cgroup.kill").c_str(), W_OK) == 0 && write_file(dir / "cgroup.kill", "1")) {
    return;
  }
  std::ifstream in(dir / "cgroup.procs");
  for (int p = 0; in >> p;) ::kill(p, SIGKILL);
}

// A probe cgroup under `base` shows every file of `probe_files`.
bool probe_under(const fs::path& base, std::initializer_list<const char*> probe_files) {
  fs::path probe = base / fmt::format("probe-{}", ::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) return false;
  std::error_code ec;
  bool ok = fs::exists(probe / "cgroup.procs", ec);
  for (const char* f : probe_files) ok = ok && fs::exists(probe / f, ec);
  ::rmdir(probe.c_str());
  return ok;
}

bool usable_v1(const fs::path& base, const char* probe_file) {
  // A v1 hierarchy of that controller must be mounted there (not an empty directory).
  if (!is_filesystem(base.parent_path(), CGROUP_SUPER_MAGIC)) return false;
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) return false;
  return probe_under(base, {probe_file});
}

// Enables `controllers` for the children of `dir` (cgroup.subtree_control).
bool enable_for_children(const fs::path& dir, const std::vector<std::string>& controllers) {
  std::string enabled = read_file(dir / "cgroup.subtree_control");
  for (const auto& c : controllers) {
    if (has_word(enabled, c)) continue;
    if (!write_file(dir / "cgroup.subtree_control", "+" + c)) return false;
  }
  return true;
}

// The unified hierarchy: which of `wanted` ("pids", "memory") can be limited per command under
// <mount>/cppflue. The controllers must be offered at the hierarchy's root and enabled for its
// children; the root is exempt from the "no processes in inner cgroups" rule, which a cgroup
// namespace's root in a container is not (enabling then fails: we fall back).
std::vector<std::string> usable_v2(const fs::path& mount, const std::vector<std::string>& wanted,
                                   fs::path& base) {
  if (mount.empty() || wanted.empty() || !is_filesystem(mount, CGROUP2_SUPER_MAGIC)) return {};
  std::string offered = read_file(mount / "cgroup.controllers");
  std::vector<std::string> controllers;
  for (const auto& c : wanted) {
    if (has_word(offered, c)) controllers.push_back(c);
  }
  if (controllers.empty() || !enable_for_children(mount, controllers)) return {};
  base = mount / "cppflue";
  if (::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST) return {};
  if (!enable_for_children(base, controllers)) return {};
  std::vector<std::string> usable;
  for (const auto& c : controllers) {
    if (probe_under(base, {c == "pids" ? "pids.max" : "memory.max"})) usable.push_back(c);
  }
  return usable;
}

// Removes cgroups "<pid>-<n>" and "probe-<pid>" whose process is gone (a kill -9 leaves them).
void remove_leftovers(const fs::path& base) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(base, ec)) {
    if (!e.is_directory(ec)) continue;
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

fs::path cgroup2_mount(const std::string& mountinfo) {
  // "36 25 0:31 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw": the mount point is field 5,
  // the filesystem type the first field after " - ". Spaces in paths are written \040.
  std::istringstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type;
    tail >> type;
    if (type != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string field, point;
    for (int i = 0; i < 5 && head >> field; ++i) point = field;
    std::string decoded;
    for (size_t i = 0; i < point.size(); ++i) {
      if (point[i] == '\\' && i + 3 < point.size()) {
        std::string oct = point.substr(i + 1, 3);
        if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string::npos) {
          decoded += static_cast<char>(std::stoi(oct, nullptr, 8));
          i += 3;
          continue;
        }
      }
      decoded += point[i];
    }
    if (!decoded.empty()) return decoded;
  }
  return {};
}

fs::path cgroup2_mount() {
  return cgroup2_mount(read_file("/proc/self/mountinfo"));
}

bool cgroup_line_matches(const std::string& proc_cgroup, const std::string& controller,
                         const std::string& name) {
  // v1: "8:pids:/cppflue/1-2" (a hierarchy may carry several: "4:cpu,cpuacct:/…");
  // v2: "0::/cppflue/1-2".
  std::istringstream in(proc_cgroup);
  for (std::string line; std::getline(in, line);) {
    auto first = line.find(':');
    auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    bool match = false;
    if (controller.empty()) {
      match = controllers.empty() && line.compare(0, first, "0") == 0;
    } else {
      std::istringstream list(controllers);
      for (std::string c; std::getline(list, c, ',');) match = match || c == controller;
    }
    if (match) return line.compare(second + 1, std::string::npos, name) == 0;
  }
  return false;
}

long long oom_kill_count(const std::string& text) {
  std::istringstream in(text);
  std::string key;
  long long value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

CgroupSupport probe_cgroups() {
  CgroupSupport s;
  s.pids = usable_v1(kPidsBase, "pids.max");
  s.memory = usable_v1(kMemoryBase, "memory.limit_in_bytes");
  if (s.pids) remove_leftovers(kPidsBase);
  if (s.memory) remove_leftovers(kMemoryBase);
  std::vector<std::string> wanted;
  if (!s.pids) wanted.emplace_back("pids");
  if (!s.memory) wanted.emplace_back("memory");
  auto v2 = usable_v2(cgroup2_mount(), wanted, s.v2_base);
  for (const auto& c : v2) {
    if (c == "pids") s.pids = s.pids_v2 = true;
    if (c == "memory") s.memory = s.memory_v2 = true;
  }
  if (!v2.empty()) remove_leftovers(s.v2_base);
  return s;
}

Result<CommandCgroups> CommandCgroups::create(const CgroupSupport& support, long max_processes,
                                              long long memory_max) {
  CommandCgroups c;
  std::string name = fmt::format("{}-{}", ::getpid(), g_seq.fetch_add(1));
  auto fail_with = [&](const fs::path& dir, const char* what) -> Result<CommandCgroups> {
    int e = errno;
    for (const auto& g : c.groups_) ::rmdir(g.dir.c_str());
    ::rmdir(dir.c_str());
    return fail(ErrorType::internal, fmt::format("cannot create the {} cgroup {}: {}", what,
                                                 dir.string(), std::strerror(e)));
  };
  const bool want_memory = support.memory && memory_max > 0;
  if (support.pids && !support.pids_v2) {
    fs::path dir = kPidsBase / name;
    if (::mkdir(dir.c_str(), 0755) != 0 ||
        !write_file(dir / "pids.max", std::to_string(max_processes))) {
      return fail_with(dir, "pids");
    }
    c.groups_.push_back({dir, "pids", "/cppflue/" + name});
  }
  if (want_memory && !support.memory_v2) {
    fs::path dir = kMemoryBase / name;
    if (::mkdir(dir.c_str(), 0755) != 0 ||
        !write_file(dir / "memory.limit_in_bytes", std::to_string(memory_max))) {
      return fail_with(dir, "memory");
    }
    // With swap accounting the limit covers swap too (otherwise the file is absent).
    if (fs::path sw = dir / "memory.memsw.limit_in_bytes"; ::access(sw.c_str(), W_OK) == 0) {
      write_file(sw, std::to_string(memory_max));
    }
    c.groups_.push_back({dir, "memory", "/cppflue/" + name});
    c.memory_dir_ = dir;
  }
  const bool v2_pids = support.pids && support.pids_v2;
  const bool v2_memory = want_memory && support.memory_v2;
  if (v2_pids || v2_memory || (support.v2_group && !support.v2_base.empty())) {
    // One cgroup of the unified hierarchy carries both limits.
    fs::path dir = support.v2_base / name;
    if (::mkdir(dir.c_str(), 0755) != 0) return fail_with(dir, "cgroup v2");
    if (v2_pids && !write_file(dir / "pids.max", std::to_string(max_processes))) {
      return fail_with(dir, "pids (v2)");
    }
    if (v2_memory) {
      if (!write_file(dir / "memory.max", std::to_string(memory_max))) {
        return fail_with(dir, "memory (v2)");
      }
      // Swap would let the command exceed the limit: none (the file is absent without swap).
      if (fs::path sw = dir / "memory.swap.max"; ::access(sw.c_str(), W_OK) == 0) {
        write_file(sw, "0");
      }
      c.memory_dir_ = dir;
      c.memory_v2_ = true;
    }
    // "/cppflue/<name>" relative to the hierarchy's root, as /proc/<pid>/cgroup shows it.
    c.groups_.push_back({dir, "", "/cppflue/" + name});
  }
  return c;
}

Result<void> CommandCgroups::adopt(int pid) const {
  for (const auto& g : groups_) {
    // Top-down: a process forked after its parent moved is born inside.
    std::vector<int> pending = {pid};
    std::set<int> moved;
    fs::path procs = g.dir / "cgroup.procs";
    while (!pending.empty()) {
      int p = pending.back();
      pending.pop_back();
      if (!moved.insert(p).second) continue;
      // A migration costs about a millisecond (cgroup v1 takes a global lock): skip children
      // already born inside.
      if (p != pid && in_cgroup(p, g)) continue;
      if (!write_file(procs, std::to_string(p)) && ::kill(p, 0) == 0) {
        return fail(ErrorType::internal,
                    fmt::format("cannot move process {} into the cgroup {}: {}", p, g.dir.string(),
                                std::strerror(errno)));
      }
      for (int c : children_of(p)) pending.push_back(c);
    }
  }
  return {};
}

bool CommandCgroups::memory_exhausted() const {
  if (memory_dir_.empty()) return false;
  if (memory_v2_) return oom_kill_count(read_file(memory_dir_ / "memory.events")) > 0;
  // memory.oom_control has "oom_kill N" on current kernels; failcnt counts hits of the limit.
  std::string oom = read_file(memory_dir_ / "memory.oom_control");
  if (oom.find("oom_kill ") != std::string::npos) return oom_kill_count(oom) > 0;
  // Kernels without the oom_kill counter: the limit was reached at least once.
  std::ifstream failcnt(memory_dir_ / "memory.failcnt");
  long long value = 0;
  return failcnt >> value && value > 0;
}

asio::awaitable<void> CommandCgroups::remove(bool wait) const {
  if (groups_.empty()) co_return;
  std::vector<fs::path> left;
  left.reserve(groups_.size());
  for (const auto& g : groups_) left.push_back(g.dir);
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

void CommandCgroups::remove_now() const {
  std::vector<fs::path> left;
  left.reserve(groups_.size());
  for (const auto& g : groups_) left.push_back(g.dir);
  for (int attempt = 0; attempt < 1000 && !left.empty(); ++attempt) {
    std::erase_if(left, [](const fs::path& d) {
      kill_all(d);
      return ::rmdir(d.c_str()) == 0 || errno == ENOENT;
    });
    if (!left.empty()) ::usleep(attempt < 50 ? 1000 : 5000);
  }
  for (const auto& d : left) {
    log::get()->warn("cannot remove the cgroup {}: {}", d.string(), std::strerror(errno));
  }
}

}  // namespace cppflue::detail
