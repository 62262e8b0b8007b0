// SPDX-License-Identifier: Apache-2.0
// Skills (docs/concepts/skills-and-roles.md): looking one up, the catalogue in the system
// prompt, the `activate_skill` tool the model calls, and the operation of session.skill.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cppflue/schema/validator.hpp"
#include "session_internal.hpp"

namespace cppflue {

Result<Skill> AgentImpl::find_skill(const std::string& name) const {
  if (auto it = skills->find(name); it != skills->end()) return it->second;
  if (name.find('/') != std::string::npos || name.ends_with(".md")) {
    return load_skill_by_path(config.root / ".agents" / "skills", name);
  }
  std::vector<std::string> names;
  for (const auto& [k, v] : *skills) names.push_back(k);
  return fail(ErrorType::not_found,
              fmt::format("unknown skill '{}' (available: {})", name, join_or_none(names)),
              json_object{{"skill", name}});
}

// `activate_skill`: the model runs a skill of the catalogue on its own; the result is the
// skill's rendered instructions for it to follow.
ToolDefinition activate_skill_tool(std::shared_ptr<const SkillSet> skills) {
  json_array names;
  for (const auto& [name, skill] : *skills) names.push_back(json(name));
  ToolDefinition t;
  t.name = "activate_skill";
  t.description =
      "Load one of the skills listed in the system prompt: returns its instructions (and the "
      "supporting files you can read), which you then follow.";
  t.parameters = json_object{
      {"type", "object"},
      {"properties",
       json_object{
           {"name", json_object{{"type", "string"}, {"enum", std::move(names)}}},
           {"args", json_object{{"type", "object"},
                                {"description", "Arguments for the skill, if it takes any"}}}}},
      {"required", json_array{"name"}}};
  t.execute = [skills = std::move(skills)](const json& args, ToolContext&) -> json {
    auto name = get_string(args, "name");
    auto it = name ? skills->find(*name) : skills->end();
    if (it == skills->end()) {
      std::vector<std::string> all;
      for (const auto& [k, v] : *skills) all.push_back(k);
      throw Exception(make_error(ErrorType::invalid_input,
                                 fmt::format("activate_skill: unknown skill '{}' (available: {})",
                                             name.value_or(""), fmt::join(all, ", "))));
    }
    json call_args = json_object{};
    if (const json* a = find(args, "args"); a && !a->is_null()) call_args = *a;
    if (it->second.input_schema.is_object()) {
      auto validator = SchemaValidator::compile(it->second.input_schema);
      if (!validator) throw Exception(validator.error());
      if (auto errors = validator->validate(call_args); !errors.empty()) {
        throw Exception(make_error(ErrorType::invalid_input,
                                   fmt::format("activate_skill '{}': invalid args:\n{}", it->first,
                                               format_path_errors(errors))));
      }
    }
    return json(render_skill_prompt(it->second, call_args, it->second.output_schema));
  };
  return t;
}

// The skill catalogue shown to the model: name and description of each skill.
std::string skill_catalogue(const SkillSet& skills) {
  if (skills.empty()) return {};
  std::string text =
      "\n\nSkills (call activate_skill with a name to load its instructions when a task fits):";
  for (const auto& [name, skill] : skills) {
    text += fmt::format(
        "\n- {}: {}", name,
        skill.description.empty() ? std::string("(no description)") : skill.description);
  }
  return text;
}

OperationSpec SessionImpl::skill_operation(const std::string& name, json args,
                                           PromptOptions options) const {
  auto found = agent->find_skill(name);
  if (!found) throw Exception(found.error());
  const Skill& sk = *found;
  if (args.is_null()) args = json_object{};
  if (sk.input_schema.is_object()) {
    auto validator = SchemaValidator::compile(sk.input_schema);
    if (!validator) {
      Error e = validator.error();
      e.message = fmt::format("skill '{}': input_schema: {}", sk.name, e.message);
      throw Exception(std::move(e));
    }
    if (auto errors = validator->validate(args); !errors.empty()) {
      throw Exception(make_error(
          ErrorType::invalid_input,
          fmt::format("skill '{}': invalid arguments:\n{}", sk.name, format_path_errors(errors)),
          json_object{{"skill", sk.name}, {"errors", path_errors_to_json(errors)}}));
    }
  }
  if (options.result_schema.is_null() && !options.result_check && sk.output_schema.is_object()) {
    options.result_schema = sk.output_schema;
  }
  std::string text = render_skill_prompt(sk, args, options.result_schema);
  return OperationSpec{"skill", std::move(text), std::move(options), false, nullptr, {}};
}

}  // namespace cppflue
