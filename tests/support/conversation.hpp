// SPDX-License-Identifier: Apache-2.0
// An API-neutral view of a request body sent to a model, for assertions in scenario tests,
// plus the invariants every request must satisfy (every tool call answered exactly once,
// no result without a call, the conversation starts with a user turn).
#pragma once

#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/model/wire.hpp"

namespace cppflue::testing {

struct ViewItem {
  std::string role;  // "user", "assistant", "tool"
  std::string text;
  std::string call_id;    // tool: the answered call; assistant: empty
  std::string tool_name;  // assistant tool call or tool result
  bool is_error = false;
  std::vector<std::string> call_ids;   // assistant: ids of its tool calls (Gemini: names)
  std::vector<std::string> call_args;  // assistant: argument JSON of each call
};

struct ConversationView {
  std::string system;
  std::vector<ViewItem> items;
  std::vector<std::string> tool_names;
  json tools;  // the raw tool definitions
  bool stream = false;
  std::vector<std::string> roles() const;
};

ConversationView view_request(WireApi api, const json& body, std::string_view target = "");

// Empty when fine; otherwise a description of every violated invariant.
std::string check_invariants(const ConversationView& view);

}  // namespace cppflue::testing
