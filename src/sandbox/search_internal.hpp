// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox: the parts of glob_files / grep_files (cppflue/sandbox/search.hpp has
// the semantics), one concern per file:
//
//   search_glob_pattern.cpp  glob patterns: braces, components, matching below a directory
//   search_walk.cpp          walking the workspace (through the Workspace API only)
//   search_ignore.cpp        the root .gitignore
//   search_line_safe.cpp     the rewrite that lets one PCRE2 call search a whole buffer
//   search_pattern.cpp       PCRE2: compiling (JIT), match limits, one matcher per thread
//   search_text.cpp          UTF-8 checks and the cut, cleaned output lines
//   search_file.cpp          searching one file: size and binary checks, the line search
//   search_parallel.cpp      searching many files on a few threads, merged in path order
//   search_glob.cpp          glob_files
//   search_grep.cpp          grep_files
//
// Everything here works on workspace-relative paths ("." is the root) and touches the file
// system only through `Workspace`, so its confinement (no escapes, no hidden paths, no symlink
// followed out of the root, non-blocking opens of regular files only) holds for every access.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/search.hpp"
#include "cppflue/sandbox/workspace.hpp"

namespace cppflue::search_detail {

// ---------------------------------------------------------------------------------------------
// Limits

inline constexpr std::size_t kMaxBraceExpansions = 64;   // patterns one `{a,b}` pattern becomes
inline constexpr std::size_t kBinaryProbeBytes = 8192;   // a NUL byte in these: a binary file
inline constexpr std::uint32_t kMatchLimit = 1'000'000;  // PCRE2 steps per match attempt
inline constexpr std::uint32_t kDepthLimit = 10'000;     // PCRE2 backtracking depth
inline constexpr std::size_t kJitStackMax = std::size_t{1} << 20;
inline constexpr std::size_t kMaxSearchThreads = 8;

// What one grep call may spend: a deadline, a cancellation token, and a number of lines that may
// hit the PCRE2 limits (each such line cost up to kMatchLimit steps). Shared by the threads of
// the call; the first reason to stop wins and every searcher then stops at its next line.
class Budget {
 public:
  enum class Reason : int { none, deadline, cancelled, limits };

  explicit Budget(const GrepOptions& o)
      : cancel_(o.cancel),
        timeout_(o.timeout),
        deadline_(std::chrono::steady_clock::now() + o.timeout),
        max_limit_hits_(o.max_limit_hits) {
    // The token's own check takes a lock: it is turned into the atomic flag below instead. The
    // flag is shared with the callback, which may still run after this object is gone.
    cancel_id_ = cancel_.on_cancel([flag = reason_] { set(*flag, Reason::cancelled); });
  }
  ~Budget() { cancel_.remove(cancel_id_); }
  Budget(const Budget&) = delete;
  Budget& operator=(const Budget&) = delete;

  // Called once per line: an atomic load, and the clock every 64 calls of a searcher (`tick`
  // is the searcher's own counter).
  bool exhausted(unsigned& tick) {
    if (reason_->load(std::memory_order_relaxed) != 0) return true;
    if ((++tick & 63U) == 0 && timeout_.count() > 0 &&
        std::chrono::steady_clock::now() >= deadline_) {
      return stop(Reason::deadline);
    }
    return false;
  }
  // A line hit the match or depth limit; true when that used up the call's allowance.
  bool limit_hit() {
    if (limit_hits_.fetch_add(1, std::memory_order_relaxed) + 1 > max_limit_hits_) {
      return stop(Reason::limits);
    }
    return false;
  }
  Reason reason() const { return static_cast<Reason>(reason_->load()); }

 private:
  static void set(std::atomic<int>& flag, Reason r) {
    int none = 0;
    flag.compare_exchange_strong(none, static_cast<int>(r));
  }
  bool stop(Reason r) {
    set(*reason_, r);
    return true;
  }

