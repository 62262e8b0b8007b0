// SPDX-License-Identifier: Apache-2.0
// glob_files / grep_files: a Workspace walk, a component-wise glob matcher, a root .gitignore
// reader and a PCRE2 line search (files searched on a few threads, merged in path order). See
// cppflue/sandbox/search.hpp for the semantics.
#include "cppflue/sandbox/search.hpp"
#include "cppflue/sandbox/file_tools.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <fnmatch.h>
#include <pcre2.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

namespace cppflue {
namespace {

constexpr std::size_t kMaxBraceExpansions = 64;
constexpr std::size_t kBinaryProbeBytes = 8192;
constexpr std::uint32_t kMatchLimit = 1'000'000;
constexpr std::uint32_t kDepthLimit = 10'000;
constexpr std::size_t kJitStackMax = std::size_t{1} << 20;

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
// Glob matching

std::vector<std::string> split_components(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool has_wildcard(std::string_view s) {
  return s.find_first_of("*?[\\") != std::string_view::npos;
}

// Expands `{a,b}` alternatives (nested groups allowed). Unbalanced braces are literal.
Result<void> expand_braces(const std::string& pattern, std::vector<std::string>& out) {
  std::size_t open = std::string::npos;
  int depth = 0;
  std::size_t close = std::string::npos;
  std::vector<std::size_t> commas;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '{') {
      if (depth == 0) open = i, commas.clear();
      ++depth;
    } else if (c == '}' && depth > 0) {
      if (--depth == 0) {
        close = i;
        break;
      }
    } else if (c == ',' && depth == 1) {
      commas.push_back(i);
    }
  }
  if (close == std::string::npos || commas.empty()) {
    if (out.size() >= kMaxBraceExpansions)
      return fail(ErrorType::invalid_input, "glob pattern has too many {…} alternatives");
    out.push_back(pattern);
    return {};
  }
  std::string prefix = pattern.substr(0, open);
  std::string suffix = pattern.substr(close + 1);
  std::size_t from = open + 1;
  commas.push_back(close);
  for (std::size_t c : commas) {
    auto r = expand_braces(prefix + pattern.substr(from, c - from) + suffix, out);
    if (!r) return r;
    from = c + 1;
  }
  return {};
}

class GlobPattern {
 public:
  explicit GlobPattern(std::string_view pattern) : segs_(split_components(pattern)) {
    // Collapse runs of "**" (they mean the same thing and would only cost time).
    segs_.erase(std::unique(segs_.begin(), segs_.end(),
                            [](const std::string& a, const std::string& b) {
                              return a == "**" && b == "**";
                            }),
                segs_.end());
  }
  const std::vector<std::string>& segments() const { return segs_; }
  bool empty() const { return segs_.empty(); }

  bool matches(const std::vector<std::string_view>& path) const { return match(0, path, 0); }
  // True when some path below `dir` could match.
  bool may_match_below(const std::vector<std::string_view>& dir) const { return prefix(0, dir, 0); }

 private:
  static bool component(const std::string& pat, std::string_view name) {
    std::string n(name);
    return fnmatch(pat.c_str(), n.c_str(), 0) == 0;
  }
  bool match(std::size_t i, const std::vector<std::string_view>& p, std::size_t j) const {
    if (i == segs_.size()) return j == p.size();
    if (segs_[i] == "**") {
      for (std::size_t k = j; k <= p.size(); ++k)
        if (match(i + 1, p, k)) return true;
      return false;
    }
    if (j == p.size()) return false;
    return component(segs_[i], p[j]) && match(i + 1, p, j + 1);
  }
  bool prefix(std::size_t i, const std::vector<std::string_view>& p, std::size_t j) const {
    if (i == segs_.size()) return false;
    if (segs_[i] == "**") return true;
    if (j == p.size()) return true;
    return component(segs_[i], p[j]) && prefix(i + 1, p, j + 1);
  }

