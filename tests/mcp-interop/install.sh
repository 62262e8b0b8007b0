#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the pinned MCP servers of package-lock.json into node_modules/ (once; parallel test
# processes wait on a lock). Prints the node_modules path.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
command -v npm >/dev/null || { echo "install.sh: npm is needed for the MCP interop tests" >&2; exit 1; }
exec 9>"$here/.install.lock"
flock 9
if [ ! -f node_modules/@modelcontextprotocol/server-everything/dist/index.js ] ||
   [ ! -f node_modules/@modelcontextprotocol/server-filesystem/dist/index.js ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
echo "$here/node_modules"
