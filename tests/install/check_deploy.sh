#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cppflue build` of a compiled project, against the installed package: `cppflue init demo`,
# then `cppflue build --target bundle` (which compiles the application in release), the bundle's
# start script running the compiled agent and workflow, and `--target docker`, whose build
# context must hold what the image's build stage compiles against.
# Usage: check_deploy.sh <build dir> <source dir> [compile flags] [link flags]
set -euo pipefail
build="$1"
src="$2"
: "$src"
cxxflags="${3:-}"
ldflags="${4:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "deploy check: $*" >&2
  exit 1
}
show() {
  echo "---- $1" >&2
  cat "$1" >&2
}
unset OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY CPPFLUE_MODEL CPPFLUE_STATE_DIR

cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix="$work/prefix"
cd "$work"
"$prefix/bin/cppflue" init demo >/dev/null 2>&1 || fail "cppflue init demo failed"
cd demo

# The flags of this build (sanitizers) reach the application's first configure.
CXXFLAGS="$cxxflags" LDFLAGS="$ldflags" CMAKE_GENERATOR=Ninja \
  "$prefix/bin/cppflue" build --target bundle >"$work/bundle.out" 2>"$work/bundle.err" ||
  { show "$work/bundle.out"; show "$work/bundle.err"; fail "cppflue build --target bundle failed"; }
grep -q "compiling demo in release" "$work/bundle.err" ||
  { show "$work/bundle.err"; fail "the application was not compiled"; }
grep -q "CMAKE_BUILD_TYPE:STRING=Release" build/cppflue-release/CMakeCache.txt ||
  fail "the application was not configured as a Release build"
bundle="$PWD/dist/bundle"
[ -x "$bundle/bin/demo" ] || fail "the bundle has no bin/demo"
[ -x "$bundle/libexec/cppflue/cppflue-exec" ] || fail "the bundle has no jail helper"
[ -x "$bundle/lib/ld-linux-x86-64.so.2" ] || fail "the bundle has no loader"

# Started from elsewhere: the compiled agent and workflow run with the bundle's own libraries.
cd "$work"
"$bundle/start" run --agent assistant -p "Hello" >"$work/agent.out" 2>"$work/agent.err" ||
  { show "$work/agent.out"; show "$work/agent.err"; fail "start run --agent assistant failed"; }
grep -qF "[offline test model]" "$work/agent.out" ||
  { show "$work/agent.out"; show "$work/agent.err"; fail "the compiled agent gave no offline answer"; }
"$bundle/start" run summarize --payload '{"text":"CppFlue is fast."}' \
  >"$work/workflow.out" 2>"$work/workflow.err" ||
  { show "$work/workflow.out"; show "$work/workflow.err"; fail "start run summarize failed"; }
grep -q "summary" "$work/workflow.out" || { show "$work/workflow.out"; fail "no summary"; }
[ -f "$bundle/state/state.db" ] || fail "the bundle's state did not go to its state/ folder"

# The docker context: the application's sources and the CppFlue it compiles against.
cd "$work/demo"
"$prefix/bin/cppflue" build --target docker >"$work/docker.out" 2>"$work/docker.err" ||
  { show "$work/docker.out"; show "$work/docker.err"; fail "cppflue build --target docker failed"; }
ctx="$PWD/dist/docker"
for f in app/CMakeLists.txt app/src/main.cpp app/src/agents/assistant.cpp \
  cppflue/include/cppflue/cppflue.hpp cppflue/libexec/cppflue/cppflue-exec; do
  [ -e "$ctx/$f" ] || fail "the docker context has no $f"
done
ls "$ctx"/cppflue/lib*/cmake/cppflue/cppflueConfig.cmake "$ctx"/cppflue/lib*/libcppflue.a \
  >/dev/null 2>&1 || ls "$ctx"/cppflue/lib*/*/cmake/cppflue/cppflueConfig.cmake >/dev/null 2>&1 ||
  fail "the docker context has no CMake package or library"
[ ! -e "$ctx/app/build" ] || fail "the docker context holds the host's build folder"
grep -q "install -D -m 0755 /src/build/demo /out/bin/demo" "$ctx/Dockerfile" ||
  fail "the Dockerfile does not install the compiled application"
echo "deploy check: the compiled project's bundle and docker context work"
