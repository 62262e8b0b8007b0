#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs clang-tidy-15 with the repository's .clang-tidy on the library's sources, using the
# compilation database of the debug build (build/debug/compile_commands.json; the debug preset is
# configured when it is missing). Any warning fails the run (exit 1); a summary ends the output.
#
# Usage: scripts/lint.sh [--build DIR] [--changed [BASE]] [--exclude PATH]... [--list] [PATH...]
#   PATH...          .cpp files, or directories whose .cpp files to check (default: src/)
#   --changed [BASE] only those changed since the merge base of BASE and HEAD (committed or not,
#                    and new untracked ones), plus those that directly #include a changed header.
#                    BASE defaults to origin/main; to HEAD~1 when there is no origin/main or HEAD
#                    is already in it (a clone of main). When BASE is not there (a shallow clone
#                    of one commit), only the files changed in the working tree are checked.
#   --exclude PATH   neither check the .cpp files under PATH nor report warnings in files under
#                    it (e.g. a header of an excluded module seen through another module's .cpp)
#   --build DIR      the build tree whose compile_commands.json to use (default: build/debug)
#   --list           print the .cpp files that would be checked, and stop
# Environment: CPPFLUE_LINT_JOBS (parallel clang-tidy processes, default 2). A full run is about
# 32 CPU-minutes (clang-tidy parses each file's Asio and Boost.JSON headers): some 16 minutes on
# 2 idle cores, nearer 30 when a build shares them.
#
# Headers are checked through the .cpp files that include them (HeaderFilterRegex in .clang-tidy).
# clang-tidy-15 is installed with apt-get when missing, like scripts/setup.sh does.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="${CPPFLUE_LINT_JOBS:-2}"
build="$root/build/debug"
default_build=1

usage() { sed -n '3,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

# ---- which files ----
changed=0
list=0
base=""
targets=()
excludes=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --list) list=1 ;;
    --build)
      [ $# -gt 1 ] || { usage; exit 2; }
      build="$(cd "$2" && pwd)"
      default_build=0
      shift
      ;;
    --exclude)
      [ $# -gt 1 ] || { usage; exit 2; }
      p="${2#./}"
      excludes+=("${p%/}")
      shift
      ;;
    --changed)
      changed=1
      if [ $# -gt 1 ] && [[ "$2" != -* ]] && [ ! -e "$2" ] &&
        git rev-parse -q --verify "$2^{commit}" >/dev/null 2>&1; then
        base="$2"
        shift
      fi
      ;;
    -*) echo "lint: unknown option $1" >&2; usage; exit 2 ;;
    *) p="${1#./}"; targets+=("${p%/}") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(src)

