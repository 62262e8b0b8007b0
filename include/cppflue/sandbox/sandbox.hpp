// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/sandbox.hpp — where an agent's file tools and shell commands run
// (docs/concepts/sandbox.md).
//
// A `Sandbox` gives a session a `Workspace` for the file tools and a way to run shell
// commands. Built in:
//   * "virtual" (default): a persistent per-session folder `.cppflue/sandboxes/<session>/`, or
//     the folder `[sandbox] workspace` names (e.g. "." for a coding agent working on the
//     project itself; then `.cppflue/` is hidden and `.git/` read-only unless
//     `[sandbox] git_writable`). Commands run in the jail (jail.hpp) with `isolation = "auto"`
//     or `"jail"`, and are refused with an explanation when the jail cannot start; `"none"`
//     runs them unjailed (still with the minimal environment and confined working directory).
//   * `local(cwd, env)`: the real directory `cwd` for trusted work; commands run unjailed
//     with an allowlist of the host environment plus `env`.
//   * "none": no workspace and no shell.
// `register_sandbox(name, factory)` adds custom ones; `[agent] sandbox`, `InitOptions::sandbox`
// and `--sandbox` pick one by name. Every command environment is built from scratch: PATH,
// HOME (the workspace), LANG, TERM, TZ, `[sandbox] env`, the call's env and granted secrets —
// never the host environment wholesale, so provider keys are never visible.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/subprocess.hpp"
#include "cppflue/sandbox/workspace.hpp"

namespace cppflue {

struct Config;

// One shell command for a sandbox to run (as `/bin/sh -c command`).
struct ShellCommand {
  std::string command;
  std::string cwd;                         // workspace path; empty = the workspace root
  std::chrono::milliseconds timeout{0};    // 0 = [sandbox] timeout_seconds
  std::map<std::string, std::string> env;  // extra variables (call env, granted secrets)
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  virtual std::string name() const = 0;
  // The file tools' view of the disk; nullptr when the sandbox has no files ("none").
  virtual const Workspace* workspace() const = 0;
  virtual bool has_shell() const = 0;
  // How commands are isolated: "jail", "none", or "unavailable: <why>".
  virtual std::string isolation() const = 0;
  // A few sentences for the system prompt: where files live, how commands run.
  virtual std::string describe() const = 0;
  virtual boost::asio::awaitable<Result<SubprocessResult>> run(ShellCommand command,
                                                               CancelToken cancel) = 0;
};

struct SandboxContext {
  const Config* config = nullptr;  // the agent's configuration (never null when called by init)
  std::string session_id;
  // False when nothing may run shell commands here (allow_shell off and no command tools): a
  // sandbox then need not check how it would isolate them (the jail probe costs ~10 ms).
  bool shell_enabled = true;
};

using SandboxFactory = std::function<Result<std::shared_ptr<Sandbox>>(const SandboxContext&)>;

// A sandbox choice: a registered name, or a factory (e.g. `local(...)`).
struct SandboxSpec {
  SandboxSpec() = default;
  SandboxSpec(const char* n) : name(n) {}             // NOLINT(google-explicit-constructor)
  SandboxSpec(std::string n) : name(std::move(n)) {}  // NOLINT(google-explicit-constructor)
  SandboxSpec(std::string n, SandboxFactory f) : name(std::move(n)), factory(std::move(f)) {}
  std::string name;
  SandboxFactory factory;
  bool empty() const { return name.empty() && !factory; }
};

// The real directory `cwd` (must exist) for trusted work, with `env` added to the allowlisted
// host variables (PATH, HOME, USER, LOGNAME, HOSTNAME, SHELL, LANG, LC_ALL, LC_CTYPE, TZ,
// TERM, TMPDIR, TMP, TEMP).
SandboxSpec local(std::filesystem::path cwd, std::map<std::string, std::string> env = {});

void register_sandbox(std::string name, SandboxFactory factory);
std::vector<std::string> sandbox_names();
// Unknown names → config_error listing the registered ones.
Result<std::shared_ptr<Sandbox>> create_sandbox(const SandboxSpec& spec,
                                                const SandboxContext& context);

// `parent` narrowed to its sub-folder `cwd` (a workspace path that must be an existing
// directory; escapes are refused like any file path): the file tools see that folder as the
// root, and shell commands start there (the jail still binds the parent's whole workspace).
// Hidden and read-only paths of the parent keep applying. Used for subagent tasks.
Result<std::shared_ptr<Sandbox>> scope_sandbox(std::shared_ptr<Sandbox> parent,
                                               std::string_view cwd);

// The folder name of a session's virtual workspace: the id itself when it is a safe file name
// ([A-Za-z0-9._-], at most 80 bytes, not "." or ".."), else a sanitised prefix plus a hash.
std::string sandbox_directory_name(std::string_view session_id);

// What `doctor` prints for `[sandbox] isolation`: e.g. "jail (bubblewrap, seccomp, ...)".
std::string effective_isolation(const Config& config);

}  // namespace cppflue
