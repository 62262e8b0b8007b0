// SPDX-License-Identifier: Apache-2.0
#include "support/run_cli.hpp"

#include <sys/wait.h>

#include <cstdlib>

#include "support/test_util.hpp"

namespace cppflue::testing {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CliRun run_cli(const std::filesystem::path& cwd, const std::vector<std::string>& args,
               const std::vector<std::string>& env, const std::vector<std::string>& unset,
               const std::string& binary) {
  TempDir out;
  std::string cmd = "cd " + shell_quote(cwd.string()) + " && env";
  for (const auto& name : unset) cmd += " -u " + shell_quote(name);
  for (const auto& e : env) cmd += " " + shell_quote(e);
  cmd += " " + shell_quote(binary);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote((out.path() / "out").string()) + " 2>" +
         shell_quote((out.path() / "err").string());
  CliRun r;
  int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out.path() / "out");
  r.err = read_file(out.path() / "err");
  return r;
}

}  // namespace cppflue::testing
