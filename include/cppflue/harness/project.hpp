// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/project.hpp — the Markdown files a project keeps next to its code
// (docs/concepts/skills-and-roles.md).
//
// A project root holds `AGENTS.md` / `CLAUDE.md` (instructions) and `.agents/` with skills
// (`skills/*.md`, `skills/<name>/SKILL.md` plus supporting files), roles (`roles/*.md`) and
// declarative agents (`agents/*.md`). Each file is optional YAML frontmatter plus a Markdown
// body. This module parses and validates them: YAML scalars are typed by the YAML 1.2 core
// schema (quoted scalars stay strings), every problem is a `config_error` whose message reads
// `<file>:<line>: <what>` with the line of the offending key, and nothing here throws or crashes
// on arbitrary input. Paths coming from callers (skill paths, resource names) are confined to
// their directory: absolute paths, `..` and symlinks leading outside are refused.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/sandbox/workspace.hpp"

namespace cppflue {

// ---- Frontmatter -------------------------------------------------------------------------

struct Frontmatter {
  json data = json_object{};             // the YAML mapping; empty when there is no frontmatter
  std::string body;                      // Markdown after the closing line, trimmed, LF endings
  int body_line = 1;                     // file line (1-based) where the trimmed body starts
  std::map<std::string, int> key_lines;  // file line of each top-level key
};

// The file starts (after an optional UTF-8 BOM) with a line `---` and the YAML ends at the next
// line `---` or `...`; CRLF is accepted. `origin` names the file in error messages.
Result<Frontmatter> parse_frontmatter(std::string_view text, const std::string& origin);

// ---- Problems ------------------------------------------------------------------------------

// A project file that cannot be used, found while reading a folder file by file.
struct ProjectProblem {
  std::string kind;  // "skill", "role", "agent"
  // Its name; for a file that did not parse, the name the file gives it (the stem, or the folder
  // of a SKILL.md); empty for a folder that cannot be read.
  std::string name;
  std::filesystem::path file;
  int line = 0;  // the line of the offending key; 0 for the whole file
  Error error;   // config_error; the message reads `<file>:<line>: <what>`
};

// What a folder scan found: the items that are fine, and a problem per file that is not.
template <class T>
struct Scanned {
  std::map<std::string, T> items;
  std::vector<ProjectProblem> problems;
};

// ---- Skills ------------------------------------------------------------------------------

struct Skill {
  std::string name;  // lowercase letters, digits, single hyphens; at most 64 characters
  std::string description;
  std::string instructions;  // the Markdown body
  json input_schema = nullptr;
  json output_schema = nullptr;
  std::string license;
  json metadata = json_object{};
  std::vector<std::string> allowed_tools;  // `allowed-tools`: a list or a space/comma list
  json extra = json_object{};  // frontmatter keys this module does not know, kept verbatim
  std::filesystem::path path;
  std::filesystem::path directory;     // for `<name>/SKILL.md`: the folder of supporting files
  std::vector<std::string> resources;  // files under `directory` (relative, sorted, no SKILL.md)
  // `directory` as opened when the skill was loaded: supporting files are read beneath this
  // descriptor, whatever the path names later.
  std::shared_ptr<const Workspace> folder;
};

using SkillSet = std::map<std::string, Skill>;

// The skill name rule: lowercase letters, digits and single hyphens, no hyphen at either end,
// at most 64 characters.
bool is_valid_skill_name(std::string_view name);

// Like discover_skills, but a broken file (or a duplicate name) is a problem of its own and the
// other skills are still read.
Scanned<Skill> scan_skills(const std::filesystem::path& skills_dir);

// Parses a skill without touching the filesystem (`resources` stays empty).
Result<Skill> parse_skill(std::string_view text, const std::filesystem::path& path);
// Reads and parses one skill file; a `SKILL.md` also lists its supporting files.
Result<Skill> load_skill(const std::filesystem::path& path);
// `*.md` directly in `skills_dir` plus `<dir>/SKILL.md`; missing dir → empty; duplicate names
// are an error naming both files.
Result<SkillSet> discover_skills(const std::filesystem::path& skills_dir);
// A skill named by a path under `skills_dir` ("group/triage.md", "triage/"); a directory means
// its SKILL.md, and a missing `.md` suffix is tried. Escaping `skills_dir` is an error.
Result<Skill> load_skill_by_path(const std::filesystem::path& skills_dir, std::string_view rel);
// A supporting file of a SKILL.md skill, confined to `skill.directory`.
Result<std::string> read_skill_resource(const Skill& skill, std::string_view rel);
// Where the harness exposes a supporting file to the model through the `read` tool.
std::string skill_resource_virtual_path(const Skill& skill, std::string_view rel);

// The prompt for `session.skill(...)`: instructions, the supporting files (if any), then
// "Arguments:" + JSON (unless `args` is null or {}), then the result schema (unless null),
// separated by blank lines. JSON is indented by 2 spaces with sorted keys. Pass
// `skill.output_schema` as `result_schema` when the caller has no C++ result type.
std::string render_skill_prompt(const Skill& skill, const json& args,
                                const json& result_schema = nullptr);

// ---- Roles -------------------------------------------------------------------------------

// A role file (`cppflue::Role` is the message role of model/message.hpp).
struct RoleDefinition {
  std::string name;  // [A-Za-z][A-Za-z0-9_-]*
  std::string description;
  std::string model;           // empty: not set
  std::string thinking_level;  // empty or off|minimal|low|medium|high|xhigh
  std::string instructions;
  std::filesystem::path path;
  std::map<std::string, int> key_lines;  // the file line of each frontmatter key
};

// Unknown keys are errors (typos must not pass silently), with the closest known key.
Result<RoleDefinition> parse_role_definition(std::string_view text,
                                             const std::filesystem::path& path);
// `*.md` directly in `dir`, sorted; missing dir → empty; duplicates name both files.
Result<std::map<std::string, RoleDefinition>> discover_roles(const std::filesystem::path& dir);
// discover_roles, file by file (see scan_skills).
Scanned<RoleDefinition> scan_roles(const std::filesystem::path& dir);

// ---- Declarative agents (`.agents/agents/*.md`) -----------------------------------------

struct AgentDefinition {
  std::string name;  // [A-Za-z][A-Za-z0-9_-]*; default: the file stem
  std::string description;
  std::string model;
  std::string sandbox;
  std::string thinking_level;
  std::string instructions;
  std::optional<bool> allow_write;
  std::optional<bool> allow_shell;
  std::optional<bool> allow_compound_commands;
  std::vector<std::string> allowed_commands;
  std::vector<std::string> tools;
  std::vector<std::string> skills;
  std::vector<std::string> subagents;
  json triggers = json_object{};  // e.g. {"webhook": true}
  std::optional<int> max_turns;
  std::filesystem::path path;
  std::map<std::string, int> key_lines;  // the file line of each frontmatter key
};

// Unknown keys (with the closest known key) and wrong types are errors naming file, key and
// line.
Result<AgentDefinition> parse_agent_definition(std::string_view text,
                                               const std::filesystem::path& path);
Result<std::map<std::string, AgentDefinition>> discover_agent_definitions(
    const std::filesystem::path& dir);
// discover_agent_definitions, file by file (see scan_skills).
Scanned<AgentDefinition> scan_agent_definitions(const std::filesystem::path& dir);

// ---- The whole project -------------------------------------------------------------------

// `<root>/AGENTS.md` then `<root>/CLAUDE.md`, each trimmed, joined by a blank line; missing or
// unreadable files are skipped.
std::string load_project_instructions(const std::filesystem::path& root);

struct ProjectFiles {
  SkillSet skills;
  std::map<std::string, RoleDefinition> roles;
  std::map<std::string, AgentDefinition> agents;  // the Markdown agents that parse
  std::string instructions;
  std::vector<ProjectProblem> problems;  // the agent files that do not
};

// Reads `<root>/.agents/{skills,roles,agents}` and the project instructions. A broken skill or
// role fails the whole (every agent offers the skills and may take on the roles); a broken
// agent file is left out and listed in `problems`, so that it does not stop the others.
Result<ProjectFiles> load_project_files(const std::filesystem::path& root);

}  // namespace cppflue
