// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the project-file parsers: errors, typed fields, files and confinement.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <sstream>

#include "cppflue/core/suggest.hpp"
#include "project_internal.hpp"

namespace cppflue::project_detail {

namespace fs = std::filesystem;

Error file_error(const std::string& file, int line, std::string_view key, std::string message,
                 ErrorType type) {
  std::string text = line > 0 ? fmt::format("{}:{}: {}", file, line, message)
                              : fmt::format("{}: {}", file, message);
  return make_error(type, std::move(text),
                    json_object{{"file", file},
                                {"line", line > 0 ? json(line) : json(nullptr)},
                                {"key", key.empty() ? json(nullptr) : json(key)}});
}

ProjectProblem problem(std::string_view kind, std::string name, Error error) {
  ProjectProblem p;
  p.kind = std::string(kind);
  p.name = std::move(name);
  if (const json* file = find(error.details, "file"); file && file->is_string()) {
    p.file = std::string(file->get_string());
  }
  if (const json* line = find(error.details, "line"); line && line->is_int64()) {
    p.line = static_cast<int>(line->get_int64());
  }
  p.error = std::move(error);
  return p;
}

std::string trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_skill_md(const fs::path& p) {
  return iequals(p.filename().string(), "SKILL.md");
}

namespace {
// Project files are small: anything larger is not a skill, role, agent or instruction file.
constexpr std::size_t kMaxProjectFileBytes = std::size_t{4} << 20;

// The folder `dir` as a Workspace (symlinks below it are followed only while they stay inside).
Result<Workspace> open_folder(const fs::path& dir) {
  return Workspace::open(dir.empty() ? fs::path(".") : dir);
}
}  // namespace

Result<std::string> read_text_file(const fs::path& p) {
  auto folder = open_folder(p.parent_path());
  if (!folder) return fail(file_error(p.string(), 0, "", "file not found", ErrorType::not_found));
  return read_text_file_in(*folder, p.filename().string(), p);
}

Result<std::string> read_text_file_in(const Workspace& folder, std::string_view rel,
                                      const fs::path& display) {
  // Beneath the folder by descriptor, non-blocking, regular files only, size-capped: a symlink
  // leading out, a FIFO or a device is refused, never followed or waited on.
  auto text = folder.read_file(rel, kMaxProjectFileBytes);
  if (text) return text;
  const Error& e = text.error();
  if (e.type == ErrorType::not_found) {
    return fail(file_error(display.string(), 0, "", "file not found", ErrorType::not_found));
  }
  return fail(file_error(display.string(), 0, "", e.message));
}

Result<std::vector<std::string>> list_markdown_files(const Workspace& folder, const fs::path& dir) {
  std::vector<std::string> out;
  auto entries = folder.list_dir(".");
  if (!entries) {
    return fail(file_error(dir.string(), 0, "", "cannot list: " + entries.error().message));
  }
  for (const auto& e : *entries) {
    const std::string& name = e.name;
    if (name.empty() || name[0] == '.' || fs::path(name).extension() != ".md" || e.is_dir) continue;
    auto info = folder.stat(name);
    if (info && info->is_file) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- Fields -------------------------------------------------------------------------------

int Fields::line(std::string_view key) const {
  auto it = fm_.key_lines.find(std::string(key));
  return it == fm_.key_lines.end() ? 0 : it->second;
}

const json* Fields::get(std::string_view key) const {
  const json* v = find(fm_.data, key);
  return v && !v->is_null() ? v : nullptr;
}

void Fields::error(std::string_view key, std::string message) {
  if (!error_) error_ = file_error(file_, line(key), key, std::move(message));
}

void Fields::wrong_type(std::string_view key, std::string_view expected, const json& got) {
  error(key, fmt::format("{}: expected {}, got {}", key, expected, describe(got)));
}

std::string Fields::describe(const json& v) {
  std::string text = dump(v);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return fmt::format("{} {}", kind_name(v), text);
}

void Fields::string(std::string_view key, std::string& out) {
  const json* v = get(key);
  if (failed() || !v) return;
  if (!v->is_string()) return wrong_type(key, "a string", *v);
  out = std::string(v->get_string());
}

void Fields::boolean(std::string_view key, std::optional<bool>& out) {
  const json* v = get(key);
  if (failed() || !v) return;
  if (!v->is_bool()) return wrong_type(key, "true or false", *v);
  out = v->get_bool();
}

void Fields::integer(std::string_view key, std::optional<int>& out, int min, int max) {
  const json* v = get(key);
  if (failed() || !v) return;
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64()) {
    n = std::numeric_limits<std::int64_t>::max();
  } else {
    return wrong_type(key, "an integer", *v);
  }
  if (n < min || n > max) {
    return error(key, fmt::format("{}: must be between {} and {}, got {}", key, min, max, n));
  }
  out = static_cast<int>(n);
}

void Fields::object(std::string_view key, json& out, std::string_view expected) {
  const json* v = get(key);
  if (failed() || !v) return;
  if (!v->is_object()) return wrong_type(key, expected, *v);
  out = *v;
}

namespace {
// Splits on spaces and commas outside parentheses: "Bash(git add:*) Read" → 2 items.
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    if (depth == 0 && (c == ',' || std::isspace(static_cast<unsigned char>(c)))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}
}  // namespace

void Fields::string_list(std::string_view key, std::vector<std::string>& out, bool split) {
  const json* v = get(key);
  if (failed() || !v) return;
  if (v->is_string()) {
    std::string_view s = v->get_string();
    if (split) {
      out = split_list(s);
    } else {
      out = {std::string(s)};
    }
    return;
  }
  if (!v->is_array()) return wrong_type(key, "a list of strings", *v);
  std::vector<std::string> items;
  std::size_t index = 0;
  for (const json& item : v->get_array()) {
    if (!item.is_string()) {
      return error(key,
                   fmt::format("{}: item {} must be a string, got {}", key, index, describe(item)));
    }
    items.emplace_back(item.get_string());
    ++index;
  }
  out = std::move(items);
}

void Fields::thinking_level(std::string_view key, std::string& out) {
  std::string level;
  string(key, level);
  if (failed() || level.empty()) return;
  static constexpr std::string_view kLevels[] = {"off",    "minimal", "low",
                                                 "medium", "high",    "xhigh"};
  if (std::find(std::begin(kLevels), std::end(kLevels), level) == std::end(kLevels)) {
    return error(key, fmt::format("{}: '{}' is not one of off, minimal, low, medium, high, xhigh",
                                  key, level));
  }
  out = std::move(level);
}

void Fields::reject_unknown(std::initializer_list<std::string_view> known, std::string_view what) {
  if (failed() || !fm_.data.is_object()) return;
  std::vector<std::string> names(known.begin(), known.end());
  for (const auto& kv : fm_.data.get_object()) {
    if (std::find(known.begin(), known.end(), kv.key()) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return error(kv.key(), fmt::format("unknown key '{}' in {} frontmatter{} (known keys: {})",
                                       std::string_view(kv.key()), what,
                                       did_you_mean(kv.key(), names), list));
  }
}

// ---- Names --------------------------------------------------------------------------------

}  // namespace cppflue::project_detail

bool cppflue::is_valid_skill_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '-' || name.back() == '-') return false;
  char prev = 0;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || (c == '-' && prev == '-')) return false;
    prev = c;
  }
  return true;
}

namespace cppflue::project_detail {

bool is_skill_name(std::string_view name) {
  return is_valid_skill_name(name);
}

bool is_identifier_name(std::string_view name) {
  if (name.empty() || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

}  // namespace cppflue::project_detail
