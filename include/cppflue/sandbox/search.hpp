// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/search.hpp — the `glob` and `grep` file tools (docs/concepts/sandbox.md) over a
// Workspace.
//
// Both functions walk the workspace only through the `Workspace` API (list_dir / stat /
// read_file), so they inherit its confinement: paths are mapped with `to_relative` (escapes are
// refused), hidden paths (e.g. ".cppflue") are never listed or read, and symlinks are never
// followed outside the root. Directories named ".git" are skipped at every level; symlinks to
// directories are never descended into (no cycles). Results are deterministic: sorted,
// workspace-relative paths without a leading "/".
//
// Glob patterns: `*` and `?` (within one path component; they do match a leading "."), `[...]` /
// `[!...]` classes, `\` escapes, `**` as a whole component (any number of directories, including
// none) and `{a,b}` brace alternatives (expanded before the escape check, ≤ 64 expansions). A
// pattern is a workspace path mapped by `Workspace::to_relative` ("/workspace/src/*" and
// "<root>/src/*" mean "src/*"; other absolute paths are escapes). Directories are listed too when
// the pattern matches them ("src/**" lists every file and directory below "src"); the literal
// directory prefix where the walk starts ("src" there) and the root are never listed themselves.
//
// Grep uses PCRE2 (UTF mode, invalid UTF-8 tolerated, JIT when available, interpreter
// otherwise) with a match limit and a depth limit, so a catastrophic pattern ends with the line
// being skipped (counted in `lines_skipped`), never a hang; the whole call also has a deadline,
// a cancellation token and an allowance of such lines (GrepOptions), after which it stops with an
// error. Paths in the output show control characters as \xNN. Each line is matched on its own (as
// ripgrep does): a match never spans lines, and `^`, `$`, `\A`, `\z` refer to the line. Files
// are searched by up to 8 threads, results merged in path order (identical to a sequential
// search), and the walk stops once `max_matches` is exceeded. ".gitignore" at the workspace
// root is honoured; supported rules: blank lines and "#" comments, names and globs (`*.o`,
// `build`, `**/tmp`) matched against any path component, patterns with a "/" in the middle or
// a leading "/" anchored at the root, a trailing "/" for directories only, and "!" negation
// (the last matching rule wins; a file below an ignored directory cannot be re-included, as in
// git). Nested .gitignore files, .git/info/exclude and global excludes are not read.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/workspace.hpp"

namespace cppflue {

struct GlobResult {
  std::vector<std::string> paths;  // sorted workspace-relative paths, at most `limit`
  bool truncated = false;          // more paths matched than `limit`
};

// Lists workspace paths matching `pattern`. Errors: invalid_input (empty pattern, bad braces),
// permission (the pattern leads outside the workspace: rule "path_escape"). A pattern whose
// literal directory prefix does not exist (or is hidden) matches nothing.
// The walk has a deadline (<= 0: none) and stops on `cancel` (timeout / cancelled errors).
Result<GlobResult> glob_files(const Workspace& ws, std::string_view pattern,
                              std::size_t limit = 1000,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30),
                              CancelToken cancel = {});

struct GrepOptions {
  std::string pattern;  // PCRE2 regular expression
  std::string path;     // file or directory to search; empty = the workspace root
  std::string include;  // glob on the file name (no "/") or on the relative path (with "/")
  bool ignore_case = false;
  std::size_t max_matches = 100;
  std::size_t max_line_chars = 500;  // code points kept per output line (invalid UTF-8 → U+FFFD)
  // The whole call's limits: a deadline (<= 0: none), a token that stops it (checked before
  // every line, so an abort takes effect within one line's match), and how many lines may hit
  // the PCRE2 match/depth limit before the call stops (the regex budget is per call, not per
  // line). Each ends the call with an error: timeout, cancelled, invalid_input (rule
  // "match_limit").
  std::chrono::milliseconds timeout{30000};
  CancelToken cancel;
  std::size_t max_limit_hits = 64;
};

struct GrepResult {
  // "path:line:text", sorted by path then line number, at most `max_matches`.
  std::vector<std::string> lines;
  bool truncated = false;           // more matches existed than `max_matches`
  std::size_t files_searched = 0;   // text files read and searched (until the cap was reached)
  std::size_t files_too_large = 0;  // skipped: larger than kGrepMaxFileBytes
  std::size_t files_binary = 0;     // skipped: a NUL byte in the first 8 KiB
  std::size_t lines_skipped = 0;    // skipped: the regex hit its match/depth/stack limit
};

inline constexpr std::size_t kGrepMaxFileBytes = std::size_t{10} << 20;

// Searches files for `options.pattern`. `options.path` naming a file searches that file (the
// include filter and .gitignore do not apply to it). Errors: invalid_input (empty or bad regex:
// the message names the pattern, the PCRE2 message and the offset; details {"pattern",
// "offset", "pcre2_error"}), not_found (no such path), permission (escape or hidden path).
Result<GrepResult> grep_files(const Workspace& ws, const GrepOptions& options);

}  // namespace cppflue
