#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The repository stands alone: no build file, test, benchmark, fuzz target, example or script
# refers to a path above the project root (a sibling checkout, ../shared, /work/...). A clean
# clone must configure, build and pass its tests with nothing around it.
#
# Scanned: every file under tests/ bench/ fuzz/ examples/ scripts/ cmake/, and every
# CMakeLists.txt and CMakePresets.json (git-ignored files such as node_modules/ are skipped).
# A line is reported, as file:line, when it has
#   - an absolute path under /work, or `../shared` (where the wire fixtures used to live);
#   - a root anchor followed by a path that climbs above the root: ${PROJECT_SOURCE_DIR},
#     ${CMAKE_SOURCE_DIR}, ${sourceDir} and CPPFLUE_SOURCE_DIR stand for the root,
#     ${CMAKE_CURRENT_SOURCE_DIR} / ${CMAKE_CURRENT_LIST_DIR} and a shell script's
#     $(dirname "$0") for the file's directory, and shell variables assigned from those (or a
#     source-dir argument such as src="$1") for what they resolve to; `/..`, a C++ `/ ".."`,
#     `.parent_path()`, `dirname`, `get_filename_component(... DIRECTORY)` all count; also
#     ${sourceParentDir};
#   - a relative path resolved against the file's own directory that leaves the root: a quoted
#     #include in C/C++, a `../` path in a CMake file, a relative Markdown link;
#   - or is a symbolic link pointing outside the root.
# Relative strings in test code ("../../etc/passwd" as a sandbox escape attempt) are data, not
# paths the build reads, and are not reported.
# Usage: check_standalone.sh <source dir> [<binary dir>]
set -euo pipefail
src="$(cd "$1" && pwd -P)"
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 - "$src" <<'PY'
import os, re, subprocess, sys

root = sys.argv[1]
SELF = "tests/docs/check_standalone.sh"
SCOPES = ("tests/", "bench/", "fuzz/", "examples/", "scripts/", "cmake/")
SKIP_DIRS = {".git", "node_modules", ".cppflue", ".cache", ".deps", "results"}


def listed_files():
    try:
        top = subprocess.run(["git", "-C", root, "rev-parse", "--show-toplevel"], check=True,
                             capture_output=True, text=True).stdout.strip()
        if os.path.realpath(top) == root:
            out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], check=True, capture_output=True).stdout
            return sorted({p for p in out.decode().split("\0") if p})
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []  # not a git checkout (a release tarball): walk, skipping build and tool dirs
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        keep = []
        for x in dirs:
            if x in SKIP_DIRS or (rel == "." and (x == "build" or x.startswith("build-"))):
                continue
            if os.path.islink(os.path.join(d, x)):
                files.append(x)  # reported below if it points outside
            else:
                keep.append(x)
        dirs[:] = keep
        found += [os.path.normpath(os.path.join(rel, f)) for f in files]
    return sorted(found)


def in_scope(p):
    return p != SELF and (p.startswith(SCOPES) or os.path.basename(p) in
                          ("CMakeLists.txt", "CMakePresets.json"))


def climbs_out(base, path):
    """Whether `path`, taken relative to directory `base` (relative to the root), leaves it."""
    parts = [x for x in base.split("/") if x not in ("", ".")]
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                return True
            parts.pop()
        else:
            parts.append(seg)
    return False


def resolve(base, path):
    parts = [x for x in base.split("/") if x not in ("", ".")]
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == ".." and parts:
            parts.pop()
        elif seg != "..":
            parts.append(seg)
    return "/".join(parts)


PATH_CHARS = re.compile(r"[A-Za-z0-9_.+@%/-]+")


