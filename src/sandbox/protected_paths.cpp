// SPDX-License-Identifier: Apache-2.0
// The guard of protected workspace paths (see protected_paths.hpp).
#include "sandbox/protected_paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>

#include "sandbox/beneath.hpp"
#include "sandbox/unique_fd.hpp"

namespace cppflue::detail {

namespace {

// The parent directory of `rel`, beneath `root` without crossing a symlink; -1 otherwise.
UniqueFd open_parent(int root, const std::string& rel, std::string& leaf) {
  auto slash = rel.rfind('/');
  std::string parent = slash == std::string::npos ? "." : rel.substr(0, slash);
  leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
  return UniqueFd(open_strictly_beneath(root, parent.c_str(), O_PATH | O_DIRECTORY));
}

ProtectedState state_of(int root, const std::string& rel) {
  ProtectedState s;
  s.rel = rel;
  std::string leaf;
  UniqueFd parent = open_parent(root, rel, leaf);
  if (parent.get() < 0) return s;
  s.reachable = true;
  struct stat st {};
  if (::fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return s;
  s.exists = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.type = st.st_mode & S_IFMT;
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlinkat(parent.get(), leaf.c_str(), buf, sizeof buf);
    if (n > 0) s.link_target.assign(buf, static_cast<std::size_t>(n));
  }
  return s;
}

bool same(const ProtectedState& a, const ProtectedState& b) {
  if (a.exists != b.exists) return false;
  if (!a.exists) return true;
  return a.dev == b.dev && a.ino == b.ino && a.type == b.type && a.link_target == b.link_target;
}

}  // namespace

std::vector<ProtectedState> snapshot_protected(int root_fd, const std::vector<std::string>& rels) {
  std::vector<ProtectedState> out;
  out.reserve(rels.size());
  for (const auto& rel : rels) out.push_back(state_of(root_fd, rel));
  return out;
}

std::vector<std::string> restore_protected(int root_fd, const std::vector<ProtectedState>& before) {
  std::vector<std::string> notes;
  for (const auto& was : before) {
    ProtectedState now = state_of(root_fd, was.rel);
    if (!now.reachable) {
      if (was.reachable) {
        notes.push_back(fmt::format(
            "a folder on the way to the protected path {} was replaced; it is left as it is",
            was.rel));
      }
      continue;
    }
    if (same(was, now)) continue;
    std::string leaf;
    UniqueFd parent = open_parent(root_fd, was.rel, leaf);
    if (parent.get() < 0) continue;
    std::string moved;
    if (now.exists) {
      for (int n = 1; n < 1000 && moved.empty(); ++n) {
        std::string name = fmt::format("{}.cppflue-refused-{}", leaf, n);
        if (::renameat2(parent.get(), leaf.c_str(), parent.get(), name.c_str(), RENAME_NOREPLACE) ==
            0) {
          moved = name;
        } else if (errno != EEXIST) {
          break;
        }
      }
    }
    std::string text = fmt::format("the command {} the protected path {}",
                                   was.exists ? "replaced" : "created", was.rel);
    if (!moved.empty()) text += fmt::format("; what it made there was moved to {}", moved);
    if (was.exists && was.type == S_IFLNK && !was.link_target.empty() &&
        ::symlinkat(was.link_target.c_str(), parent.get(), leaf.c_str()) == 0) {
      text += " and the original symlink was put back";
    }
    notes.push_back(std::move(text));
  }
  return notes;
}

}  // namespace cppflue::detail
