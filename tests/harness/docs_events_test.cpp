// SPDX-License-Identifier: Apache-2.0
// The event reference (docs/reference/events.md) matches the code: every event type the code
// emits has a "### `type`" section there, and every such section names a type the code emits.
//
// There is no central list of event types: events are made where they happen, by a call with
// the type as a string literal — Emitter::emit("type", ...) and ToolScope::emit("type", ...)
// for session events, FlueContext::emit("type", ...), record(state, "type", ...),
// record("type", ...) and Store::append_run_event(run_id, "type", ...) for run events. So the
// emitted set is read from the sources: every call of a function named `emit`, `record` or
// `append_run_event` whose first or second argument is a string literal contributes that
// literal. A new event added the usual way (one more such call) is found without any list to
// update.
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

namespace cppflue {
namespace {

namespace fs = std::filesystem;

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

struct Emitted {
  std::map<std::string, std::set<std::string>> where;  // type → "file:line" of its calls
};

// Every string literal passed as the first or second argument of emit(...), record(...) or
// append_run_event(...) in the C++ sources under `dir`.
void scan(const fs::path& dir, const fs::path& root, Emitted& out) {
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
        out.where[*lit].insert(fs::relative(entry.path(), root).string() + ":" +
                               std::to_string(line));
      }
    }
  }
}

std::set<std::string> emitted_types(std::map<std::string, std::set<std::string>>* where) {
  const fs::path root = CPPFLUE_SOURCE_DIR;
  Emitted e;
  scan(root / "src", root, e);
  scan(root / "include", root, e);
  std::set<std::string> types;
  for (const auto& [type, places] : e.where) types.insert(type);
  if (where) *where = e.where;
  return types;
}

// The types of the "### `type`" headings of the event reference.
std::set<std::string> documented_types() {
  const fs::path doc = fs::path(CPPFLUE_SOURCE_DIR) / "docs" / "reference" / "events.md";
  std::ifstream in(doc);
  EXPECT_TRUE(in) << "cannot read " << doc;
  static const std::regex heading(R"(^### `([A-Za-z0-9_.\-]+)`\s*$)");
  std::set<std::string> types;
  std::map<std::string, int> seen;
  bool fenced = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) fenced = !fenced;
    if (fenced) continue;
    std::smatch m;
    if (std::regex_match(line, m, heading)) {
      types.insert(m[1]);
      ++seen[m[1]];
    }
  }
  for (const auto& [type, n] : seen) {
    EXPECT_EQ(n, 1) << "docs/reference/events.md documents `" << type << "` " << n << " times";
  }
  return types;
}

TEST(DocsEvents, ScannerFindsTheKnownEmitters) {
  // Guards the scanner itself: these are made in four different ways (Emitter::emit,
  // ToolScope::emit, record(state, ...), FlueContext::emit).
  auto types = emitted_types(nullptr);
  for (const char* t : {"operation_start", "text_delta", "command_start", "run_start", "log"}) {
    EXPECT_TRUE(types.count(t)) << "the source scan no longer finds '" << t << "'";
  }
}

TEST(DocsEvents, EveryEmittedTypeIsDocumentedAndEveryDocumentedTypeIsEmitted) {
  std::map<std::string, std::set<std::string>> where;
  auto emitted = emitted_types(&where);
  auto documented = documented_types();
  for (const auto& type : emitted) {
    if (documented.count(type)) continue;
    std::string places;
    for (const auto& p : where[type]) places += (places.empty() ? "" : ", ") + p;
    ADD_FAILURE() << "event type '" << type << "' is emitted (" << places << ") but has no \"### `"
                  << type << "`\" section in docs/reference/events.md";
  }
  for (const auto& type : documented) {
    if (emitted.count(type)) continue;
    ADD_FAILURE() << "docs/reference/events.md documents event type '" << type
                  << "', which nothing in src/ or include/ emits";
  }
}

}  // namespace
}  // namespace cppflue
