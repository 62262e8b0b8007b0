// SPDX-License-Identifier: Apache-2.0
// The project side of `cppflue build` (deploy_project.cpp).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cppflue/core/config.hpp"
#include "deploy.hpp"

namespace cppflue::cli::deploy {

// Reads the project for `target`: its name, agents, variables, compiled or not. Refuses a
// project with problems (as `doctor` lists them), without agents, or with secret values in
// cppflue.toml. `out_dir` is where the files go (for paths relative to the project).
Result<Project> analyse_project(const Config& config, const std::string& target,
                                const std::filesystem::path& out_dir);

// Copies the project under `root` into the folder open as `dest_dir`: regular files and
// folders only, without .git, .cppflue, .env files, node_modules, CMake build folders (any
// holding a CMakeCache.txt), the top-level dist/ and build/, folders a build made (holding a
// .cppflue-build.json), the folders `skip` identifies and `state_dir`. Symbolic links, special
// files and files with several hard links are left out, each with a warning.
Result<void> copy_project(const std::filesystem::path& root, int dest_dir,
                          const std::vector<std::pair<dev_t, ino_t>>& skip,
                          const std::filesystem::path& state_dir,
                          std::vector<std::string>& warnings);

// The running executable, and the jail helper it uses.
Result<std::filesystem::path> own_executable();
Result<std::filesystem::path> jail_helper();

}  // namespace cppflue::cli::deploy
