// SPDX-License-Identifier: Apache-2.0
// Running the cppflue binary (or an application built with cppflue::cli_main) from a test: in a
// folder, with variables removed from and added to the environment, capturing both streams.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cppflue::testing {

struct CliRun {
  int code = -1;  // the exit status; -1 when killed by a signal
  std::string out;
  std::string err;
};

// `s` as one word for /bin/sh.
std::string shell_quote(const std::string& s);

// Runs `binary args...` in `cwd` through /bin/sh: `unset` names are removed from the
// environment, `env` ("NAME=value") words added.
CliRun run_cli(const std::filesystem::path& cwd, const std::vector<std::string>& args,
               const std::vector<std::string>& env, const std::vector<std::string>& unset,
               const std::string& binary);

}  // namespace cppflue::testing
