// SPDX-License-Identifier: Apache-2.0
// glob_files: each `{a,b}` alternative is mapped into the workspace, its literal leading
// components name where the walk starts, and the walk lists what the pattern matches, within a
// deadline and a cancellation token.
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "cppflue/core/json.hpp"
#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

// The walk's limits: a deadline (a timeout <= 0: none) and a cancellation token, both checked
// every 64 entries. Once one stops the walk, every later entry is refused.
class GlobLimits {
 public:
  enum class Stop { none, deadline, cancelled };

  GlobLimits(std::chrono::milliseconds timeout, CancelToken cancel)
      : timeout_(timeout),
        cancel_(std::move(cancel)),
        deadline_(std::chrono::steady_clock::now() + timeout) {}

  // Counts one entry; false when the walk must stop.
  bool proceed() {
    if (stop_ != Stop::none) return false;
    if (++visited_ % 64 == 0) {
      if (cancel_.cancelled()) stop_ = Stop::cancelled;
      if (timeout_.count() > 0 && std::chrono::steady_clock::now() >= deadline_) {
        stop_ = Stop::deadline;
      }
      if (stop_ != Stop::none) return false;
    }
    return true;
  }
  Stop stop() const { return stop_; }
  std::size_t visited() const { return visited_; }

 private:
  std::chrono::milliseconds timeout_;
  CancelToken cancel_;
  std::chrono::steady_clock::time_point deadline_;
  Stop stop_ = Stop::none;
  std::size_t visited_ = 0;
};

// A pattern without wildcards: the path itself, if it exists and is not inside ".git".
void glob_literal(const Workspace& ws, const std::string& rel, const std::vector<std::string>& segs,
                  std::vector<std::string>& found) {
  auto st = ws.stat(rel);
  bool in_git = false;
  for (const auto& s : segs) in_git = in_git || s == ".git";
  if (st && !in_git && (st->is_file || st->is_dir)) found.push_back(rel);
}

// Adds to `found` what the workspace-relative pattern `rel` (one brace alternative) matches.
void glob_one(const Workspace& ws, const std::string& rel, GlobLimits& limits,
              std::vector<std::string>& found) {
  GlobPattern pat(rel);
  // Literal leading components: where the walk starts.
  const auto& segs = pat.segments();
  std::size_t lit = 0;
  while (lit < segs.size() && !has_wildcard(segs[lit]) && segs[lit] != "**") ++lit;
  if (lit == segs.size()) {  // no wildcard at all
    glob_literal(ws, rel, segs, found);
    return;
  }
  std::string start = ".";
  bool in_git = false;
  for (std::size_t i = 0; i < lit; ++i) {
    in_git = in_git || segs[i] == ".git";
    start = join_rel(start, segs[i]);
  }
  if (in_git) return;
  if (start != ".") {
    auto st = ws.stat(start);
    if (!st || !st->is_dir) return;
  }
  walk(ws, start, [&](const WalkEntry& e) {
    if (!limits.proceed()) return false;
    auto comps = view_components(e.rel);
    if (pat.matches(comps)) found.push_back(e.rel);
    return e.is_dir && pat.may_match_below(comps);
  });
}

// The sorted, deduplicated paths, at most `limit` of them.
GlobResult first_paths(std::vector<std::string> found, std::size_t limit) {
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

}  // namespace
}  // namespace cppflue::search_detail

namespace cppflue {

Result<GlobResult> glob_files(const Workspace& ws, std::string_view pattern, std::size_t limit,
                              std::chrono::milliseconds timeout, CancelToken cancel) {
  using search_detail::expand_braces;
  using search_detail::GlobLimits;
  if (pattern.empty()) return fail(ErrorType::invalid_input, "glob pattern is empty");
  GlobLimits limits(timeout, std::move(cancel));
  std::vector<std::string> expanded;
  if (auto r = expand_braces(std::string(pattern), expanded); !r) return fail(r.error());

  std::vector<std::string> found;
  for (const auto& one : expanded) {
    auto rel = ws.to_relative(one);
    if (!rel) return fail(rel.error());
    if (*rel == ".") continue;
    search_detail::glob_one(ws, *rel, limits, found);
  }
  if (limits.stop() == GlobLimits::Stop::cancelled) {
    return fail(ErrorType::cancelled, "glob was cancelled");
  }
  if (limits.stop() == GlobLimits::Stop::deadline) {
    return fail(ErrorType::timeout,
                fmt::format("glob stopped after {} ms (its deadline) with {} entries visited: "
                            "use a narrower pattern",
                            timeout.count(), limits.visited()),
                json_object{{"pattern", std::string(pattern)}, {"timeout_ms", timeout.count()}});
  }
  return search_detail::first_paths(std::move(found), limit);
}

}  // namespace cppflue
