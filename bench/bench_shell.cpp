// SPDX-License-Identifier: Apache-2.0
// Latency of one shell command (`true`) through a session, as the bash tool runs it: policy
// check, command events, spawn, wait, output collection. Jailed (virtual sandbox: bubblewrap,
// seccomp, Landlock helper, cgroups) in the session's jail (the default) and in a fresh jail per
// command (`[sandbox] jail_idle_seconds = 0`), and local (unjailed). Prints p50/p90/p99/mean
// over N calls after a warm-up; asserts nothing.
//
//   bench_shell [calls (default 300)]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cppflue/cppflue.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void report(const char* label, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  const auto last = static_cast<double>(us.size() - 1);
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * last)]; };
  double sum = 0;
  for (double v : us) sum += v;
  std::printf("%-28s n=%zu  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  mean %7.2f ms\n", label,
              us.size(), pct(0.50) / 1000, pct(0.90) / 1000, pct(0.99) / 1000,
              sum / static_cast<double>(us.size()) / 1000);
}

std::vector<double> measure(cppflue::Session& s, int n) {
  for (int i = 0; i < 10; ++i) s.shell("true");  // warm-up
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    auto r = s.shell("true");
    auto t1 = Clock::now();
    if (r.exit_code != 0) {
      std::fprintf(stderr, "command failed: %s\n", r.stderr_text.c_str());
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 300;
  fs::path dir = fs::temp_directory_path() / ("cppflue-bench-shell-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::printf("jail: %s\n", cppflue::jail_status().summary().c_str());
  try {
    if (cppflue::jail_status().available) {
      auto agent = cppflue::init({.model = "test:demo", .allow_shell = true, .root = dir.string()});
      auto s = agent.session("bench");
      report("bash `true` session jail", measure(s, n));
      fs::path per_command = dir / "per-command";
      fs::create_directories(per_command);
      {
        std::ofstream toml(per_command / "cppflue.toml");
        toml << "[sandbox]\njail_idle_seconds = 0\n";
      }
      auto fresh =
          cppflue::init({.model = "test:demo", .allow_shell = true, .root = per_command.string()});
      auto fs_session = fresh.session("bench");
      report("bash `true` jail per command", measure(fs_session, n));
    } else {
      std::printf("bash `true` jailed: skipped (%s)\n", cppflue::jail_status().reason.c_str());
    }
    auto local_agent = cppflue::init({.model = "test:demo",
                                      .sandbox = cppflue::local(dir),
                                      .allow_shell = true,
                                      .root = dir.string()});
    auto ls = local_agent.session("bench-local");
    report("bash `true` local", measure(ls, n));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_shell: %s\n", e.what());
  }
  fs::remove_all(dir);
  return 0;
}
