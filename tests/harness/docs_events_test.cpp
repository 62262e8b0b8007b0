// SPDX-License-Identifier: Apache-2.0
// The event reference (docs/reference/events.md) matches the code: every type of the event
// catalogue (cppflue/harness/event.hpp) has a "### `type`" section there whose field table
// names exactly the type's fields, every such section names a catalogue type, and no event is
// made outside the catalogue: a call of emit(...), record(...) or append_run_event(...) with a
// string literal as its first or second argument is an event type written by hand (only
// FlueContext::emit, a workflow's own events, takes a type string, and not from src/).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cppflue/harness/event.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using cppflue::testing::TempDir;
using cppflue::testing::write_file;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text with comments blanked out (string and character literals kept).
std::string strip_comments(const std::string& src) {
  std::string out = src;
  enum { code, line_comment, block_comment, string_lit, char_lit } state = code;
  for (std::size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    char next = i + 1 < out.size() ? out[i + 1] : '\0';
    switch (state) {
      case code:
        if (c == '/' && next == '/') {
          state = line_comment;
          out[i] = ' ';
        } else if (c == '/' && next == '*') {
          state = block_comment;
          out[i] = ' ';
        } else if (c == '"') {
          // A raw string literal R"d(...)d" is kept as is.
          if (i > 0 && out[i - 1] == 'R') {
            auto open = out.find('(', i);
            if (open != std::string::npos) {
              std::string end = ")" + out.substr(i + 1, open - i - 1) + "\"";
              auto close = out.find(end, open);
              if (close != std::string::npos) {
                i = close + end.size() - 1;
                break;
              }
            }
          }
          state = string_lit;
        } else if (c == '\'') {
          // Not after a digit: 1'000 is a digit separator.
          if (i == 0 || !std::isxdigit(static_cast<unsigned char>(out[i - 1]))) state = char_lit;
        }
        break;
      case line_comment:
        if (c == '\n') {
          state = code;
        } else {
          out[i] = ' ';
        }
        break;
      case block_comment:
        if (c == '*' && next == '/') {
          out[i] = out[i + 1] = ' ';
          ++i;
          state = code;
        } else if (c != '\n') {
          out[i] = ' ';
        }
        break;
      case string_lit:
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          state = code;
        }
        break;
      case char_lit:
        if (c == '\\') {
          ++i;
        } else if (c == '\'') {
          state = code;
        }
        break;
    }
  }
  return out;
}

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::size_t skip_space(const std::string& s, std::size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

// A string literal "..." at `i` (a plain one, as event types are written): its text.
std::optional<std::string> literal_at(const std::string& s, std::size_t i) {
  if (i >= s.size() || s[i] != '"') return std::nullopt;
  std::string text;
  for (std::size_t j = i + 1; j < s.size(); ++j) {
    if (s[j] == '\\') return std::nullopt;
    if (s[j] == '"') return text;
    if (s[j] == '\n') return std::nullopt;
    text += s[j];
  }
  return std::nullopt;
}

// The index just past the first argument starting at `i` (at its ',' or the call's ')').
std::size_t end_of_argument(const std::string& s, std::size_t i) {
  int depth = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\') ++i;
      }
    } else if (c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == ')' || c == '}' || c == ']') {
      if (depth == 0) return i;
      --depth;
    } else if (c == ',' && depth == 0) {
      return i;
    }
  }
  return i;
}

// Every string literal passed as the first or second argument of emit(...), record(...) or
// append_run_event(...) in the C++ sources under `dir`, with where it is.
void scan(const fs::path& dir, const fs::path& root,
          std::map<std::string, std::set<std::string>>& out) {
  static const char* const kFunctions[] = {"emit", "record", "append_run_event"};
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    auto ext = entry.path().extension();
    if (ext != ".cpp" && ext != ".hpp" && ext != ".h" && ext != ".cc") continue;
    std::string text = strip_comments(slurp(entry.path()));
    for (const char* fn : kFunctions) {
      std::string name(fn);
      for (std::size_t pos = text.find(name); pos != std::string::npos;
           pos = text.find(name, pos + 1)) {
        if (pos > 0 && ident_char(text[pos - 1])) continue;
        std::size_t open = skip_space(text, pos + name.size());
        if (open >= text.size() || text[open] != '(') continue;
        std::size_t arg = skip_space(text, open + 1);
        auto lit = literal_at(text, arg);
        if (!lit) {
          std::size_t comma = end_of_argument(text, arg);
          if (comma < text.size() && text[comma] == ',')
            lit = literal_at(text, skip_space(text, comma + 1));
        }
        if (!lit) continue;
        auto line =
            1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n');
        out[*lit].insert(fs::relative(entry.path(), root).string() + ":" + std::to_string(line));
      }
    }
  }
}

