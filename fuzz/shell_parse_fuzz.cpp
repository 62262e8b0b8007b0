// SPDX-License-Identifier: Apache-2.0
// Fuzz target for parse_shell and check_command. The whole input is the command string.
// Invariants checked, any violation aborts:
//   - no crash, no exception, no sanitizer report, no stack overflow;
//   - parsing is deterministic;
//   - compound == (constructs non-empty or more than one command); if not compound there is at
//     most one command and it has no redirections;
//   - an error is invalid_input with rule "shell_syntax" and an offset within the input (or the
//     size limit), and its message names the offset;
//   - quoting (for inputs without a NUL byte or a backslash-newline, which are always refused):
//     for an input without a single quote, `echo '<input>'` is exactly one simple
//     command {"echo", input}; without `"`, `\`, `$` and backquote, the same holds for
//     `echo "<input>"`;
//   - check_command with an allowlist {"git"} only succeeds when every command word is git (or
//     a path ending in /git) and not an expansion.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cppflue/core/json.hpp"
#include "cppflue/sandbox/shell_parse.hpp"
#include "cppflue/sandbox/shell_policy.hpp"

namespace {

using cppflue::ParsedShell;

[[noreturn]] void violated(const char* what, std::size_t size) {
  std::fprintf(stderr, "shell_parse_fuzz: invariant violated: %s (input of %zu bytes)\n", what,
               size);
  std::abort();
}

#define SHELL_FUZZ_CHECK(cond, size)    \
  do {                                  \
    if (!(cond)) violated(#cond, size); \
  } while (0)

bool same(const ParsedShell& a, const ParsedShell& b) {
  if (a.compound != b.compound || a.constructs != b.constructs ||
      a.commands.size() != b.commands.size()) {
    return false;
  }
  for (std::size_t k = 0; k < a.commands.size(); ++k) {
    const auto& x = a.commands[k];
    const auto& y = b.commands[k];
    if (x.assignments != y.assignments || x.words != y.words || x.redirections != y.redirections ||
        x.command_is_expansion != y.command_is_expansion) {
      return false;
    }
  }
  return true;
}

void check_quoted(const std::string& wrapped, std::string_view inner, std::size_t size) {
  auto r = cppflue::parse_shell(wrapped);
  SHELL_FUZZ_CHECK(r.has_value(), size);
  SHELL_FUZZ_CHECK(!r->compound, size);
  SHELL_FUZZ_CHECK(r->commands.size() == 1, size);
  SHELL_FUZZ_CHECK(r->commands[0].words.size() == 2, size);
  SHELL_FUZZ_CHECK(r->commands[0].words[0] == "echo", size);
  SHELL_FUZZ_CHECK(r->commands[0].words[1] == inner, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto first = cppflue::parse_shell(input);
  auto second = cppflue::parse_shell(input);
  SHELL_FUZZ_CHECK(first.has_value() == second.has_value(), size);
  if (first) {
    const ParsedShell& p = *first;
    SHELL_FUZZ_CHECK(same(p, *second), size);
    SHELL_FUZZ_CHECK(p.compound == (!p.constructs.empty() || p.commands.size() > 1), size);
    if (!p.compound) {
      SHELL_FUZZ_CHECK(p.commands.size() <= 1, size);
      if (!p.commands.empty()) SHELL_FUZZ_CHECK(p.commands[0].redirections.empty(), size);
    }
    SHELL_FUZZ_CHECK(p.commands.size() <= cppflue::kShellMaxCommands, size);
  } else {
    const cppflue::Error& e = first.error();
    SHELL_FUZZ_CHECK(e.type == cppflue::ErrorType::invalid_input, size);
    SHELL_FUZZ_CHECK(cppflue::get_string_or(e.details, "rule", "") == "shell_syntax", size);
    const auto offset = cppflue::get_int(e.details, "offset");
    SHELL_FUZZ_CHECK(offset.has_value(), size);
    SHELL_FUZZ_CHECK(*offset >= 0, size);
    SHELL_FUZZ_CHECK(static_cast<std::size_t>(*offset) <= size ||
                         static_cast<std::size_t>(*offset) == cppflue::kShellMaxInputBytes,
                     size);
    SHELL_FUZZ_CHECK(e.message.find("offset " + std::to_string(*offset)) != std::string::npos,
                     size);
    SHELL_FUZZ_CHECK(first.error().message == second.error().message, size);
  }

  // NUL bytes and line continuations are refused wherever they are (even where they would be
  // literal): the quoting invariants hold for the other inputs.
  const bool refused_anywhere =
      input.find('\0') != std::string_view::npos || input.find("\\\n") != std::string_view::npos;
  if (size + 16 < cppflue::kShellMaxInputBytes && !refused_anywhere) {
    if (input.find('\'') == std::string_view::npos) {
      check_quoted("echo '" + std::string(input) + "'", input, size);
    }
    if (input.find_first_of("\"\\$`") == std::string_view::npos) {
      check_quoted("echo \"" + std::string(input) + "\"", input, size);
    }
  }

  const cppflue::ShellPolicy policy{true, true, {"git"}};
  auto checked = cppflue::check_command(input, policy);
  SHELL_FUZZ_CHECK(!checked.has_value() || first.has_value(), size);
  if (checked) {
    for (const auto& cmd : checked->commands) {
      if (cmd.words.empty()) continue;
      SHELL_FUZZ_CHECK(!cmd.command_is_expansion, size);
      SHELL_FUZZ_CHECK(cppflue::command_basename(cmd.words[0]) == "git", size);
    }
  }
  return 0;
}
