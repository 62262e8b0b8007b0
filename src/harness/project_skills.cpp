// SPDX-License-Identifier: Apache-2.0
// Skills (docs/concepts/skills-and-roles.md): parsing, discovery, loading by path, supporting files
// and the prompt.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "cppflue/core/suggest.hpp"
#include "project_internal.hpp"

namespace cppflue {

namespace fs = std::filesystem;
using project_detail::Fields;
using project_detail::file_error;

namespace {

constexpr std::string_view kSkillNameRule =
    "use lowercase letters, digits and single hyphens (no leading or trailing hyphen), at most "
    "64 characters";

std::string default_skill_name(const fs::path& path) {
  if (!project_detail::is_skill_md(path)) return path.stem().string();
  fs::path parent = path.parent_path();
  if (parent.empty() || parent.filename().empty() || parent.filename() == "." ||
      parent.filename() == "..") {
    std::error_code ec;
    parent = fs::absolute(path, ec).lexically_normal().parent_path();
  }
  return parent.filename().string();
}

// Supporting files of a SKILL.md folder: regular files below it (dot files and dot folders
// skipped, symlinks only when they stay inside), relative and sorted, without the SKILL.md.
void list_resources(const Workspace& folder, const std::string& rel, const std::string& skill_md,
                    int depth, std::vector<std::string>& out) {
  if (depth > 32 || out.size() > 10000) return;
  auto entries = folder.list_dir(rel);
  if (!entries) return;
  for (const auto& e : *entries) {
    if (e.name.empty() || e.name[0] == '.') continue;
    std::string path = rel == "." ? e.name : rel + "/" + e.name;
    if (e.is_dir) {
      list_resources(folder, path, skill_md, depth + 1, out);
      continue;
    }
    auto info = folder.stat(path);  // beneath the folder: a symlink leading out fails here
    if (!info || !info->is_file || info->is_dir) continue;
    if (path == skill_md) continue;
    out.push_back(std::move(path));
  }
}

std::vector<std::string> list_resources(const Workspace& folder, const fs::path& skill_file) {
  std::vector<std::string> out;
  list_resources(folder, ".", skill_file.filename().string(), 0, out);
  std::sort(out.begin(), out.end());
  return out;
}

// The key of `known` that `key` is a likely typo of: one edit away (two for keys of five
// characters or more), letter case aside. Stricter than closest(): a key of another skill
// ecosystem that merely starts like one of ours (`input`, `meta`) is not a typo.
std::optional<std::string> likely_typo(std::string_view key,
                                       const std::vector<std::string>& known) {
  for (const auto& k : known) {
    const std::size_t limit = k.size() <= 4 ? 1 : 2;
    if (edit_distance(key, k) <= limit) return k;
  }
  return std::nullopt;
}

constexpr std::string_view kSkillKeys[] = {
    "name", "description", "input_schema", "output_schema", "license", "metadata", "allowed-tools"};

}  // namespace

Result<Skill> parse_skill(std::string_view text, const fs::path& path) {
  const std::string file = path.string();
  auto fm = parse_frontmatter(text, file);
  if (!fm) return fail(std::move(fm.error()));

  Skill skill;
  skill.path = path;
  skill.instructions = fm->body;
  Fields f(*fm, file);
  f.string("name", skill.name);
  f.string("description", skill.description);
  f.object("input_schema", skill.input_schema, "an object (a JSON Schema)");
  f.object("output_schema", skill.output_schema, "an object (a JSON Schema)");
  f.string("license", skill.license);
  f.object("metadata", skill.metadata);
  f.string_list("allowed-tools", skill.allowed_tools, /*split=*/true);
  if (f.failed()) return fail(f.take_error());

  // Other keys (`compatibility` and friends from the Agent Skills ecosystem) are kept aside
  // rather than merged into `metadata`, whose own keys they could otherwise shadow; but one
  // that is a likely typo of a key read here (`descripton`) is an error, not a silent loss.
  const std::vector<std::string> known(std::begin(kSkillKeys), std::end(kSkillKeys));
  for (const auto& kv : fm->data.get_object()) {
    if (std::find(known.begin(), known.end(), kv.key()) != known.end()) continue;
    if (auto near = likely_typo(kv.key(), known)) {
      return fail(file_error(
          file, f.line(kv.key()), kv.key(),
          fmt::format("unknown key '{}' in skill frontmatter; did you mean '{}'? (the keys "
                      "CppFlue reads: {}; others are kept in Skill::extra)",
                      std::string_view(kv.key()), *near, fmt::join(known, ", "))));
    }
    skill.extra.get_object()[kv.key()] = kv.value();
  }

  if (f.get("name")) {
    if (!project_detail::is_skill_name(skill.name)) {
      return fail(file_error(
          file, f.line("name"), "name",
          fmt::format("name: '{}' is not a valid skill name: {}", skill.name, kSkillNameRule)));
    }
  } else {
    skill.name = default_skill_name(path);
    if (!project_detail::is_skill_name(skill.name)) {
      return fail(file_error(
          file, 0, "name",
          fmt::format("skill name '{}' (derived from the {} name) is not valid: {}; rename it or "
                      "set `name:` in the frontmatter",
                      skill.name, project_detail::is_skill_md(path) ? "folder" : "file",
                      kSkillNameRule)));
    }
  }
  if (project_detail::is_skill_md(path)) skill.directory = path.parent_path();
  return skill;
}

namespace {

// Reads and parses the skill file `file` beneath `folder`; a SKILL.md keeps `folder` (its
// supporting files are read beneath that descriptor) and lists them. `display` names it.
Result<Skill> load_skill_in(std::shared_ptr<const Workspace> folder, const std::string& file,
                            const fs::path& display) {
  auto text = project_detail::read_text_file_in(*folder, file, display);
  if (!text) return fail(std::move(text.error()));
  auto skill = parse_skill(*text, display);
  if (skill && !skill->directory.empty()) {
    skill->folder = std::move(folder);
    skill->resources = list_resources(*skill->folder, display);
  }
  return skill;
}

// The SKILL.md (any case) directly in `folder`, if it is a file.
std::optional<std::string> find_skill_md(const Workspace& folder) {
  auto entries = folder.list_dir(".");
  if (!entries) return std::nullopt;
  for (const auto& e : *entries) {
    if (!project_detail::is_skill_md(fs::path(e.name)) || e.is_dir) continue;
    auto info = folder.stat(e.name);
    if (info && info->is_file) return e.name;
  }
  return std::nullopt;
}

std::shared_ptr<const Workspace> shared(Workspace ws) {
  return std::make_shared<const Workspace>(std::move(ws));
}

}  // namespace

Result<Skill> load_skill(const fs::path& path) {
  auto folder = Workspace::open(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  if (!folder) {
    return fail(
        project_detail::file_error(path.string(), 0, "", "file not found", ErrorType::not_found));
  }
  return load_skill_in(shared(std::move(*folder)), path.filename().string(), path);
}

Scanned<Skill> scan_skills(const fs::path& skills_dir) {
  Scanned<Skill> out;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(skills_dir, ec))) return out;
  auto opened = Workspace::open(skills_dir);
  if (!opened) {
    out.problems.push_back(project_detail::problem(
        "skill", "", file_error(skills_dir.string(), 0, "", "is not a directory")));
    return out;
  }
  return project_detail::scan_skills_in(skills_dir, shared(std::move(*opened)));
}

