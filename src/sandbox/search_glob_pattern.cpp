// SPDX-License-Identifier: Apache-2.0
// Glob patterns for glob_files, grep's include filter and .gitignore rules: path components,
// `{a,b}` expansion and a component-wise matcher (fnmatch per component, "**" across them).
#include <fnmatch.h>

#include <algorithm>

#include "search_internal.hpp"

namespace cppflue::search_detail {

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

bool has_wildcard(std::string_view s) {
  return s.find_first_of("*?[\\") != std::string_view::npos;
}

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

namespace {

bool component(const std::string& pat, std::string_view name) {
  std::string n(name);
  return fnmatch(pat.c_str(), n.c_str(), 0) == 0;
}

}  // namespace

GlobPattern::GlobPattern(std::string_view pattern) : segs_(split_components(pattern)) {
  // Collapse runs of "**" (they mean the same thing and would only cost time).
  segs_.erase(std::unique(segs_.begin(), segs_.end(),
                          [](const std::string& a, const std::string& b) {
                            return a == "**" && b == "**";
                          }),
              segs_.end());
}

bool GlobPattern::match(std::size_t i, const std::vector<std::string_view>& p,
                        std::size_t j) const {
  if (i == segs_.size()) return j == p.size();
  if (segs_[i] == "**") {
    for (std::size_t k = j; k <= p.size(); ++k)
      if (match(i + 1, p, k)) return true;
    return false;
  }
  if (j == p.size()) return false;
  return component(segs_[i], p[j]) && match(i + 1, p, j + 1);
}

bool GlobPattern::prefix(std::size_t i, const std::vector<std::string_view>& p,
                         std::size_t j) const {
  if (i == segs_.size()) return false;
  if (segs_[i] == "**") return true;
  if (j == p.size()) return true;
  return component(segs_[i], p[j]) && prefix(i + 1, p, j + 1);
}

}  // namespace cppflue::search_detail
