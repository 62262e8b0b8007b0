// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox module: what workspace.cpp (public read operations, errors, policy),
// workspace_walk.cpp (resolution beneath the root) and workspace_write.cpp (write, mkdir,
// remove) share. See include/cppflue/sandbox/workspace.hpp for the contract.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/workspace.hpp"
#include "sandbox/unique_fd.hpp"

namespace cppflue {

namespace workspace_detail {

inline constexpr int kMaxSymlinks = 40;  // same as the kernel's MAXSYMLINKS
inline constexpr int kMaxRetries = 16;   // openat2 EAGAIN retries
inline constexpr int kMaxRemoveDepth = 2048;

using Fd = detail::UniqueFd;

// A failed system call: errno, or a policy verdict found while resolving.
struct SysError {
  int err = 0;
};
template <class T>
using SysResult = tl::expected<T, SysError>;
inline tl::unexpected<SysError> sys_fail(int err) {
  return tl::unexpected<SysError>(SysError{err});
}

// ---- lexical path helpers (workspace_walk.cpp) ----

std::vector<std::string> split_components(std::string_view s);
// "/"-prefixed display form of a relative path ("/" for the root).
std::string display(std::string_view rel);
// Is `rel` equal to `entry` or below it? "." contains everything.
bool under(std::string_view rel, std::string_view entry);
std::string join_rel(std::string_view parent, std::string_view leaf);
// Splits a normalised non-root relative path into parent ("." at top level) and leaf.
std::pair<std::string, std::string> split_leaf(const std::string& rel);

// ---- system call helpers (workspace_walk.cpp) ----

int sys_openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
                std::uint64_t resolve);

}  // namespace workspace_detail

struct Workspace::Impl {
  using Fd = workspace_detail::Fd;
  template <class T>
  using SysResult = workspace_detail::SysResult<T>;

  static int root(const Workspace& ws) { return *ws.root_fd_; }

  // ---- errors and policy (workspace.cpp) ----
  static Error escape_error(const Workspace& ws, std::string_view path);
  static Error hidden_error(std::string_view rel);
  static Error read_only_error(std::string_view rel);
  static Error root_error();
  static Error os_error(const Workspace& ws, std::string_view what, std::string_view rel, int err);
  static void give_to_owner(const Workspace& ws, int dirfd, const char* name);
  static bool is_hidden(const Workspace& ws, std::string_view rel);
  static bool is_read_only(const Workspace& ws, std::string_view rel);
  // Policy check on the lexical path and, where known, on the path the kernel resolved.
  static Result<void> check(const Workspace& ws, std::string_view rel, bool write);

  // ---- resolution beneath the root (workspace_walk.cpp) ----
  static bool fallback(const Workspace& ws);
  // Opens `rel` beneath `dirfd` (normally the root). `follow_last` = follow a trailing symlink.
  static SysResult<Fd> open_beneath(const Workspace& ws, int dirfd, std::string_view rel, int flags,
                                    bool follow_last);
  // Resolved workspace-relative path of an open fd (via /proc), if it can be determined.
  static std::optional<std::string> real_rel(const Workspace& ws, int fd);
  // Opens the parent directory of a non-root `rel`; checks the policy on `rel` and on the
  // resolved parent + leaf.
  static Result<std::pair<Fd, std::string>> open_parent(const Workspace& ws, const std::string& rel,
                                                        std::string_view what, bool write);

  // ---- write, mkdir, remove (workspace_write.cpp) ----
  static Result<void> write_rel(const Workspace& ws, const std::string& rel, std::string_view data,
                                bool create_parents, int depth);
  struct WriteTarget;  // what write_rel found at the path (workspace_write.cpp)
  static Result<WriteTarget> inspect_write_target(const Workspace& ws, int dirfd,
                                                  const std::string& leaf, const std::string& rel,
                                                  int depth);
  static Result<void> follow_write_symlink(const Workspace& ws, const std::string& rel, int depth,
                                           WriteTarget& target);
  static int fill_and_rename(const Workspace& ws, Fd& out, int dirfd, const std::string& tmp,
                             const std::string& leaf, const WriteTarget& target,
                             std::string_view data);
  static Result<void> mkdir_rel(const Workspace& ws, const std::string& rel, bool recursive);
  // Removes `name` (a directory) below `dirfd` recursively, never following symlinks.
  static int remove_tree(const Workspace& ws, int dirfd, const std::string& name, int depth);
};

}  // namespace cppflue
