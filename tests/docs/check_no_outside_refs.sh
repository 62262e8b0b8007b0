#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Comments and documentation cite only what is in the repository: no "SPEC §x", "SPEC.md",
# "DESIGN §x" or "DESIGN.md" (design documents that are not part of it). Cite a page of the
# docs site instead (docs/concepts/sandbox.md, docs/reference/config.md, ...), or nothing.
# Scanned: src/ include/ tests/ docs/ README.md CONTRIBUTING.md (git-ignored files skipped).
# Usage: check_no_outside_refs.sh <source dir> [<binary dir>]
set -euo pipefail
cd "$1"
pattern='SPEC §|SPEC\.md|DESIGN §|DESIGN\.md'
self='tests/docs/check_no_outside_refs.sh'
paths=(src include tests docs README.md CONTRIBUTING.md)
if git rev-parse --show-toplevel >/dev/null 2>&1 &&
   [ "$(cd "$(git rev-parse --show-toplevel)" && pwd -P)" = "$(pwd -P)" ]; then
  list() { git ls-files -z --cached --others --exclude-standard -- "${paths[@]}"; }
else
  list() {
    local existing=()
    for p in "${paths[@]}"; do [ -e "$p" ] && existing+=("$p"); done
    [ "${#existing[@]}" -eq 0 ] || find "${existing[@]}" -name node_modules -prune -o -type f -print0
  }
fi
hits="$(list | grep -zv -x -F "$self" | xargs -0 -r grep -nIE -- "$pattern" /dev/null || true)"
if [ -n "$hits" ]; then
  echo "$hits" >&2
  echo "citations of documents that are not in the repository (cite a docs/ page instead)" >&2
  exit 1
fi
