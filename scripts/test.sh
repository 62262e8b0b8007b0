#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets everything up (Debian packages, idempotent) and runs the whole test suite:
# a debug build of the library, the `cppflue` binary, every test binary, the fuzz replays,
# the example and the benchmarks (built, not run), then ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
preset="${CPPFLUE_TEST_PRESET:-debug}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset" -j "$(nproc)"
