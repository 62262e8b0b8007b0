// SPDX-License-Identifier: Apache-2.0
// `cppflue init` and `cppflue skill new`. The scaffold's files are raw string literals here (no
// template files to install); `@NAME@` stands for the application name, `@SKILL@` for a skill.
#include "init.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "cli.hpp"

namespace cppflue::cli {

namespace {

namespace fs = std::filesystem;

// ---- the scaffold ------------------------------------------------------------------------

constexpr std::string_view kConfigToml =
    R"cf(# cppflue.toml — configuration of this CppFlue project. Every key is optional;
# values given in code or on the command line win. Unknown keys are errors, so a typo never
# passes silently.

[agent]
# The model, as provider:model. When unset: the CPPFLUE_MODEL variable, else the provider of
# the first API key found (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY), else the offline
# test:demo model (deterministic, no network, answers marked "[offline test model]").
# model = "openai:gpt-5.5"
sandbox = "virtual"           # virtual (per-session workspace) | local (this folder) | none
# thinking_level = "medium"   # off | minimal | low | medium | high | xhigh
allow_write = false           # the file-writing tools (write, edit, mkdir, rm)
allow_shell = false           # the bash tool
allowed_commands = []         # with allow_shell: the executables allowed (empty = any)
allow_compound_commands = false
max_turns = 50

[sandbox]
# workspace = ""              # "" = .cppflue/sandboxes/<session>/, or a path
isolation = "auto"            # auto | jail | none
network = false               # shell commands get no network unless true
timeout_seconds = 120
# protected = []              # extra paths file tools and shell commands may not change
# protect_config = true       # workspace = ".": cppflue.toml, .env, .agents/, AGENTS.md,
#                             # CLAUDE.md stay read-only to the agent
# allowed_env = []            # variables the model may set while allowed_commands is in force
# memory_max = "2G"           # per shell command (memory cgroup); "0" = no limit
# tmp_size = "512M"           # the jail's private /tmp
# jail_idle_seconds = 60      # a session's jail is kept this long between commands (0 = per command)

[compaction]
enabled = true
context_window_tokens = 128000
# model = ""                  # empty = the session's model

# [secrets]                   # grantable to shell commands with --secret NAME
# github = { env = "GITHUB_TOKEN" }

# [providers.local]           # an OpenAI-compatible server of your own
# api = "openai-chat"
# base_url = "http://127.0.0.1:8080/v1"
# api_key_env = "LOCAL_API_KEY"

[server]
host = "127.0.0.1"
port = 2024
)cf";

constexpr std::string_view kAgentsMd = R"cf(# @NAME@

Project instructions: every agent of this project gets this file in its system prompt.

- Be concise and accurate; say so when you do not know.
- Prefer the project's skills (`.agents/skills/`) when one fits the task.
- Never invent file contents: read files before describing them.
)cf";

constexpr std::string_view kSkillMd = R"cf(---
name: summarize-text
description: Summarise a text in one or two sentences.
input_schema:
  type: object
  properties:
    text:
      type: string
      description: The text to summarise.
  required: [text]
output_schema:
  type: object
  properties:
    summary:
      type: string
      description: The summary.
  required: [summary]
---
# Summarise a text

Read the `text` argument and summarise it in one or two sentences.

- Keep the facts of the text; add nothing that is not in it.
- Follow the style guide `style.md` of this skill.
- Answer with the summary as the `summary` field of the result.
)cf";

constexpr std::string_view kSkillStyleMd = R"cf(# Style guide for summaries

- Plain language, present tense, no marketing words.
- At most two sentences and 60 words.
- Keep names, numbers and units exactly as written in the text.
)cf";

constexpr std::string_view kRoleMd = R"cf(---
name: reviewer
description: Reviews a change or a text for correctness and clarity.
thinking_level: low
---
You are a careful reviewer. Point out mistakes first, then unclear passages, then style.
Quote the exact words you comment on and suggest a concrete fix for each problem.
)cf";

constexpr std::string_view kHelperAgentMd = R"cf(---
description: Looks at the files of its workspace with ls and cat and answers questions about them.
sandbox: virtual
allow_shell: true
allowed_commands: [ls, cat]
---
You are a helper that works inside a sandboxed workspace. Use `ls` and `cat` (the only
commands you may run) to look at the files before answering, and say which files you read.
)cf";