  std::vector<std::string> segs_;
};

std::vector<std::string_view> view_components(std::string_view rel) {
  std::vector<std::string_view> out;
  if (rel == "." || rel.empty()) return out;
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t slash = rel.find('/', start);
    if (slash == std::string_view::npos) slash = rel.size();
    out.push_back(rel.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string join_rel(std::string_view dir, std::string_view name) {
  if (dir == "." || dir.empty()) return std::string(name);
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  out.append(dir).append(1, '/').append(name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Walk

struct WalkEntry {
  std::string rel;  // workspace-relative
  bool is_dir = false;
  bool is_link = false;
};

// Depth-first walk below `start` (a directory, relative). `visit` is called for every entry
// (files, directories, symlinks resolved with stat; dangling or escaping symlinks dropped) and
// returns whether to descend (only honoured for real directories). ".git" is skipped.
void walk(const Workspace& ws, const std::string& start,
          const std::function<bool(const WalkEntry&)>& visit) {
  std::vector<std::string> stack{start};
  while (!stack.empty()) {
    std::string dir = std::move(stack.back());
    stack.pop_back();
    auto entries = ws.list_dir(dir);
    if (!entries) continue;
    for (const auto& e : *entries) {
      if (e.name == ".git") continue;
      WalkEntry w;
      w.rel = join_rel(dir, e.name);
      w.is_dir = e.is_dir;
      w.is_link = e.is_symlink;
      if (e.is_symlink) {
        auto st = ws.stat(w.rel);
        if (!st || (!st->is_file && !st->is_dir)) continue;
        w.is_dir = st->is_dir;
      }
      if (visit(w) && w.is_dir && !w.is_link) stack.push_back(std::move(w.rel));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// .gitignore

struct IgnoreRule {
  GlobPattern pattern{""};
  bool negate = false;
  bool dir_only = false;
  bool anchored = false;
};

class GitIgnore {
 public:
  void load(const Workspace& ws) {
    auto text = ws.read_file(".gitignore", std::size_t{1} << 20);
    if (!text) return;
    std::size_t pos = 0;
    while (pos < text->size()) {
      std::size_t nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      std::string line = text->substr(pos, nl - pos);
      pos = nl + 1;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      IgnoreRule rule;
      if (line[0] == '!') {
        rule.negate = true;
        line.erase(0, 1);
      } else if (line.size() > 1 && line[0] == '\\' && (line[1] == '!' || line[1] == '#')) {
        line.erase(0, 1);
      }
      if (!line.empty() && line.back() == '/') {
        rule.dir_only = true;
        while (!line.empty() && line.back() == '/') line.pop_back();
      }
      if (!line.empty() && line[0] == '/') {
        rule.anchored = true;
        line.erase(0, line.find_first_not_of('/'));
      } else if (line.find('/') != std::string::npos) {
        rule.anchored = true;
      }
      if (line.empty()) continue;
      rule.pattern = GlobPattern(line);
      rules_.push_back(std::move(rule));
    }
  }

  bool empty() const { return rules_.empty(); }

  bool ignored(const std::vector<std::string_view>& comps, bool is_dir) const {
    bool result = false;
    for (const auto& r : rules_) {
      if (r.dir_only && !is_dir) continue;
      bool m = false;
      if (r.anchored) {
        m = r.pattern.matches(comps);
      } else if (!comps.empty()) {
        m = r.pattern.matches(std::vector<std::string_view>{comps.back()});
      }
      if (m) result = !r.negate;
    }
    return result;
  }

 private:
  std::vector<IgnoreRule> rules_;
};

// ---------------------------------------------------------------------------------------------
// PCRE2
//
// Semantics: every line (the bytes between two "\n"; a trailing "\r" belongs to the line) is
// matched on its own, as the whole subject, with the pattern as given (MULTILINE,
// NEWLINE_ANYCRLF); a line is reported when the pattern matches somewhere in it. So a match never
// spans lines, and \A, \z, \G, lookbehinds see the line alone. One pcre2_match call per line
// costs too much on large trees, so when the pattern is "line-safe" (below) the search runs over
// the whole buffer with a rewritten pattern whose atoms cannot match "\n", and each line where
// that search finds a match is confirmed by matching the line alone with the original pattern.
//
// Why the buffer search misses no line: in the rewritten pattern no atom (lookarounds included)
// can consume a "\n", so an attempt at a position inside a line only reads that line, except for
// zero-width checks at its two ends, where the buffer has a "\n" and the lone line the subject's
// start or end. `$` (multiline), `\b`, `\B` and lookarounds whose atoms cannot match "\n" give
// the same answer there, so every backtracking decision (atomic groups and possessive quantifiers
// included) is the same too. `^` would not (in a buffer it is also true between the "\r" and the
// "\n" of a CRLF, the end of a lone "…\r" line), so it is rewritten to hold after a "\n", at the
// buffer start, or after a "\r" that does not end the line, which is what it means in a lone
// line. The confirmation of each candidate line is then only a safety net. Files with invalid
// UTF-8, and some files with a CRLF, are searched line by line (Pattern::buffer_search_misses).
//
// Line-safe: the rewrite wraps every atom that may match "\n" (\s \v \D \W \H \C \p \P, \n
// and other character escapes, classes such as [^x] or [\s]) as `(?:(?!\n)atom)`, which matches
// what the atom matches inside a line. Constructs that depend on the subject's ends or change how
// the rest is read make the whole search run line by line: \A \z \Z \G \R \X \E, (*VERB)s and
// (*CR)-like settings, option changes other than i m n U J (e.g. (?s), (?x), (?-m)), conditionals,
// callouts, non-atomic lookarounds, multi-digit back references, a literal newline.

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

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Length of the escape sequence starting at p[i] == '\\' (the letter is p[i + 1]), for the
// escapes that take an argument: \x{..} \xhh \o{..} \p{..} \pL \cX \0oo \N{..}. 0 if malformed.
std::size_t escape_length(std::string_view p, std::size_t i) {
  const std::size_t n = p.size();
  auto braced = [&](std::size_t open) -> std::size_t {
    std::size_t close = p.find('}', open);
    return close == std::string_view::npos ? 0 : close + 1 - i;
  };
  const bool brace = i + 2 < n && p[i + 2] == '{';
  switch (p[i + 1]) {
    case 'x': {
      if (brace) return braced(i + 2);
      std::size_t k = i + 2;
      while (k < n && k < i + 4 && std::isxdigit(static_cast<unsigned char>(p[k]))) ++k;
      return k - i;
    }
    case 'o':
      return brace ? braced(i + 2) : 0;
    case 'p':
    case 'P':
      if (i + 2 >= n) return 0;
      return brace ? braced(i + 2) : 3;
    case 'N':
      return brace ? braced(i + 2) : 2;
    case 'c':
      return i + 2 < n ? 3 : 0;
    case '0': {
      std::size_t k = i + 2;
      while (k < n && k < i + 4 && p[k] >= '0' && p[k] <= '7') ++k;
      return k - i;
    }
    default:
      return 2;
  }
}

// POSIX classes that cannot contain "\n" (ASCII only: the patterns are compiled without UCP).
bool safe_posix_class(std::string_view name) {
  for (std::string_view ok : {"alpha", "alnum", "digit", "upper", "lower", "word", "xdigit",
                              "punct", "graph", "print", "blank"}) {
    if (name == ok) return true;
  }
  return false;
}

// Parses the character class starting at p[i] == '['. Returns the index just after its closing
// "]" and sets `may_newline` when the class might match "\n"; npos when it cannot be analysed.
std::size_t parse_class(std::string_view p, std::size_t i, bool& may_newline) {
  const std::size_t n = p.size();
  std::size_t j = i + 1;
  may_newline = false;
  if (j < n && p[j] == '^') {
    may_newline = true;
    ++j;
  }
  bool first = true;  // a "]" right after "[" or "[^" is a literal
  while (j < n) {
    auto c = static_cast<unsigned char>(p[j]);
    if (c == ']' && !first) return j + 1;
    first = false;
    if (c == '\\') {
      if (j + 1 >= n) return std::string_view::npos;
      auto e = static_cast<unsigned char>(p[j + 1]);
      if (!is_ascii_alnum(e)) {  // an escaped literal (a control byte might be a range end)
        if (e < 0x20) may_newline = true;
        j += 2;
        continue;
      }
      switch (e) {
        case 'd':
        case 'w':
        case 'S':
        case 'h':
        case 'V':
          j += 2;
          continue;
        case 'Q':
        case 'E':
          return std::string_view::npos;
        default: {  // \s \v \D \W \H \p \P \n \x.. \t (a range end) ...: assume the worst
          may_newline = true;
          std::size_t len = escape_length(p, j);
          if (len == 0) return std::string_view::npos;
          j += len;
          continue;
        }
      }
    }
    if (c == '[' && j + 1 < n && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
      // Only the plain "[:name:]" / "[:^name:]" form is analysed.
      std::size_t k = j + 2;
      while (k < n && (p[k] == '^' || ((p[k] | 0x20) >= 'a' && (p[k] | 0x20) <= 'z'))) ++k;
      if (p[j + 1] != ':' || k + 1 >= n || p[k] != ':' || p[k + 1] != ']')
        return std::string_view::npos;
      if (!safe_posix_class(p.substr(j + 2, k - (j + 2)))) may_newline = true;
      j = k + 2;
      continue;
    }
    if (c < 0x20) may_newline = true;
    ++j;
  }
  return std::string_view::npos;
}

// The pattern to run over whole buffers (see above), or nullopt when `p` is not line-safe.
// `p` has already compiled successfully.
std::optional<std::string> line_safe_pattern(std::string_view p) {
  if (p.find('\n') != std::string_view::npos) return std::nullopt;
  const std::size_t n = p.size();
  std::string out;
  out.reserve(n + 32);
  auto copy = [&](std::size_t& i, std::size_t len) {
    out.append(p.substr(i, len));
    i += len;
  };
  auto wrap = [&](std::size_t& i, std::size_t len) {
    out.append("(?:(?!\\n)").append(p.substr(i, len)).append(1, ')');
    i += len;
  };
  std::size_t i = 0;
  while (i < n) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= n) return std::nullopt;
      const auto e = static_cast<unsigned char>(p[i + 1]);
      if (!is_ascii_alnum(e)) {  // an escaped literal
        copy(i, 2);
        continue;
      }
      switch (e) {
        case 'd':
        case 'w':
        case 'S':
        case 'h':
        case 'V':
        case 'b':
        case 'B':
        case 'K':
        case 't':
        case 'f':
        case 'a':
        case 'e':
        case 'r':
        case 'g':  // back reference or subroutine call; the argument reads as literals
        case 'k':
          copy(i, 2);
          continue;
        case 'N':
          if (p.substr(i + 2, 3) == "{U+") break;  // \N{U+hh}: a character, wrapped below
          copy(i, 2);  // any character but a newline (a "{" after it is a quantifier)
          continue;
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
          if (i + 2 < n && is_digit(p[i + 2])) return std::nullopt;  // \12: octal or reference
          copy(i, 2);
          continue;
        case 'Q': {  // literal text up to \E
          std::size_t end = p.find("\\E", i + 2);
          copy(i, (end == std::string_view::npos ? n : end + 2) - i);
          continue;
        }
        case 's':
        case 'v':
        case 'D':
        case 'W':
        case 'H':
        case 'C':
        case 'p':
        case 'P':
        case 'x':
        case 'o':
        case 'c':
        case '0':
        case 'n':
          break;
        default:  // \A \z \Z \G \R \X \E ...
          return std::nullopt;
      }
      std::size_t len = escape_length(p, i);
      if (len == 0) return std::nullopt;
      wrap(i, len);
      continue;
    }
    if (c == '[') {
      bool may_newline = false;
      std::size_t end = parse_class(p, i, may_newline);
      if (end == std::string_view::npos) return std::nullopt;
      if (may_newline) {
        wrap(i, end - i);
      } else {
        copy(i, end - i);
      }
      continue;
    }
    if (c == '(' && i + 1 < n && p[i + 1] == '*') return std::nullopt;  // verbs, (*CR), ...
    if (c == '(' && i + 1 < n && p[i + 1] == '?') {
      if (i + 2 >= n) return std::nullopt;
      const char k = p[i + 2];
      switch (k) {
        case ':':
        case '|':
        case '>':
        case '=':
        case '!':
        case '\'':  // named group
        case 'P':   // (?P<name>, (?P=name), (?P>name)
        case '&':
        case 'R':
        case '+':
          copy(i, 3);
          continue;
        case '<':
          if (i + 3 < n && p[i + 3] == '*') return std::nullopt;  // non-atomic lookbehind
          copy(i, i + 3 < n && (p[i + 3] == '=' || p[i + 3] == '!') ? 4 : 3);
          continue;
        case '#': {
          std::size_t close = p.find(')', i + 3);
          if (close == std::string_view::npos) return std::nullopt;
          copy(i, close + 1 - i);
          continue;
        }
        default:
          break;
      }
      if (is_digit(k) || (k == '-' && i + 3 < n && is_digit(p[i + 3]))) {  // (?1) (?-1)
        copy(i, 3);
        continue;
      }
      // Option settings: (?i) (?i: (?-i) ...; only options that keep the analysis valid.
      std::size_t j = i + 2;
      bool unset = false;
      for (; j < n && p[j] != ')' && p[j] != ':'; ++j) {
        char o = p[j];
        if (o == '-' && !unset) {
          unset = true;
        } else if (o == 'i' || o == 'n' || o == 'U' || o == 'J' || (o == 'm' && !unset)) {
          continue;
        } else {
          return std::nullopt;  // s, x, xx, -m, ^, (?( conditionals, (?C callouts, (?* ...
        }
      }
      if (j >= n) return std::nullopt;
      copy(i, j + 1 - i);
      continue;
    }
    if (c == '^') {  // a line start, or a position after a "\r" inside the line
      out.append("(?:(?<![^\\n])|(?<=\\r)(?!\\n|\\z))");
      ++i;
      continue;
    }
    copy(i, 1);
  }
  return out;
}

// Length of the valid UTF-8 sequence at s[i] (a non-ASCII lead byte), 0 if invalid: no overlong
// forms, surrogates or code points above U+10FFFF, as PCRE2 checks.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  std::uint32_t cp = c & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  bool ok = cp >= kMin[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
  return ok ? len : 0;
}

bool valid_utf8(std::string_view s) {
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // ASCII fast path, 16 bytes at a time.
    while (i + 16 <= n) {
      std::uint64_t a = 0;
      std::uint64_t b = 0;
      std::memcpy(&a, s.data() + i, 8);
      std::memcpy(&b, s.data() + i + 8, 8);
      if (((a | b) & 0x8080808080808080ull) != 0) break;
      i += 16;
    }
    if (i >= n) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = utf8_sequence(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

struct Compiled {
  CodePtr code;
  bool jit = false;
};

// Compiles `pattern`; on failure returns a null code and sets `err` and `offset`.
Compiled compile_pattern(std::string_view pattern, bool ignore_case, int& err, PCRE2_SIZE& offset) {
  std::unique_ptr<pcre2_compile_context, CompileContextDeleter> cctx(
      pcre2_compile_context_create(nullptr));
  if (cctx) pcre2_set_newline(cctx.get(), PCRE2_NEWLINE_ANYCRLF);
  std::uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE;
  if (ignore_case) opts |= PCRE2_CASELESS;
  Compiled c;
  c.code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts,
                             &err, &offset, cctx.get()));
  if (c.code) c.jit = pcre2_jit_compile(c.code.get(), PCRE2_JIT_COMPLETE) == 0;
  return c;
}

// The compiled pattern, shared read-only by the search threads.
class Pattern {
 public:
  static Result<Pattern> compile(const std::string& pattern, bool ignore_case) {
    Pattern re;
    int err = 0;
    PCRE2_SIZE offset = 0;
    re.line_ = compile_pattern(pattern, ignore_case, err, offset);
    if (!re.line_.code) {
      std::string msg = pcre2_message(err);
      return fail(
          ErrorType::invalid_input,
          "invalid regex '" + pattern + "': " + msg + " at offset " + std::to_string(offset),
          {{"pattern", pattern},
           {"offset", static_cast<std::uint64_t>(offset)},
           {"pcre2_error", msg}});
    }
    if (auto safe = line_safe_pattern(pattern)) {
      // Not expected to fail; if it does, every line is matched on its own.
      re.buffer_ = compile_pattern(*safe, ignore_case, err, offset);
      std::uint32_t empty = 1;
      if (re.buffer_.code) pcre2_pattern_info(re.buffer_.code.get(), PCRE2_INFO_MATCHEMPTY, &empty);
      re.matches_empty_ = empty != 0;
    }
    return re;
  }

  // True when the buffer search might miss lines of `data`, which must then be matched one by
  // one. Two cases besides a pattern that is not line-safe:
  //  - invalid UTF-8: PCRE2 matches the valid stretches between invalid bytes one by one, with
  //    different rules at their ends (no `^` at the start, no `$` at the end, empty stretches
  //    skipped), so the stretches of a line with invalid bytes are not the same in the buffer;
  //  - a CRLF, with a pattern that can match an empty string: PCRE2 never starts a buffer
  //    match between the "\r" and the "\n" of a CRLF (the bumpalong and the start-of-line
  //    optimisation skip it), where a lone "…\r" line ends; a match starting there is empty.
  bool buffer_search_misses(std::string_view data) const {
    return !buffer_.code || !valid_utf8(data) ||
           (matches_empty_ && memmem(data.data(), data.size(), "\r\n", 2) != nullptr);
  }

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
  explicit Matcher(const Pattern& pat) {
    mctx_.reset(pcre2_match_context_create(nullptr));
    if (mctx_) {
      pcre2_set_match_limit(mctx_.get(), kMatchLimit);
      pcre2_set_depth_limit(mctx_.get(), kDepthLimit);
      if (pat.line().jit || pat.buffer().jit) {
        stack_.reset(pcre2_jit_stack_create(32 * 1024, kJitStackMax, nullptr));
        if (stack_) pcre2_jit_stack_assign(mctx_.get(), nullptr, stack_.get());
      }
    }
    // The rewrite adds no capture group, so one match data fits both codes.
    md_.reset(pcre2_match_data_create_from_pattern(pat.line().code.get(), nullptr));
  }

  // >= 0: a match starting at *start; PCRE2_ERROR_NOMATCH; other negative: a limit or an error.
  int find(const Compiled& c, std::string_view subject, std::size_t from, std::size_t* start) {
    if (!md_ || !mctx_) return PCRE2_ERROR_NOMEMORY;
    auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
    int rc = c.jit
                 ? pcre2_jit_match(c.code.get(), s, subject.size(), from, 0, md_.get(), mctx_.get())
                 : pcre2_match(c.code.get(), s, subject.size(), from, 0, md_.get(), mctx_.get());
    if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
      *start = pcre2_get_ovector_pointer(md_.get())[0];
      return 0;
    }
    return rc;
  }

 private:
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> mctx_;
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack_;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md_;
};

// Bytes `append_clean_line` may append at most, bounded by the line's size for the reservation.
std::size_t clean_line_reserve(std::size_t line_bytes, std::size_t max_chars) {
  return std::min(line_bytes, max_chars > line_bytes / 4 ? line_bytes : max_chars * 4);
}

// Cuts a line to `max_chars` code points; invalid UTF-8 bytes become U+FFFD. Appends to `out`.
void append_clean_line(std::string& out, std::string_view line, std::size_t max_chars) {
  std::size_t chars = 0;
  std::size_t i = 0;
  while (i < line.size() && chars < max_chars) {
    auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x80) {  // ASCII run
      std::size_t k = i + 1;
      std::size_t limit = std::min(line.size(), i + (max_chars - chars));
      while (k < limit && static_cast<unsigned char>(line[k]) < 0x80) ++k;
      out.append(line.substr(i, k - i));
      chars += k - i;
      i = k;
      continue;
    }
    std::size_t len = utf8_sequence(line, i);
    if (len > 0) {
      out.append(line.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
    ++chars;
  }
}

// ---------------------------------------------------------------------------------------------
// Searching files

// What searching one file produced. The lines are kept per file so that files can be searched
// in any order (and on several threads) and merged in path order afterwards.
struct FileResult {
  enum class Kind : unsigned char { unread, too_large, binary, searched };
  Kind kind = Kind::unread;
  std::vector<std::string> lines;  // "path:line:text"
  // skipped_before[k]: lines skipped (limit errors) before lines[k] was found; shorter than
  // `lines` when no line was skipped before the missing entries (they are 0).
  std::vector<std::size_t> skipped_before;
  std::size_t lines_skipped = 0;

  std::size_t skipped_before_line(std::size_t k) const {
    return k < skipped_before.size() ? skipped_before[k] : 0;
  }
};

std::size_t saturating_add1(std::size_t n) {
  return n == std::numeric_limits<std::size_t>::max() ? n : n + 1;
}

// Searches files with one Matcher; one instance per thread.
class FileSearcher {
 public:
  FileSearcher(const Workspace& ws, const Pattern& pat, const GrepOptions& opt, Budget& budget)
      : ws_(ws), pat_(pat), opt_(opt), budget_(budget), matcher_(pat) {}

  // Searches `rel`, keeping at most `limit` matching lines (the search stops at the limit).
  void run(const std::string& rel, std::size_t limit, FileResult& r) {
    if (budget_.exhausted(tick_)) return;
    auto data = ws_.read_file(rel, kGrepMaxFileBytes);
    if (!data) {
      auto st = ws_.stat(rel);
      if (st && st->is_file && st->size > kGrepMaxFileBytes) r.kind = FileResult::Kind::too_large;
      return;
    }
    if (std::memchr(data->data(), '\0', std::min(data->size(), kBinaryProbeBytes)) != nullptr) {
      r.kind = FileResult::Kind::binary;
      return;
    }
    r.kind = FileResult::Kind::searched;
    search(rel, *data, limit, r);
  }

 private:
  static std::size_t line_end(std::string_view data, std::size_t from) {
    const void* nl = std::memchr(data.data() + from, '\n', data.size() - from);
    return nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) : data.size();
  }

  void search(const std::string& rel, std::string_view data, std::size_t limit, FileResult& r) {
    const std::size_t n = data.size();
    std::size_t pos = 0;      // search from here (always a line start)
    std::size_t line_no = 1;  // line number of `pos`
    if (!pat_.buffer_search_misses(data)) {
      while (pos < n) {
        if (budget_.exhausted(tick_)) return;
        std::size_t start = 0;
        int rc = matcher_.find(pat_.buffer(), data, pos, &start);
        if (rc == PCRE2_ERROR_NOMATCH) return;
        if (rc < 0) break;                              // a limit: search the rest line by line
        if (start >= n && data.back() == '\n') return;  // the empty "line" after the last "\n"
        // The line containing `start`: it begins after the last "\n" in [pos, start).
        std::size_t ls = pos;
        if (start > pos) {
          const void* nl = memrchr(data.data() + pos, '\n', start - pos);
          if (nl) ls = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) + 1;
        }
        line_no += static_cast<std::size_t>(std::count(data.data() + pos, data.data() + ls, '\n'));
        std::size_t le = line_end(data, start);
        if (!check_line(rel, data, ls, le, line_no, limit, r)) return;
        pos = le + 1;
        ++line_no;
      }
    }
    while (pos < n) {
      std::size_t le = line_end(data, pos);
      if (!check_line(rel, data, pos, le, line_no, limit, r)) return;
      pos = le + 1;
      ++line_no;
    }
  }

  // Matches the line [ls, le) on its own and records it. False once `limit` lines are kept.
  bool check_line(const std::string& rel, std::string_view data, std::size_t ls, std::size_t le,
                  std::size_t line_no, std::size_t limit, FileResult& r) {
    if (budget_.exhausted(tick_)) return false;
    std::string_view text = data.substr(ls, le - ls);
    std::size_t start = 0;
    int rc = matcher_.find(pat_.line(), text, 0, &start);
    if (rc == PCRE2_ERROR_NOMATCH) return true;
    if (rc < 0) {
      ++r.lines_skipped;
      return !budget_.limit_hit();
    }
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (r.lines_skipped > 0) {
      r.skipped_before.resize(r.lines.size(), 0);
      r.skipped_before.push_back(r.lines_skipped);
    }
    std::string line;
    line.reserve(rel.size() + 24 + clean_line_reserve(text.size(), opt_.max_line_chars));
    line.append(printable_path(rel)).append(1, ':').append(std::to_string(line_no)).append(1, ':');
    append_clean_line(line, text, opt_.max_line_chars);
    r.lines.push_back(std::move(line));
    return r.lines.size() < limit;
  }

  const Workspace& ws_;
  const Pattern& pat_;
  const GrepOptions& opt_;
  Budget& budget_;
  unsigned tick_ = 0;
  Matcher matcher_;
};

// Adds one file's result to `out` as the sequential search would have: `max` caps the lines.
// Returns false when the cap was reached (out.truncated is then set).
bool merge_result(FileResult& r, std::size_t max, GrepResult& out) {
  switch (r.kind) {
    case FileResult::Kind::unread:
      return true;
    case FileResult::Kind::too_large:
      ++out.files_too_large;
      return true;
    case FileResult::Kind::binary:
      ++out.files_binary;
      return true;
    case FileResult::Kind::searched:
      break;
  }
  ++out.files_searched;
  const std::size_t room = max - out.lines.size();
  const bool capped = r.lines.size() > room;
  const std::size_t take = capped ? room : r.lines.size();
  out.lines_skipped += capped ? r.skipped_before_line(room) : r.lines_skipped;
  std::move(r.lines.begin(), r.lines.begin() + static_cast<std::ptrdiff_t>(take),
            std::back_inserter(out.lines));
  if (capped) out.truncated = true;
  return !capped;
}

constexpr std::size_t kMaxSearchThreads = 8;
// A worker thread is started each time this many walked files wait to be searched (up to the
// thread count), so a small tree is searched by the calling thread alone once it is walked.
constexpr std::size_t kFilesPerNewThread = 16;

std::size_t search_threads() {
  std::size_t hw = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(hw, 1, kMaxSearchThreads);
}

// Searches the files the walk hands over (in sorted path order) and merges the results into
// `out` in that order. With one thread a file is searched as soon as it is added. Otherwise
// files are queued and claimed in order by worker threads (started as files pile up) and by the
// calling thread once the walk is over; a finished file is merged as soon as every file before it
// is, and nothing new is started once the cap is reached. `out` is therefore exactly what the
// sequential search gives: the counters cover the files up to the one where the cap was reached.
class SearchRun {
 public:
  SearchRun(const Workspace& ws, const Pattern& pat, const GrepOptions& opt, Budget& budget,
            GrepResult& out)
      : ws_(ws), pat_(pat), opt_(opt), budget_(budget), out_(out), threads_(search_threads()) {}
  SearchRun(const SearchRun&) = delete;
  SearchRun& operator=(const SearchRun&) = delete;
  ~SearchRun() { shutdown(); }

  // Adds the next file (in path order). Returns false once no more files are wanted.
  bool add(std::string rel) {
    if (threads_ <= 1) {
      if (budget_.exhausted(tick_)) return false;
      if (!inline_) inline_.emplace(ws_, pat_, opt_, budget_);
      FileResult r;
      inline_->run(rel, saturating_add1(opt_.max_matches - out_.lines.size()), r);
      return merge_result(r, opt_.max_matches, out_);
    }
    bool spawn = false;
    if (budget_.exhausted(tick_)) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return false;
      slots_.emplace_back().path = std::move(rel);
      spawn = pool_.size() + 1 < threads_ &&
              slots_.size() - next_ >= kFilesPerNewThread * (pool_.size() + 1);
    }
    work_cv_.notify_one();
    if (spawn) {
      try {
        pool_.emplace_back([this] { work(); });
      } catch (const std::system_error&) {
        threads_ = pool_.size() + 1;  // no more threads: go on with those there are
      }
    }
    return true;
  }

  // The walk is over: helps the workers until every file is merged (or the cap is reached).
  void finish() {
    if (threads_ <= 1) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      walk_done_ = true;
    }
    work_cv_.notify_all();
    work();
    shutdown();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Slot {
    std::string path;
    FileResult result;
    bool done = false;
  };

  void work() {
    try {
      FileSearcher searcher(ws_, pat_, opt_, budget_);
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        work_cv_.wait(lock, [&] { return stop_ || next_ < slots_.size() || walk_done_; });
        if (stop_ || next_ >= slots_.size()) return;
        Slot& slot = slots_[next_++];
        const std::size_t limit = saturating_add1(opt_.max_matches - out_.lines.size());
        lock.unlock();
        FileResult r;
        searcher.run(slot.path, limit, r);
        lock.lock();
        slot.result = std::move(r);
        slot.done = true;
        while (merged_ < slots_.size() && slots_[merged_].done && !stop_) {
          Slot& s = slots_[merged_++];
          bool more = merge_result(s.result, opt_.max_matches, out_);
          s.result = FileResult{};
          s.path = std::string();
          if (!more) stop_ = true;
        }
        if (stop_) work_cv_.notify_all();
      }
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        stop_ = true;
      }
      work_cv_.notify_all();
    }
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!walk_done_) stop_ = true;  // abandoned (an exception in the walk): stop the workers
      walk_done_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : pool_) t.join();
    pool_.clear();
  }

  const Workspace& ws_;
  const Pattern& pat_;
  const GrepOptions& opt_;
  Budget& budget_;
  unsigned tick_ = 0;  // the calling thread's counter for budget checks
  GrepResult& out_;    // guarded by mu_ while workers run
  std::size_t threads_;
  std::optional<FileSearcher> inline_;  // the searcher of the one-thread mode
  std::vector<std::thread> pool_;       // touched by the calling thread only

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Slot> slots_;  // every added file; references stay valid while it grows
  std::size_t next_ = 0;    // first slot not claimed yet
  std::size_t merged_ = 0;  // first slot not merged yet
  bool walk_done_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
};

