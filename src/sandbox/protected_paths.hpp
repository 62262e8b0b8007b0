// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox: the guard of protected workspace paths around a jailed command.
//
// The jail re-binds protected paths that exist as real files or directories read-only, so no
// jailed process can change them. What it cannot bind is a protected path that does not exist
// yet (a missing `.env`, `AGENTS.md`, `.agents/`, ...) or that is a symlink: a command could
// create or replace those. So the state of every protected path is recorded before each
// command, and afterwards anything created or replaced there is moved aside to
// `<name>.cppflue-refused-<n>` (a replaced symlink is put back), by descriptor beneath the
// workspace root, and reported. Every process of the command is gone by then (the pid
// namespace and the cgroup), so nothing of it can race the check.
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

namespace cppflue::detail {

struct ProtectedState {
  std::string rel;
  bool reachable = false;  // the parent directory opens beneath the root without symlinks
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t type = 0;
  std::string link_target;  // for a symlink
};

// The state of each workspace-relative path in `rels` below the directory `root_fd`.
std::vector<ProtectedState> snapshot_protected(int root_fd, const std::vector<std::string>& rels);

// Puts back what a command changed at protected paths since `before`; returns one sentence per
// change for the command's output (empty when nothing changed).
std::vector<std::string> restore_protected(int root_fd, const std::vector<ProtectedState>& before);

}  // namespace cppflue::detail
