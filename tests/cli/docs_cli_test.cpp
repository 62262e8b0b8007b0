// SPDX-License-Identifier: Apache-2.0
// The command-line reference (docs/reference/cli.md) matches the real `cppflue` binary.
//
// The truth is the binary's own help: `cppflue --help`, then `cppflue SUB --help` for every
// subcommand it lists, recursively. From each help text come the subcommands, the options (with
// all their names, e.g. "-f,--follow,--no-follow") and the positionals, including the values a
// positional is restricted to (`action TEXT:{list,show,rm,scrub}`).
//
// In the reference, a command is a heading "## cppflue SUB" or "### cppflue SUB SUBSUB" (the
// program itself is "## cppflue"); a value of a restricted positional may have its own heading
// ("### cppflue sessions scrub"). An option is a table row whose first cell is the option in
// backticks with all its names ("| `-p, --prompt` | ..."), a positional a row whose first cell
// is its name in backticks, in the section of its command (up to the next heading of level 1-3).
//
// Checked: every command has a heading and every heading is a command (or a positional value);
// every option of a command is documented in its section with exactly its names, and every
// option row names an option of that command; every positional of a command is in its section.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cppflue {
namespace {

namespace fs = std::filesystem;

// "run" / "skill new"; "" for the program itself.
using Path = std::string;

std::string display(const Path& p) {
  return p.empty() ? "cppflue" : "cppflue " + p;
}

// Options of one command: each as the set of its names, kept in the help's spelling.
struct Help {
  std::vector<std::set<std::string>> options;
  std::vector<std::string> option_text;  // "-p,--prompt" as the help shows it
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> choices;  // positional → allowed values
  std::vector<std::string> subcommands;
};

std::string run_help(const Path& path) {
  std::string cmd = std::string("'") + CPPFLUE_BINARY + "' " + path + " --help 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << cmd;
  if (!pipe) return {};
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd << "\n" << out;
  return out;
}

std::set<std::string> split_names(const std::string& text, char sep) {
  std::set<std::string> names;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, sep);) {
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (!part.empty()) names.insert(part);
  }
  return names;
}

Help parse_help(const std::string& text) {
  Help h;
  enum { none, options, positionals, subcommands } section = none;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line == "Options:" || line == "OPTIONS:") {
      section = options;
      continue;
    }
    if (line == "Positionals:" || line == "POSITIONALS:") {
      section = positionals;
      continue;
    }
    if (line == "Subcommands:" || line == "SUBCOMMANDS:") {
      section = subcommands;
      continue;
    }
    if (line.empty() || line[0] != ' ') {
      section = none;
      continue;
    }
    // An entry starts with two spaces; its description may continue on deeper-indented lines.
    if (line.size() < 3 || line[1] != ' ' || line[2] == ' ') continue;
    std::istringstream words(line.substr(2));
    std::string first, second;
    words >> first >> second;
    if (section == options) {
      std::string names = first.substr(0, first.find('{'));  // "--no-follow{false}"
      h.options.push_back(split_names(names, ','));
      h.option_text.push_back(names);
    } else if (section == positionals) {
      h.positionals.push_back(first);
      auto open = second.find(":{");
      if (open != std::string::npos) {
        auto close = second.find('}', open);
        for (const auto& v : split_names(second.substr(open + 2, close - open - 2), ','))
          h.choices[first].push_back(v);
      }
    } else if (section == subcommands) {
      h.subcommands.push_back(first);
    }
  }
  return h;
}

// Every command reachable from `cppflue --help`.
std::map<Path, Help> binary_commands() {
  std::map<Path, Help> out;
  std::vector<Path> todo{""};
  while (!todo.empty()) {
    Path p = todo.back();
    todo.pop_back();
    Help h = parse_help(run_help(p));
    for (const auto& s : h.subcommands) todo.push_back(p.empty() ? s : p + " " + s);
    out[p] = std::move(h);
  }
  return out;
}

struct Section {
  int line = 0;
  struct Row {
    int line;
    std::set<std::string> names;
    std::string cell;  // as written
  };
  std::vector<Row> options;
  std::set<std::string> first_cells;  // non-option first cells
};

struct Doc {
  std::map<Path, Section> sections;  // by command heading
  std::vector<std::string> problems;
};

