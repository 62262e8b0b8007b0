// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the test binaries: temporary directories and file I/O.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/sandbox/jail.hpp"

namespace cppflue::testing {

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Skips a test that needs the jail on a machine that cannot start it, saying why.
#define REQUIRE_JAIL()                                                         \
  do {                                                                         \
    if (!::cppflue::jail_status().available) {                                 \
      GTEST_SKIP() << "jail unavailable: " << ::cppflue::jail_status().reason; \
    }                                                                          \
  } while (0)

// When the tests run as root: gives `p` and everything below it to the jail's default uid, as a
// project owned by an unprivileged user would be (jailed commands never run as root, so they
// could not write a root-owned folder). Does nothing otherwise.
void give_to_jail_user(const std::filesystem::path& p);

// Whether `text` holds `part`.
bool contains(std::string_view text, std::string_view part);
// The lines of `text` that are not empty.
std::vector<std::string> lines_of(const std::string& text);

std::string read_file(const std::filesystem::path& p);
// A file under /proc of a process that may exit at any moment: what could be read, "" when
// nothing (a process that is gone makes read() fail with ESRCH, which std::ifstream turns into
// an exception).
std::string read_proc_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& content);

// A folder under `dir` holding a library named `soname` that is not that library (a copy of
// libz), for LD_LIBRARY_PATH: what the binary opens with dlopen is then unusable. Empty when
// there is no libz here (the caller skips).
std::filesystem::path unusable_library_dir(const std::filesystem::path& dir, const char* soname);

}  // namespace cppflue::testing
