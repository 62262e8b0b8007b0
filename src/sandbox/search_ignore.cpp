// SPDX-License-Identifier: Apache-2.0
// The root .gitignore for grep: blank lines and "#" comments, names and globs matched against
// the last path component, patterns with a "/" anchored at the root, a trailing "/" for
// directories only, "!" negation (the last matching rule wins).
#include <utility>

#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

constexpr std::size_t kMaxGitIgnoreBytes = std::size_t{1} << 20;

// The rule one line of .gitignore states, nullopt for a blank line, a comment or a line with
// nothing but "!" or slashes.
std::optional<IgnoreRule> parse_rule(std::string line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.pop_back();
  if (line.empty() || line[0] == '#') return std::nullopt;
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
  if (line.empty()) return std::nullopt;
  rule.pattern = GlobPattern(line);
  return rule;
}

}  // namespace

void GitIgnore::load(const Workspace& ws) {
  auto text = ws.read_file(".gitignore", kMaxGitIgnoreBytes);
  if (!text) return;
  std::size_t pos = 0;
  while (pos < text->size()) {
    std::size_t nl = text->find('\n', pos);
    if (nl == std::string::npos) nl = text->size();
    auto rule = parse_rule(text->substr(pos, nl - pos));
    pos = nl + 1;
    if (rule) rules_.push_back(std::move(*rule));
  }
}

bool GitIgnore::ignored(const std::vector<std::string_view>& comps, bool is_dir) const {
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

}  // namespace cppflue::search_detail
