// SPDX-License-Identifier: Apache-2.0
// glob_files / grep_files: a Workspace walk, a component-wise glob matcher, a root .gitignore
// reader and a PCRE2 line search. See cppflue/sandbox/search.hpp for the semantics.
#include "cppflue/sandbox/search.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fnmatch.h>
#include <pcre2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>

namespace cppflue {
namespace {

constexpr std::size_t kMaxBraceExpansions = 64;
constexpr std::size_t kBinaryProbeBytes = 8192;
constexpr std::uint32_t kMatchLimit = 1'000'000;
constexpr std::uint32_t kDepthLimit = 10'000;
constexpr std::size_t kJitStackMax = std::size_t{1} << 20;

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

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

class Regex {
 public:
  static Result<Regex> compile(const std::string& pattern, bool ignore_case) {
    Regex re;
    std::unique_ptr<pcre2_compile_context, CompileContextDeleter> cctx(
        pcre2_compile_context_create(nullptr));
    pcre2_set_newline(cctx.get(), PCRE2_NEWLINE_ANYCRLF);
    std::uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE;
    if (ignore_case) opts |= PCRE2_CASELESS;
    int err = 0;
    PCRE2_SIZE offset = 0;
    re.code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts,
                                 &err, &offset, cctx.get()));
    if (!re.code_) {
      std::string msg = pcre2_message(err);
      return fail(
          ErrorType::invalid_input,
          "invalid regex '" + pattern + "': " + msg + " at offset " + std::to_string(offset),
          {{"pattern", pattern},
           {"offset", static_cast<std::uint64_t>(offset)},
           {"pcre2_error", msg}});
    }
    re.jit_ = pcre2_jit_compile(re.code_.get(), PCRE2_JIT_COMPLETE) == 0;
    re.mctx_.reset(pcre2_match_context_create(nullptr));
    pcre2_set_match_limit(re.mctx_.get(), kMatchLimit);
    pcre2_set_depth_limit(re.mctx_.get(), kDepthLimit);
    if (re.jit_) {
      re.stack_.reset(pcre2_jit_stack_create(32 * 1024, kJitStackMax, nullptr));
      if (re.stack_) pcre2_jit_stack_assign(re.mctx_.get(), nullptr, re.stack_.get());
    }
    re.md_.reset(pcre2_match_data_create_from_pattern(re.code_.get(), nullptr));
    return re;
  }

  // >= 0: match starting at *start; PCRE2_ERROR_NOMATCH; other negative: limit/other error.
  int find(std::string_view subject, std::size_t from, std::uint32_t flags,
           std::size_t* start) const {
    int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                         from, flags, md_.get(), mctx_.get());
    if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
      *start = pcre2_get_ovector_pointer(md_.get())[0];
      return 0;
    }
    return rc;
  }

 private:
  std::unique_ptr<pcre2_code, CodeDeleter> code_;
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> mctx_;
  std::unique_ptr<pcre2_jit_stack, JitStackDeleter> stack_;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md_;
  bool jit_ = false;
};

