// SPDX-License-Identifier: Apache-2.0
// bench_grep ROOT PATTERN [MAX_MATCHES] — runs cppflue::grep_files over ROOT (no match cap unless
// MAX_MATCHES is given) and prints the number of matching lines, files searched and the wall
// time in ms. Driven by bench_grep.sh, which compares it with `rg -c`.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "cppflue/sandbox/search.hpp"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: bench_grep ROOT PATTERN [MAX_MATCHES]\n");
    return 2;
  }
  auto ws = cppflue::Workspace::open(argv[1]);
  if (!ws) {
    std::fprintf(stderr, "%s\n", ws.error().message.c_str());
    return 1;
  }
  cppflue::GrepOptions options;
  options.pattern = argv[2];
  options.max_matches =
      argc == 4 ? std::strtoull(argv[3], nullptr, 10) : std::numeric_limits<std::size_t>::max();
  auto t0 = std::chrono::steady_clock::now();
  auto r = cppflue::grep_files(*ws, options);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("matches=%zu%s files_searched=%zu ms=%.1f\n", r->lines.size(),
              r->truncated ? " (truncated)" : "", r->files_searched, ms.count());
  return 0;
}
