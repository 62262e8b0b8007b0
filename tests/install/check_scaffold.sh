#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the built project into a temporary prefix, scaffolds an application with the installed
# `cppflue init demo`, builds it against that prefix, and runs its compiled agent and workflow
# with no provider key (so the offline test model answers).
# Usage: check_scaffold.sh <build dir> <source dir> [compile flags] [link flags]
# (the flags of the build, e.g. sanitizers, which an instrumented library needs in its users)
set -euo pipefail
build="$1"
src="$2"  # unused: the scaffold comes from the installed binary, not from the source tree
cxxflags="${3:-}"
ldflags="${4:-}"
: "$src"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "scaffold check: $*" >&2
  exit 1
}
show() {
  echo "---- $1" >&2
  cat "$1" >&2
}

# No provider key and no model override: the scaffold must work offline.
unset OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY CPPFLUE_MODEL

cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix="$work/prefix"

mkdir -p "$work/projects"
cd "$work/projects"
"$prefix/bin/cppflue" init demo >"$work/init.out" 2>"$work/init.err" ||
  { show "$work/init.out"; show "$work/init.err"; fail "cppflue init demo failed"; }
cd demo
for f in cppflue.toml AGENTS.md .agents/skills/summarize-text/SKILL.md .agents/roles/reviewer.md \
  .agents/agents/helper.md src/agents/assistant.cpp src/workflows/summarize.cpp src/main.cpp \
  CMakeLists.txt README.md .gitignore; do
  [ -f "$f" ] || fail "cppflue init did not write $f"
done
if "$prefix/bin/cppflue" init . >"$work/init2.out" 2>"$work/init2.err"; then
  fail "a second cppflue init overwrote the scaffold without --force"
fi

cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER_LAUNCHER= \
  -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >"$work/configure.log" 2>&1 ||
  { show "$work/configure.log"; fail "configuring the scaffold failed"; }
cmake --build build >"$work/build.log" 2>&1 ||
  { show "$work/build.log"; fail "building the scaffold failed"; }
[ -x build/demo ] || fail "the scaffold did not produce build/demo"

# The compiled agent: the offline model answers, and says so.
./build/demo run --agent assistant -p "Hello" >"$work/agent.out" 2>"$work/agent.err" ||
  { show "$work/agent.out"; show "$work/agent.err"; fail "run --agent assistant failed"; }
grep -qF "[offline test model]" "$work/agent.out" ||
  { show "$work/agent.out"; show "$work/agent.err"; fail "run --agent assistant: no offline answer"; }

# The compiled workflow: its result is JSON with a "summary".
./build/demo run summarize --payload '{"text":"CppFlue is fast."}' \
  >"$work/workflow.out" 2>"$work/workflow.err" ||
  { show "$work/workflow.out"; show "$work/workflow.err"; fail "run summarize failed"; }
python3 - "$work/workflow.out" <<'PY' || { show "$work/workflow.out"; show "$work/workflow.err"; fail "run summarize: no JSON with a \"summary\" key"; }
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
candidates = [text] + [line for line in reversed(text.splitlines()) if line.strip()]
for c in candidates:
    try:
        value = json.loads(c)
    except ValueError:
        continue
    if isinstance(value, dict) and (
        isinstance(value.get("summary"), str)
        or isinstance(value.get("result"), dict) and isinstance(value["result"].get("summary"), str)
    ):
        sys.exit(0)
sys.exit(1)
PY

# `cppflue skill new` adds a skill next to the scaffold's.
"$prefix/bin/cppflue" skill new release-notes >"$work/skill.out" 2>&1 ||
  { show "$work/skill.out"; fail "cppflue skill new release-notes failed"; }
[ -f .agents/skills/release-notes/SKILL.md ] || fail "skill new did not write its SKILL.md"

echo "scaffold check: cppflue init, the scaffold's build, its agent and its workflow all work"
