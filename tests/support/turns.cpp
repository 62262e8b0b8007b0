// SPDX-License-Identifier: Apache-2.0
#include "support/turns.hpp"

namespace cppflue::testing {

ScriptedTurn text_turn(std::string text, Usage usage) {
  ScriptedTurn t;
  t.text = std::move(text);
  t.usage = usage;
  return t;
}

ScriptedTurn calls_turn(std::vector<ToolCall> calls, std::string text) {
  ScriptedTurn t;
  t.text = std::move(text);
  t.tool_calls = std::move(calls);
  return t;
}

ToolCall raw_tool_call(std::string id, std::string name, std::string raw_args) {
  ToolCall c;
  c.id = std::move(id);
  c.name = std::move(name);
  c.raw_arguments = std::move(raw_args);
  c.arguments = boost::json::parse(c.raw_arguments);
  return c;
}

Message user(std::string text) {
  Message m;
  m.role = Role::user;
  m.text = std::move(text);
  return m;
}

Message assistant(std::string text, std::vector<ToolCall> calls) {
  Message m;
  m.role = Role::assistant;
  m.text = std::move(text);
  m.tool_calls = std::move(calls);
  return m;
}

Message tool_result(std::string id, std::string name, std::string text, bool is_error) {
  Message m;
  m.role = Role::tool;
  m.tool_call_id = std::move(id);
  m.tool_name = std::move(name);
  m.text = std::move(text);
  m.is_error = is_error;
  return m;
}

}  // namespace cppflue::testing
