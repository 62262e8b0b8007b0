// SPDX-License-Identifier: Apache-2.0
// docs/reference/config.md documents exactly the keys the `cppflue.toml` parser accepts.
//
// The documented keys are the first cells of the rows of every Markdown table whose header
// starts with "Key" (`| `sandbox.memory_max` | ... |`); tables whose names the user picks are
// written with `<name>` (`secrets.<name>.env`), as `known_config_keys()` writes them. Three
// checks: every accepted key is documented, every documented key is accepted, and every
// documented key, set to the value of its "Example" cell, gets through `parse_config`.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/core/json.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

constexpr const char* kDocPath = "docs/reference/config.md";

struct DocumentedKey {
  int line = 0;         // in config.md, 1-based
  std::string example;  // the "Example" cell without its backticks ("" when none)
};

std::string trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

// The cells of a table row "| a | b |" (a backslash-escaped pipe stays in its cell).
std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::string cell;
  bool started = false;
  for (std::size_t i = 0; i < row.size(); ++i) {
    char c = row[i];
    if (c == '\\' && i + 1 < row.size() && row[i + 1] == '|') {
      cell += '|';
      ++i;
    } else if (c == '|') {
      if (started) out.push_back(trim(cell));
      cell.clear();
      started = true;
    } else {
      cell += c;
    }
  }
  if (!trim(cell).empty()) out.push_back(trim(cell));
  return out;
}

// "`x`" → "x"; anything else → "".
std::string code_span(const std::string& cell) {
  if (cell.size() < 3 || cell.front() != '`' || cell.back() != '`') return {};
  std::string inner = cell.substr(1, cell.size() - 2);
  if (inner.find('`') != std::string::npos) return {};
  return inner;
}

struct Documented {
  std::map<std::string, DocumentedKey> keys;
  std::vector<std::string> problems;  // duplicate rows, rows without a key
};

Documented documented_keys() {
  Documented out;
  std::istringstream in(
      cppflue::testing::read_file(std::filesystem::path(CPPFLUE_SOURCE_DIR) / kDocPath));
  std::string line;
  int number = 0;
  bool in_table = false;    // inside a Markdown table (any)
  bool key_table = false;   // ... whose header's first cell is "Key"
  int example_column = -1;  // index of its "Example" column
  int row = 0;              // rows of the current table seen so far
  bool in_fence = false;
  while (std::getline(in, line)) {
    ++number;
    std::string t = trim(line);
    if (t.rfind("```", 0) == 0) in_fence = !in_fence;
    if (in_fence || t.empty() || t.front() != '|') {
      in_table = false;
      continue;
    }
    auto c = cells(t);
    if (!in_table) {  // the header row
      in_table = true;
      row = 0;
      key_table = !c.empty() && c[0] == "Key";
      example_column = -1;
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (c[i] == "Example") example_column = static_cast<int>(i);
      }
      continue;
    }
    if (++row == 1 || !key_table) continue;  // the |---| row, or another kind of table
    std::string key = c.empty() ? std::string() : code_span(c[0]);
    if (key.empty()) {
      out.problems.push_back(
          fmt::format("{}:{}: a row of a Key table without a `key` first cell", kDocPath, number));
      continue;
    }
    DocumentedKey d;
    d.line = number;
    if (example_column >= 0 && example_column < static_cast<int>(c.size())) {
      d.example = code_span(c[static_cast<std::size_t>(example_column)]);
    }
    auto [it, inserted] = out.keys.emplace(key, d);
    if (!inserted) {
      out.problems.push_back(fmt::format("{}:{}: `{}` is documented twice (first on line {})",
                                         kDocPath, number, key, it->second.line));
    }
  }
  return out;
}

TEST(DocsConfig, TheReferenceHasKeyTables) {
  auto documented = documented_keys();
  for (const auto& p : documented.problems) ADD_FAILURE() << p;
  // A parse that finds nothing would make the other checks pass vacuously.
  EXPECT_GE(documented.keys.size(), known_config_keys().size() / 2)
      << kDocPath << ": too few key rows found (tables must start with a \"Key\" column)";
}

TEST(DocsConfig, EveryAcceptedKeyIsDocumented) {
  auto documented = documented_keys();
  for (const auto& key : known_config_keys()) {
    EXPECT_TRUE(documented.keys.count(key) != 0)
        << "cppflue.toml key `" << key << "` is accepted by the parser but not documented in "
        << kDocPath << " (add a row | `" << key << "` | ... | to its section's table)";
  }
}

TEST(DocsConfig, EveryDocumentedKeyIsAccepted) {
  auto known = known_config_keys();
  std::set<std::string> accepted(known.begin(), known.end());
  for (const auto& [key, d] : documented_keys().keys) {
    EXPECT_TRUE(accepted.count(key) != 0) << kDocPath << ":" << d.line << ": documented key `"
                                          << key << "` is not accepted by the cppflue.toml parser";
  }
}

// Each documented key alone in a file, set to its example: the parser must take it. A table
// that needs a companion key (an MCP server needs `command` or `url`) may still be refused,
// but only for the table as a whole, never for the key itself.
TEST(DocsConfig, EveryDocumentedExampleParses) {
  for (const auto& [key, d] : documented_keys().keys) {
    SCOPED_TRACE(fmt::format("{}:{}: `{}`", kDocPath, d.line, key));
    if (d.example.empty()) {
      ADD_FAILURE() << kDocPath << ":" << d.line << ": `" << key
                    << "` has no `value` in its Example column";
      continue;
    }
    std::string path = key;
    for (std::string::size_type at; (at = path.find("<name>")) != std::string::npos;) {
      path.replace(at, 6, "example");
    }
    auto dot = path.rfind('.');
    ASSERT_NE(dot, std::string::npos);
    std::string table = path.substr(0, dot);
    std::string toml = fmt::format("[{}]\n{} = {}\n", table, path.substr(dot + 1), d.example);
    auto parsed = parse_config(toml, "cppflue.toml");
    if (parsed) continue;
    const auto& details = parsed.error().details;
    std::string where =
        details.is_object() && details.as_object().contains("key") && details.at("key").is_string()
            ? std::string(details.at("key").as_string())
            : std::string();
    EXPECT_EQ(where, table) << "documented key `" << key << "` with its example " << d.example
                            << " is refused: " << parsed.error().message << "\nfile:\n"
                            << toml;
  }
}

}  // namespace
}  // namespace cppflue