Doc read_doc() {
  const fs::path file = fs::path(CPPFLUE_SOURCE_DIR) / "docs" / "reference" / "cli.md";
  std::ifstream in(file);
  EXPECT_TRUE(in) << "cannot read " << file;
  static const std::regex command_heading(R"(^#{2,3} cppflue((?: [a-z0-9][a-z0-9-]*)*)\s*$)");
  static const std::regex any_heading(R"(^#{1,3} )");
  static const std::regex row(R"(^\|\s*`([^`]+)`\s*\|)");
  Doc doc;
  Section* current = nullptr;
  bool fenced = false;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    if (fenced) continue;
    std::smatch m;
    if (std::regex_match(line, m, command_heading)) {
      Path p = m[1].str().empty() ? "" : m[1].str().substr(1);
      if (doc.sections.count(p)) {
        doc.problems.push_back("cli.md:" + std::to_string(n) + ": a second heading for " +
                               display(p));
      }
      current = &doc.sections[p];
      current->line = n;
      continue;
    }
    if (std::regex_search(line, any_heading)) {
      current = nullptr;
      continue;
    }
    if (current && std::regex_search(line, m, row)) {
      std::string cell = m[1];
      if (cell.rfind('-', 0) == 0) {
        current->options.push_back({n, split_names(cell, ','), cell});
      } else {
        current->first_cells.insert(cell);
      }
    }
  }
  return doc;
}

// "-f,--follow" → "-f, --follow", the spelling the reference uses.
std::string spaced(const std::string& help_names) {
  std::string s;
  for (char c : help_names) {
    s += c;
    if (c == ',') s += ' ';
  }
  return s;
}

TEST(DocsCli, ReferenceMatchesTheBinarysHelp) {
  auto commands = binary_commands();
  ASSERT_TRUE(commands.count("run")) << "`cppflue --help` lists no `run`: the help parser broke";
  ASSERT_FALSE(commands.at("run").options.empty());
  Doc doc = read_doc();
  for (const auto& p : doc.problems) ADD_FAILURE() << p;

  // A documented heading is a command, or a command followed by a value of one of its
  // restricted positionals; such a section's rows belong to that command.
  std::map<Path, Path> owner;  // documented heading → the command it belongs to
  for (const auto& [path, section] : doc.sections) {
    if (commands.count(path)) {
      owner[path] = path;
      continue;
    }
    auto space = path.rfind(' ');
    Path parent = space == std::string::npos ? "" : path.substr(0, space);
    std::string value = space == std::string::npos ? path : path.substr(space + 1);
    bool is_value = false;
    if (auto it = commands.find(parent); it != commands.end()) {
      for (const auto& [pos, values] : it->second.choices) {
        if (std::find(values.begin(), values.end(), value) != values.end()) is_value = true;
      }
    }
    if (is_value) {
      owner[path] = parent;
    } else {
      ADD_FAILURE() << "docs/reference/cli.md:" << section.line << " documents `" << display(path)
                    << "`, which `cppflue --help` does not offer";
    }
  }

  for (const auto& [path, help] : commands) {
    if (!doc.sections.count(path)) {
      ADD_FAILURE() << "`" << display(path) << "` has no \""
                    << (path.find(' ') == std::string::npos ? "##" : "###") << " " << display(path)
                    << "\" section in docs/reference/cli.md";
    }
    for (const auto& [pos, values] : help.choices) {
      for (const auto& v : values) {
        Path sub = path.empty() ? v : path + " " + v;
        if (!doc.sections.count(sub)) {
          ADD_FAILURE() << "`" << display(sub) << "` (a value of <" << pos << ">) has no \"### "
                        << display(sub) << "\" section in docs/reference/cli.md";
        }
      }
    }
    // What the sections of this command document.
    std::vector<Section::Row> rows;
    std::set<std::string> cells;
    for (const auto& [doc_path, cmd] : owner) {
      if (cmd != path) continue;
      const Section& s = doc.sections.at(doc_path);
      rows.insert(rows.end(), s.options.begin(), s.options.end());
      cells.insert(s.first_cells.begin(), s.first_cells.end());
    }
    for (std::size_t i = 0; i < help.options.size(); ++i) {
      bool found = false;
      for (const auto& r : rows) found = found || r.names == help.options[i];
      if (!found) {
        ADD_FAILURE() << "`" << display(path) << "` option `" << help.option_text[i]
                      << "` is not in a table row \"| `" << spaced(help.option_text[i])
                      << "` |\" of its section in docs/reference/cli.md";
      }
    }
    for (const auto& r : rows) {
      bool found = false;
      for (const auto& o : help.options) found = found || r.names == o;
      if (!found) {
        ADD_FAILURE() << "docs/reference/cli.md:" << r.line << " documents option `" << r.cell
                      << "` of `" << display(path)
                      << "`, which its --help does not list (with exactly these names)";
      }
    }
    for (const auto& pos : help.positionals) {
      if (!cells.count(pos)) {
        ADD_FAILURE() << "`" << display(path) << "` positional `" << pos
                      << "` is not in a table row \"| `" << pos
                      << "` |\" of its section in docs/reference/cli.md";
      }
    }
  }
}

}  // namespace
}  // namespace cppflue
