#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates src/cli/startup.order: the functions of the `cppflue` binary that start-up runs
# (in the order callgrind's profiles list them, which keeps callers near their callees). The release build hands the file to ld.lld
# (--symbol-ordering-file), which lays those functions out together at the start of .text, so
# a starting process maps a few hundred KiB of code instead of pages spread over the whole
# binary (the kernel maps 64 KiB around each page fault).
#
# It runs a release `cppflue` under valgrind's callgrind four times: `--version`, a one-turn
# `run` with the offline model, a one-turn `run` against a local OpenAI-compatible fake, and
# `serve` until it has answered /health. Names are mangled; a name that no longer exists is
# ignored by the linker, so a stale file only makes start-up less compact, never wrong.
#
#   bash scripts/startup-order.sh [path/to/release/cppflue]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "${1:-$root/build/release/cppflue}")"
out="$root/src/cli/startup.order"
command -v valgrind >/dev/null || { echo "startup-order: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
[ -x "$bin" ] || { echo "startup-order: $bin is not built (cmake --build --preset release --target cppflue_cli)" >&2; exit 1; }

work="$(mktemp -d)"
fake_pid=""
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill -KILL "$serve_pid" 2>/dev/null || true
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
  if [ -n "${STARTUP_ORDER_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A one-answer OpenAI-compatible provider on a free port (written to $work/port).
cat > "$work/fake.py" <<'EOF'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
        if body.get("stream"):
            chunks = [{"id": "c", "object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hello"},
                                    "finish_reason": None}]},
                      {"id": "c", "object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}]
            data = "".join("data: " + json.dumps(c) + "\n\n" for c in chunks) + "data: [DONE]\n\n"
            kind = "text/event-stream"
        else:
            data = json.dumps({"id": "c", "object": "chat.completion", "model": "m", "usage": usage,
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": "hello"}}]})
            kind = "application/json"
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data.encode())
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
EOF
python3 "$work/fake.py" "$work/port" &
fake_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
port="$(cat "$work/port")"

# valgrind_cmd NAME: the command line that profiles one run into $work/cg.NAME, in a clean env.
valgrind_cmd() {
  printf '%s\0' env -i PATH=/usr/bin:/bin HOME="$work" FAKE_KEY=sk-order NO_COLOR=1 \
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.$1" "$bin"
}

# grind NAME DIR ARGS...: a run that must end by itself, within two minutes.
grind() {
  local name="$1" dir="$2"
  shift 2
  local cmd=()
  mapfile -d '' cmd < <(valgrind_cmd "$name")
  if ! (cd "$dir" && timeout 120 "${cmd[@]}" "$@" >"$work/$name.log" 2>&1); then
    cat "$work/$name.log" >&2
    echo "startup-order: the $name run failed (its log is above)" >&2
    exit 1
  fi
}

mkdir -p "$work/offline" "$work/fake" "$work/serve"
printf '[providers.fake]\napi = "openai-chat"\nbase_url = "http://127.0.0.1:%s/v1"\napi_key_env = "FAKE_KEY"\n' \
  "$port" > "$work/fake/cppflue.toml"
cp "$work/fake/cppflue.toml" "$work/serve/cppflue.toml"

# serve runs until stopped: its pid is valgrind's own (exec), so it is stopped by pid.
mapfile -d '' serve_cmd < <(valgrind_cmd serve)
(cd "$work/serve" && exec "${serve_cmd[@]}" serve --port 0 -m test:echo >"$work/serve.log" 2>&1) &
serve_pid=$!
listen=""
for _ in $(seq 600); do
  listen="$(grep -o '127\.0\.0\.1:[0-9]*' "$work/serve.log" 2>/dev/null | head -1 || true)"
  [ -n "$listen" ] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$listen" ] ||
  ! python3 -c "import urllib.request; urllib.request.urlopen('http://$listen/health', timeout=30).read()"; then
  cat "$work/serve.log" >&2
  echo "startup-order: serve did not start or answer /health (its log is above)" >&2
  exit 1
fi
sleep 1
kill -TERM "$serve_pid"
for _ in $(seq 300); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$serve_pid" 2>/dev/null; then
  echo "startup-order: serve did not stop on SIGTERM within 30 s" >&2
  exit 1
fi
wait "$serve_pid" || true
serve_pid=""

grind version "$work" --version
grind offline "$work/offline" run -m test:echo -p "hello"
grind fake "$work/fake" run -m fake:m -p "hello"

python3 - "$bin" "$out" "$work"/cg.serve "$work"/cg.version "$work"/cg.offline "$work"/cg.fake <<'EOF'
import re, sys
binary, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
seen, order = set(), []
for path in files:
    objects, functions, current = {}, {}, None
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, ident, name = m.groups()
            if name:
                objects[ident] = name
            if kind == "ob":
                current = objects.get(ident)
            continue
        # Names are given once, where an id first appears: on a fn= or a cfn= (callee) line.
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if not m:
            continue
        kind, ident, name = m.groups()
        if name:
            functions[ident] = name
        if kind == "cfn":
            continue
        name = re.sub(r"'\d+$", "", functions.get(ident, ""))
        # Only named functions of the binary itself; "(below main)" and bare addresses are not.
        if current == binary and re.match(r"^[A-Za-z_][\w.$]*$", name) and name not in seen:
            seen.add(name)
            order.append(name)
if len(order) < 100:
    sys.exit(f"startup-order: only {len(order)} functions found; is {binary} built with symbols?")
with open(out, "w") as f:
    f.write("# The functions of `cppflue` that start-up runs, in the order they first run.\n")
    f.write("# Generated by scripts/startup-order.sh; the release build's ld.lld lays them out first.\n")
    f.write("\n".join(order) + "\n")
print(f"startup-order: {len(order)} functions -> {out}")
EOF
