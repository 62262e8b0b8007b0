// SPDX-License-Identifier: Apache-2.0
// cppflue/model/offline_model.hpp — the deterministic in-process `test:` model.
//
// It plays a script of turns: each turn answers with text (streamed word by word), optional
// thinking, and optional tool calls. Within one prompt, turn k is chosen by counting the
// assistant messages since the last user message, so a tool-using exchange runs the same way
// every time. Text may use {{prompt}} (the last user text), {{tool_result}} (the latest tool
// results) and {{tools}} (the names of the tools offered). Every answer is prefixed with
// "[offline test model]" so it is never mistaken for a real model.
//
// `test:<name>` picks a built-in script (`demo`, `echo`); `test:<path>` (a path ending in
// .json, or any existing file) loads one:
//   {"turns": [{"text": "...", "tool_calls": [{"name": "glob", "arguments": {...}}]},
//              {"text": "Found: {{tool_result}}", "delay_ms": 0}]}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cppflue/model/model_client.hpp"

namespace cppflue {

inline constexpr std::string_view kOfflineMarker = "[offline test model]";

struct OfflineTurn {
  std::string text;
  std::string thinking;
  std::vector<ToolCall> tool_calls;
  int delay_ms = 0;           // pause before answering (to test streaming, abort, timeouts)
  std::string requires_tool;  // skip this turn when no tool of that name is offered
};

struct OfflineScript {
  std::vector<OfflineTurn> turns;
};

Result<OfflineScript> parse_offline_script(const json& j, std::string_view origin);
// Built-in name or script file path.
Result<OfflineScript> load_offline_script(std::string_view name_or_path);
std::shared_ptr<ModelClient> make_offline_model(OfflineScript script, std::string model_name);

}  // namespace cppflue
