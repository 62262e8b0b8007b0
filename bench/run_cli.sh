#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Start-up cost of whole runs with the offline model: wall time and peak RSS of
#  1. `cppflue run -p ...` (test:demo, one model turn, session stored in SQLite), and
#  2. examples/weather_agent (two model turns, two concurrent tool calls, streamed).
# Needs a release build (cmake --preset release && cmake --build --preset release).
# Prints figures only; never fails on timing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build/release"
runs="${RUNS:-20}"
[ -x "$bin/cppflue" ] || { echo "build the release preset first" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u CPPFLUE_MODEL true

measure() {
  local label="$1"; shift
  local times=() rss=()
  for i in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/t" env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY \
      -u GEMINI_API_KEY -u CPPFLUE_MODEL "$@" >/dev/null 2>&1
    read -r secs kb < "$work/t"
    times+=("$secs"); rss+=("$kb")
  done
  python3 - "$label" "${times[@]}" -- "${rss[@]}" <<'PY'
import statistics, sys
args = sys.argv[2:]
cut = args.index("--")
t = [float(x) * 1000 for x in args[:cut]]
r = [int(x) / 1024 for x in args[cut + 1:]]
print(f"{sys.argv[1]:<44} wall ms: median {statistics.median(t):6.1f}  min {min(t):6.1f}  max {max(t):6.1f}"
      f"   peak RSS MB: median {statistics.median(r):5.1f}  max {max(r):5.1f}   ({len(t)} runs)")
PY
}

measure "cppflue run (test:demo, 1 turn)" "$bin/cppflue" run -s bench -p "hello"
measure "weather_agent (2 turns, 2 tool calls)" "$bin/examples/weather_agent" "Weather in Paris and Oslo?"