// Walks below `start` like `walk`, but calls `emit` for the files `visit` accepts in sorted path
// order (the order std::sort gives the full relative paths), so the search can start before the
// walk ends and the walk can stop early. A directory's entries are visited in the order of their
// names, a "/" appended to the names of directories that will be descended into: every path
// below directory "d" begins with "d/", so this is the order of the full paths. `emit` returns
// false to end the walk.
void ordered_walk(const Workspace& ws, const std::string& start,
                  const std::function<bool(const WalkEntry&)>& visit,
                  const std::function<bool(std::string&&)>& emit) {
  struct Item {
    std::string key;  // name, "/" appended for a directory to descend into
    WalkEntry entry;
  };
  struct Frame {
    std::vector<Item> items;
    std::size_t next = 0;
  };
  auto list = [&](const std::string& dir) {
    Frame f;
    auto entries = ws.list_dir(dir);
    if (!entries) return f;
    f.items.reserve(entries->size());
    for (auto& e : *entries) {
      if (e.name == ".git") continue;
      Item it;
      it.entry.rel = join_rel(dir, e.name);
      it.entry.is_dir = e.is_dir;
      it.entry.is_link = e.is_symlink;
      if (e.is_symlink) {
        auto st = ws.stat(it.entry.rel);
        if (!st || (!st->is_file && !st->is_dir)) continue;
        it.entry.is_dir = st->is_dir;
      }
      it.key = std::move(e.name);
      if (it.entry.is_dir && !it.entry.is_link) it.key += '/';
      f.items.push_back(std::move(it));
    }
    std::sort(f.items.begin(), f.items.end(),
              [](const Item& a, const Item& b) { return a.key < b.key; });
    return f;
  };
  std::vector<Frame> stack;
  stack.push_back(list(start));
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next == top.items.size()) {
      stack.pop_back();
      continue;
    }
    Item& it = top.items[top.next++];
    if (!visit(it.entry)) continue;
    if (it.entry.is_dir) {
      if (!it.entry.is_link) stack.push_back(list(it.entry.rel));  // `it` dangles from here on
      continue;
    }
    if (!emit(std::move(it.entry.rel))) return;
  }
}

}  // namespace

