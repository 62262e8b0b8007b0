#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# clang-tidy (.clang-tidy, run by scripts/lint.sh) reports nothing in the .cpp files under src/
# changed since the merge base with origin/main (HEAD~1 when there is no origin/main, or when
# HEAD is already in it), committed or not, nor in the .cpp files that include a changed header.
# Only the changed files: the whole tree takes about 15 minutes on 2 cores, too long for every
# test run (run `scripts/lint.sh` for all of it).
# A shallow clone with a single commit has no base to compare with: then only the files changed
# in the working tree (against HEAD) are checked, which in a fresh clone is none (lint.sh says so).
# Skipped (exit 77, ctest's SKIP_RETURN_CODE) when clang-tidy-15 is missing (scripts/setup.sh
# installs it) or the source tree is not a git checkout (nothing to compare with).
# Usage: check_lint.sh <source dir> <binary dir>
set -euo pipefail
src="$1"
bin="${2:-$1/build/debug}"
if ! command -v clang-tidy-15 >/dev/null 2>&1; then
  echo "SKIPPED: clang-tidy-15 is not installed (Debian: apt-get install clang-tidy-15;" \
    "scripts/setup.sh installs it)"
  exit 77
fi
cd "$src"
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "SKIPPED: $src is not a git checkout: no base to find the changed files against" \
    "(run scripts/lint.sh for every file)"
  exit 77
fi
bash scripts/lint.sh --build "$bin" --changed src
