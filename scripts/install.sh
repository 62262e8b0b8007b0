#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs CppFlue from this source tree: the Debian build dependencies (scripts/setup.sh,
# apt-get, only what is missing), a release build of what gets installed (build/release, the
# `release` preset), then `cmake --install` into a prefix: the `cppflue` binary, the
# `cppflue-exec` jail helper (libexec/cppflue/, where the binary looks for it), the libraries,
# the headers, the CMake package (find_package(cppflue)) and the pkg-config file (cppflue.pc).
# With --deb it builds a Debian package of the same files through CPack instead (nothing is
# installed). Idempotent: running it again rebuilds only what changed and reinstalls.
# Nothing but apt-get uses the network.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install.sh [--prefix DIR] [--deb] [--build-dir DIR] [--no-setup] [--no-build]

  --prefix DIR     install under DIR (default /usr/local): DIR/bin/cppflue,
                   DIR/libexec/cppflue/cppflue-exec, DIR/lib, DIR/include, DIR/lib/cmake/cppflue,
                   DIR/lib/pkgconfig/cppflue.pc
  --deb            build a .deb with CPack instead of installing (it installs under /usr)
  --build-dir DIR  build in DIR instead of build/release (configured as a Release build when
                   it is not configured yet; an existing build tree is reused as it is)
  --no-setup       do not run scripts/setup.sh (the build dependencies are already there)
  --no-build       install what DIR already holds, without building
  -h, --help       this help
EOF
}

die() {
  echo "install.sh: error: $*" >&2
  exit 1
}
step() { echo "==> $*" >&2; }

prefix=/usr/local
prefix_given=0
deb=0
build_dir=""
setup=1
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] && [ -n "$2" ] || die "--prefix needs a directory"; prefix="$2"; prefix_given=1; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; [ -n "$prefix" ] || die "--prefix needs a directory"; prefix_given=1; shift ;;
    --build-dir) [ $# -ge 2 ] && [ -n "$2" ] || die "--build-dir needs a directory"; build_dir="$2"; shift 2 ;;
    --build-dir=*) build_dir="${1#--build-dir=}"; [ -n "$build_dir" ] || die "--build-dir needs a directory"; shift ;;
    --deb) deb=1; shift ;;
    --no-setup) setup=0; shift ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
if [ "$deb" -eq 1 ] && [ "$prefix_given" -eq 1 ]; then
  die "--prefix and --deb do not go together (the package installs under /usr)"
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -f "$root/CMakeLists.txt" ] && [ -f "$root/CMakePresets.json" ] ||
  die "$root is not a CppFlue source tree (no CMakeLists.txt / CMakePresets.json)"
