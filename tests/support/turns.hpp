// SPDX-License-Identifier: Apache-2.0
// Builders shared by the tests that script a model: the turns a scripted provider answers with
// (see wire_script.hpp; tool calls are built with tool_call() there), and the conversation
// messages a request is made of.
#pragma once

#include <string>
#include <vector>

#include "cppflue/model/message.hpp"
#include "support/wire_script.hpp"

namespace cppflue::testing {

// A turn that answers with `text` and reports `usage`.
ScriptedTurn text_turn(std::string text, Usage usage = {});

// A turn that calls `calls` (sent with finish reason tool_calls), after `text` if any.
ScriptedTurn calls_turn(std::vector<ToolCall> calls, std::string text = {});

// A tool call whose argument text is `raw_args` verbatim (whitespace and key order kept); it
// must be JSON, and is parsed into `arguments`.
ToolCall raw_tool_call(std::string id, std::string name, std::string raw_args);

// Conversation messages.
Message user(std::string text);
Message assistant(std::string text, std::vector<ToolCall> calls = {});
Message tool_result(std::string id, std::string name, std::string text, bool is_error = false);

}  // namespace cppflue::testing
