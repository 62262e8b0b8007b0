// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the project-file parsers (project_*.cpp): errors that name file and line,
// typed frontmatter fields, file reading, directory listing and path confinement.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/harness/project.hpp"
#include "cppflue/sandbox/workspace.hpp"

namespace cppflue::project_detail {

// `<file>:<line>: <message>` (or `<file>: <message>` when line <= 0), type config_error, with
// details {file, line, key}.
Error file_error(const std::string& file, int line, std::string_view key, std::string message,
                 ErrorType type = ErrorType::config_error);

// A ProjectProblem of `kind` for `error` (file and line from its details).
ProjectProblem problem(std::string_view kind, std::string name, Error error);

std::string trim(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool is_skill_md(const std::filesystem::path& p);  // "SKILL.md" in any case

// Reads a whole file beneath its own folder (by descriptor, non-blocking, regular files only,
// at most 4 MiB); a missing file is not_found, anything else config_error.
Result<std::string> read_text_file(const std::filesystem::path& p);
// The same beneath `folder`; `display` names the file in errors.
Result<std::string> read_text_file_in(const Workspace& folder, std::string_view rel,
                                      const std::filesystem::path& display);

// Names of the regular `*.md` files directly in `folder` (dot files skipped, symlinks only when
// they stay inside), sorted; `dir` names the folder in errors.
Result<std::vector<std::string>> list_markdown_files(const Workspace& folder,
                                                     const std::filesystem::path& dir);

// discover_skills / scan_skills over a folder already opened (by descriptor); `dir` names it.
Result<SkillSet> discover_skills_in(const std::filesystem::path& dir,
                                    const std::shared_ptr<const Workspace>& folder);
Scanned<Skill> scan_skills_in(const std::filesystem::path& dir,
                              const std::shared_ptr<const Workspace>& folder);

// Reads typed fields of a frontmatter mapping. The first problem is kept and later reads are
// no-ops, so the parsers stay straight-line code. A null value counts as absent.
class Fields {
 public:
  Fields(const Frontmatter& fm, std::string file) : fm_(fm), file_(std::move(file)) {}

  bool failed() const { return error_.has_value(); }
  Error take_error() { return std::move(*error_); }
  const std::string& file() const { return file_; }

  int line(std::string_view key) const;
  const json* get(std::string_view key) const;  // nullptr when absent or null
  void error(std::string_view key, std::string message);

  void string(std::string_view key, std::string& out);
  void boolean(std::string_view key, std::optional<bool>& out);
  void integer(std::string_view key, std::optional<int>& out, int min, int max);
  void object(std::string_view key, json& out, std::string_view expected = "an object");
  // A list of strings; a single string is one element, or split on spaces and commas (outside
  // parentheses) when `split` is set.
  void string_list(std::string_view key, std::vector<std::string>& out, bool split = false);
  void thinking_level(std::string_view key, std::string& out);
  // Every key not in `known` is an error.
  void reject_unknown(std::initializer_list<std::string_view> known, std::string_view what);

 private:
  void wrong_type(std::string_view key, std::string_view expected, const json& got);
  static std::string describe(const json& v);  // `string "yes"`, shortened

  const Frontmatter& fm_;
  std::string file_;
  std::optional<Error> error_;
};

// Name rules.
bool is_skill_name(std::string_view name);       // [a-z0-9]+(-[a-z0-9]+)*, at most 64
bool is_identifier_name(std::string_view name);  // [A-Za-z][A-Za-z0-9_-]*

}  // namespace cppflue::project_detail
