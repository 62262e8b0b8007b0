// SPDX-License-Identifier: Apache-2.0
// The output folder of `cppflue build` (deploy_output.cpp), written only through descriptors.
//
// The default output (dist/TARGET) is inside the project, which agents may write while a build
// runs: a folder swapped for a symbolic link would redirect a write by path anywhere on the
// host. So every folder is opened with O_NOFOLLOW below a descriptor, every file is created
// with O_CREAT | O_EXCL | O_NOFOLLOW, the new output is made in a fresh sibling folder and
// renamed into place relative to the parent's descriptor, and the old one is removed the same
// way.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "cppflue/core/error.hpp"

namespace cppflue::cli::deploy {

class OutputDir {
 public:
  // Prepares `out` (absolute, normal): opens its parent — below `project_root` without
  // following any link when `out` is inside the project — and makes an empty staging folder
  // there. An existing `out` is an error unless `force`, and then only when it is a folder a
  // build made (its marker file) whose state/ holds nothing.
  static Result<OutputDir> prepare(const std::filesystem::path& out,
                                   const std::filesystem::path& project_root, bool force);
  OutputDir(OutputDir&& other) noexcept;
  OutputDir& operator=(OutputDir&&) = delete;
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  ~OutputDir();  // removes the staging folder unless committed

  // A folder under the staging folder (created as needed); the caller closes the descriptor.
  Result<int> open_dir(std::string_view rel);
  // Creates the file `rel` with `content` (0755 when executable, else 0644).
  Result<void> write(std::string_view rel, std::string_view content, bool executable);
  // Copies what `from` (open for reading) holds into a new file `name` of the folder `dirfd`.
  static Result<void> copy_fd(int from, int dirfd, const std::string& name, mode_t mode,
                              const std::filesystem::path& shown);
  // Copies a file of this host (a library, the binary), or a folder of them.
  Result<void> copy_file(const std::filesystem::path& from, std::string_view rel, bool executable);
  Result<void> copy_tree(const std::filesystem::path& from, std::string_view rel);
  // The staging folder's identity (the project copy leaves it out).
  std::pair<dev_t, ino_t> staging_id() const { return staging_id_; }
  // Replaces `out` with the staging folder.
  Result<void> commit();

 private:
  OutputDir(int parent_fd, std::string out_name, std::string staging_name, int staging_fd,
            std::filesystem::path shown);
  int parent_fd_ = -1;
  std::string out_name_;
  std::string staging_name_;
  int staging_fd_ = -1;
  std::filesystem::path shown_;  // `out`, for messages
  std::pair<dev_t, ino_t> staging_id_{};
  bool committed_ = false;
};

// Removes the entry `name` of the folder `dirfd`, and everything under it, never following a
// link. Missing is fine.
Result<void> remove_tree_at(int dirfd, const std::string& name);

}  // namespace cppflue::cli::deploy