// One catalogue type with the fields it has on the wire (optional ones set, so that they show).
template <std::size_t I>
void add_catalogue_type(std::map<std::string, std::set<std::string>>& out) {
  std::variant_alternative_t<I, EventPayload> e{};
  if constexpr (std::is_same_v<decltype(e), events::RunStart>) {
    e.workflow = e.agent = e.agent_id = e.session_id = "x";
  }
  auto& fields = out[std::string(event_type(e))];
  for (const auto& kv : event_fields(e)) fields.insert(std::string(kv.key()));
}

template <std::size_t... I>
std::map<std::string, std::set<std::string>> catalogue(std::index_sequence<I...>) {
  std::map<std::string, std::set<std::string>> out;
  (add_catalogue_type<I>(out), ...);
  return out;
}

std::map<std::string, std::set<std::string>> catalogue() {
  return catalogue(std::make_index_sequence<std::variant_size_v<EventPayload>>{});
}

// The "### `type`" sections of the event reference, each with the fields of its table (the
// rows whose first cell is a `name`).
std::map<std::string, std::set<std::string>> documented() {
  const fs::path doc = fs::path(CPPFLUE_SOURCE_DIR) / "docs" / "reference" / "events.md";
  std::ifstream in(doc);
  EXPECT_TRUE(in) << "cannot read " << doc;
  static const std::regex heading(R"(^### `([A-Za-z0-9_.\-]+)`\s*$)");
  static const std::regex row(R"(^\| `([A-Za-z0-9_]+)` \|.*)");
  std::map<std::string, std::set<std::string>> out;
  std::map<std::string, int> seen;
  std::string current;
  bool fenced = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    if (fenced) continue;
    std::smatch m;
    if (std::regex_match(line, m, heading)) {
      current = m[1];
      out[current];
      ++seen[current];
    } else if (line.rfind("#", 0) == 0) {
      current.clear();
    } else if (!current.empty() && std::regex_match(line, m, row)) {
      out[current].insert(m[1]);
    }
  }
  for (const auto& [type, n] : seen) {
    EXPECT_EQ(n, 1) << "docs/reference/events.md documents `" << type << "` " << n << " times";
  }
  return out;
}

TEST(DocsEvents, EveryCatalogueTypeIsDocumentedWithItsFieldsAndNothingElseIs) {
  auto code = catalogue();
  auto docs = documented();
  EXPECT_GE(code.size(), 20u);
  for (const auto& [type, fields] : code) {
    auto d = docs.find(type);
    if (d == docs.end()) {
      ADD_FAILURE() << "event type '" << type << "' is in the catalogue but has no \"### `"
                    << type << "`\" section in docs/reference/events.md";
      continue;
    }
    for (const auto& f : fields) {
      EXPECT_TRUE(d->second.count(f))
          << "docs/reference/events.md: `" << type << "` does not list its field `" << f << "`";
    }
    for (const auto& f : d->second) {
      EXPECT_TRUE(fields.count(f))
          << "docs/reference/events.md: `" << type << "` lists `" << f
          << "`, which the catalogue type does not have";
    }
  }
  for (const auto& [type, fields] : docs) {
    EXPECT_TRUE(code.count(type)) << "docs/reference/events.md documents event type '" << type
                                  << "', which is not in the catalogue (event.hpp)";
  }
}

TEST(DocsEvents, NoEventTypeIsWrittenByHandOutsideTheCatalogue) {
  const fs::path root = CPPFLUE_SOURCE_DIR;
  std::map<std::string, std::set<std::string>> where;
  scan(root / "src", root, where);
  scan(root / "include", root, where);
  for (const auto& [type, places] : where) {
    std::string list;
    for (const auto& p : places) list += (list.empty() ? "" : ", ") + p;
    ADD_FAILURE() << "event type \"" << type << "\" is written as a string at " << list
                  << ": add it to the catalogue in cppflue/harness/event.hpp and emit the type";
  }
}

TEST(DocsEvents, TheScannerFindsAnEventWrittenByHand) {
  // Guards the scanner: a literal type in each of the forms it looks for is found.
  TempDir dir;
  write_file(dir.path() / "a.cpp", "void f() { emitter.emit(\"made_up\", {}); }\n"
                                   "void g() { record(*st, \"by_record\", x); }\n"
                                   "// emit(\"in_a_comment\")\n"
                                   "void h() { store->append_run_event(id, \"appended\", d); }\n");
  std::map<std::string, std::set<std::string>> where;
  scan(dir.path(), dir.path(), where);
  EXPECT_TRUE(where.count("made_up"));
  EXPECT_TRUE(where.count("by_record"));
  EXPECT_TRUE(where.count("appended"));
  EXPECT_FALSE(where.count("in_a_comment"));
}

}  // namespace
}  // namespace cppflue
