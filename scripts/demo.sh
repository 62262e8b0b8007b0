#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets everything up (Debian packages, idempotent), builds CppFlue in release mode and runs an
# agent: a C++ program with a custom tool that streams its answer, then the `cppflue` CLI.
# With no API key both use the offline `test:` model, and say so; with OPENAI_API_KEY (or
# ANTHROPIC_API_KEY / GEMINI_API_KEY) set they talk to that provider instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target cppflue_cli weather_agent
demo_dir="$(mktemp -d)"
trap 'rm -rf "$demo_dir"' EXIT
cp examples/demo-project/* "$demo_dir"/
cd "$demo_dir"
echo "== examples/weather_agent.cpp: a C++ agent with a custom tool, streaming ==" >&2
"$OLDPWD/build/release/examples/weather_agent" "${1:-What is the weather in Paris and in Oslo?}"
echo >&2
echo "== cppflue run: the CLI on the same project, session 'demo' ==" >&2
"$OLDPWD/build/release/cppflue" run -s demo -p "${2:-Hello! Who are you?}"
echo >&2
echo "== cppflue sessions show demo: the stored, structured history ==" >&2
"$OLDPWD/build/release/cppflue" sessions show demo
