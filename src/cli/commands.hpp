// SPDX-License-Identifier: Apache-2.0
// The command words of a command line: unknown ones are reported with a suggestion before
// CLI11 parses (it would only say "A subcommand is required"), and `cppflue help [COMMAND]`.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace cppflue::cli {

// Walks the command words of argv (`run`, `skill new`) through the commands of `app`: when one
// is not a command, reports "unknown command" (with the closest command, a pointer to --help
// and, for a word at the top, how to send it as a prompt) and returns the exit status 1.
// nullopt when CLI11 should parse: the words are commands, or --help/--version or an option the
// program does not have comes first.
std::optional<int> check_command_words(CLI::App& app, int argc, char** argv);

// `cppflue help [COMMAND...]`: prints the help of the program or of that command (exactly what
// `--help` prints), exit 0; an unknown command is an error as above.
int help_command(CLI::App& app, const std::vector<std::string>& words);

// Whether argv asks for JSON output: --json or --stream before any "--".
bool wants_json(int argc, char** argv);

}  // namespace cppflue::cli
