// SPDX-License-Identifier: Apache-2.0
// `cppflue init` and `cppflue skill new`: scaffolding of a CppFlue project and of a skill.
#pragma once

#include <filesystem>
#include <string>

namespace cppflue::cli {

struct InitOptions {
  std::string dir = ".";  // created when missing
  bool force = false;     // overwrite files that already exist
};

// `cppflue init [DIR] [--force]`: writes cppflue.toml, AGENTS.md, a skill (with a supporting
// file), a role, a Markdown agent, a compiled agent and workflow, src/main.cpp, a CMakeLists.txt
// that builds against the installed library, a README.md and a .gitignore. Without `force` it
// writes nothing when any of those files exists, and names them. Returns the exit status.
int init_command(const InitOptions& o);

// `cppflue skill new NAME [--config F]`: writes `.agents/skills/NAME/SKILL.md` under the project
// root (the directory of the cppflue.toml found from `config` / the working directory, else the
// working directory). NAME must be a valid skill name; an existing skill is never overwritten.
int skill_new_command(const std::string& config, const std::string& name);

// The name `init` gives the application scaffolded in `dir` (its executable and CMake project).
std::string application_name(const std::filesystem::path& dir);

// The install prefix of the running executable when it is an installed CppFlue
// (<prefix>/bin/NAME next to <prefix>/include/cppflue/cppflue.hpp); empty otherwise.
std::filesystem::path installed_prefix();

// The first command `init` prints to build the scaffold: "cmake -S . -B build -G Ninja", with
// -DCMAKE_PREFIX_PATH=... when this cppflue is installed under a non-standard prefix.
std::string configure_command();

}  // namespace cppflue::cli
