// SPDX-License-Identifier: Apache-2.0
// Shell command policy (docs/security.md) on top of the POSIX-sh parser.
#include "cppflue/sandbox/shell_policy.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

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

namespace {

constexpr std::string_view kDeniedPrefixes[] = {
    "LD_",  "DYLD_",   "BASH_FUNC_", "GIT_CONFIG", "MALLOC_",   "PYTHON",  "PERL5", "PERLIO",
    "RUBY", "NODE_",   "JAVA_",      "_JAVA_",     "JDK_JAVA_", "LUA_",    "GCONV", "GLIBC_",
    "GEM_", "BUNDLE_", "NPM_CONFIG", "CARGO_",     "RUSTC",     "GOFLAGS", "LESS",  "SSH_"};
constexpr std::string_view kDeniedNames[] = {"PATH",
                                             "ENV",
                                             "BASH_ENV",
                                             "SHELLOPTS",
                                             "BASHOPTS",
                                             "PS4",
                                             "PROMPT_COMMAND",
                                             "IFS",
                                             "CDPATH",
                                             "GLOBIGNORE",
                                             "HOSTALIASES",
                                             "LOCALDOMAIN",
                                             "RES_OPTIONS",
                                             "NLSPATH",
                                             "LOCPATH",
                                             "GETCONF_DIR",
                                             "TMPDIR",
                                             "HOME",
                                             "XDG_CONFIG_HOME",
                                             "XDG_DATA_HOME",
                                             "PAGER",
                                             "MANPAGER",
                                             "GIT_PAGER",
                                             "SYSTEMD_PAGER",
                                             "EDITOR",
                                             "VISUAL",
                                             "GIT_EDITOR",
                                             "SUDO_ASKPASS",
                                             "GIT_ASKPASS",
                                             "SSH_ASKPASS",
                                             "GIT_SSH",
                                             "GIT_SSH_COMMAND",
                                             "GIT_EXEC_PATH",
                                             "GIT_EXTERNAL_DIFF",
                                             "GIT_PROXY_COMMAND",
                                             "GIT_TEMPLATE_DIR",
                                             "GIT_DIR",
                                             "GIT_WORK_TREE",
                                             "GIT_SEQUENCE_EDITOR",
                                             "TAR_OPTIONS",
                                             "ZIPOPT",
                                             "UNZIP",
                                             "GZIP",
                                             "BZIP2",
                                             "XZ_OPT",
                                             "ZSTD_CLEVEL",
                                             "MAKEFLAGS",
                                             "MFLAGS",
                                             "GNUMAKEFLAGS",
                                             "CLASSPATH",
                                             "R_PROFILE",
                                             "R_PROFILE_USER",
                                             "PHPRC",
                                             "PHP_INI_SCAN_DIR",
                                             "TCLLIBPATH",
                                             "OPENSSL_CONF",
                                             "OPENSSL_ENGINES",
                                             "SSLKEYLOGFILE",
                                             "CURL_HOME",
                                             "WGETRC",
                                             "INPUTRC",
                                             "TERMINFO",
                                             "TERMCAP",
                                             "MAIL",
                                             "MAILPATH",
                                             "PROMPT_DIRTRIM",
                                             "HISTFILE",
                                             "LOGNAME",
                                             "USER",
                                             "SHELL"};

// Benign names under a denied prefix.
constexpr std::string_view kBenignNames[] = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
                                             "PYTHONIOENCODING", "PYTHONHASHSEED",
                                             "PYTHONUTF8",       "NODE_ENV",
                                             "CARGO_TERM_COLOR", "LESSCHARSET"};

bool valid_env_name(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

}  // namespace

bool is_denied_env_name(std::string_view name) {
  std::string upper;
  upper.reserve(name.size());
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string_view b : kBenignNames) {
    if (name == b) return false;
  }
  for (std::string_view p : kDeniedPrefixes) {
    if (upper.rfind(p, 0) == 0) return true;
  }
  for (std::string_view n : kDeniedNames) {
    if (upper == n) return true;
  }
  return false;
}

Result<void> check_model_env(const std::map<std::string, std::string>& env,
                             const ShellPolicy& policy) {
  for (const auto& [k, v] : env) {
    if (!valid_env_name(k)) {
      return fail(ErrorType::invalid_input,
                  fmt::format("invalid environment variable name '{}'", k),
                  json_object{{"rule", "env"}, {"name", k}});
    }
    if (v.find('\0') != std::string::npos) {
      return fail(ErrorType::invalid_input,
                  fmt::format("environment variable '{}' contains a NUL byte", k),
                  json_object{{"rule", "env"}, {"name", k}});
    }
    if (is_denied_env_name(k)) {
      return fail(ErrorType::policy,
                  fmt::format("the environment variable '{}' cannot be set by a tool call: it "
                              "changes what programs load or run (loader, shell start-up, "
                              "pager, interpreter or tool options)",
                              k),
                  json_object{{"rule", "env_denied"}, {"name", k}});
    }
    if (!policy.allowed_commands.empty() &&
        std::find(policy.allowed_env.begin(), policy.allowed_env.end(), k) ==
            policy.allowed_env.end()) {
      return fail(ErrorType::policy,
                  fmt::format("the environment variable '{}' is not allowed while the command "
                              "allowlist is in force (allowed: [sandbox] allowed_env = [{}])",
                              k, fmt::join(policy.allowed_env, ", ")),
                  json_object{{"rule", "allowed_env"}, {"name", k}});
    }
  }
  return {};
}

}  // namespace cppflue
