// SPDX-License-Identifier: Apache-2.0
// Roles, declarative agents, project instructions and the whole `.agents/` folder.
#include "cppflue/harness/project.hpp"

#include <fmt/format.h>

#include "project_internal.hpp"

namespace cppflue {

namespace fs = std::filesystem;
using project_detail::Fields;
using project_detail::file_error;

namespace {

constexpr std::string_view kIdentifierRule =
    "it must start with a letter and hold only letters, digits, '_' and '-'";

// Frontmatter `name`, else the file stem, checked against [A-Za-z][A-Za-z0-9_-]*.
bool read_identifier_name(Fields& f, const fs::path& path, std::string_view what,
                          std::string& out) {
  f.string("name", out);
  if (f.failed()) return false;
  if (f.get("name")) {
    if (!project_detail::is_identifier_name(out)) {
      f.error("name",
              fmt::format("name: '{}' is not a valid {} name: {}", out, what, kIdentifierRule));
      return false;
    }
    return true;
  }
  out = path.stem().string();
  if (!project_detail::is_identifier_name(out)) {
    f.error("name",
            fmt::format("{} name '{}' (derived from the file name) is not valid: {}; rename "
                        "the file or set `name:` in the frontmatter",
                        what, out, kIdentifierRule));
    return false;
  }
  return true;
}

// Reads every `*.md` of the folder `dir` (opened as `folder`, or by path when null) with
// `parse`, keyed by name. A file that cannot be read or parsed, or whose name is already taken
// (the problem names both files), is a problem of its own: the other files are still read.
template <class T, class Parse>
Scanned<T> scan(const fs::path& dir, const Workspace* folder, std::string_view what, Parse parse) {
  Scanned<T> out;
  std::optional<Workspace> own;
  if (folder == nullptr) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(dir, ec))) return out;
    auto opened = Workspace::open(dir);
    if (!opened) {
      out.problems.push_back(
          project_detail::problem(what, "", file_error(dir.string(), 0, "", "is not a directory")));
      return out;
    }
    own = std::move(*opened);
    folder = &*own;
  }
  auto names = project_detail::list_markdown_files(*folder, dir);
  if (!names) {
    out.problems.push_back(project_detail::problem(what, "", names.error()));
    return out;
  }
  for (const std::string& name : *names) {
    fs::path p = dir / name;
    auto text = project_detail::read_text_file_in(*folder, name, p);
    Result<T> item = text ? parse(*text, p) : Result<T>(fail(std::move(text.error())));
    if (!item) {
      out.problems.push_back(project_detail::problem(what, p.stem().string(), item.error()));
      if (out.problems.back().file.empty()) out.problems.back().file = p;
      continue;
    }
    auto [it, inserted] = out.items.try_emplace(item->name, std::move(*item));
    if (!inserted) {
      out.problems.push_back(project_detail::problem(
          what, it->first,
          file_error(p.string(), item->key_lines.count("name") ? item->key_lines.at("name") : 0,
                     "name",
                     fmt::format("duplicate {} name '{}': also defined in {}", what, it->first,
                                 it->second.path.string()))));
    }
  }
  return out;
}

// scan(), failing on the first problem.
template <class T, class Parse>
Result<std::map<std::string, T>> discover(const fs::path& dir, const Workspace* folder,
                                          std::string_view what, Parse parse) {
  Scanned<T> found = scan<T>(dir, folder, what, parse);
  if (!found.problems.empty()) return fail(std::move(found.problems.front().error));
  return std::move(found.items);
}

}  // namespace

// ---- Roles ---------------------------------------------------------------------------------

Result<RoleDefinition> parse_role_definition(std::string_view text, const fs::path& path) {
  const std::string file = path.string();
  auto fm = parse_frontmatter(text, file);
  if (!fm) return fail(std::move(fm.error()));
  RoleDefinition role;
  role.path = path;
  role.instructions = fm->body;
  role.key_lines = fm->key_lines;
  Fields f(*fm, file);
  f.reject_unknown({"name", "description", "model", "thinking_level"}, "role");
  read_identifier_name(f, path, "role", role.name);
  f.string("description", role.description);
  f.string("model", role.model);
  f.thinking_level("thinking_level", role.thinking_level);
  if (f.failed()) return fail(f.take_error());
  return role;
}

Result<std::map<std::string, RoleDefinition>> discover_roles(const fs::path& dir) {
  return discover<RoleDefinition>(dir, nullptr, "role", parse_role_definition);
}

Scanned<RoleDefinition> scan_roles(const fs::path& dir) {
  return scan<RoleDefinition>(dir, nullptr, "role", parse_role_definition);
}

// ---- Declarative agents --------------------------------------------------------------------