// Cuts a line to `max_chars` code points; invalid UTF-8 bytes become U+FFFD.
std::string clean_line(std::string_view line, std::size_t max_chars) {
  std::string out;
  out.reserve(std::min(line.size(), max_chars * 4));
  std::size_t chars = 0;
  std::size_t i = 0;
  while (i < line.size() && chars < max_chars) {
    auto c = static_cast<unsigned char>(line[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= line.size();
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(line[i + k]) & 0xC0) == 0x80;
    if (ok && len >= 2) {
      // Reject overlong forms, surrogates and code points above U+10FFFF.
      std::uint32_t cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(line[i + k]) & 0x3F);
      static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(line.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
    ++chars;
  }
  return out;
}

// Appends "path:line:text" for each matching line of `data` while `out.lines` has room.
// Returns false when the cap was reached (and sets truncated).
bool search_buffer(const Regex& re, const std::string& rel, std::string_view data,
                   const GrepOptions& opt, GrepResult& out) {
  std::size_t pos = 0;      // search from here (always a line start)
  std::size_t line_no = 1;  // line number of `pos`
  bool per_line = false;    // after a limit error: search one line at a time
  while (pos < data.size()) {
    std::size_t start = 0;
    int rc;
    std::string_view subject = data;
    std::size_t from = pos;
    std::size_t line_end = std::string_view::npos;
    if (per_line) {
      line_end = data.find('\n', pos);
      if (line_end == std::string_view::npos) line_end = data.size();
      subject = data.substr(0, line_end);
    }
    rc = re.find(subject, from, 0, &start);
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (!per_line) return true;
      pos = line_end + 1;
      ++line_no;
      continue;
    }
    if (rc < 0) {
      if (!per_line) {
        per_line = true;  // retry this stretch line by line
        continue;
      }
      ++out.lines_skipped;
      pos = line_end + 1;
      ++line_no;
      continue;
    }
    if (start >= data.size() && !data.empty() && data.back() == '\n') return true;
    // Line containing `start`.
    std::size_t ls = start == 0 ? 0 : data.rfind('\n', start - 1);
    ls = (ls == std::string_view::npos || start == 0) ? 0 : ls + 1;
    if (ls < pos) ls = pos;
    line_no +=
        static_cast<std::size_t>(std::count(data.begin() + static_cast<std::ptrdiff_t>(pos),
                                            data.begin() + static_cast<std::ptrdiff_t>(ls), '\n'));
    std::size_t le = data.find('\n', start);
    if (le == std::string_view::npos) le = data.size();
    std::string_view text = data.substr(ls, le - ls);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (out.lines.size() >= opt.max_matches) {
      out.truncated = true;
      return false;
    }
    std::string line = rel;
    line += ':';
    line += std::to_string(line_no);
    line += ':';
    line += clean_line(text, opt.max_line_chars);
    out.lines.push_back(std::move(line));
    pos = le + 1;
    ++line_no;
  }
  return true;
}

// Searches one file. Returns false when the match cap was reached.
bool search_file(const Workspace& ws, const Regex& re, const std::string& rel,
                 const GrepOptions& opt, GrepResult& out) {
  auto data = ws.read_file(rel, kGrepMaxFileBytes);
  if (!data) {
    auto st = ws.stat(rel);
    if (st && st->is_file && st->size > kGrepMaxFileBytes) ++out.files_too_large;
    return true;
  }
  std::string_view probe(data->data(), std::min(data->size(), kBinaryProbeBytes));
  if (probe.find('\0') != std::string_view::npos) {
    ++out.files_binary;
    return true;
  }
  ++out.files_searched;
  return search_buffer(re, rel, *data, opt, out);
}

}  // namespace

Result<GlobResult> glob_files(const Workspace& ws, std::string_view pattern, std::size_t limit) {
  if (pattern.empty()) return fail(ErrorType::invalid_input, "glob pattern is empty");
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
      auto comps = view_components(e.rel);
      if (pat.matches(comps)) found.push_back(e.rel);
      return e.is_dir && pat.may_match_below(comps);
    });
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

Result<GrepResult> grep_files(const Workspace& ws, const GrepOptions& options) {
  if (options.pattern.empty()) return fail(ErrorType::invalid_input, "grep pattern is empty");
  auto re = Regex::compile(options.pattern, options.ignore_case);
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
  if (st->is_file) {
    search_file(ws, *re, root, options, out);
    return out;
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

  std::vector<std::string> files;
  walk(ws, root, [&](const WalkEntry& e) {
    auto comps = view_components(e.rel);
    if (!ignore.empty() && ignore.ignored(comps, e.is_dir)) return false;
    if (e.is_dir) return true;
    if (!includes.empty()) {
      bool ok = false;
      for (std::size_t i = 0; i < includes.size() && !ok; ++i) {
        ok = include_by_path[i] ? includes[i].matches(comps)
                                : includes[i].matches(std::vector<std::string_view>{comps.back()});
      }
      if (!ok) return false;
    }
    files.push_back(e.rel);
    return false;
  });
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    if (!search_file(ws, *re, f, options, out)) break;
  return out;
}

}  // namespace cppflue