def path_after(text, pos, cxx):
    """The path text following an anchor ending at `pos`. Shell and CMake: path characters,
    skipping quotes and `)`. C++: the contents of the string literals that follow, joined by
    adjacency or by the `/` path operator, and `.parent_path()` as "/.."."""
    out, i, n = "", pos, len(text)
    if not cxx:
        while i < n:
            if text[i] in "\"')":
                i += 1
                continue
            m = PATH_CHARS.match(text, i)
            if not m:
                break
            out += m.group(0)
            i = m.end()
        return out
    while i < n:
        m = re.compile(r'\s*\)*\s*(/)?\s*"([^"]*)"').match(text, i)
        if m:
            out += ("/" if m.group(1) else "") + m.group(2)
            i = m.end()
            continue
        m = re.compile(r"\s*\)*\s*\.parent_path\(\)").match(text, i)
        if m:
            out += "/.."
            i = m.end()
            continue
        break
    return out


WORK = re.compile(r"(?<![\w.~-])/work(?=/|[\"'\s)]|$)")
SHARED = re.compile(r"(?<![\w.])\.\./+shared\b")
CMAKE_ROOT = {"PROJECT_SOURCE_DIR", "CMAKE_SOURCE_DIR", "CPPFLUE_SOURCE_DIR", "sourceDir"}
CMAKE_HERE = {"CMAKE_CURRENT_SOURCE_DIR", "CMAKE_CURRENT_LIST_DIR"}
CMAKE_VAR = re.compile(r"\$\{(\w+)\}")
CXX_ROOT = re.compile(r"(?<![\w$])CPPFLUE_SOURCE_DIR\b(?!\})")
SH_DIRNAME0 = re.compile(r"\$\(\s*dirname\s+(?:--\s+)?\"?\$(?:0|\{0\}|\{?BASH_SOURCE(?:\[0\])?\}?)\"?\s*\)"
                         r"|\$\{(?:0|BASH_SOURCE(?:\[0\])?)%/\*\}")
SH_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
SH_ASSIGN = re.compile(r"^\s*(?:local\s+|readonly\s+|export\s+|declare\s+(?:-\w+\s+)?)?(\w+)=(.*)$")
SH_SRC_ARG = re.compile(r"^[\"']?\$\{?[1-9]\}?[\"']?\s*(#.*)?$")
SRC_NAMES = {"src", "srcdir", "src_dir", "source_dir", "SRC_DIR", "SOURCE_DIR", "root", "ROOT",
             "repo", "repo_root", "project_root", "top", "topdir"}
MD_LINK = re.compile(r"\]\(\s*<?([^)\s>#]+)")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
CMAKE_REL = re.compile(r"(?<![\w}./$-])(\.\./[^\s\"')]*|\.\.(?=[\s\"')]))")
PARENT_OF = re.compile(r"get_filename_component\s*\(\s*\w+\s+\"?([^\s\")]+)\"?\s+(?:DIRECTORY|PATH)\b")

problems = []


def report(path, lineno, why, line):
    problems.append(f"{path}:{lineno}: {why}: {line.strip()[:160]}")


