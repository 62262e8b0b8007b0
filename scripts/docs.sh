#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the documentation site into build/site (strict: a broken link fails), or serves it
# with live reload on http://127.0.0.1:8000 with `--serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mkdocs >/dev/null || ! dpkg-query -W -f='${Status}' mkdocs-material 2>/dev/null |
  grep -q "install ok installed"; then
  bash scripts/setup.sh
fi
if [ "${1:-}" = "--serve" ]; then
  exec mkdocs serve --strict -a 127.0.0.1:${PORT:-8000}
fi
mkdocs build --strict
echo "docs: built build/site/index.html"
