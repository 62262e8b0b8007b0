// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/shell_policy.hpp — the shell command policy (docs/security.md).
//
// `check_command` decides whether a shell command string may run under a `ShellPolicy`, using
// the parser of shell_parse.hpp, and returns the parse on success. Rules, in order:
//   1. `allow_shell` off → refused (rule "allow_shell").
//   2. A command that cannot be parsed cannot be checked → the parser's invalid_input error
//      (rule "shell_syntax", with the byte offset).
//   3. Anything beyond one simple command without redirections (`;`, `&&`, pipes, redirections,
//      heredocs, `$( )`, backquotes, `<( )`, subshells, braces, newlines, if/for/while/case,
//      function definitions, ...) without `allow_compound_commands` → refused (rule
//      "compound_command", details list the constructs). Quoted operator characters
//      (`echo 'a;b'`, `echo ""`) are plain words and are not compound.
//   4. A non-empty allowlist is checked against the command word of EVERY simple command,
//      including those nested in substitutions, after `VAR=x` prefixes; a word with a `/` is
//      compared by its basename (`/usr/bin/git` → `git`) as well as whole. A command word that is
//      itself an expansion (`$cmd`, `$(x)`, `"$x"`) cannot be verified and is refused. Rule
//      "allowed_commands", details {"command", "allowed"}.
// Grants (per-call plus agent-wide `commands`) extend a non-empty allowlist for one call only.
// An empty allowlist means unrestricted, and grants never turn it into a restricted one (unlike
// PyFlue, where any grant made an unrestricted agent restricted to the granted commands).
//
// Wrappers are not looked through: in `env rm x`, `sudo rm`, `exec rm`, `command rm`,
// `xargs rm`, `nice rm`, `timeout 5 rm`, `nohup rm`, `time rm`, `builtin`, `eval "rm x"`,
// `sh -c "rm x"`, `find . -exec rm {} ;` the command word is the wrapper, and it must itself be
// allowlisted. Allowlisting such a wrapper or an interpreter (sh, bash, python, eval, xargs,
// env, sudo, find, git with aliases, ...) therefore allows whatever it can run. Matching by
// basename also means any binary named like an allowed command (`./git`) is accepted: the
// allowlist restricts command names, it is not a sandbox.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/shell_parse.hpp"

namespace cppflue {

struct ShellPolicy {
  bool allow_shell = false;
  bool allow_compound_commands = false;
  std::vector<std::string> allowed_commands;  // empty = any command
  // Names the model may set through `env` while `allowed_commands` is in force.
  std::vector<std::string> allowed_env;
};

// Whether the model may never set the variable `name` (through bash's `env` or a command tool's
// arguments), whatever the policy: the dynamic loader's variables (LD_*, GCONV_PATH, ...), shell
// start-up files (BASH_ENV, ENV, BASH_FUNC_*, ...), pagers and editors, language runtime
// options (PYTHONPATH, NODE_OPTIONS, PERL5OPT, ...), tool option variables that run programs
// (GIT_CONFIG_*, GIT_SSH_COMMAND, TAR_OPTIONS, ...) and PATH.
bool is_denied_env_name(std::string_view name);

// Checks variables the model asked for: valid names (letters, digits, '_', not starting with a
// digit), no NUL byte in values, none of the deny list (rule "env_denied"), and while an
// allowlist is in force only `policy.allowed_env` names (rule "allowed_env").
Result<void> check_model_env(const std::map<std::string, std::string>& env,
                             const ShellPolicy& policy);

// The part of `word` after its last '/' ("/usr/bin/git" → "git"; "git" → "git").
std::string_view command_basename(std::string_view word);

// Checks `command` against `policy`; `grants` are extra command names allowed for this call
// only (they extend a non-empty allowlist and are ignored when the allowlist is empty). Returns
// the parse, or an ErrorType::policy error (invalid_input for unparseable commands) whose
// details name the rule.
Result<ParsedShell> check_command(std::string_view command, const ShellPolicy& policy,
                                  const std::vector<std::string>& grants = {});

}  // namespace cppflue