  CancelToken cancel_;
  std::uint64_t cancel_id_ = 0;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::size_t max_limit_hits_;
  std::atomic<std::size_t> limit_hits_{0};
  std::shared_ptr<std::atomic<int>> reason_ = std::make_shared<std::atomic<int>>(0);
};

// ---------------------------------------------------------------------------------------------
// Glob patterns (search_glob_pattern.cpp)

std::vector<std::string> split_components(std::string_view path);     // empty components dropped
std::vector<std::string_view> view_components(std::string_view rel);  // "." and "": none
std::string join_rel(std::string_view dir, std::string_view name);    // dir "." adds nothing
bool has_wildcard(std::string_view s);                                // * ? [ or a \ escape

// Expands `{a,b}` alternatives (nested groups allowed) into `out`. Unbalanced braces are
// literal. More than kMaxBraceExpansions results: invalid_input.
Result<void> expand_braces(const std::string& pattern, std::vector<std::string>& out);

// A pattern matched component by component with fnmatch; a "**" component matches any number of
// components (runs of "**" are collapsed).
class GlobPattern {
 public:
  explicit GlobPattern(std::string_view pattern);
  const std::vector<std::string>& segments() const { return segs_; }
  bool empty() const { return segs_.empty(); }

  bool matches(const std::vector<std::string_view>& path) const { return match(0, path, 0); }
  // True when some path below `dir` could match.
  bool may_match_below(const std::vector<std::string_view>& dir) const { return prefix(0, dir, 0); }

 private:
  bool match(std::size_t i, const std::vector<std::string_view>& p, std::size_t j) const;
  bool prefix(std::size_t i, const std::vector<std::string_view>& p, std::size_t j) const;

  std::vector<std::string> segs_;
};

// ---------------------------------------------------------------------------------------------
// Walking (search_walk.cpp)

struct WalkEntry {
  std::string rel;  // workspace-relative
  bool is_dir = false;
  bool is_link = false;
};

// Depth-first walk below `start` (a directory, relative). `visit` is called for every entry
// (files, directories, symlinks resolved with stat; dangling or escaping symlinks dropped) and
// returns whether to descend (only honoured for real directories). ".git" is skipped.
void walk(const Workspace& ws, const std::string& start,
          const std::function<bool(const WalkEntry&)>& visit);

// Walks below `start` like `walk`, but calls `emit` for the files `visit` accepts in sorted path
// order (the order std::sort gives the full relative paths), so the search can start before the
// walk ends and the walk can stop early. `emit` returns false to end the walk.
void ordered_walk(const Workspace& ws, const std::string& start,
                  const std::function<bool(const WalkEntry&)>& visit,
                  const std::function<bool(std::string&&)>& emit);

// ---------------------------------------------------------------------------------------------
// .gitignore (search_ignore.cpp)

struct IgnoreRule {
  GlobPattern pattern{""};
  bool negate = false;
  bool dir_only = false;
  bool anchored = false;
};

// The rules of the workspace's root .gitignore (see search.hpp for what is supported).
class GitIgnore {
 public:
  void load(const Workspace& ws);  // a missing or unreadable file: no rules
  bool empty() const { return rules_.empty(); }
  // Whether the path with components `comps` is ignored: the last matching rule wins.
  bool ignored(const std::vector<std::string_view>& comps, bool is_dir) const;

 private:
  std::vector<IgnoreRule> rules_;
};

// ---------------------------------------------------------------------------------------------
// PCRE2 (search_line_safe.cpp, search_pattern.cpp)

// The pattern to run over whole buffers: `p` with every atom that may match "\n" kept from
// matching it, or nullopt when `p` is not line-safe. `p` has already compiled successfully.
std::optional<std::string> line_safe_pattern(std::string_view p);

struct CodeDeleter {
  void operator()(pcre2_code* p) const { pcre2_code_free(p); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* p) const { pcre2_match_context_free(p); }
};
struct CompileContextDeleter {
  void operator()(pcre2_compile_context* p) const { pcre2_compile_context_free(p); }
};
struct JitStackDeleter {
  void operator()(pcre2_jit_stack* p) const { pcre2_jit_stack_free(p); }
};
using CodePtr = std::unique_ptr<pcre2_code, CodeDeleter>;

struct Compiled {
  CodePtr code;
  bool jit = false;
};

// The compiled pattern, shared read-only by the search threads: the original for single lines
// and, when the pattern is line-safe, the rewrite for whole buffers.
class Pattern {
 public:
  // Errors: invalid_input naming the pattern, the PCRE2 message and the offset.
  static Result<Pattern> compile(const std::string& pattern, bool ignore_case);

