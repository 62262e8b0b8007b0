#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The quick start of README.md and docs/getting-started.md, as a new user runs it:
# scripts/install.sh into a temporary prefix (the tree ctest runs in is reused: no apt-get, no
# second build), its bin/ on PATH, `cppflue --version`, `cppflue init my-agent && cd my-agent &&
# cppflue run -p "hello"` with the offline model and no build, `cppflue doctor` (which must find
# the installed jail helper), then the compiled agent configured and built against the prefix.
# Also: install.sh is idempotent, and refuses bad arguments with a clear error.
# (check_scaffold.sh goes through the scaffold itself in depth: its files, workflow, skills.)
# Usage: check_quick_start.sh <build dir> <source dir> [compile flags] [link flags]
# (the flags of the build, e.g. sanitizers, which an instrumented library needs in its users)
set -euo pipefail
build="$1"
src="$2"
cxxflags="${3:-}"
ldflags="${4:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "quick start check: $*" >&2
  exit 1
}
show() {
  echo "---- $1" >&2
  cat "$1" >&2
}
# Runs "$@" with stdout and stderr in $work/<name>.out / .err; shows both and fails if it fails.
run() {
  local name="$1"
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" ||
    { show "$work/$name.out"; show "$work/$name.err"; fail "'$*' failed"; }
}
expect() {  # expect <name> <fixed string>: <name>.out contains it
  grep -qF -- "$2" "$work/$1.out" ||
    { show "$work/$1.out"; show "$work/$1.err"; fail "$1: the output does not say '$2'"; }
}

# A new user's environment: no provider key, no model override, no helper override.
unset OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY GOOGLE_API_KEY CPPFLUE_MODEL \
  CPPFLUE_EXEC_HELPER
version="$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")"
[ -n "$version" ] || fail "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"
prefix="$work/prefix"
install=(bash "$src/scripts/install.sh" --prefix "$prefix" --build-dir "$build" --no-setup --no-build)

# ---- scripts/install.sh ----
run install "${install[@]}"
expect install "Installed CppFlue $version into $prefix:"
expect install 'cppflue init my-agent && cd my-agent && cppflue run -p "hello"'
expect install "-DCMAKE_PREFIX_PATH=$prefix"
for f in bin/cppflue libexec/cppflue/cppflue-exec lib/libcppflue.a lib/libcppflue-cli.a \
  include/cppflue/cppflue.hpp include/cppflue/cli.hpp lib/cmake/cppflue/cppflueConfig.cmake \
  lib/cmake/cppflue/cppflueConfigVersion.cmake lib/pkgconfig/cppflue.pc; do
  [ -f "$prefix/$f" ] || fail "install.sh did not install $f"
done
# What it says it installed.
for f in bin/cppflue libexec/cppflue/cppflue-exec lib/libcppflue.a lib/libcppflue-cli.a \
  include/cppflue/ lib/cmake/cppflue/ lib/pkgconfig/cppflue.pc; do
  expect install "  $prefix/$f "
done
# Idempotent: a second run over the same prefix succeeds and installs the same files.
(cd "$prefix" && find . -type f | sort) >"$work/files1"
run install2 "${install[@]}"
expect install2 "Installed CppFlue $version into $prefix:"
(cd "$prefix" && find . -type f | sort) >"$work/files2"
cmp -s "$work/files1" "$work/files2" || { diff "$work/files1" "$work/files2" >&2; fail "a second install.sh changed the installed files"; }
# Clear errors.
if bash "$src/scripts/install.sh" --frobnicate >"$work/bad.out" 2>"$work/bad.err"; then
  fail "install.sh accepted an unknown argument"
fi
grep -qF "error: unknown argument '--frobnicate'" "$work/bad.err" || { show "$work/bad.err"; fail "no clear error for an unknown argument"; }
mkdir "$work/empty"
if bash "$src/scripts/install.sh" --prefix "$work/p2" --build-dir "$work/empty" --no-setup --no-build \
  >"$work/bad2.out" 2>"$work/bad2.err"; then
  fail "install.sh --no-build succeeded with an empty build directory"
fi
grep -qF "error:" "$work/bad2.err" || { show "$work/bad2.err"; fail "no clear error for an empty build directory"; }
[ ! -e "$work/p2" ] || fail "a failed install.sh wrote into its prefix"

# ---- the installed command, from PATH ----
export PATH="$prefix/bin:$PATH"
[ "$(command -v cppflue)" = "$prefix/bin/cppflue" ] || fail "cppflue on PATH is $(command -v cppflue)"
run version cppflue --version
[ "$(cat "$work/version.out")" = "cppflue $version" ] || { show "$work/version.out"; fail "cppflue --version is not 'cppflue $version'"; }

# ---- Markdown agents: no build ----
mkdir "$work/projects" && cd "$work/projects"
run init cppflue init my-agent
cd my-agent
run hello cppflue run -p "hello"
expect hello "[offline test model]"
run helper cppflue run --agent helper -p "List the files"
expect helper "[offline test model]"
[ ! -e build ] || fail "the Markdown quick start created a build directory"

# ---- cppflue doctor: happy, and the installed binary finds the installed helper ----
run doctor cppflue doctor
expect doctor "config     $work/projects/my-agent/cppflue.toml"
expect doctor "offline test model"
run doctor_json cppflue doctor --json
python3 - "$work/doctor_json.out" "$prefix/libexec/cppflue/cppflue-exec" <<'PY' || { show "$work/doctor_json.out"; fail "cppflue doctor --json: see above"; }
import json, os, sys
report = json.load(open(sys.argv[1], encoding="utf-8"))
helper = report["sandbox"]["jail"]["helper"]
if not report["ok"]:
    sys.exit("doctor is not ok")
if not helper or os.path.realpath(helper) != os.path.realpath(sys.argv[2]):
    sys.exit(f"the jail helper is {helper!r}, not the installed {sys.argv[2]!r}")
PY

# ---- compiled agents: the scaffold's CMake application against the installed library ----
run configure cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER_LAUNCHER= -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags"
run build cmake --build build
run assistant ./build/my-agent run --agent assistant -p "hello"
expect assistant "[offline test model]"

echo "quick start check: install.sh, cppflue on PATH, init, the Markdown agent, doctor and the compiled agent all work"
