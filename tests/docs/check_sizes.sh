#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Size limits that keep the code readable: no file in src/ over 800 lines and no function in
# src/ or include/ over 80 lines (the shell parser, src/sandbox/shell_parse.cpp, excepted: its
# grammar reads best in one place). Function lengths are measured from the line of the opening
# brace's declaration to the closing brace, with comments and literals blanked out first.
# Prints each offender as file:line.
# Usage: check_sizes.sh <source dir> [<binary dir>]
set -euo pipefail
cd "$1"
python3 - <<'PY'
import os, re, sys

MAX_FILE, MAX_FUNCTION = 800, 80
EXEMPT = {'src/sandbox/shell_parse.cpp'}

def blank(text):
    """The text with comments, string and character literals replaced by blanks (lines kept)."""
    out, i, n = [], 0, len(text)
    keep_lines = lambda s: ''.join(c if c == '\n' else ' ' for c in s)
    while i < n:
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(keep_lines(text[i:j])); i = j; continue
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(keep_lines(text[i:j])); i = j; continue
        m = re.match(r'R"([^()\\ ]{0,16})\(', text[i:i + 20])
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            end = ')' + m.group(1) + '"'
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + keep_lines(text[i + 2:j])); i = j; continue
        c = text[i]
        if c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            out.append(c + keep_lines(text[i + 1:j]) + c); i = j + 1; continue
        out.append(c); i += 1
    return ''.join(out)

SCOPE = re.compile(r'\b(namespace|class|struct|union|enum)\b[^()]*$')

def functions(path):
    """(first line, length, name) of each function body in the file."""
    text = blank(open(path, encoding='utf-8', errors='replace').read())
    found, stack, head, line, fn, depth = [], [], '', 1, None, 0
    for ch in text:
        if ch == '\n':
            line += 1
        if ch == '{':
            h = head.strip()
            if fn is not None:
                depth += 1
            elif SCOPE.search(h) or h.endswith('extern ""'):
                stack.append('scope')
            elif '(' in h and not re.search(r'=\s*$', h):
                names = re.findall(r'([~\w:]+)\s*\(', h)
                fn, depth = (line, names[0] if names else '?'), 1
            else:
                stack.append('block')
            head = ''
        elif ch == '}':
            if fn is not None:
                depth -= 1
                if depth == 0:
                    found.append((fn[0], line - fn[0] + 1, fn[1])); fn = None
            elif stack:
                stack.pop()
            head = ''
        elif ch == ';':
            head = ''
        else:
            head += ch
    return found

bad = []
for top in ('src', 'include'):
    for root, _, files in os.walk(top):
        for f in sorted(files):
            if not f.endswith(('.cpp', '.hpp', '.h', '.cc')):
                continue
            path = os.path.join(root, f)
            if path in EXEMPT:
                continue
            with open(path, encoding='utf-8', errors='replace') as fh:
                lines = sum(1 for _ in fh)
            if top == 'src' and lines > MAX_FILE:
                bad.append(f'{path}: {lines} lines (at most {MAX_FILE}): split it by concern')
            for first, length, name in functions(path):
                if length > MAX_FUNCTION:
                    bad.append(f'{path}:{first}: {name} is {length} lines '
                               f'(at most {MAX_FUNCTION}): extract named steps')
for b in bad:
    print(b)
if bad:
    sys.exit(1)
print('sizes: every file and function within the limits')
PY