Result<AgentDefinition> parse_agent_definition(std::string_view text, const fs::path& path) {
  const std::string file = path.string();
  auto fm = parse_frontmatter(text, file);
  if (!fm) return fail(std::move(fm.error()));
  AgentDefinition agent;
  agent.path = path;
  agent.instructions = fm->body;
  agent.key_lines = fm->key_lines;
  Fields f(*fm, file);
  f.reject_unknown({"name", "description", "model", "tools", "sandbox", "allow_write",
                    "allow_shell", "allowed_commands", "allow_compound_commands", "thinking_level",
                    "max_turns", "triggers", "skills", "subagents"},
                   "agent");
  read_identifier_name(f, path, "agent", agent.name);
  f.string("description", agent.description);
  f.string("model", agent.model);
  f.string("sandbox", agent.sandbox);
  f.thinking_level("thinking_level", agent.thinking_level);
  f.boolean("allow_write", agent.allow_write);
  f.boolean("allow_shell", agent.allow_shell);
  f.boolean("allow_compound_commands", agent.allow_compound_commands);
  f.string_list("allowed_commands", agent.allowed_commands);
  f.string_list("tools", agent.tools);
  f.string_list("skills", agent.skills);
  f.string_list("subagents", agent.subagents);
  f.integer("max_turns", agent.max_turns, 1, 1000000);
  f.object("triggers", agent.triggers, "an object such as {webhook: true}");
  if (!f.failed()) {
    if (const json* webhook = find(agent.triggers, "webhook");
        webhook && !webhook->is_bool() && !webhook->is_null()) {
      f.error("triggers",
              fmt::format("triggers.webhook: expected true or false, got {}", kind_name(*webhook)));
    }
  }
  if (f.failed()) return fail(f.take_error());
  return agent;
}

Result<std::map<std::string, AgentDefinition>> discover_agent_definitions(const fs::path& dir) {
  return discover<AgentDefinition>(dir, nullptr, "agent", parse_agent_definition);
}

Scanned<AgentDefinition> scan_agent_definitions(const fs::path& dir) {
  return scan<AgentDefinition>(dir, nullptr, "agent", parse_agent_definition);
}

// ---- Instructions and the whole project ----------------------------------------------------

namespace {

// AGENTS.md then CLAUDE.md beneath the project folder (a symlink between them is fine, one
// leading out of the project is not followed).
std::string instructions_in(const Workspace& project) {
  std::string out;
  for (const char* name : {"AGENTS.md", "CLAUDE.md"}) {
    auto text = project_detail::read_text_file_in(project, name, project.root() / name);
    if (!text) continue;
    std::string_view t = *text;
    if (t.substr(0, 3) == "\xEF\xBB\xBF") t.remove_prefix(3);
    std::string part = project_detail::trim(t);
    if (part.empty()) continue;
    if (!out.empty()) out += "\n\n";
    out += part;
  }
  return out;
}

// `.agents/<name>` of the project as a folder opened by descriptor without crossing a symlink;
// nullopt when it does not exist.
Result<std::optional<Workspace>> agents_folder(const Workspace& project, const fs::path& root,
                                               std::string_view name) {
  std::string rel = ".agents/" + std::string(name);
  auto sub = project.subdirectory(rel);
  if (sub) return std::optional<Workspace>(std::move(*sub));
  if (sub.error().type == ErrorType::not_found) return std::optional<Workspace>();
  return fail(
      file_error((root / rel).string(), 0, "",
                 "must be a real folder of the project (not a symlink): " + sub.error().message));
}

}  // namespace

std::string load_project_instructions(const fs::path& root) {
  auto project = Workspace::open(root);
  return project ? instructions_in(*project) : std::string();
}

Result<ProjectFiles> load_project_files(const fs::path& root) {
  ProjectFiles files;
  auto project = Workspace::open(root);
  if (!project) return files;
  const fs::path agents_dir = root / ".agents";
  // Every folder is opened once beneath the project, refusing symlinks on the way, and every
  // file is read beneath its folder's descriptor.
  auto skills_dir = agents_folder(*project, root, "skills");
  if (!skills_dir) return fail(std::move(skills_dir.error()));
  if (*skills_dir) {
    auto skills = project_detail::discover_skills_in(
        agents_dir / "skills", std::make_shared<const Workspace>(std::move(**skills_dir)));
    if (!skills) return fail(std::move(skills.error()));
    files.skills = std::move(*skills);
  }
  auto roles_dir = agents_folder(*project, root, "roles");
  if (!roles_dir) return fail(std::move(roles_dir.error()));
  if (*roles_dir) {
    auto roles =
        discover<RoleDefinition>(agents_dir / "roles", &**roles_dir, "role", parse_role_definition);
    if (!roles) return fail(std::move(roles.error()));
    files.roles = std::move(*roles);
  }
  auto agent_defs_dir = agents_folder(*project, root, "agents");
  if (!agent_defs_dir) return fail(std::move(agent_defs_dir.error()));
  if (*agent_defs_dir) {
    // One broken agent file must not stop the others (nor the agents built in code).
    auto agents = scan<AgentDefinition>(agents_dir / "agents", &**agent_defs_dir, "agent",
                                        parse_agent_definition);
    files.agents = std::move(agents.items);
    files.problems = std::move(agents.problems);
  }
  files.instructions = instructions_in(*project);
  return files;
}

}  // namespace cppflue