  // True when the buffer search might miss lines of `data`, which must then be matched one by
  // one (search_pattern.cpp says when).
  bool buffer_search_misses(std::string_view data) const;

  // The original pattern, matched against one line at a time.
  const Compiled& line() const { return line_; }
  // The line-safe rewrite for whole buffers; its code is null when the pattern is not line-safe.
  const Compiled& buffer() const { return buffer_; }

 private:
  Compiled line_;
  Compiled buffer_;
  bool matches_empty_ = true;  // the buffer pattern might match an empty string
};

// Per-thread match state: match data, match context with the limits, JIT stack.
class Matcher {
 public:
  explicit Matcher(const Pattern& pat);

  // >= 0: a match starting at *start; PCRE2_ERROR_NOMATCH; other negative: a limit or an error.
  int find(const Compiled& c, std::string_view subject, std::size_t from, std::size_t* start);

 private:
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> mctx_;
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack_;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md_;
};

// ---------------------------------------------------------------------------------------------
// Text (search_text.cpp)

// Length of the valid UTF-8 sequence at s[i] (a non-ASCII lead byte), 0 if invalid: no overlong
// forms, surrogates or code points above U+10FFFF, as PCRE2 checks.
std::size_t utf8_sequence(std::string_view s, std::size_t i);
bool valid_utf8(std::string_view s);

// Bytes `append_clean_line` may append at most, bounded by the line's size for the reservation.
std::size_t clean_line_reserve(std::size_t line_bytes, std::size_t max_chars);
// Cuts a line to `max_chars` code points; invalid UTF-8 bytes become U+FFFD. Appends to `out`.
void append_clean_line(std::string& out, std::string_view line, std::size_t max_chars);

// ---------------------------------------------------------------------------------------------
// Searching one file (search_file.cpp)

// What searching one file produced. The lines are kept per file so that files can be searched
// in any order (and on several threads) and merged in path order afterwards.
struct FileResult {
  enum class Kind : unsigned char { unread, too_large, binary, searched };
  Kind kind = Kind::unread;
  std::vector<std::string> lines;  // "path:line:text", the path printable (printable_path)
  // skipped_before[k]: lines skipped (limit errors) before lines[k] was found; shorter than
  // `lines` when no line was skipped before the missing entries (they are 0).
  std::vector<std::size_t> skipped_before;
  std::size_t lines_skipped = 0;

  std::size_t skipped_before_line(std::size_t k) const {
    return k < skipped_before.size() ? skipped_before[k] : 0;
  }
};

// Searches files with one Matcher; one instance per thread.
class FileSearcher {
 public:
  FileSearcher(const Workspace& ws, const Pattern& pat, const GrepOptions& opt, Budget& budget)
      : ws_(ws), pat_(pat), opt_(opt), budget_(budget), matcher_(pat) {}

  // Searches `rel`, keeping at most `limit` matching lines (the search stops at the limit).
  void run(const std::string& rel, std::size_t limit, FileResult& r);

 private:
  void search(const std::string& rel, std::string_view data, std::size_t limit, FileResult& r);
  bool check_line(const std::string& rel, std::string_view data, std::size_t ls, std::size_t le,
                  std::size_t line_no, std::size_t limit, FileResult& r);

  const Workspace& ws_;
  const Pattern& pat_;
  const GrepOptions& opt_;
  Budget& budget_;
  unsigned tick_ = 0;
  Matcher matcher_;
};

// ---------------------------------------------------------------------------------------------
// Searching many files (search_parallel.cpp)

// Takes the next file to search (in sorted path order); false once no more files are wanted.
using AddFile = std::function<bool(std::string&&)>;
// Hands the files to search to `add`.
using FileFeed = std::function<void(const AddFile& add)>;

// Searches the files `feed` hands over on up to kMaxSearchThreads threads and merges the results
// into `out` in path order: exactly what the sequential search gives, `opt.max_matches` and the
// budget included. An exception of a search thread is rethrown here.
void search_files(const Workspace& ws, const Pattern& pat, const GrepOptions& opt, Budget& budget,
                  GrepResult& out, const FileFeed& feed);

}  // namespace cppflue::search_detail