Result<SkillSet> discover_skills(const fs::path& skills_dir) {
  auto found = scan_skills(skills_dir);
  if (!found.problems.empty()) return fail(std::move(found.problems.front().error));
  return std::move(found.items);
}

Result<SkillSet> project_detail::discover_skills_in(const fs::path& skills_dir,
                                                    const std::shared_ptr<const Workspace>& dir) {
  auto found = scan_skills_in(skills_dir, dir);
  if (!found.problems.empty()) return fail(std::move(found.problems.front().error));
  return std::move(found.items);
}

Scanned<Skill> project_detail::scan_skills_in(const fs::path& skills_dir,
                                              const std::shared_ptr<const Workspace>& dir) {
  Scanned<Skill> out;
  auto entries = dir->list_dir(".");
  if (!entries) {
    out.problems.push_back(
        problem("skill", "",
                file_error(skills_dir.string(), 0, "", "cannot list: " + entries.error().message)));
    return out;
  }
  // {display path, folder, file in that folder}, loaded in path order.
  struct Found {
    fs::path display;
    std::shared_ptr<const Workspace> folder;
    std::string file;
  };
  std::vector<Found> found;
  for (const auto& e : *entries) {
    if (e.name.empty() || e.name[0] == '.') continue;
    if (e.is_dir) {
      // A real folder only (a symlinked one could lead anywhere), opened by descriptor.
      auto sub = dir->subdirectory(e.name);
      if (!sub) continue;
      auto folder = shared(std::move(*sub));
      if (auto md = find_skill_md(*folder)) {
        found.push_back({skills_dir / e.name / *md, folder, *md});
      }
      continue;
    }
    if (fs::path(e.name).extension() != ".md") continue;
    auto info = dir->stat(e.name);
    if (!info || !info->is_file) continue;
    if (project_detail::is_skill_md(fs::path(e.name))) {
      // It would take the whole skills directory as its supporting files.
      out.problems.push_back(
          problem("skill", "",
                  file_error((skills_dir / e.name).string(), 0, "",
                             "a SKILL.md belongs in its own folder: <skills>/<name>/SKILL.md")));
      continue;
    }
    found.push_back({skills_dir / e.name, dir, e.name});
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.display < b.display; });
  for (auto& f : found) {
    auto skill = load_skill_in(f.folder, f.file, f.display);
    if (!skill) {
      out.problems.push_back(problem("skill", default_skill_name(f.display), skill.error()));
      if (out.problems.back().file.empty()) out.problems.back().file = f.display;
      continue;
    }
    auto [it, inserted] = out.items.try_emplace(skill->name, std::move(*skill));
    if (!inserted) {
      out.problems.push_back(
          problem("skill", it->first,
                  file_error(f.display.string(), 0, "name",
                             fmt::format("duplicate skill name '{}': also defined in {}", it->first,
                                         it->second.path.string()))));
    }
  }
  return out;
}