# Relative paths are relative to where the script was called from.
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
if [ -n "$build_dir" ]; then
  case "$build_dir" in /*) ;; *) build_dir="$PWD/$build_dir" ;; esac
fi
cd "$root"

# ---- 1. build dependencies (Debian packages) ----
if [ "$setup" -eq 1 ]; then
  command -v apt-get >/dev/null && command -v dpkg-query >/dev/null ||
    die "scripts/setup.sh installs the build dependencies with apt-get (Debian 12); on another system install them yourself (the list is in scripts/setup.sh) and pass --no-setup"
  step "build dependencies (scripts/setup.sh: apt-get, only what is missing)"
  bash scripts/setup.sh || die "installing the build dependencies failed (scripts/setup.sh, above)"
fi
tools=(cmake)
[ "$build" -eq 1 ] && tools+=(ninja)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/setup.sh installs it)"
done

# ---- 2. configure and build what gets installed ----
if [ -z "$build_dir" ]; then
  build_dir="$root/build/release"
  if [ "$build" -eq 1 ]; then
    step "configuring the release preset ($build_dir)"
    cmake --preset release >/dev/null || die "configuring failed (cmake --preset release, above)"
  fi
elif [ ! -f "$build_dir/CMakeCache.txt" ] && [ "$build" -eq 1 ]; then
  step "configuring a Release build in $build_dir"
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null ||
    die "configuring $build_dir failed (above)"
fi
[ -f "$build_dir/cmake_install.cmake" ] ||
  die "$build_dir is not a configured CppFlue build tree (without --no-build, install.sh configures and builds it)"
targets=(cppflue cppflue_cli_lib cppflue_cli cppflue_exec)
if [ "$build" -eq 1 ]; then
  step "building ${targets[*]} in $build_dir"
  cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}" ||
    die "the build failed (above)"
elif [ ! -x "$build_dir/cppflue" ] || [ ! -x "$build_dir/cppflue-exec" ]; then
  die "$build_dir holds no built cppflue / cppflue-exec; run without --no-build"
fi
version="$("$build_dir/cppflue" --version 2>/dev/null | awk '{print $2}')" ||
  die "$build_dir/cppflue does not run"

# ---- 3a. --deb: a Debian package through CPack ----
if [ "$deb" -eq 1 ]; then
  [ -f "$build_dir/CPackConfig.cmake" ] ||
    die "$build_dir has no CPackConfig.cmake (configured before packaging was added? run without --no-build to reconfigure)"
  command -v cpack >/dev/null || die "cpack is not installed (it comes with cmake)"
  command -v dpkg-deb >/dev/null || die "dpkg-deb is not installed (Debian: apt-get install dpkg-dev)"
  arch="$(dpkg --print-architecture)"
  step "packaging with CPack (cpack -G DEB)"
  log="$build_dir/packages/cpack.log"
  mkdir -p "$build_dir/packages"
  (cd "$build_dir" && cpack -G DEB --config CPackConfig.cmake) >"$log" 2>&1 ||
    { cat "$log" >&2; die "cpack failed (log: $log)"; }
  deb_file="$(ls -t "$build_dir"/packages/cppflue_"$version"-*_"$arch".deb 2>/dev/null | head -1 || true)"
  [ -n "$deb_file" ] && [ -f "$deb_file" ] || { cat "$log" >&2; die "cpack did not write cppflue_${version}-*_${arch}.deb into $build_dir/packages"; }
  echo
  echo "Built the Debian package of CppFlue $version:"
  echo "  $deb_file"
  echo "  $(dpkg-deb -f "$deb_file" Package Version Architecture | paste -sd' ')"
  echo "  Depends: $(dpkg-deb -f "$deb_file" Depends)"
  echo "It installs under /usr: bin/cppflue, libexec/cppflue/cppflue-exec, lib/libcppflue*.a,"
  echo "include/cppflue/, lib/cmake/cppflue/ and lib/pkgconfig/cppflue.pc (dpkg-deb -c lists them)."
  echo
  echo "Next steps:"
  if [ "$(id -u)" -eq 0 ]; then s=""; else s="sudo "; fi
  echo "  ${s}apt-get install $deb_file"
  echo "     (its Recommends: bubblewrap for the shell jail, and the compiler and -dev packages"
  echo "      that compiled agents build with; --no-install-recommends for the command alone)"
  echo "  cppflue init my-agent && cd my-agent && cppflue run -p \"hello\""
  exit 0
fi

# ---- 3b. cmake --install into the prefix ----
# The first existing directory on the way to the prefix decides whether we can write there.
probe="$prefix"
while [ ! -d "$probe" ]; do probe="$(dirname "$probe")"; done
SUDO=""
if [ ! -w "$probe" ] && [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null ||
    die "cannot write to $prefix and sudo is not installed: run as root, or pass --prefix \"\$HOME/.local\""
  SUDO="sudo"
  step "$prefix is not writable for $(id -un): installing with sudo"
fi
step "installing into $prefix (cmake --install)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
$SUDO cmake --install "$build_dir" --prefix "$prefix" >"$log" 2>&1 ||
  { cat "$log" >&2; die "cmake --install failed"; }
manifest="$build_dir/install_manifest.txt"
if [ -n "$SUDO" ] && [ -f "$manifest" ]; then
  # Keep the build tree the user's: the next install (or a test) rewrites this file.
  $SUDO chown "$(id -u):$(id -g)" "$manifest" || true
fi

# ---- 4. check what was installed ----
bin="$prefix/bin/cppflue"
helper="$prefix/libexec/cppflue/cppflue-exec"
[ -x "$bin" ] || die "$bin was not installed"
[ -x "$helper" ] || die "$helper was not installed"
"$bin" --version >/dev/null || die "$bin --version failed"
# `cppflue doctor` from an empty directory: which helper the installed binary finds.
tmp="$(mktemp -d)"
trap 'rm -f "$log"; rm -rf "$tmp"' EXIT
doctor_json="$(cd "$tmp" && env -u CPPFLUE_EXEC_HELPER "$bin" doctor --json 2>/dev/null || true)"
doctor_isolation="$(cd "$tmp" && env -u CPPFLUE_EXEC_HELPER "$bin" doctor 2>/dev/null | sed -n 's/^isolation  *//p' || true)"
found_helper="$(printf '%s' "$doctor_json" | grep -o '"helper":"[^"]*"' | sed 's/^"helper":"//; s/"$//' || true)"
if [ "$(readlink -f "$found_helper" 2>/dev/null)" != "$(readlink -f "$helper")" ]; then
  die "the installed cppflue does not find its jail helper $helper (cppflue doctor --json reports '${found_helper}')"
fi

# The manifest's lines under the prefix that match $1.
lines() { awk -v p="$prefix/" 'index($0, p) == 1' "$manifest" 2>/dev/null | grep -E "$1" || true; }
cmake_dir="$(dirname "$(lines '/cppflueConfig\.cmake$' | head -1)")"
include_dir="$(lines '/include/cppflue/cppflue\.hpp$' | head -1)"
include_dir="${include_dir%/cppflue.hpp}"
echo
echo "Installed CppFlue $version into $prefix:"
printf '  %-48s %s\n' "$bin" "the command"
printf '  %-48s %s\n' "$helper" "the shell jail's helper (cppflue finds it there)"
while IFS= read -r lib; do
  printf '  %-48s %s\n' "$lib" "library"
done < <(lines '\.a$')
printf '  %-48s %s\n' "$include_dir/" "headers ($(lines '/include/cppflue/' | wc -l) files)"
printf '  %-48s %s\n' "$cmake_dir/" "CMake package: find_package(cppflue)"
printf '  %-48s %s\n' "$(lines '/cppflue\.pc$' | head -1)" "pkg-config cppflue"
echo "  (every file: $manifest)"
[ -n "$doctor_isolation" ] && echo "Shell jail: $doctor_isolation"

echo
echo "Next steps:"
on_path="$(command -v cppflue 2>/dev/null || true)"
if [ "$(readlink -f "$on_path" 2>/dev/null)" != "$(readlink -f "$bin")" ]; then
  if [ -n "$on_path" ]; then
    echo "  (another cppflue comes first on your PATH: $on_path)"
  fi
  printf '  export PATH=%q:"$PATH"\n' "$prefix/bin"
fi
echo "  cppflue init my-agent && cd my-agent && cppflue run -p \"hello\""
echo "  cppflue doctor        # in the project: configuration, model, store, the shell jail"
case "$prefix" in
  /usr | /usr/local) flag="" ;;
  *) flag="$(printf ' -DCMAKE_PREFIX_PATH=%q' "$prefix")" ;;
esac
echo "Compiled agents (src/agents/*.cpp in the project) build against the installed library:"
echo "  cmake -S . -B build -G Ninja$flag && cmake --build build"
echo "  ./build/my-agent run --agent assistant -p \"hello\""
