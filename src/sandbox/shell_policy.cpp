// SPDX-License-Identifier: Apache-2.0
// Shell command policy (SPEC §7.3) on top of the POSIX-sh parser.
#include "cppflue/sandbox/shell_policy.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

json_array to_array(const std::vector<std::string>& items) {
  json_array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

bool is_allowed(std::string_view word, const std::vector<std::string>& allowed) {
  const std::string_view base = command_basename(word);
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& name) {
    return !name.empty() && (name == word || name == base);
  });
}

}  // namespace

std::string_view command_basename(std::string_view word) {
  const std::size_t slash = word.rfind('/');
  return slash == std::string_view::npos ? word : word.substr(slash + 1);
}

Result<ParsedShell> check_command(std::string_view command, const ShellPolicy& policy,
                                  const std::vector<std::string>& grants) {
  if (!policy.allow_shell) {
    return fail(ErrorType::policy, "shell commands are not allowed (allow_shell is off)",
                json_object{{"rule", "allow_shell"}});
  }
  auto parsed = parse_shell(command);
  if (!parsed) return parsed;

  if (parsed->compound && !policy.allow_compound_commands) {
    json_object details;
    details["rule"] = "compound_command";
    details["constructs"] = to_array(parsed->constructs);
    return fail(
        ErrorType::policy,
        "compound shell commands are not allowed (allow_compound_commands is off); found: " +
            join(parsed->constructs),
        std::move(details));
  }

  if (policy.allowed_commands.empty()) return parsed;  // unrestricted; grants cannot restrict it

  std::vector<std::string> allowed;
  for (const auto* list : {&policy.allowed_commands, &grants}) {
    for (const auto& name : *list) {
      if (!name.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        allowed.push_back(name);
      }
    }
  }

  for (const SimpleCommand& cmd : parsed->commands) {
    if (cmd.words.empty()) continue;  // only assignments/redirections: nothing is executed
    const std::string& word = cmd.words.front();
    auto deny = [&](std::string message, std::string_view reason) {
      json_object details;
      details["rule"] = "allowed_commands";
      details["command"] = word;
      details["allowed"] = to_array(allowed);
      details["reason"] = reason;
      return fail(ErrorType::policy, std::move(message), std::move(details));
    };
    if (cmd.command_is_expansion) {
      return deny("command '" + word +
                      "' is an expansion and cannot be checked against allowed_commands (" +
                      join(allowed) + ")",
                  "expansion");
    }
    if (!is_allowed(word, allowed)) {
      return deny("command '" + word + "' is not allowed (allowed_commands: " + join(allowed) + ")",
                  "not_listed");
    }
  }
  return parsed;
}

}  // namespace cppflue