Result<Skill> load_skill_by_path(const fs::path& skills_dir, std::string_view rel) {
  constexpr std::string_view kWhat = "skills directory";
  auto escape = [&] {
    return fail(ErrorType::permission,
                fmt::format("path '{}' escapes the {} ({})", rel, kWhat, skills_dir.string()),
                json_object{{"path", rel}, {"directory", skills_dir.string()}});
  };
  auto not_found = [&](std::string_view what) {
    return fail(ErrorType::not_found,
                fmt::format("'{}' {} in the {} ({})", rel, what, kWhat, skills_dir.string()),
                json_object{{"path", rel}, {"directory", skills_dir.string()}});
  };
  if (rel.empty() || rel.find('\0') != std::string_view::npos) {
    return fail(ErrorType::invalid_input, fmt::format("invalid path '{}' in the {}", rel, kWhat));
  }
  if (rel.front() == '/') return escape();
  auto opened = Workspace::open(skills_dir);
  if (!opened) {
    return fail(ErrorType::not_found,
                fmt::format("the {} does not exist: {}", kWhat, skills_dir.string()),
                json_object{{"path", skills_dir.string()}});
  }
  auto dir = shared(std::move(*opened));
  auto normal = dir->to_relative(rel);
  if (!normal || *normal == ".") return escape();
  // Resolved beneath the skills directory by descriptor: a symlink leading out is an escape.
  auto info = dir->stat(*normal);
  if (!info && info.error().type == ErrorType::not_found &&
      fs::path(*normal).extension() != ".md" && rel.back() != '/') {
    if (auto with_md = dir->stat(*normal + ".md");
        with_md || with_md.error().type != ErrorType::not_found) {
      *normal += ".md";
      info = std::move(with_md);
    }
  }
  if (!info) return info.error().type == ErrorType::not_found ? not_found("not found") : escape();
  fs::path rel_path(*normal);
  if (info->is_dir || project_detail::is_skill_md(rel_path)) {
    // A skill folder: opened once, without crossing a symlink.
    std::string folder_rel = info->is_dir ? *normal : rel_path.parent_path().string();
    auto sub = folder_rel.empty() ? Result<Workspace>(*dir) : dir->subdirectory(folder_rel);
    if (!sub) return escape();
    auto folder = shared(std::move(*sub));
    std::string file =
        info->is_dir ? find_skill_md(*folder).value_or("") : rel_path.filename().string();
    if (file.empty()) return not_found("is a folder without a SKILL.md");
    return load_skill_in(folder, file, skills_dir / fs::path(folder_rel) / file);
  }
  // Named as given (so the default name is the one the user sees), read beneath the directory.
  return load_skill_in(dir, *normal, skills_dir / rel_path);
}

