#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every #include between library modules follows cmake/layers.txt (the table the build uses to
# give each module its headers): src/<m>/ and include/cppflue/<m>/ may include
# "cppflue/<x>/..." and the private "<x>/..." only for x = m or an allowed module. The table
# itself must have no cycle. Prints file:line of each forbidden include.
# Usage: check_layers.sh <source dir> [<binary dir>]
set -euo pipefail
cd "$1"
python3 - <<'PY'
import os, re, sys
table = {}
for n, line in enumerate(open('cmake/layers.txt'), 1):
    line = line.split('#', 1)[0].strip()
    if not line:
        continue
    m = re.fullmatch(r'([a-z]+):\s*(.*)', line)
    if not m:
        sys.exit(f'cmake/layers.txt:{n}: not "module: allowed modules": {line}')
    table[m.group(1)] = set(m.group(2).split())
modules = set(table)
bad = []
for mod, deps in table.items():
    for d in deps - modules:
        bad.append(f'cmake/layers.txt: {mod} allows unknown module {d}')
# No cycle: a depth-first walk along the allowed edges.
state = {}
def visit(m, path):
    if state.get(m) == 1:
        bad.append('cmake/layers.txt: cycle ' + ' -> '.join(path + [m]))
        return
    if state.get(m) == 2:
        return
    state[m] = 1
    for d in sorted(table.get(m, ())):
        if d != m:
            visit(d, path + [m])
    state[m] = 2
for m in sorted(table):
    visit(m, [])
names = '|'.join(sorted(modules))
include = re.compile(r'^\s*#\s*include\s*"(?:cppflue/)?(' + names + r')/')
umbrella = re.compile(r'^\s*#\s*include\s*"cppflue/(cppflue|cli)\.hpp"')
for mod in sorted(modules):
    allowed = table[mod] | {mod}
    for root in (f'src/{mod}', f'include/cppflue/{mod}'):
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                if not f.endswith(('.cpp', '.hpp', '.h')):
                    continue
                path = os.path.join(dirpath, f)
                for n, line in enumerate(open(path, errors='replace'), 1):
                    m = include.match(line)
                    if m and m.group(1) not in allowed:
                        bad.append(f'{path}:{n}: module {mod} includes {m.group(1)}/, which '
                                   f'cmake/layers.txt does not allow ({mod}: '
                                   f'{" ".join(sorted(table[mod])) or "nothing"})')
                    if umbrella.match(line) and mod != 'cli':
                        bad.append(f'{path}:{n}: only the command line includes the umbrella '
                                   f'headers (cppflue.hpp, cli.hpp)')
if bad:
    print('\n'.join(bad), file=sys.stderr)
    sys.exit(1)
PY
