#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compares cppflue::grep_files (bench/bench_grep.cpp) with ripgrep on a generated tree.
# Usage: bench/bench_grep.sh [build dir (default build/release)] [tree dir (default /tmp/cppflue-grep-bench)]
# Generates (once, deterministically) ≥ 20k text files / ≥ 200 MB, then times `rg -c PATTERN`
# (all threads and -j1) and bench_grep with the same pattern, warm cache, best of 3; then
# bench_grep with the tool's default cap of 100 matches and a pattern matching on most lines.
# Prints the figures and ratios; asserts nothing and always exits 0.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build/release}"
tree="${2:-/tmp/cppflue-grep-bench}"
pattern='ERROR code=\d+5\b'

if [ ! -f "$tree/.done" ]; then
  echo "generating $tree ..."
  rm -rf "$tree"
  python3 - "$tree" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
words = ("alpha beta gamma delta request response handler buffer socket timeout retry "
         "session token model agent tool value error warning info debug").split()
nfiles = 20480
for i in range(nfiles):
    d = os.path.join(root, f"d{i % 64:02d}", f"s{(i // 64) % 16:02d}")
    os.makedirs(d, exist_ok=True)
    lines = []
    size = 0
    while size < 10400:
        if rng.random() < 0.002:
            line = f"ERROR code={rng.randrange(1000, 99999)} in {rng.choice(words)}"
        else:
            line = " ".join(rng.choice(words) for _ in range(rng.randrange(4, 14)))
        lines.append(line)
        size += len(line) + 1
    with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
PY
  touch "$tree/.done"
fi
files=$(find "$tree" -type f -name '*.txt' | wc -l)
mb=$(du -sm "$tree" | cut -f1)

if ! command -v rg >/dev/null; then echo "rg not installed (apt-get install -y ripgrep)"; exit 0; fi
if [ ! -x "$build/bench/bench_grep" ]; then
  cmake --build "$build" --target bench_grep -j1 >/dev/null || { echo "cannot build bench_grep"; exit 0; }
fi

best() {  # best wall time in ms of 3 runs of "$@"
  local b=999999999 t0 t1 ms
  for _ in 1 2 3; do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 )); [ "$ms" -lt "$b" ] && b=$ms
  done
  echo "$b"
}
cat "$tree"/d*/s*/*.txt >/dev/null  # warm the page cache
rg_count=$(rg -c --no-filename "$pattern" "$tree" | awk '{s+=$1} END {print s+0}')
ours=$("$build/bench/bench_grep" "$tree" "$pattern")
rg_ms=$(best rg -c "$pattern" "$tree")
rg1_ms=$(best rg -j1 -c "$pattern" "$tree")
our_ms=$(best "$build/bench/bench_grep" "$tree" "$pattern")
capped=$("$build/bench/bench_grep" "$tree" 'request|response' 100)
cap_ms=$(best "$build/bench/bench_grep" "$tree" 'request|response' 100)
threads=$(nproc); [ "$threads" -gt 8 ] && threads=8
echo "tree: $files files, $mb MB; pattern: $pattern"
echo "rg matches: $rg_count; ours: $ours"
echo "rg -c (all threads, $(nproc) cores): ${rg_ms} ms"
echo "rg -j1 -c:                          ${rg1_ms} ms"
echo "cppflue grep_files ($threads threads):     ${our_ms} ms"
awk -v o="$our_ms" -v r="$rg_ms" -v r1="$rg1_ms" 'BEGIN {
  if (r > 0) printf "ratio ours/rg: %.2f\n", o / r;
  if (r1 > 0) printf "ratio ours/rg -j1: %.2f\n", o / r1 }'
echo "cppflue grep_files 'request|response', cap 100: ${cap_ms} ms ($capped)"
exit 0
