// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/shell_parse.hpp — a POSIX-sh parser sufficient for command policy.
//
// `parse_shell` reads a command string the way `sh -c` (and, for the common extensions, bash)
// would tokenise it and reports every simple command it would run — including those nested in
// `$( )`, backticks, `<( )`, `>( )`, subshells, brace groups, loops, `case` arms, function bodies
// and command substitutions inside unquoted heredoc bodies — plus whether the string is anything
// more than one plain simple command, with a human name for each construct that makes it so.
// Quoted operator characters are plain words (`echo 'a;b'`, `echo ""`). It never executes or
// expands anything: words keep expansions (`$x`, `$(..)`) as literal text with quotes removed.
//
// Bad input (unterminated quotes, substitutions or heredocs, unbalanced `)`, a dangling `&&`,
// nesting deeper than `kShellMaxNesting`, more than `kShellMaxInputBytes`) is an
// `ErrorType::invalid_input` error whose details are {"rule":"shell_syntax","problem":..,
// "offset":N}; N is a byte offset into the input (approximate inside backquotes, whose content
// is unescaped before it is parsed). Not supported (reported as a syntax error or parsed
// conservatively): bash extglob patterns such as `@(a|b)`, `coproc`, `{var}>file` redirections.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"

namespace cppflue {

inline constexpr std::size_t kShellMaxInputBytes = std::size_t{1} << 20;  // 1 MiB
inline constexpr int kShellMaxNesting = 64;
inline constexpr std::size_t kShellMaxCommands = 10000;

struct SimpleCommand {
  // Leading VAR=value (or VAR+=value, VAR=(array)) words, quotes removed.
  std::vector<std::string> assignments;
  // The command word and its arguments, quotes removed, expansions kept as literal text.
  std::vector<std::string> words;
  // Redirections as written, without blanks: ">f", "2>&1", "<<EOF", "<<<x".
  std::vector<std::string> redirections;
  // The command word contains a parameter, arithmetic or command expansion (unquoted or in
  // double quotes), so what runs cannot be known from the text: `$cmd`, "$(x)", `x`.
  bool command_is_expansion = false;
};

struct ParsedShell {
  // Every simple command, in source order of where each starts (an outer command comes before
  // the commands nested in its words). Heredoc bodies are not commands, but command
  // substitutions inside an unquoted heredoc body are.
  std::vector<SimpleCommand> commands;
  // True for anything beyond exactly one simple command without redirections.
  bool compound = false;
  // What made it compound, each named once in order of first appearance, e.g. "';'", "'&&'",
  // "pipe", "redirection '>'", "heredoc", "command substitution $( )", "subshell ( )".
  std::vector<std::string> constructs;
};

// Parses `command`. Empty input, or only blanks and comments, gives no commands (not an error).
Result<ParsedShell> parse_shell(std::string_view command);

}  // namespace cppflue
