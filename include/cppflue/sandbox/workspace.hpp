// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/workspace.hpp — file operations confined to one workspace directory.
//
// A `Workspace` is what the file tools (read, write, stat, exists, mkdir, rm)
// see of the disk. Paths given by the model or the user are first mapped lexically into a path
// relative to the workspace root (`to_relative`): relative paths, "/" alone, "/workspace/..." and
// the root's own absolute path map inside; anything else is refused as a `path_escape`. Every
// operation then opens files relative to a directory fd held on the root, through
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so a symlink, a ".." or a component swapped
// between a check and its use can never lead outside. When the kernel has no openat2 (ENOSYS), or
// when `WorkspaceOptions::force_fallback` is set, the same guarantee comes from a component walk
// with O_NOFOLLOW that resolves symlinks itself and never climbs above the root fd. Hidden paths
// (e.g. ".cppflue") behave as nonexistent and are refused; read-only paths (e.g. ".git") refuse
// writes, mkdir and removal. A Workspace is cheap to copy (copies share the root fd) and its const
// operations may run concurrently from several threads. Linux only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"

namespace cppflue {

struct WorkspaceOptions {
  // Workspace-relative paths treated as nonexistent: every operation on them (or below them) is
  // refused with ErrorType::permission, rule "hidden_path"; exists() says false; list_dir() omits
  // them.
  std::vector<std::string> hidden;
  // Workspace-relative paths where write_file, mkdir and remove are refused (ErrorType::permission,
  // rule "read_only_path"). "." makes the whole workspace read-only.
  std::vector<std::string> read_only;
  // Use the O_NOFOLLOW component walk even when openat2 is available (tests, old kernels).
  bool force_fallback = false;
};

struct FileInfo {
  std::string path;  // workspace path, "/"-prefixed ("/" for the root)
  bool is_file = false;
  bool is_dir = false;
  bool is_symlink = false;  // the entry itself is a symlink (is_file/is_dir describe its target)
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point mtime{};
};

struct DirEntry {
  std::string name;
  bool is_dir = false;      // a real directory (a symlink to a directory is not flagged)
  bool is_symlink = false;  // the entry is a symlink
};

class Workspace {
 public:
  static constexpr std::size_t kDefaultMaxRead = std::size_t{64} << 20;

  // Opens `root` (must be an existing directory) and keeps an O_PATH|O_DIRECTORY fd to it.
  // Errors: not_found (no such directory), invalid_input (not a directory, bad option paths).
  static Result<Workspace> open(const std::filesystem::path& root,
                                const WorkspaceOptions& options = {});

  // The sub-folder `path` (a workspace path; escapes refused as usual) as a workspace of its
  // own, opened once by descriptor beneath this root without following any symlink: a folder
  // swapped for a symlink before or after cannot redirect it. `options` are relative to the
  // sub-folder. Errors: invalid_input (not a directory, or a symlink), not_found, permission.
  Result<Workspace> subdirectory(std::string_view path, WorkspaceOptions options = {}) const;

  // Canonical absolute path of the root (for display and the jail's bind destination; the
  // files themselves are reached through root_fd()).
  const std::filesystem::path& root() const { return root_; }
  // The O_PATH descriptor of the root (valid while this workspace or a copy lives).
  int root_fd() const;
  const WorkspaceOptions& options() const { return options_; }
  // True when operations use the O_NOFOLLOW walk instead of openat2.
  bool uses_fallback() const;

  // Maps a model/user path to a normalised path relative to the root ("." for the root itself;
  // never starting with "/", never containing ".", ".." or empty components otherwise). Relative
  // paths, "/" alone, "/workspace/..." and the root's absolute path (and paths below it) map
  // inside; any other absolute path or a ".." leading above the root → ErrorType::permission with
  // details {"rule":"path_escape","path":...}. NUL bytes or a path of PATH_MAX bytes or more →
  // invalid_input. Purely lexical: does not touch the disk ("~" is a literal name).
  Result<std::string> to_relative(std::string_view path) const;

  // Reads a whole regular file (symlinks inside the workspace are followed). Directories and
  // special files → invalid_input; larger than `max_bytes` → invalid_input.
  Result<std::string> read_file(std::string_view path,
                                std::size_t max_bytes = kDefaultMaxRead) const;
  // Atomically replaces (or creates) a file: temp file in the same directory, then renameat. An
  // existing file keeps its permission bits. Writing onto a directory or the root → invalid_input.
  Result<void> write_file(std::string_view path, std::string_view data,
                          bool create_parents = true) const;
  Result<FileInfo> stat(std::string_view path) const;
  // False for missing, hidden or dangling paths; errors for escapes and invalid paths.
  Result<bool> exists(std::string_view path) const;
  // Entries sorted by name, without "." and ".." and without hidden paths.
  Result<std::vector<DirEntry>> list_dir(std::string_view path) const;
  // Non-recursive: the parent must exist and the directory must not. Recursive: like mkdir -p.
  Result<void> mkdir(std::string_view path, bool recursive) const;
  // Removes a file, a symlink (never its target) or a directory (empty unless `recursive`).
  // Recursive removal walks with directory fds and unlinkat and never follows symlinks. `force`
  // ignores a missing path. The root itself is always refused (permission, rule
  // "workspace_root").
  Result<void> remove(std::string_view path, bool recursive, bool force) const;

 private:
  struct Impl;
  friend struct Impl;

  Workspace() = default;

  void record_owner();

  std::filesystem::path root_;             // canonical absolute root
  std::vector<std::string> root_aliases_;  // absolute spellings of the root (no trailing "/")
  std::shared_ptr<const int> root_fd_;     // O_PATH|O_DIRECTORY, closed with the last copy
  WorkspaceOptions options_;               // hidden/read_only normalised to relative paths
  bool chown_new_ = false;                 // root in a workspace owned by someone else
  unsigned owner_uid_ = 0;
  unsigned owner_gid_ = 0;
};

}  // namespace cppflue