Result<GlobResult> glob_files(const Workspace& ws, std::string_view pattern, std::size_t limit,
                              std::chrono::milliseconds timeout, CancelToken cancel) {
  if (pattern.empty()) return fail(ErrorType::invalid_input, "glob pattern is empty");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  enum class Stop { none, deadline, cancelled } stop = Stop::none;
  std::size_t visited = 0;
  std::vector<std::string> expanded;
  if (auto r = expand_braces(std::string(pattern), expanded); !r) return fail(r.error());

  std::vector<std::string> found;
  for (const auto& one : expanded) {
    auto rel = ws.to_relative(one);
    if (!rel) return fail(rel.error());
    if (*rel == ".") continue;
    GlobPattern pat(*rel);
    // Literal leading components: where the walk starts.
    const auto& segs = pat.segments();
    std::size_t lit = 0;
    while (lit < segs.size() && !has_wildcard(segs[lit]) && segs[lit] != "**") ++lit;
    if (lit == segs.size()) {  // no wildcard at all: the path itself, if it exists
      auto st = ws.stat(*rel);
      bool in_git = false;
      for (const auto& s : segs) in_git = in_git || s == ".git";
      if (st && !in_git && (st->is_file || st->is_dir)) found.push_back(*rel);
      continue;
    }
    std::string start = ".";
    bool in_git = false;
    for (std::size_t i = 0; i < lit; ++i) {
      in_git = in_git || segs[i] == ".git";
      start = join_rel(start, segs[i]);
    }
    if (in_git) continue;
    if (start != ".") {
      auto st = ws.stat(start);
      if (!st || !st->is_dir) continue;
    }
    walk(ws, start, [&](const WalkEntry& e) {
      if (stop != Stop::none) return false;
      if (++visited % 64 == 0) {
        if (cancel.cancelled()) stop = Stop::cancelled;
        if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline) {
          stop = Stop::deadline;
        }
        if (stop != Stop::none) return false;
      }
      auto comps = view_components(e.rel);
      if (pat.matches(comps)) found.push_back(e.rel);
      return e.is_dir && pat.may_match_below(comps);
    });
  }
  if (stop == Stop::cancelled) return fail(ErrorType::cancelled, "glob was cancelled");
  if (stop == Stop::deadline) {
    return fail(ErrorType::timeout,
                fmt::format("glob stopped after {} ms (its deadline) with {} entries visited: "
                            "use a narrower pattern",
                            timeout.count(), visited),
                json_object{{"pattern", std::string(pattern)}, {"timeout_ms", timeout.count()}});
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  GlobResult out;
  if (found.size() > limit) {
    out.truncated = true;
    found.resize(limit);
  }
  out.paths = std::move(found);
  return out;
}