Result<std::string> read_skill_resource(const Skill& skill, std::string_view rel) {
  if (skill.directory.empty()) {
    return fail(ErrorType::not_found,
                fmt::format("skill '{}' has no supporting files (only <name>/SKILL.md skills "
                            "have a folder)",
                            skill.name));
  }
  std::shared_ptr<const Workspace> folder = skill.folder;
  if (!folder) {
    auto opened = Workspace::open(skill.directory);
    if (!opened) return fail(std::move(opened.error()));
    folder = std::make_shared<const Workspace>(std::move(*opened));
  }
  std::string what = fmt::format("folder of skill '{}'", skill.name);
  if (rel.empty() || rel.find('\0') != std::string_view::npos) {
    return fail(ErrorType::invalid_input, fmt::format("invalid path '{}' in the {}", rel, what));
  }
  auto normal = folder->to_relative(rel);
  if (!normal || (!rel.empty() && rel.front() == '/')) {
    return fail(ErrorType::permission,
                fmt::format("path '{}' escapes the {} ({})", rel, what, skill.directory.string()),
                json_object{{"path", rel}, {"directory", skill.directory.string()}});
  }
  // One open beneath the folder's descriptor, non-blocking, regular files only, size-capped:
  // a component swapped for a symlink or a FIFO is refused, never followed or waited on.
  auto text = folder->read_file(*normal, std::size_t{4} << 20);
  if (!text) {
    Error e = std::move(text.error());
    if (e.type == ErrorType::permission) {
      e.message = fmt::format("path '{}' escapes the {} ({})", rel, what, skill.directory.string());
    } else if (e.type == ErrorType::invalid_input &&
               e.message.find("is a directory") != std::string::npos) {
      e.message = fmt::format("'{}' is a folder of skill '{}', not a file", rel, skill.name);
    } else if (e.type == ErrorType::not_found) {
      e.message = fmt::format("'{}' not found in the {} ({})", rel, what, skill.directory.string());
    }
    return fail(std::move(e));
  }
  return text;
}

std::string skill_resource_virtual_path(const Skill& skill, std::string_view rel) {
  return fmt::format("/.skills/{}/{}", skill.name, rel);
}

std::string render_skill_prompt(const Skill& skill, const json& args, const json& result_schema) {
  std::vector<std::string> parts;
  std::string instructions = project_detail::trim(skill.instructions);
  if (!instructions.empty()) parts.push_back(std::move(instructions));
  if (!skill.directory.empty() && !skill.resources.empty()) {
    std::string files =
        "This skill has supporting files; read them with the `read` tool when you need them:";
    for (const std::string& r : skill.resources) {
      files += "\n- " + skill_resource_virtual_path(skill, r);
    }
    parts.push_back(std::move(files));
  }
  bool no_args = args.is_null() || (args.is_object() && args.get_object().empty());
  if (!no_args) parts.push_back("Arguments:\n" + dump_pretty(args, true));
  if (!result_schema.is_null()) {
    parts.push_back("Return the final answer as JSON that satisfies this JSON schema:\n" +
                    dump_pretty(result_schema, true));
  }
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += "\n\n";
    out += p;
  }
  return out;
}

}  // namespace cppflue
