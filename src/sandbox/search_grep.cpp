// SPDX-License-Identifier: Apache-2.0
// grep_files: the pattern compiled, the path mapped into the workspace, then either that one
// file searched or the tree below it walked in path order (.gitignore and the include filter
// applied) while the files are searched; a call stopped by its budget ends with an error.
#include <fmt/format.h>

#include <utility>

#include "cppflue/core/json.hpp"
#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

// grep's include filter: globs matched against the file name, or against the relative path when
// they contain a "/". No globs: every file passes.
struct IncludeFilter {
  std::vector<GlobPattern> globs;
  std::vector<bool> by_path;  // by_path[i]: globs[i] is matched against the whole path

  bool accepts(const std::vector<std::string_view>& comps) const {
    if (globs.empty()) return true;
    for (std::size_t i = 0; i < globs.size(); ++i) {
      bool ok = by_path[i] ? globs[i].matches(comps)
                           : globs[i].matches(std::vector<std::string_view>{comps.back()});
      if (ok) return true;
    }
    return false;
  }
};

// The filter for `include` (`{a,b}` alternatives expanded, leading "/" dropped).
Result<IncludeFilter> include_filter(const std::string& include) {
  IncludeFilter f;
  if (include.empty()) return f;
  std::vector<std::string> expanded;
  if (auto r = expand_braces(include, expanded); !r) return fail(r.error());
  for (auto& e : expanded) {
    f.by_path.push_back(e.find('/') != std::string::npos);
    while (!e.empty() && e[0] == '/') e.erase(0, 1);
    f.globs.emplace_back(e);
  }
  return f;
}

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
}  // namespace cppflue::search_detail

namespace cppflue {

Result<GrepResult> grep_files(const Workspace& ws, const GrepOptions& options) {
  using search_detail::AddFile;
  using search_detail::Budget;
  using search_detail::search_files;
  if (options.pattern.empty()) return fail(ErrorType::invalid_input, "grep pattern is empty");
  auto re = search_detail::Pattern::compile(options.pattern, options.ignore_case);
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
    search_files(ws, *re, options, budget, out,
                 [&](const AddFile& add) { add(std::string(root)); });
    return search_detail::budget_result(budget, options, std::move(out));
  }
  if (!st->is_dir)
    return fail(ErrorType::invalid_input, "grep path is neither a file nor a directory",
                {{"path", options.path}});

  auto include = search_detail::include_filter(options.include);
  if (!include) return fail(include.error());
  search_detail::GitIgnore ignore;
  ignore.load(ws);
  auto visit = [&](const search_detail::WalkEntry& e) {
    auto comps = search_detail::view_components(e.rel);
    if (!ignore.empty() && ignore.ignored(comps, e.is_dir)) return false;
    return e.is_dir || include->accepts(comps);
  };
  search_files(ws, *re, options, budget, out,
               [&](const AddFile& add) { search_detail::ordered_walk(ws, root, visit, add); });
  return search_detail::budget_result(budget, options, std::move(out));
}

}  // namespace cppflue