constexpr std::string_view kAssistantCpp =
    R"cf(// The persistent agent "assistant" (route name = file stem):
//   ./build/@NAME@ run --agent assistant -p "Hello"
#include <cppflue/cppflue.hpp>
#include <cppflue/harness/app.hpp>

CPPFLUE_AGENT([](const cppflue::AgentContext&) {
  cppflue::AgentOptions options;
  // options.model = "openai:gpt-5.5";  // unset: cppflue.toml, then an API key, else test:demo
  options.instructions = "You are a friendly, concise assistant for the @NAME@ project.";
  return options;
});
)cf";

constexpr std::string_view kSummarizeCpp =
    R"cf(// The workflow "summarize" (route name = file stem): one finite run per invocation.
//   ./build/@NAME@ run summarize --payload '{"text":"CppFlue is fast."}'
#include <cppflue/cppflue.hpp>
#include <cppflue/harness/app.hpp>
#include <string>

static const auto agent = cppflue::create_agent([](const cppflue::AgentContext&) {
  cppflue::AgentOptions options;
  options.instructions =
      "Summarise the text you are given in one or two sentences. Answer with the summary only.";
  return options;
});

CPPFLUE_WORKFLOW([](cppflue::FlueContext& ctx) -> cppflue::json {
  auto text = cppflue::get_string(ctx.payload(), "text");
  if (!text) {
    throw cppflue::Exception(cppflue::make_error(
        cppflue::ErrorType::invalid_input, "summarize needs a payload {\"text\": \"...\"}"));
  }
  ctx.log().info("summarizing", {{"chars", text->size()}});
  auto session = ctx.init(agent).session();
  auto response = session.prompt("Summarise this text:\n\n" + *text);
  ctx.log().info("summarized", {{"model", response.model}});
  return {{"summary", response.text}};
});
)cf";

constexpr std::string_view kMainCpp =
    R"cf(// The application's command line: every `cppflue` command (run, chat, serve, ...) with the
// agents of src/agents/ and the workflows of src/workflows/ compiled in.
#include <cppflue/cli.hpp>

int main(int argc, char** argv) {
  return cppflue::cli_main(argc, argv);
}
)cf";

constexpr std::string_view kCMakeLists = R"cf(cmake_minimum_required(VERSION 3.25)
project(@NAME@ CXX)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo)
endif()

# Installed CppFlue; when it is not under a standard prefix, configure with
# -DCMAKE_PREFIX_PATH=<its install prefix>.
find_package(cppflue REQUIRED)

