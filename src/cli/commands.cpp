// SPDX-License-Identifier: Apache-2.0
// The command words of a command line, and `cppflue help`: see commands.hpp.
#include "commands.hpp"

#include <fmt/format.h>

#include <iostream>
#include <string_view>

#include "cli.hpp"
#include "suggest.hpp"

namespace cppflue::cli {

namespace {

std::vector<CLI::App*> commands_of(CLI::App& level) {
  return level.get_subcommands([](CLI::App*) { return true; });
}

CLI::App* find_command(CLI::App& level, std::string_view word) {
  for (CLI::App* sub : commands_of(level)) {
    if (sub->get_name() == word) return sub;
  }
  return nullptr;
}

// "unknown command 'PATH WORD'" for a word that is not a command of `level` (whose command
// words so far are `path`, e.g. "skill "), with the closest command and where to look; at the
// top of a command line also how to send the word as a prompt.
int unknown_command(CLI::App& level, const std::string& path, std::string_view word,
                    bool offer_prompt) {
  const std::string& program = program_name();
  std::string message = fmt::format("unknown command '{}{}'", path, word);
  if (commands_of(level).empty()) {
    return report_error(fmt::format("{}: '{}' has no commands (see {} {}--help)", message,
                                    level.get_name(), program, path));
  }
  std::vector<std::string> names;
  for (CLI::App* sub : commands_of(level)) names.push_back(sub->get_name());
  auto near = closest(word, names);
  if (near) message += fmt::format("; did you mean '{}{}'?", path, *near);
  message += fmt::format(" (`{} {}--help` lists the commands)", program, path);
  if (!near && offer_prompt && word.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    message += "; " + prompt_hint(program, word);
  }
  return report_error(message);
}

}  // namespace

std::optional<int> check_command_words(CLI::App& app, int argc, char** argv) {
  CLI::App* level = &app;
  std::string path;  // the command words so far, each followed by a space
  for (int i = 1; i < argc; ++i) {
    std::string_view word = argv[i] == nullptr ? std::string_view() : argv[i];
    if (word == "--") return std::nullopt;
    if (!word.empty() && word.front() == '-') {
      // Only the program's own options come before the first command word; anything else
      // (--help, --version, an option cppflue does not have) is for CLI11 to answer.
      if (level != &app) return std::nullopt;
      if (word == "--config") {
        ++i;
        continue;
      }
      if (word.rfind("--config=", 0) == 0) continue;
      return std::nullopt;
    }
    CLI::App* sub = find_command(*level, word);
    if (sub == nullptr) return unknown_command(*level, path, word, level == &app);
    if (commands_of(*sub).empty()) return std::nullopt;  // its options are CLI11's to parse
    level = sub;
    path += sub->get_name() + " ";
  }
  return std::nullopt;
}

int help_command(CLI::App& app, const std::vector<std::string>& words) {
  CLI::App* level = &app;
  std::string path;                     // the command words so far, each followed by a space
  std::string parent = app.get_name();  // how the help names the parent of `level`
  for (const auto& word : words) {
    CLI::App* sub = find_command(*level, word);
    if (sub == nullptr) return unknown_command(*level, path, word, false);
    if (level != &app) parent += " " + level->get_name();
    level = sub;
    path += sub->get_name() + " ";
  }
  if (level == &app) {
    std::cout << app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
  } else {
    std::cout << level->help(parent);
  }
  std::cout << std::flush;
  return 0;
}

bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == nullptr) break;
    std::string_view word = argv[i];
    if (word == "--") break;
    if (word == "--json" || word == "--stream" || word.rfind("--json=", 0) == 0 ||
        word.rfind("--stream=", 0) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace cppflue::cli
