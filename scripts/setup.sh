#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages CppFlue needs. Idempotent: when everything is present it
# does nothing (no apt-get update), so it is cheap to call before every build.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git time ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcurl4-openssl-dev libsqlite3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev libexpected-dev libedit-dev libpcre2-dev libseccomp-dev
  bubblewrap util-linux python3 ripgrep
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
