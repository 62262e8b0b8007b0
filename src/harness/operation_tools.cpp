// SPDX-License-Identifier: Apache-2.0
// The tools of one operation: its scope (sandbox, policy, grants, secrets, redaction) and the
// list offered to the model (built-ins, task, activate_skill, command tools, the agent's and
// the call's tools), checked and filtered by the agent's enabled tools.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "cppflue/core/runtime.hpp"
#include "session_internal.hpp"

namespace cppflue {

namespace {

bool valid_tool_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

}  // namespace

Result<void> check_tools(const std::vector<const ToolDefinition*>& tools,
                         const std::vector<const ToolDefinition*>& custom) {
  for (const auto* t : custom) {
    if (detail::is_builtin_tool_name(t->name)) {
      return fail(
          ErrorType::invalid_input,
          fmt::format("custom tool '{}' conflicts with a built-in tool (built-in tools: {})",
                      t->name, fmt::join(detail::builtin_tool_names(), ", ")));
    }
  }
  std::set<std::string> seen;
  for (const auto* t : tools) {
    if (!valid_tool_name(t->name)) {
      return fail(
          ErrorType::invalid_input,
          fmt::format("invalid tool name '{}': use 1-64 letters, digits, '_' or '-'", t->name));
    }
    if (!t->execute && !t->async_execute) {
      return fail(ErrorType::invalid_input,
                  fmt::format("tool '{}' has no execute function", t->name));
    }
    if (!seen.insert(t->name).second) {
      return fail(ErrorType::invalid_input, fmt::format("two tools are named '{}'", t->name));
    }
  }
  return {};
}

Result<std::shared_ptr<detail::ToolScope>> SessionImpl::make_scope(
    const std::vector<std::string>& secrets, const std::vector<std::string>& commands,
    const std::shared_ptr<Emitter>& emitter) {
  auto sb = get_sandbox();
  if (!sb) return fail(sb.error());
  auto granted = agent->resolve_secrets(secrets);
  if (!granted) return fail(granted.error());
  auto scope = std::make_shared<detail::ToolScope>();
  scope->sandbox = *sb;
  scope->file_policy = agent->file_policy;
  scope->shell_policy = agent->shell_policy;
  scope->grants = agent->grants;
  scope->grants.insert(scope->grants.end(), commands.begin(), commands.end());
  for (const auto& g : *granted) scope->secret_env[g.variable] = g.value;
  const auto& redactor = agent->redactor;
  scope->redactor = redactor;
  if (emitter) {
    if (!redactor->empty()) emitter->set_redactor(redactor);
    std::weak_ptr<Emitter> weak = emitter;
    scope->emit = [weak](const EventPayload& event) {
      if (auto e = weak.lock()) e->emit(event);
    };
  }
  scope->write_mutex = write_mutex;
  scope->skills = agent->skills;
  scope->executor = agent->runtime->executor();
  return scope;
}

Result<OperationTools> SessionImpl::operation_tools(
    const OperationSpec& spec, const ActiveOperation& op,
    const std::shared_ptr<detail::ToolScope>& scope,
    const std::vector<const Command*>& call_commands) {
  OperationTools out;
  auto& owned = out.owned;
  owned = detail::make_builtin_tools(scope);
  if (auto t = task_tool(op.emitter)) owned.push_back(std::move(*t));
  if (!agent->skills->empty()) owned.push_back(activate_skill_tool(agent->skills));
  std::size_t first_extra = owned.size();
  for (const auto& c : agent->command_tools) owned.push_back(detail::make_command_tool(c, scope));
  for (const auto* c : call_commands) {
    if (auto r = detail::check_command_definition(*c); !r) return fail(r.error());
    owned.push_back(detail::make_command_tool(*c, scope));
  }
  // Pointers only now that `owned` is complete (moving `out` keeps them valid).
  auto& tools = out.offered;
  std::vector<const ToolDefinition*> call_tools;
  for (const auto& t : owned) tools.push_back(&t);
  for (const auto& t : agent->tools) tools.push_back(&t);
  for (std::size_t i = first_extra; i < owned.size(); ++i) call_tools.push_back(&owned[i]);
  for (const auto& t : spec.options.tools) {
    tools.push_back(&t);
    call_tools.push_back(&t);
  }
  if (auto r = check_tools(tools, call_tools); !r) return fail(r.error());
  if (!agent->enabled_tools.empty()) {
    // The agent's tool list (e.g. a Markdown agent's `tools:`); tools passed with this call
    // are always offered.
    const auto& keep = agent->enabled_tools;
    std::erase_if(tools, [&](const ToolDefinition* t) {
      return std::find(keep.begin(), keep.end(), t->name) == keep.end() &&
             std::find(call_tools.begin(), call_tools.end(), t) == call_tools.end() &&
             t->name != "activate_skill";
    });
  }
  return out;
}

}  // namespace cppflue
