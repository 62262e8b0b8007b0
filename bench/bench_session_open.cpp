// SPDX-License-Identifier: Apache-2.0
// Opening a stored session, over history sizes, with and without a compaction: the time
// `Agent::session(id)` takes to load it and the memory of the process, each case in a fresh
// child process: its peak RSS once the session is open (VmHWM, so opening's transient memory
// counts), and what it holds then (VmRSS). Entries are 1 KB messages; "compacted" adds a
// compaction that keeps the last 10. Prints figures; asserts nothing.
//
//   bench_session_open [sizes...]   (default: 10 1000 10000 50000)
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cppflue/cppflue.hpp"
#include "cppflue/store/store.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Writes `n` 1 KB messages (and, if `compacted`, a compaction keeping the last 10) into the
// session "bench" of the store under `root`, in one transaction. Returns the stored bytes.
std::size_t populate(const fs::path& root, int n, bool compacted) {
  {
    auto store = cppflue::open_sqlite_store(root / ".cppflue" / "state.db");
    if (!store || !(*store)->open_session("bench", {})) {
      std::fprintf(stderr, "cannot create the store under %s\n", root.c_str());
      std::exit(1);
    }
  }
  sqlite3* db = nullptr;
  sqlite3_open((root / ".cppflue" / "state.db").c_str(), &db);
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO entries(session_id, seq, kind, role, content, source, "
                     "created_at) VALUES ('bench', ?1, ?2, ?3, ?4, 'bench', "
                     "'2026-12-06T00:00:00.000Z')",
                     -1, &st, nullptr);
  std::size_t bytes = 0;
  const std::string filler(960, 'x');
  auto insert = [&](int seq, const char* kind, const char* role, const std::string& content) {
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, content.c_str(), static_cast<int>(content.size()), SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
    bytes += content.size();
  };
  for (int i = 1; i <= n; ++i) {
    const char* role = i % 2 == 1 ? "user" : "assistant";
    insert(i, "message", role,
           std::string("{\"role\":\"") + role + "\",\"text\":\"" + std::to_string(i) + " " +
               filler + "\"}");
  }
  if (compacted) {
    insert(n + 1, "compaction", "",
           "{\"summary\":\"What happened so far.\",\"first_kept_seq\":" + std::to_string(n - 9) +
               ",\"reason\":\"threshold\"}");
  }
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return bytes;
}

// A field of /proc/self/status in kB ("VmHWM:"), or -1.
long status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + std::strlen(key), nullptr, 10);
  }
  return -1;
}

// The child: opens the session and prints the microseconds it took, the peak and current RSS
// then (kB) and the messages in its context. The memory is read before history(), which
// returns a copy of the messages.
int open_in_child(const fs::path& root) {
  auto agent = cppflue::init({.model = "test:echo", .root = root.string()});
  auto t0 = Clock::now();
  auto session = agent.session("bench");
  auto t1 = Clock::now();
  const long peak = status_kb("VmHWM:"), held = status_kb("VmRSS:");
  std::printf("%lld %ld %ld %zu\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()),
              peak, held, session.history().size());
  return 0;
}

struct Figures {
  double ms = 0;
  double peak_mib = 0;
  double held_mib = 0;
  std::size_t messages = 0;
};

// Runs the child on `root` `reps` times; the median time and the largest peak RSS.
Figures measure(const char* self, const fs::path& root, int reps) {
  std::vector<double> ms;
  Figures f;
  for (int r = 0; r < reps; ++r) {
    int pipefd[2];
    if (::pipe(pipefd) != 0) std::exit(1);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(pipefd[1], STDOUT_FILENO);
      ::execl(self, self, "--child", root.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(pipefd[1]);
    char buf[128] = {};
    ssize_t got = ::read(pipefd[0], buf, sizeof buf - 1);
    ::close(pipefd[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    long long us = 0;
    long peak = 0, held = 0;
    std::size_t messages = 0;
    if (got <= 0 || std::sscanf(buf, "%lld %ld %ld %zu", &us, &peak, &held, &messages) != 4) {
      std::fprintf(stderr, "the child failed on %s\n", root.c_str());
      std::exit(1);
    }
    ms.push_back(static_cast<double>(us) / 1000);
    f.messages = messages;
    f.peak_mib = std::max(f.peak_mib, static_cast<double>(peak) / 1024);
    f.held_mib = std::max(f.held_mib, static_cast<double>(held) / 1024);
  }
  std::sort(ms.begin(), ms.end());
  f.ms = ms[ms.size() / 2];
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--child") return open_in_child(argv[2]);
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {10, 1000, 10000, 50000};
  const fs::path base =
      fs::temp_directory_path() / ("cppflue-bench-open-" + std::to_string(::getpid()));
  std::printf("%-22s %10s %12s %10s %10s %10s %10s\n", "session", "entries", "stored MiB",
              "open ms", "peak MiB", "held MiB", "context");
  for (bool compacted : {false, true}) {
    for (int n : sizes) {
      if (compacted && n <= 10) continue;
      const fs::path root = base / (std::to_string(n) + (compacted ? "c" : ""));
      fs::create_directories(root);
      const std::size_t bytes = populate(root, n, compacted);
      const Figures f = measure(argv[0], root, 5);
      std::printf("%-22s %10d %12.1f %10.2f %10.1f %10.1f %10zu\n",
                  compacted ? "compacted to 10" : "uncompacted", n,
                  static_cast<double>(bytes) / (1 << 20), f.ms, f.peak_mib, f.held_mib, f.messages);
    }
  }
  fs::remove_all(base);
  return 0;
}
