// SPDX-License-Identifier: Apache-2.0
// Hints for mistyped input: see suggest.hpp.
#include "suggest.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <system_error>

#include "cppflue/harness/app.hpp"
#include "cppflue/harness/project.hpp"
#include "init.hpp"

namespace cppflue::cli {

namespace {

namespace fs = std::filesystem;

// The executable of the project's CMakeLists.txt (the first add_executable), else the name
// `cppflue init` gives an application in `root`.
std::string application_of(const fs::path& root) {
  std::ifstream in(root / "CMakeLists.txt");
  std::string text;
  if (in) {
    text.resize(64 * 1024);  // add_executable comes early; a huge file is not read whole
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
  }
  static const std::regex exe(R"(add_executable\s*\(\s*([A-Za-z0-9_.+-]+)[\s)])");
  std::smatch m;
  if (std::regex_search(text, m, exe)) return m[1].str();
  return application_name(root);
}

// The commands, run from anywhere, that build the application at `root` and run `example` with
// its binary `app`.
std::vector<std::string> build_and_run(const fs::path& root, const std::string& app,
                                       const std::string& example) {
  std::vector<std::string> commands;
  std::error_code ec;
  if (!fs::equivalent(root, fs::current_path(ec), ec)) {
    commands.push_back("cd " + shell_word(root.string()));
  }
  if (!fs::exists(root / "build" / "CMakeCache.txt", ec)) commands.push_back(configure_command());
  commands.emplace_back("cmake --build build");
  commands.push_back("./build/" + app + " " + example);
  return commands;
}

bool plain_name(const std::string& name) {
  return !name.empty() && name.find_first_of("/\\") == std::string::npos && name != "." &&
         name != "..";
}

// The hint for a compiled agent or workflow (`kind`) whose source is in the project
// (src/FOLDER/NAME.cpp) but not in this binary.
std::string compiled_hint(std::string_view kind, std::string_view folder, const std::string& name,
                          const fs::path& root, const std::string& example) {
  const std::string app = application_of(root);
  std::error_code ec;
  const bool own_binary = fs::read_symlink("/proc/self/exe", ec).filename() == app && !ec;
  std::string out =
      own_binary ? fmt::format(
                       "'{0}' is a compiled {1} (src/{2}/{0}.cpp) that this binary was built "
                       "without: rebuild the application and run it again",
                       name, kind, folder)
                 : fmt::format(
                       "'{0}' is a compiled {1} (src/{2}/{0}.cpp): compiled {1}s run from "
                       "their application's own binary, not from {3}. Build the application "
                       "and run the {1} with it",
                       name, kind, folder, program_name());
  out += ':';
  for (const auto& command : build_and_run(root, app, example)) out += "\n  " + command;
  return "\n" + out;
}

}  // namespace

std::string double_quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
    out += c;
  }
  return out + '"';
}

std::string shell_word(std::string_view s) {
  bool safe = !s.empty();
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("_-./=:@%+,").find(c) != std::string_view::npos;
    safe = safe && ok;
  }
  if (safe) return std::string(s);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string prompt_hint(std::string_view program, std::string_view word) {
  return fmt::format("to send a prompt use {} run -p {}", program, double_quoted(word));
}

namespace {
std::string& program_name_storage() {
  static std::string name = "cppflue";
  return name;
}
}  // namespace

const std::string& program_name() {
  return program_name_storage();
}

void set_program_name(const char* argv0) {
  if (argv0 == nullptr || *argv0 == '\0') return;
  std::string given(argv0);
  // `cppflue` from the PATH or anywhere else is "cppflue"; an application is named as typed
  // (./build/demo), which is the command that runs it again.
  std::string base = fs::path(given).filename().string();
  program_name_storage() = base == "cppflue" || base.empty() ? "cppflue" : given;
}

std::vector<std::string> source_names(const fs::path& root, std::string_view folder) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(root / "src" / folder, ec);
  for (; !ec && it != fs::directory_iterator() && names.size() < 1000; it.increment(ec)) {
    if (it->path().extension() == ".cpp") names.push_back(it->path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> available_agents(const fs::path& root) {
  std::vector<std::string> names = registered_agents();
  if (auto defs = discover_agent_definitions(root / ".agents" / "agents")) {
    for (const auto& [name, def] : *defs) names.push_back(name);
  }
  for (auto& name : source_names(root, "agents")) names.push_back(std::move(name));
  return names;
}

std::string unknown_agent_hint(const std::string& name, const fs::path& root,
                               const std::vector<std::string>& available,
                               const std::string& example) {
  std::error_code ec;
  const bool plain = plain_name(name);
  if (plain && fs::is_regular_file(root / "src" / "agents" / (name + ".cpp"), ec)) {
    return compiled_hint("agent", "agents", name, root, example);
  }
  if (auto near = closest(name, available)) return fmt::format("; did you mean '{}'?", *near);
  const std::string app =
      fs::exists(root / "CMakeLists.txt", ec) ? application_of(root) : std::string("<app>");
  const std::string shown = plain ? name : std::string("NAME");
  return fmt::format(
      "\nA compiled agent (src/agents/{0}.cpp of an application made by `cppflue init`) runs "
      "from that application's own binary: build it in the application's directory with `{1} "
      "&& cmake --build build`, then `./build/{2} {3}`. A Markdown agent is "
      ".agents/agents/{0}.md.",
      shown, configure_command(), app, example);
}

std::string compiled_workflow_hint(const std::string& name, const fs::path& root,
                                   const std::string& example) {
  std::error_code ec;
  if (!plain_name(name) || !fs::is_regular_file(root / "src" / "workflows" / (name + ".cpp"), ec)) {
    return {};
  }
  return compiled_hint("workflow", "workflows", name, root, example);
}

}  // namespace cppflue::cli