namespace {

// The call's result, or the error saying why it stopped before searching everything.
Result<GrepResult> budget_result(const Budget& budget, const GrepOptions& o, GrepResult out) {
  switch (budget.reason()) {
    case Budget::Reason::none:
      return out;
    case Budget::Reason::cancelled:
      return fail(ErrorType::cancelled, "grep was cancelled");
    case Budget::Reason::deadline:
      return fail(ErrorType::timeout,
                  fmt::format("grep stopped after {} ms (its deadline) with {} files searched: "
                              "narrow the path or include, or simplify the pattern",
                              o.timeout.count(), out.files_searched),
                  json_object{{"pattern", o.pattern}, {"timeout_ms", o.timeout.count()}});
    case Budget::Reason::limits:
      return fail(ErrorType::invalid_input,
                  fmt::format("grep stopped: the pattern /{}/ hit the regex match limit on more "
                              "than {} lines (catastrophic backtracking); simplify it",
                              o.pattern, o.max_limit_hits),
                  json_object{{"pattern", o.pattern}, {"rule", "match_limit"}});
  }
  return out;
}

}  // namespace

Result<GrepResult> grep_files(const Workspace& ws, const GrepOptions& options) {
  if (options.pattern.empty()) return fail(ErrorType::invalid_input, "grep pattern is empty");
  auto re = Pattern::compile(options.pattern, options.ignore_case);
  if (!re) return fail(re.error());

  std::string root = ".";
  if (!options.path.empty()) {
    auto rel = ws.to_relative(options.path);
    if (!rel) return fail(rel.error());
    root = *rel;
  }
  auto st = ws.stat(root);
  if (!st) return fail(st.error());

  GrepResult out;
  Budget budget(options);
  if (st->is_file) {
    SearchRun run(ws, *re, options, budget, out);
    run.add(root);
    run.finish();
    return budget_result(budget, options, std::move(out));
  }
  if (!st->is_dir)
    return fail(ErrorType::invalid_input, "grep path is neither a file nor a directory",
                {{"path", options.path}});

  std::vector<GlobPattern> includes;
  std::vector<bool> include_by_path;
  if (!options.include.empty()) {
    std::vector<std::string> expanded;
    if (auto r = expand_braces(options.include, expanded); !r) return fail(r.error());
    for (auto& e : expanded) {
      include_by_path.push_back(e.find('/') != std::string::npos);
      while (!e.empty() && e[0] == '/') e.erase(0, 1);
      includes.emplace_back(e);
    }
  }
  GitIgnore ignore;
  ignore.load(ws);

  SearchRun run(ws, *re, options, budget, out);
  ordered_walk(
      ws, root,
      [&](const WalkEntry& e) {
        auto comps = view_components(e.rel);
        if (!ignore.empty() && ignore.ignored(comps, e.is_dir)) return false;
        if (e.is_dir || includes.empty()) return true;
        for (std::size_t i = 0; i < includes.size(); ++i) {
          bool ok = include_by_path[i]
                        ? includes[i].matches(comps)
                        : includes[i].matches(std::vector<std::string_view>{comps.back()});
          if (ok) return true;
        }
        return false;
      },
      [&](std::string&& rel) { return run.add(std::move(rel)); });
  run.finish();
  return budget_result(budget, options, std::move(out));
}

}  // namespace cppflue
