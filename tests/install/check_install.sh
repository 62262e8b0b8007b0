#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the built project into a temporary prefix, then builds and runs a small program
# against it twice: with find_package(cppflue) and with `pkg-config cppflue`.
# Usage: check_install.sh <build dir> <source dir> [compile flags] [link flags]
# (the flags of the build, e.g. sanitizers, which an instrumented library needs in its users)
set -euo pipefail
build="$1"
src="$2"
cxxflags="${3:-}"
ldflags="${4:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER_LAUNCHER= \
  -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$work/consumer" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
mkdir -p "$work/run" && cd "$work/run"
"$work/consumer/consumer"
pcdir="$(dirname "$(find "$work/prefix" -name cppflue.pc | head -1)")"
# shellcheck disable=SC2046,SC2086
g++ -std=c++20 $cxxflags $ldflags "$src/tests/install/consumer/main.cpp" \
  $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs cppflue) -o "$work/pc_consumer"
"$work/pc_consumer"
"$work/prefix/bin/cppflue" --version
echo "install check: find_package, pkg-config and the installed binary all work"