# Each src/agents/*.cpp is a persistent agent and each src/workflows/*.cpp a workflow; the
# route name is the file stem. New files are picked up at the next build.
file(GLOB APP_AGENTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/agents/*.cpp)
file(GLOB APP_WORKFLOWS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/workflows/*.cpp)
add_executable(@NAME@ src/main.cpp ${APP_AGENTS} ${APP_WORKFLOWS})
target_link_libraries(@NAME@ PRIVATE cppflue::cli cppflue::cppflue)
)cf";

constexpr std::string_view kReadme = R"cf(# @NAME@

A CppFlue application: agents and workflows in C++, skills, roles and agents in Markdown.

## Build

```sh
cmake -S . -B build -G Ninja@PREFIX_FLAG@
cmake --build build
```
@PREFIX_NOTE@
## Run

With no API key the offline test model answers (its output starts with
"[offline test model]"); set `OPENAI_API_KEY` (or `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`), or
`model` in `cppflue.toml`, for a real one.

```sh
# the compiled agent src/agents/assistant.cpp
./build/@NAME@ run --agent assistant -p "Hello"
# the compiled workflow src/workflows/summarize.cpp
./build/@NAME@ run summarize --payload '{"text":"CppFlue is fast."}'
# the Markdown agent .agents/agents/helper.md (no compiling needed: `cppflue run` runs it too)
./build/@NAME@ run --agent helper -p "List the files"
# the skill .agents/skills/summarize-text/ (its typed result needs a real model)
./build/@NAME@ run --skill summarize-text --args '{"text":"CppFlue is fast."}'
```

## Layout

| Path | What |
|---|---|
| `cppflue.toml` | configuration (model, sandbox, policy, server) |
| `AGENTS.md` | project instructions, in every agent's system prompt |
| `.agents/skills/summarize-text/` | a skill (`SKILL.md`) with a supporting file |
| `.agents/roles/reviewer.md` | a role (`PromptOptions::role = "reviewer"`) |
| `.agents/agents/helper.md` | a Markdown agent: runs without compiling anything |
| `src/agents/*.cpp` | compiled persistent agents (`CPPFLUE_AGENT`) |
| `src/workflows/*.cpp` | compiled workflows (`CPPFLUE_WORKFLOW`) |
| `src/main.cpp` | `cppflue::cli_main`: every `cppflue` command with these compiled in |

Add a skill with `cppflue skill new NAME`. Sessions and runs are stored in
`.cppflue/state.db`.
)cf";

constexpr std::string_view kGitignore = R"cf(build/
.cppflue/
.env
)cf";

constexpr std::string_view kSkillTemplate = R"cf(---
name: @SKILL@
description: Say in one line what @SKILL@ does and when to use it.
# input_schema:        # JSON Schema of the arguments, checked before the skill runs
#   type: object
#   properties:
#     text: {type: string}
#   required: [text]
# output_schema:       # JSON Schema of the result
#   type: object
#   properties:
#     answer: {type: string}
#   required: [answer]
---
# @SKILL@

Describe, step by step, what the agent should do when this skill runs: what to read, what to
produce, and what to check before answering. Files placed next to this SKILL.md are supporting
files the agent can read.
)cf";

// ---- helpers -----------------------------------------------------------------------------

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t pos = 0;;) {
    std::size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) {
      out.append(text.substr(pos));
      return out;
    }
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
}

// The executable / CMake project name: the directory's base name with every character outside
// [A-Za-z0-9_-] replaced by '-', runs collapsed and the ends trimmed; "app" when nothing is left.
// Names CMake reserves for its own targets (and "cppflue") get "-app" appended.
std::string app_name(const fs::path& dir) {
  fs::path p = dir.lexically_normal();
  std::string base = p.filename().string();
  if (base.empty()) base = p.parent_path().filename().string();  // "demo/"
  std::string out;
  for (char c : base) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && (out.front() == '-' || out.front() == '_')) out.erase(out.begin());
  while (!out.empty() && (out.back() == '-' || out.back() == '_')) out.pop_back();
  if (out.empty()) return "app";
  std::string lower;
  for (char c : out) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  static constexpr std::string_view kReserved[] = {"all",        "clean",
                                                   "help",       "install",
                                                   "preinstall", "test",
                                                   "package",    "package_source",
                                                   "edit_cache", "rebuild_cache",
                                                   "all_build",  "zero_check",
                                                   "run_tests",  "list_install_components",
                                                   "cppflue"};
  for (std::string_view r : kReserved) {
    if (lower == r) return out + "-app";
  }
  return out;
}

// Single-quotes `s` for a POSIX shell when it holds anything but safe characters.
std::string shell_quote(const std::string& s) {
  bool safe = !s.empty();
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("_-./=:@%+,").find(c) != std::string_view::npos;
    if (!ok) safe = false;
  }
  if (safe) return s;
  return "'" + replace_all(s, "'", "'\\''") + "'";
}

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::symlink_status(p, ec).type() != fs::file_type::not_found && !ec;
}

// Writes `content` to `path`, creating its parent directories; an error message on failure.
std::string write_text(const fs::path& path, std::string_view content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fmt::format("cannot write {}", path.string());
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) return fmt::format("cannot write {}", path.string());
  return {};
}

// The directory `init` fills: DIR made absolute ("demo/" and "." name the directory itself);
// an error when it cannot be, or is something other than a directory.
Result<fs::path> project_dir(const std::string& dir_arg) {
  std::error_code ec;
  fs::path dir = fs::absolute(dir_arg, ec);
  if (ec) {
    return fail(ErrorType::invalid_input,
                fmt::format("invalid directory '{}': {}", dir_arg, ec.message()));
  }
  dir = dir.lexically_normal();
  if (!dir.has_filename() && dir != dir.root_path()) dir = dir.parent_path();  // "demo/", "."
  if (path_exists(dir) && !fs::is_directory(dir, ec)) {
    return fail(ErrorType::invalid_input,
                fmt::format("{} exists and is not a directory", dir.string()));
  }
  return dir;
}

// How the generated project finds CppFlue: the install prefix of the running `cppflue` (empty
// when it is not an installed one), with the flag (@PREFIX_FLAG@) that a non-standard prefix
// needs, or the note (@PREFIX_NOTE@) for when there is none.
struct PrefixHint {
  fs::path prefix;
  std::string flag;
  std::string note;
};

PrefixHint prefix_hint() {
  PrefixHint hint;
  hint.prefix = installed_prefix();
  if (!hint.prefix.empty() && hint.prefix != "/usr" && hint.prefix != "/usr/local") {
    hint.flag = " -DCMAKE_PREFIX_PATH=" + shell_quote(hint.prefix.string());
  } else if (hint.prefix.empty()) {
    hint.note =
        "\nWhen CppFlue is not installed under a standard prefix (/usr/local, /usr), add\n"
        "`-DCMAKE_PREFIX_PATH=<its install prefix>` to the first command.\n";
  }
  return hint;
}

// The scaffold: (path relative to the project directory, content) in the order written.
using ScaffoldFiles = std::vector<std::pair<std::string, std::string>>;

ScaffoldFiles scaffold_files(const std::string& name, const PrefixHint& hint) {
  auto fill = [&](std::string_view text) {
    std::string s = replace_all(text, "@NAME@", name);
    s = replace_all(s, "@PREFIX_FLAG@", hint.flag);
    return replace_all(s, "@PREFIX_NOTE@", hint.note);
  };
  return {
      {"cppflue.toml", std::string(kConfigToml)},
      {"AGENTS.md", fill(kAgentsMd)},
      {".agents/skills/summarize-text/SKILL.md", std::string(kSkillMd)},
      {".agents/skills/summarize-text/style.md", std::string(kSkillStyleMd)},
      {".agents/roles/reviewer.md", std::string(kRoleMd)},
      {".agents/agents/helper.md", std::string(kHelperAgentMd)},
      {"src/agents/assistant.cpp", fill(kAssistantCpp)},
      {"src/workflows/summarize.cpp", fill(kSummarizeCpp)},
      {"src/main.cpp", std::string(kMainCpp)},
      {"CMakeLists.txt", fill(kCMakeLists)},
      {"README.md", fill(kReadme)},
      {".gitignore", std::string(kGitignore)},
  };
}

// The scaffold's files that already exist under `dir`; an error when something is in the way
// (a file where a directory goes, or a directory where a file goes).
Result<std::vector<std::string>> existing_files(const fs::path& dir, const ScaffoldFiles& files) {
  std::error_code ec;
  std::vector<std::string> existing;
  for (const auto& [rel, content] : files) {
    fs::path p = dir / rel;
    for (fs::path parent = p.parent_path(); parent != dir; parent = parent.parent_path()) {
      if (path_exists(parent) && !fs::is_directory(parent, ec)) {
        return fail(ErrorType::invalid_input,
                    fmt::format("{} is not a directory; move it away first", parent.string()));
      }
    }
    if (!path_exists(p)) continue;
    if (fs::is_directory(p, ec)) {
      return fail(ErrorType::invalid_input,
                  fmt::format("{} is a directory; move it away first", p.string()));
    }
    existing.push_back(rel);
  }
  return existing;
}

// The refusal to overwrite `existing` files without --force.
std::string overwrite_refusal(const fs::path& dir, const std::vector<std::string>& existing) {
  std::string list;
  for (const auto& rel : existing) list += (list.empty() ? "" : ", ") + rel;
  return fmt::format("not overwriting existing file{} in {}: {} (use --force to overwrite)",
                     existing.size() == 1 ? "" : "s", dir.string(), list);
}

void print_created(const std::string& name, const fs::path& dir, const ScaffoldFiles& files,
                   const std::vector<std::string>& existing) {
  std::cout << fmt::format("Created CppFlue project '{}' in {}:\n", name, dir.string());
  for (const auto& [rel, content] : files) {
    bool was_there = std::find(existing.begin(), existing.end(), rel) != existing.end();
    std::cout << "  " << rel << (was_there ? "  (overwritten)" : "") << '\n';
  }
}

// The commands that build and run the new project (`dir_arg` as the user wrote it).
void print_next_steps(const fs::path& dir, const std::string& dir_arg, const std::string& name,
                      const PrefixHint& hint) {
  std::cout << "\nNext:\n";
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (ec || !fs::equivalent(dir, cwd, ec)) {
    std::cout << "  cd " << shell_quote(dir_arg) << '\n';
  }
  std::cout << "  cmake -S . -B build -G Ninja" << hint.flag << '\n'
            << "  cmake --build build\n"
            << "  ./build/" << name << " run --agent assistant -p \"Hello\"\n"
            << "  ./build/" << name
            << " run summarize --payload '{\"text\":\"CppFlue is fast.\"}'\n"
            << "  ./build/" << name << " run --agent helper -p \"List the files\"\n";
  if (hint.prefix.empty()) {
    std::cout << "(add -DCMAKE_PREFIX_PATH=<CppFlue's install prefix> when it is not installed "
                 "under /usr/local or /usr)\n";
  }
  std::cout << "Without an API key the offline test model answers; README.md has the details.\n";
}

}  // namespace

fs::path installed_prefix() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.parent_path().filename() != "bin") return {};
  fs::path prefix = exe.parent_path().parent_path();
  if (!fs::exists(prefix / "include" / "cppflue" / "cppflue.hpp", ec)) return {};
  return prefix;
}
std::string application_name(const std::filesystem::path& dir) {
  return app_name(dir);
}

std::string configure_command() {
  return "cmake -S . -B build -G Ninja" + prefix_hint().flag;
}

int init_command(const InitOptions& o) {
  const std::string dir_arg = o.dir.empty() ? std::string(".") : o.dir;
  auto dir = project_dir(dir_arg);
  if (!dir) return report_error(dir.error().message);
  const std::string name = app_name(*dir);
  const PrefixHint hint = prefix_hint();
  const ScaffoldFiles files = scaffold_files(name, hint);

  // Check everything before writing anything, so a refusal changes nothing.
  auto existing = existing_files(*dir, files);
  if (!existing) return report_error(existing.error().message);
  if (!existing->empty() && !o.force) return report_error(overwrite_refusal(*dir, *existing));

  for (const auto& [rel, content] : files) {
    if (auto err = write_text(*dir / rel, content); !err.empty()) return report_error(err);
  }
  print_created(name, *dir, files, *existing);
  print_next_steps(*dir, dir_arg, name, hint);
  return 0;
}

int skill_new_command(const std::string& config, const std::string& name) {
  if (!is_valid_skill_name(name)) {
    return report_error(fmt::format(
        "invalid skill name '{}': use lowercase letters, digits and single hyphens (not at the "
        "start or end), at most 64 characters, e.g. triage-issue",
        name));
  }
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (ec) return report_error("cannot read the working directory: " + ec.message());
  auto cfg = discover_config(config, cwd);
  if (!cfg) return report_error(cfg.error().message);
  fs::path skills = cfg->root / ".agents" / "skills";
  fs::path folder = skills / name;
  fs::path file = folder / "SKILL.md";
  for (const fs::path& p : {file, skills / (name + ".md")}) {
    if (path_exists(p)) {
      return report_error(
          fmt::format("skill '{}' already exists: {} (not overwriting)", name, p.string()));
    }
  }
  if (path_exists(folder) && !fs::is_directory(folder, ec)) {
    return report_error(fmt::format("{} exists and is not a directory", folder.string()));
  }
  if (auto err = write_text(file, replace_all(kSkillTemplate, "@SKILL@", name)); !err.empty()) {
    return report_error(err);
  }
  std::cout << "Created " << file.string() << '\n'
            << "Edit its description and instructions, then run it with:\n"
            << "  cppflue run --skill " << name << " --args '{}'\n";
  return 0;
}

}  // namespace cppflue::cli
