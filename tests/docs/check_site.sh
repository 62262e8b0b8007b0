#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The documentation site builds with `mkdocs build --strict` (a broken link, a missing page or a
# bad nav entry fails it), and every page under docs/ is in the navigation.
# Usage: check_site.sh <source dir> <binary dir>
set -euo pipefail
src="$1"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdocs="$(command -v mkdocs || true)"
if [ -z "$mkdocs" ]; then
  echo "mkdocs is not installed (Debian: apt-get install mkdocs mkdocs-material)" >&2
  exit 1
fi
cd "$src"
if ! "$mkdocs" build --strict --quiet -f mkdocs.yml -d "$out/site" >"$out/log" 2>&1; then
  cat "$out/log" >&2
  echo "mkdocs build --strict failed" >&2
  exit 1
fi
# mkdocs 1.4 only reports pages left out of the nav (INFO); compare the lists ourselves.
missing=0
while IFS= read -r page; do
  rel="${page#docs/}"
  if ! grep -qE "^[[:space:]]*-[^#]*[: ][[:space:]]*${rel//./\\.}[[:space:]]*$" mkdocs.yml; then
    echo "docs/$rel is not in the nav of mkdocs.yml" >&2
    missing=1
  fi
done < <(find docs -name '*.md' | sort)
exit "$missing"
