// SPDX-License-Identifier: Apache-2.0
// Walking the workspace for glob and grep: through Workspace::list_dir and Workspace::stat only,
// ".git" skipped, symlinks resolved (inside the workspace) but never descended into.
#include <algorithm>
#include <utility>

#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

// The walk's view of the directory entry `e` of `dir`: nullopt for ".git" and for a symlink that
// is dangling, escapes the workspace or names neither a file nor a directory.
std::optional<WalkEntry> walk_entry(const Workspace& ws, const std::string& dir,
                                    const DirEntry& e) {
  if (e.name == ".git") return std::nullopt;
  WalkEntry w;
  w.rel = join_rel(dir, e.name);
  w.is_dir = e.is_dir;
  w.is_link = e.is_symlink;
  if (e.is_symlink) {
    auto st = ws.stat(w.rel);
    if (!st || (!st->is_file && !st->is_dir)) return std::nullopt;
    w.is_dir = st->is_dir;
  }
  return w;
}

// One directory of the ordered walk: its entries sorted by key, and the next one to visit.
struct OrderedItem {
  std::string key;  // name, "/" appended for a directory to descend into
  WalkEntry entry;
};
struct OrderedFrame {
  std::vector<OrderedItem> items;
  std::size_t next = 0;
};

// A directory's entries are visited in the order of their names, a "/" appended to the names of
// directories that will be descended into: every path below directory "d" begins with "d/", so
// this is the order of the full paths.
OrderedFrame list_ordered(const Workspace& ws, const std::string& dir) {
  OrderedFrame f;
  auto entries = ws.list_dir(dir);
  if (!entries) return f;
  f.items.reserve(entries->size());
  for (auto& e : *entries) {
    auto w = walk_entry(ws, dir, e);
    if (!w) continue;
    OrderedItem it;
    it.entry = std::move(*w);
    it.key = std::move(e.name);
    if (it.entry.is_dir && !it.entry.is_link) it.key += '/';
    f.items.push_back(std::move(it));
  }
  std::sort(f.items.begin(), f.items.end(),
            [](const OrderedItem& a, const OrderedItem& b) { return a.key < b.key; });
  return f;
}

}  // namespace

void walk(const Workspace& ws, const std::string& start,
          const std::function<bool(const WalkEntry&)>& visit) {
  std::vector<std::string> stack{start};
  while (!stack.empty()) {
    std::string dir = std::move(stack.back());
    stack.pop_back();
    auto entries = ws.list_dir(dir);
    if (!entries) continue;
    for (const auto& e : *entries) {
      auto w = walk_entry(ws, dir, e);
      if (!w) continue;
      if (visit(*w) && w->is_dir && !w->is_link) stack.push_back(std::move(w->rel));
    }
  }
}

void ordered_walk(const Workspace& ws, const std::string& start,
                  const std::function<bool(const WalkEntry&)>& visit,
                  const std::function<bool(std::string&&)>& emit) {
  std::vector<OrderedFrame> stack;
  stack.push_back(list_ordered(ws, start));
  while (!stack.empty()) {
    OrderedFrame& top = stack.back();
    if (top.next == top.items.size()) {
      stack.pop_back();
      continue;
    }
    OrderedItem& it = top.items[top.next++];
    if (!visit(it.entry)) continue;
    if (it.entry.is_dir) {
      // `it` dangles from here on.
      if (!it.entry.is_link) stack.push_back(list_ordered(ws, it.entry.rel));
      continue;
    }
    if (!emit(std::move(it.entry.rel))) return;
  }
}

}  // namespace cppflue::search_detail