excluded() {
  local e
  for e in "${excludes[@]+"${excludes[@]}"}"; do
    case "$1" in "$e" | "$e"/*) return 0 ;; esac
  done
  return 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

files=()
for t in "${targets[@]}"; do
  if [ -d "$t" ]; then
    while IFS= read -r f; do
      f="${f#./}"
      excluded "$f" || files+=("$f")
    done < <(find "$t" -name '*.cpp' | sort)
  elif [ -f "$t" ]; then
    case "$t" in
      *.cpp) excluded "$t" || files+=("$t") ;;
      *) echo "lint: skipping $t (headers are checked through the .cpp files that include them)" >&2 ;;
    esac
  else
    echo "lint: no such file or directory: $t" >&2
    exit 2
  fi
done

if [ "$changed" -eq 1 ]; then
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "lint: --changed needs a git checkout (run without it to check every file)" >&2
    exit 2
  fi
  if [ -z "$base" ]; then
    base=HEAD~1
    if git rev-parse -q --verify 'origin/main^{commit}' >/dev/null &&
      ! git merge-base --is-ancestor HEAD origin/main 2>/dev/null; then
      base=origin/main
    fi
  fi
  if since="$(git merge-base "$base" HEAD 2>/dev/null)"; then
    echo "lint: files changed since $base (merge base ${since:0:12}), committed or not"
  elif git rev-parse -q --verify 'HEAD^{commit}' >/dev/null; then
    since=HEAD
    if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
      why="this is a shallow clone without $base ('git fetch --unshallow' brings the history)"
    else
      why="$base does not exist (a repository with one commit?)"
    fi
    echo "lint: $why: checking only the files changed in the working tree against HEAD"
  else
    since=4b825dc642cb6eb9a060e54bf8d69288fbee4904 # no commit yet: the empty tree
    echo "lint: no commit yet: every file is new"
  fi
  {
    git diff --name-only --diff-filter=d "$since" --
    git ls-files -o --exclude-standard
  } >"$work/changed"
  printf '%s\n' "${files[@]+"${files[@]}"}" >"$work/candidates"
  # The changed .cpp files among those chosen, and those that #include a changed header
  # directly ("cppflue/<m>/x.hpp", the private "<m>/x.hpp", or "x.hpp" next to it).
  selected="$(python3 - "$work/changed" "$work/candidates" <<'EOF'
import os, re, sys
changed = [l.strip() for l in open(sys.argv[1]) if l.strip()]
cpp = {c for c in changed if c.endswith(".cpp")}
headers = [c for c in changed if c.endswith((".hpp", ".h")) and c.startswith(("src/", "include/"))]
include = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
direct, through = [], []
for f in (l.strip() for l in open(sys.argv[2])):
    if not f:
        continue
    if f in cpp:
        direct.append(f)
        continue
    if not headers:
        continue
    try:
        text = open(f, errors="replace").read()
    except OSError:
        continue
    here = os.path.dirname(f)
    for inc in include.findall(text):
        if any(h.endswith("/" + inc) or os.path.join(here, inc) == h for h in headers):
            through.append(f)
            break
print(f"lint: {len(direct)} changed .cpp file(s), {len(through)} more including a changed header",
      file=sys.stderr)
for f in direct + through:
    print(f)
EOF
  )"
  files=()
  while IFS= read -r f; do [ -n "$f" ] && files+=("$f"); done <<<"$selected"
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "lint: no .cpp file to check"
  exit 0
fi
if [ "$list" -eq 1 ]; then
  printf '%s\n' "${files[@]}"
  exit 0
fi

# ---- the tools ----
if ! command -v clang-tidy-15 >/dev/null 2>&1; then
  echo "lint: installing clang-tidy-15" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -qq --no-install-recommends clang-tidy-15 >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends clang-tidy-15
  fi
fi
if [ ! -f "$build/compile_commands.json" ]; then
  if [ "$default_build" -eq 0 ]; then
    echo "lint: $build/compile_commands.json is missing (configure that tree first)" >&2
    exit 2
  fi
  echo "lint: configuring the debug preset for its compile_commands.json" >&2
  cmake --preset debug >/dev/null
fi

# ---- the compilation database clang-tidy reads ----
# The build's own database, restricted to the chosen files, with two changes for clang: GCC's
# precompiled header is included as the plain header it was made from (`-include X` makes clang
# look for X.gch and reject GCC's format; `-Xclang -include` does not), and GCC-only warning
# options are not reported as unknown.
printf '%s\n' "${files[@]}" >"$work/files"
printf '%s\n' "${excludes[@]+"${excludes[@]}"}" >"$work/excludes"
python3 - "$build/compile_commands.json" "$work" "$root" <<'EOF'
import json, os, shlex, sys
database, work, root = sys.argv[1:4]
with open(os.path.join(work, "files")) as f:
    wanted = {os.path.realpath(os.path.join(root, line.strip())) for line in f if line.strip()}
entries, seen = [], set()
for e in json.load(open(database)):
    path = os.path.realpath(os.path.join(e["directory"], e["file"]))
    if path not in wanted or path in seen:
        continue
    seen.add(path)
    args = e.get("arguments") or shlex.split(e["command"])
    out, i = [], 0
    while i < len(args):
        if args[i] == "-include" and i + 1 < len(args):
            out += ["-Xclang", "-include", "-Xclang", args[i + 1]]
            i += 2
            continue
        if args[i] != "-Winvalid-pch":
            out.append(args[i])
        i += 1
    entries.append({"directory": e["directory"], "file": path, "arguments": out})
json.dump(entries, open(os.path.join(work, "compile_commands.json"), "w"), indent=1)
with open(os.path.join(work, "checked"), "w") as f:
    f.writelines(p + "\n" for p in sorted(seen))
for m in sorted(wanted - seen):
    print(f"lint: skipping {os.path.relpath(m, root)}: not in {database} yet (build once to add it)",
          file=sys.stderr)
EOF

# ---- run ----
checked=$(wc -l <"$work/checked")
if [ "$checked" -eq 0 ]; then
  echo "lint: no .cpp file to check"
  exit 0
fi
echo "lint: clang-tidy-15 on $checked file(s), $jobs at a time"
start=$(date +%s)
status=0
extra=(-extra-arg=-Wno-unknown-warning-option)
if command -v run-clang-tidy-15 >/dev/null 2>&1; then
  run-clang-tidy-15 -clang-tidy-binary "$(command -v clang-tidy-15)" -p "$work" -j "$jobs" -quiet \
    "${extra[@]}" >"$work/log" 2>&1 || status=$?
else
  tr '\n' '\0' <"$work/checked" |
    xargs -0 -P "$jobs" -n 1 clang-tidy-15 -p "$work" -quiet "${extra[@]}" >"$work/log" 2>&1 ||
    status=$?
fi
elapsed=$(($(date +%s) - start))

# The diagnostics without clang-tidy's per-file chatter (command lines, "N warnings generated",
# "Suppressed N warnings", the -header-filter hint), with the build's views of the headers
# (build/debug/layers/...) shown as the source files they link to, and without those in excluded
# paths (only counted); then the summary. A header's warning is reported once per file including
# it: the counts are of distinct locations.
python3 - "$work" "$root" "$build" "$checked" "$elapsed" "$jobs" <<'EOF'
import collections, re, sys
work, root, build, checked, elapsed, jobs = sys.argv[1:7]
excludes = [l.strip() for l in open(f"{work}/excludes") if l.strip()]
chatter = re.compile(r"^\S*clang-tidy-15 -|^\d+ (warnings?|errors?)( and \d+ errors?)? generated\.$"
                     r"|^Suppressed \d+ warnings|^Use -header-filter=")
views = [(re.compile(re.escape(build) + r"/layers/([a-z]+)-private/\1/"), r"src/\1/"),
         (re.compile(re.escape(build) + r"/layers/([a-z]+)/cppflue/"), "include/cppflue/"),
         (re.compile(re.escape(root) + "/"), "")]
diag = re.compile(r"^(\S+):(\d+):(\d+): (?:warning|error): .*\[([^\]]+)\]$")
crash = re.compile(r"^(\S+): terminated by signal \d+$")
seen, checks, files, crashed = set(), collections.Counter(), collections.Counter(), []
hidden, quiet = set(), False
with open(f"{work}/log", errors="replace") as log:
    for line in log:
        line = line.rstrip("\n")
        if chatter.search(line):
            continue
        for pattern, repl in views:
            line = pattern.sub(repl, line)
        m = diag.match(line)
        if m:
            path = m.group(1)
            quiet = "clang-diagnostic-error" not in m.group(4) and any(
                path == e or path.startswith(e + "/") for e in excludes)
            if quiet:
                hidden.add(m.group(1, 2, 3))
            elif m.group(1, 2, 3) not in seen:
                seen.add(m.group(1, 2, 3))
                names = [c for c in m.group(4).split(",") if c != "-warnings-as-errors"]
                checks.update(names)
                files[m.group(1)] += 1
        elif crash.match(line):
            quiet = False
            crashed.append(crash.match(line).group(1))
        if not quiet:
            print(line)
print("---- lint summary ----")
print(f"files checked: {checked} in {elapsed}s ({jobs} jobs)")
print(f"warnings: {len(seen)}")
if hidden:
    print(f"not reported (in {', '.join(excludes)}): {len(hidden)}")
if crashed:
    print(f"clang-tidy crashed on: {' '.join(crashed)}")
for title, counter in (("by check", checks), ("by file", files)):
    if counter:
        print(f"  {title}:")
        for name, n in counter.most_common():
            print(f"    {n:4d}  {name}")
with open(f"{work}/count", "w") as out:
    out.write(f"{len(seen)} {len(hidden)} {len(crashed)}\n")
EOF
read -r count hidden crashed <"$work/count"
# clang-tidy exits non-zero for any warning (WarningsAsErrors), reported or not; a failure with
# no diagnostic at all (a bad option, a missing database entry) is still a failure.
if [ "$count" -gt 0 ] || [ "$crashed" -gt 0 ] || { [ "$status" -ne 0 ] && [ "$hidden" -eq 0 ]; }; then
  echo "lint: FAILED"
  exit 1
fi
echo "lint: clean"