def check_file(rel):
    full = os.path.join(root, rel)
    if os.path.islink(full):
        target = os.path.realpath(full)
        if os.path.commonpath([root, target]) != root:
            report(rel, 0, f"symbolic link to {os.readlink(full)} leaves the source tree", "")
        return
    if not os.path.isfile(full):
        return
    with open(full, "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        return
    text = data.decode("utf-8", "replace")
    here = os.path.dirname(rel)
    name = os.path.basename(rel)
    ext = os.path.splitext(name)[1]
    is_cmake = name in ("CMakeLists.txt",) or ext == ".cmake" or rel.endswith(".cmake.in")
    is_presets = name == "CMakePresets.json"
    is_cxx = ext in (".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".hxx", ".ipp", ".inc")
    is_sh = ext in (".sh", ".bash") or text.startswith(("#!/bin/sh", "#!/bin/bash",
                                                         "#!/usr/bin/env bash", "#!/usr/bin/env sh"))
    is_md = ext == ".md"
    # Where ${CMAKE_CURRENT_SOURCE_DIR} points: the file's directory for a CMakeLists.txt, the
    # including directory (taken as the root, the stricter choice) for an included .cmake file.
    cmake_here = here if name == "CMakeLists.txt" else ""
    sh_anchor = {}  # shell variable -> directory (relative to the root) it stands for

    def check_anchors(seg):
        """Whether an anchored path in `seg` climbs out; records shell variables assigned one."""
        anchors = []  # (directory the anchor stands for, start, end)
        for m in CMAKE_VAR.finditer(seg):
            if m.group(1) in CMAKE_ROOT:
                anchors.append(("", m.start(), m.end()))
            elif m.group(1) == "CMAKE_CURRENT_LIST_DIR":
                anchors.append((here, m.start(), m.end()))
            elif m.group(1) == "CMAKE_CURRENT_SOURCE_DIR":
                anchors.append((cmake_here, m.start(), m.end()))
        if is_cxx:
            anchors += [("", m.start(), m.end()) for m in CXX_ROOT.finditer(seg)]
        if is_sh:
            anchors += [(here, m.start(), m.end()) for m in SH_DIRNAME0.finditer(seg)]
            for m in SH_VAR.finditer(seg):
                var = m.group(1) or m.group(2)
                if var in sh_anchor:
                    anchors.append((sh_anchor[var], m.start(), m.end()))
        anchors.sort(key=lambda a: a[1])
        escaped = False
        resolved = []  # (start, directory the anchored path names)
        for base, start, end in anchors:
            tail = path_after(seg, end, is_cxx)
            if is_sh and re.search(r"dirname\s+(?:--\s+)?\"?$", seg[:start]):
                tail += "/.."
            if climbs_out(base, tail):
                escaped = True
            else:
                resolved.append((start, resolve(base, tail)))
        for m in PARENT_OF.finditer(seg):
            arg = m.group(1)
            v = CMAKE_VAR.match(arg)
            if v and v.group(1) in CMAKE_ROOT | CMAKE_HERE:
                base = "" if v.group(1) in CMAKE_ROOT else (
                    here if v.group(1) == "CMAKE_CURRENT_LIST_DIR" else cmake_here)
                if climbs_out(base, arg[v.end():] + "/.."):
                    escaped = True
        if is_sh:
            a = SH_ASSIGN.match(seg)
            if a:
                var, rhs = a.group(1), a.group(2)
                found = [d for st, d in resolved if st >= a.start(2)]
                if found:
                    sh_anchor[var] = found[0]
                elif var in SRC_NAMES and SH_SRC_ARG.match(rhs.strip()):
                    sh_anchor[var] = ""  # a source-dir argument: the root
                else:
                    sh_anchor.pop(var, None)
        return escaped

    for lineno, line in enumerate(text.splitlines(), 1):
        if WORK.search(line):
            report(rel, lineno, "absolute path under /work", line)
        if SHARED.search(line):
            report(rel, lineno, "names ../shared, a directory next to the checkout", line)
        if "sourceParentDir" in line:
            report(rel, lineno, "${sourceParentDir} is outside the source tree", line)

        # Shell lines are taken statement by statement, so `x=...; cat "$x/.."` is followed.
        escaped = False
        for seg in re.split(r";\s|&&|\|\|", line) if is_sh else [line]:
            escaped |= check_anchors(seg)
        if escaped:
            report(rel, lineno, "path climbs above the project root", line)

        if is_cxx:
            m = INCLUDE.match(line)
            if m and climbs_out(here, m.group(1)):
                report(rel, lineno, "#include climbs above the project root", line)
        if is_cmake or is_presets:
            stripped = CMAKE_VAR.sub("X", line)  # anchored paths were checked above
            for m in CMAKE_REL.finditer(stripped):
                if m.group(0) == ".." and "REGEX" in stripped:
                    continue  # a replacement string, not a path
                if climbs_out("" if is_presets else cmake_here, m.group(0)):
                    report(rel, lineno, "relative path climbs above the project root", line)
                    break
        if is_md:
            for m in MD_LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
                    continue
                if climbs_out(here, target):
                    report(rel, lineno, "link climbs above the project root", line)
                    break


for rel in listed_files():
    if in_scope(rel):
        check_file(rel)
for p in problems:
    print(p, file=sys.stderr)
if problems:
    print(f"{len(problems)} reference(s) to paths outside {root}; the repository must stand "
          "alone (copy what is needed into it, e.g. tests/fixtures/)", file=sys.stderr)
    sys.exit(1)
PY
