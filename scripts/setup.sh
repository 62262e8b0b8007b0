#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages CppFlue needs. Idempotent: when everything is present it
# does nothing (no apt-get update), so it is cheap to call before every build.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git time ca-certificates
  # ld.lld lays out the code start-up runs together in optimized builds (src/cli/startup.order)
  lld
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev libexpected-dev libedit-dev libpcre2-dev libseccomp-dev
  bubblewrap util-linux python3 ripgrep strace tmux
  # the deployment tests (tests/cli/deploy_*): YAML lint and systemd unit checks
  yamllint systemd
  # the Prometheus scrape test (tests/server/prometheus_test.cpp)
  prometheus
  mkdocs mkdocs-material
  libgtest-dev libgmock-dev libbenchmark-dev
  # scripts/lint.sh and the docs.lint test (about 40 MB once; nothing when present).
  clang-tidy-15
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
updated=0

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  updated=1
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# valijson (JSON Schema validation) is header-only, but its .deb depends on Qt5 and Poco, so it
# is unpacked into the source tree's .deps/ (git-ignored) instead of being installed.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/.deps"
if [ ! -f "$deps/valijson/usr/include/valijson/validator.hpp" ]; then
  echo "setup: unpacking libvalijson-dev into $deps/valijson" >&2
  tmp="$(mktemp -d)"
  chmod 777 "$tmp"
  if ! (cd "$tmp" && apt-get download libvalijson-dev >/dev/null 2>&1); then
    if [ "$updated" -eq 0 ]; then $SUDO apt-get update -qq; fi
    (cd "$tmp" && apt-get download libvalijson-dev >/dev/null)
  fi
  rm -rf "$deps/valijson"
  mkdir -p "$deps"
  dpkg-deb -x "$tmp"/libvalijson-dev_*.deb "$deps/valijson"
  rm -rf "$tmp"
fi
