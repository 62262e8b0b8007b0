// SPDX-License-Identifier: Apache-2.0
#include "support/conversation.hpp"

#include <fmt/format.h>

#include <map>

namespace cppflue::testing {

std::vector<std::string> ConversationView::roles() const {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.role);
  return out;
}

namespace {

std::string text_of(const json& content) {
  if (content.is_string()) return std::string(content.get_string());
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content.get_array()) {
      if (auto t = get_string(part, "text")) out += *t;
    }
  }
  return out;
}

void view_openai_chat(const json& body, ConversationView& v) {
  for (const auto& m : body.at("messages").as_array()) {
    std::string role = get_string_or(m, "role", "");
    if (role == "system" || role == "developer") {
      v.system += text_of(m.at("content"));
      continue;
    }
    ViewItem it;
    it.role = role == "tool" ? "tool" : role;
    if (const json* c = find(m, "content"); c && !c->is_null()) it.text = text_of(*c);
    if (role == "tool") it.call_id = get_string_or(m, "tool_call_id", "");
    if (const json* calls = find(m, "tool_calls"); calls && calls->is_array()) {
      for (const auto& c : calls->as_array()) {
        it.call_ids.push_back(get_string_or(c, "id", ""));
        it.call_args.push_back(get_string_or(c.at("function"), "arguments", ""));
        it.tool_name = get_string_or(c.at("function"), "name", "");
      }
    }
    v.items.push_back(it);
  }
  if (const json* tools = find(body, "tools")) {
    v.tools = *tools;
    for (const auto& t : tools->as_array())
      v.tool_names.push_back(get_string_or(t.at("function"), "name", ""));
  }
  v.stream = get_bool(body, "stream").value_or(false);
}

void view_responses(const json& body, ConversationView& v) {
  v.system = get_string_or(body, "instructions", "");
  for (const auto& item : body.at("input").as_array()) {
    std::string type = get_string_or(item, "type", "message");
    if (type == "message") {
      ViewItem it;
      it.role = get_string_or(item, "role", "");
      it.text = text_of(item.at("content"));
      v.items.push_back(it);
    } else if (type == "function_call") {
      // Consecutive calls belong to one assistant turn.
      if (v.items.empty() || v.items.back().role != "assistant" ||
          !v.items.back().call_ids.empty() || !v.items.back().text.empty()) {
        if (v.items.empty() || v.items.back().role != "assistant")
          v.items.push_back(ViewItem{"assistant"});
      }
      v.items.back().call_ids.push_back(get_string_or(item, "call_id", ""));
      v.items.back().call_args.push_back(get_string_or(item, "arguments", ""));
      v.items.back().tool_name = get_string_or(item, "name", "");
    } else if (type == "function_call_output") {
      ViewItem it;
      it.role = "tool";
      it.call_id = get_string_or(item, "call_id", "");
      it.text = get_string_or(item, "output", "");
      v.items.push_back(it);
    }
  }
  if (const json* tools = find(body, "tools")) {
    v.tools = *tools;
    for (const auto& t : tools->as_array()) v.tool_names.push_back(get_string_or(t, "name", ""));
  }
  v.stream = get_bool(body, "stream").value_or(false);
}

void view_anthropic(const json& body, ConversationView& v) {
  if (const json* s = find(body, "system")) v.system = text_of(*s);
  for (const auto& m : body.at("messages").as_array()) {
    std::string role = get_string_or(m, "role", "");
    const json& content = m.at("content");
    if (content.is_string()) {
      v.items.push_back(ViewItem{role, std::string(content.get_string())});
      continue;
    }
    ViewItem main{role};
    for (const auto& block : content.as_array()) {
      std::string type = get_string_or(block, "type", "");
      if (type == "text") {
        main.text += get_string_or(block, "text", "");
      } else if (type == "tool_use") {
        main.call_ids.push_back(get_string_or(block, "id", ""));
        main.call_args.push_back(dump(block.at("input")));
        main.tool_name = get_string_or(block, "name", "");
      } else if (type == "tool_result") {
        ViewItem t{"tool"};
        t.call_id = get_string_or(block, "tool_use_id", "");
        if (const json* c = find(block, "content")) t.text = text_of(*c);
        t.is_error = get_bool(block, "is_error").value_or(false);
        v.items.push_back(t);
      }
    }
    if (!main.text.empty() || !main.call_ids.empty() || role == "assistant")
      v.items.push_back(main);
  }
  if (const json* tools = find(body, "tools")) {
    v.tools = *tools;
    for (const auto& t : tools->as_array()) v.tool_names.push_back(get_string_or(t, "name", ""));
  }
  v.stream = get_bool(body, "stream").value_or(false);
}

void view_gemini(const json& body, ConversationView& v, std::string_view target) {
  if (const json* s = find_path(body, "systemInstruction/parts")) v.system = text_of(*s);
  for (const auto& c : body.at("contents").as_array()) {
    std::string role = get_string_or(c, "role", "user") == "model" ? "assistant" : "user";
    ViewItem main{role};
    for (const auto& part : c.at("parts").as_array()) {
      if (auto t = get_string(part, "text")) main.text += *t;
      if (const json* fc = find(part, "functionCall")) {
        main.call_ids.push_back(get_string_or(*fc, "id", get_string_or(*fc, "name", "")));
        main.call_args.push_back(find(*fc, "args") ? dump(fc->at("args")) : "{}");
        main.tool_name = get_string_or(*fc, "name", "");
      }
      if (const json* fr = find(part, "functionResponse")) {
        ViewItem t{"tool"};
        t.call_id = get_string_or(*fr, "id", get_string_or(*fr, "name", ""));
        t.tool_name = get_string_or(*fr, "name", "");
        t.text = find(*fr, "response") ? dump(fr->at("response")) : "";
        v.items.push_back(t);
      }
    }
    if (!main.text.empty() || !main.call_ids.empty()) v.items.push_back(main);
  }
  if (const json* tools = find(body, "tools")) {
    v.tools = *tools;
    for (const auto& group : tools->as_array()) {
      if (const json* decls = find(group, "functionDeclarations")) {
        for (const auto& d : decls->as_array())
          v.tool_names.push_back(get_string_or(d, "name", ""));
      }
    }
  }
  v.stream = target.find("streamGenerateContent") != std::string_view::npos;
}

}  // namespace

ConversationView view_request(WireApi api, const json& body, std::string_view target) {
  ConversationView v;
  switch (api) {
    case WireApi::openai_chat:
      view_openai_chat(body, v);
      break;
    case WireApi::openai_responses:
      view_responses(body, v);
      break;
    case WireApi::anthropic:
      view_anthropic(body, v);
      break;
    case WireApi::gemini:
      view_gemini(body, v, target);
      break;
  }
  return v;
}

std::string check_invariants(const ConversationView& view) {
  std::string problems;
  std::map<std::string, int> calls;
  std::map<std::string, int> answers;
  if (!view.items.empty() && view.items.front().role != "user") {
    problems += "conversation does not start with a user message; ";
  }
  for (const auto& it : view.items) {
    for (const auto& id : it.call_ids) {
      if (id.empty()) problems += "a tool call has no id; ";
      calls[id]++;
    }
    if (it.role == "tool") {
      if (!calls.count(it.call_id))
        problems += fmt::format("result for unknown call '{}'; ", it.call_id);
      answers[it.call_id]++;
    }
  }
  for (const auto& [id, n] : calls) {
    if (answers[id] != n)
      problems += fmt::format("call '{}' made {} times, answered {} times; ", id, n, answers[id]);
  }
  return problems;
}

}  // namespace cppflue::testing
