// SPDX-License-Identifier: Apache-2.0
// Host facilities of `cppflue build` (deploy_system.cpp): programs, shared libraries, packages.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/error.hpp"

namespace cppflue::cli::deploy {

// `name` looked up in PATH (a name with a '/' is returned as it is); nullopt when absent.
std::optional<std::string> find_on_path(const std::string& name);

struct Captured {
  int status = 0;      // exit status; 128 + N when killed by signal N
  std::string output;  // stdout (stderr is discarded)
};
// Runs argv (looked up in PATH) and collects its stdout.
Result<Captured> run_capture(const std::vector<std::string>& argv);
// Runs argv in `cwd` (empty: ours) with our stdin, stdout and stderr (its stdout on our stderr
// with `stdout_to_stderr`); its exit status.
Result<int> run_inherit(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                        bool stdout_to_stderr = false);

// The DT_NEEDED entries of an x86-64 ELF binary (empty for a static one).
Result<std::vector<std::string>> elf_needed(const std::filesystem::path& file);

struct SharedLibrary {
  std::string name;  // as the binary names it ("libcurl.so.4"; the loader's own file name)
  std::string path;  // where the loader finds it here
};
// Every shared library `binary` loads, with the loader itself, as `ldd` resolves them here;
// also those it opens with dlopen (libcurl.so.4, which no ldd of it shows) and theirs.
Result<std::vector<SharedLibrary>> shared_libraries(const std::filesystem::path& binary);

// The Debian packages that hold the libraries named in `needed` and those the binary opens
// with dlopen (sorted, without those of every Debian image: libc6, libgcc-s1, libstdc++6);
// libraries dpkg does not know go to `unknown`.
std::vector<std::string> debian_packages(const std::vector<std::string>& needed,
                                         const std::vector<SharedLibrary>& libs,
                                         std::vector<std::string>& unknown);

}  // namespace cppflue::cli::deploy
