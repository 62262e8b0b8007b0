// SPDX-License-Identifier: Apache-2.0
#include "support/wire_script.hpp"

#include <algorithm>

namespace cppflue::testing {
namespace {

constexpr std::int64_t kCreated = 1767225600;  // 2026-01-01, any fixed time will do

std::string args_text(const ToolCall& c) {
  if (!c.raw_arguments.empty()) return c.raw_arguments;
  return c.arguments.is_null() ? "{}" : dump(c.arguments);
}

json args_object(const ToolCall& c) {
  if (c.arguments.is_object()) return c.arguments;
  auto parsed = parse_json(c.raw_arguments);
  if (parsed && parsed->is_object()) return *parsed;
  return json_object{};
}

std::int64_t total_of(const Usage& u) {
  return u.total_tokens != 0 ? u.total_tokens : u.input + u.output;
}

std::string sse(const json& data, std::string_view event = {}) {
  std::string out;
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out += "\n";
  }
  out += "data: ";
  out += dump(data);
  out += "\n\n";
  return out;
}

// ---- OpenAI Chat Completions ----

std::string chat_finish(FinishReason f) {
  // Chat Completions uses our own names, except that it has no "unknown".
  return f == FinishReason::unknown ? "stop" : std::string(finish_reason_name(f));
}

json chat_usage(const Usage& u) {
  return json_object{{"prompt_tokens", u.input},
                     {"completion_tokens", u.output},
                     {"total_tokens", total_of(u)},
                     {"prompt_tokens_details", json_object{{"cached_tokens", u.cache_read}}},
                     {"completion_tokens_details", json_object{{"reasoning_tokens", 0}}}};
}

json chat_chunk(const ScriptedTurn& t, json delta, json finish = nullptr) {
  return json_object{{"id", "chatcmpl-fake"},
                     {"object", "chat.completion.chunk"},
                     {"created", kCreated},
                     {"model", t.model},
                     {"choices", json_array{json_object{{"index", 0},
                                                        {"delta", std::move(delta)},
                                                        {"logprobs", nullptr},
                                                        {"finish_reason", std::move(finish)}}}},
                     {"usage", nullptr}};
}

std::string chat_json(const ScriptedTurn& t) {
  json_object msg{{"role", "assistant"}};
  msg["content"] = t.text.empty() ? json(nullptr) : json(t.text);
  if (!t.thinking.empty()) msg["reasoning_content"] = t.thinking;
  msg["refusal"] = nullptr;
  if (!t.tool_calls.empty()) {
    json_array calls;
    for (const auto& c : t.tool_calls) {
      calls.push_back(
          json_object{{"id", c.id},
                      {"type", "function"},
                      {"function", json_object{{"name", c.name}, {"arguments", args_text(c)}}}});
    }
    msg["tool_calls"] = std::move(calls);
  }
  json body = json_object{
      {"id", "chatcmpl-fake"},
      {"object", "chat.completion"},
      {"created", kCreated},
      {"model", t.model},
      {"choices", json_array{json_object{{"index", 0},
                                         {"message", std::move(msg)},
                                         {"logprobs", nullptr},
                                         {"finish_reason", chat_finish(effective_finish(t))}}}},
      {"usage", chat_usage(t.usage)}};
  return dump(body);
}

std::vector<std::string> chat_sse(const ScriptedTurn& t, int fragments) {
  std::vector<std::string> out;
  out.push_back(sse(chat_chunk(t, json_object{{"role", "assistant"}, {"content", ""}})));
  for (const auto& piece : split_pieces(t.thinking, 3)) {
    out.push_back(sse(chat_chunk(t, json_object{{"reasoning_content", piece}})));
  }
  for (const auto& piece : split_pieces(t.text, 3)) {
    out.push_back(sse(chat_chunk(t, json_object{{"content", piece}})));
  }
  // Each call starts with its id and name, then the argument fragments of all calls
  // interleave (they are told apart by `index` only).
  std::vector<std::vector<std::string>> frags;
  for (std::size_t i = 0; i < t.tool_calls.size(); ++i) {
    const auto& c = t.tool_calls[i];
    json call = json_object{{"index", i},
                            {"id", c.id},
                            {"type", "function"},
                            {"function", json_object{{"name", c.name}, {"arguments", ""}}}};
    out.push_back(sse(chat_chunk(t, json_object{{"tool_calls", json_array{call}}})));
    frags.push_back(split_pieces(args_text(c), fragments));
  }
  for (int f = 0; f < fragments; ++f) {
    for (std::size_t i = 0; i < frags.size(); ++i) {
      if (static_cast<std::size_t>(f) >= frags[i].size()) continue;
      json call = json_object{{"index", i}, {"function", json_object{{"arguments", frags[i][f]}}}};
      out.push_back(sse(chat_chunk(t, json_object{{"tool_calls", json_array{call}}})));
    }
  }
  out.push_back(sse(chat_chunk(t, json_object{}, json(chat_finish(effective_finish(t))))));
  json usage_chunk = json_object{{"id", "chatcmpl-fake"},   {"object", "chat.completion.chunk"},
                                 {"created", kCreated},     {"model", t.model},
                                 {"choices", json_array{}}, {"usage", chat_usage(t.usage)}};
  out.push_back(sse(usage_chunk));
  out.push_back("data: [DONE]\n\n");
  return out;
}

// ---- OpenAI Responses ----

std::string fc_item_id(std::size_t i) {
  return "fc_fake_" + std::to_string(i);
}

json responses_object(const ScriptedTurn& t, bool complete) {
  FinishReason f = effective_finish(t);
  json_array output;
  if (complete) {
    if (!t.thinking.empty()) {
      output.push_back(json_object{
          {"id", "rs_fake"},
          {"type", "reasoning"},
          {"summary", json_array{json_object{{"type", "summary_text"}, {"text", t.thinking}}}}});
    }
    if (!t.text.empty()) {
      output.push_back(
          json_object{{"id", "msg_fake"},
                      {"type", "message"},
                      {"status", "completed"},
                      {"role", "assistant"},
                      {"content", json_array{json_object{{"type", "output_text"},
                                                         {"text", t.text},
                                                         {"annotations", json_array{}},
                                                         {"logprobs", json_array{}}}}}});
    }
    for (std::size_t i = 0; i < t.tool_calls.size(); ++i) {
      const auto& c = t.tool_calls[i];
      output.push_back(json_object{{"id", fc_item_id(i)},
                                   {"type", "function_call"},
                                   {"status", "completed"},
                                   {"arguments", args_text(c)},
                                   {"call_id", c.id},
                                   {"name", c.name}});
    }
  }
  std::string status = "in_progress";
  json incomplete = nullptr;
  if (complete) {
    status = "completed";
    if (f == FinishReason::length) {
      status = "incomplete";
      incomplete = json_object{{"reason", "max_output_tokens"}};
    } else if (f == FinishReason::content_filter) {
      status = "incomplete";
      incomplete = json_object{{"reason", "content_filter"}};
    }
  }
  json usage = nullptr;
  if (complete) {
    usage =
        json_object{{"input_tokens", t.usage.input},
                    {"input_tokens_details", json_object{{"cached_tokens", t.usage.cache_read}}},
                    {"output_tokens", t.usage.output},
                    {"output_tokens_details", json_object{{"reasoning_tokens", 0}}},
                    {"total_tokens", total_of(t.usage)}};
  }
  return json_object{{"id", "resp_fake"},
                     {"object", "response"},
                     {"created_at", kCreated},
                     {"status", status},
                     {"error", nullptr},
                     {"incomplete_details", std::move(incomplete)},
                     {"instructions", nullptr},
                     {"model", t.model},
                     {"output", std::move(output)},
                     {"parallel_tool_calls", true},
                     {"tools", json_array{}},
                     {"usage", std::move(usage)}};
}

std::vector<std::string> responses_sse(const ScriptedTurn& t, int fragments) {
  std::vector<std::string> out;
  int seq = 0;
  auto emit = [&](std::string_view type, json_object fields) {
    json_object ev{{"type", type}, {"sequence_number", seq++}};
    for (auto& kv : fields) ev[kv.key()] = std::move(kv.value());
    out.push_back(sse(ev, type));
  };
  emit("response.created", {{"response", responses_object(t, false)}});
  emit("response.in_progress", {{"response", responses_object(t, false)}});
  int index = 0;
  if (!t.thinking.empty()) {
    json item = json_object{{"id", "rs_fake"}, {"type", "reasoning"}, {"summary", json_array{}}};
    emit("response.output_item.added", {{"output_index", index}, {"item", item}});
    json part = json_object{{"type", "summary_text"}, {"text", ""}};
    emit("response.reasoning_summary_part.added",
         {{"item_id", "rs_fake"}, {"output_index", index}, {"summary_index", 0}, {"part", part}});
    for (const auto& piece : split_pieces(t.thinking, 3)) {
      emit("response.reasoning_summary_text.delta", {{"item_id", "rs_fake"},
                                                     {"output_index", index},
                                                     {"summary_index", 0},
                                                     {"delta", piece}});
    }
    emit("response.reasoning_summary_text.done", {{"item_id", "rs_fake"},
                                                  {"output_index", index},
                                                  {"summary_index", 0},
                                                  {"text", t.thinking}});
    item.as_object()["summary"] =
        json_array{json_object{{"type", "summary_text"}, {"text", t.thinking}}};
    emit("response.output_item.done", {{"output_index", index}, {"item", item}});
    ++index;
  }
  if (!t.text.empty()) {
    json item = json_object{{"id", "msg_fake"},
                            {"type", "message"},
                            {"status", "in_progress"},
                            {"role", "assistant"},
                            {"content", json_array{}}};
    emit("response.output_item.added", {{"output_index", index}, {"item", item}});
    emit("response.content_part.added",
         {{"item_id", "msg_fake"},
          {"output_index", index},
          {"content_index", 0},
          {"part",
           json_object{{"type", "output_text"}, {"annotations", json_array{}}, {"text", ""}}}});
    for (const auto& piece : split_pieces(t.text, 3)) {
      emit("response.output_text.delta", {{"item_id", "msg_fake"},
                                          {"output_index", index},
                                          {"content_index", 0},
                                          {"delta", piece}});
    }
    emit(
        "response.output_text.done",
        {{"item_id", "msg_fake"}, {"output_index", index}, {"content_index", 0}, {"text", t.text}});
    json part =
        json_object{{"type", "output_text"}, {"annotations", json_array{}}, {"text", t.text}};
    emit("response.content_part.done",
         {{"item_id", "msg_fake"}, {"output_index", index}, {"content_index", 0}, {"part", part}});
    item.as_object()["status"] = "completed";
    item.as_object()["content"] = json_array{part};
    emit("response.output_item.done", {{"output_index", index}, {"item", item}});
    ++index;
  }
  int first_call = index;
  std::vector<std::vector<std::string>> frags;
  for (std::size_t i = 0; i < t.tool_calls.size(); ++i) {
    const auto& c = t.tool_calls[i];
    json item =
        json_object{{"id", fc_item_id(i)}, {"type", "function_call"}, {"status", "in_progress"},
                    {"arguments", ""},     {"call_id", c.id},         {"name", c.name}};
    emit("response.output_item.added",
         {{"output_index", first_call + static_cast<int>(i)}, {"item", item}});
    frags.push_back(split_pieces(args_text(c), fragments));
  }
  for (int f = 0; f < fragments; ++f) {
    for (std::size_t i = 0; i < frags.size(); ++i) {
      if (static_cast<std::size_t>(f) >= frags[i].size()) continue;
      emit("response.function_call_arguments.delta",
           {{"item_id", fc_item_id(i)},
            {"output_index", first_call + static_cast<int>(i)},
            {"delta", frags[i][f]}});
    }
  }
  for (std::size_t i = 0; i < t.tool_calls.size(); ++i) {
    const auto& c = t.tool_calls[i];
    int oi = first_call + static_cast<int>(i);
    emit("response.function_call_arguments.done",
         {{"item_id", fc_item_id(i)}, {"output_index", oi}, {"arguments", args_text(c)}});
    json item =
        json_object{{"id", fc_item_id(i)},       {"type", "function_call"}, {"status", "completed"},
                    {"arguments", args_text(c)}, {"call_id", c.id},         {"name", c.name}};
    emit("response.output_item.done", {{"output_index", oi}, {"item", item}});
  }
  json final_response = responses_object(t, true);
  bool incomplete = final_response.as_object()["status"] == "incomplete";
  emit(incomplete ? "response.incomplete" : "response.completed", {{"response", final_response}});
  return out;
}

// ---- Anthropic Messages ----

std::string anthropic_stop(FinishReason f) {
  switch (f) {
    case FinishReason::stop:
      return "end_turn";
    case FinishReason::tool_calls:
      return "tool_use";
    case FinishReason::length:
      return "max_tokens";
    case FinishReason::content_filter:
      return "refusal";
    case FinishReason::error:
    case FinishReason::unknown:
      return "pause_turn";
  }
  return "end_turn";
}

constexpr std::string_view kFakeSignature = "ZmFrZS1zaWduYXR1cmU=";

json anthropic_usage(const Usage& u, std::int64_t output) {
  std::int64_t uncached = std::max<std::int64_t>(0, u.input - u.cache_read - u.cache_write);
  return json_object{{"input_tokens", uncached},
                     {"cache_creation_input_tokens", u.cache_write},
                     {"cache_read_input_tokens", u.cache_read},
                     {"output_tokens", output}};
}

std::string anthropic_json(const ScriptedTurn& t) {
  json_array content;
  if (!t.thinking.empty()) {
    content.push_back(
        json_object{{"type", "thinking"}, {"thinking", t.thinking}, {"signature", kFakeSignature}});
  }
  if (!t.text.empty()) content.push_back(json_object{{"type", "text"}, {"text", t.text}});
  for (const auto& c : t.tool_calls) {
    content.push_back(json_object{
        {"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", args_object(c)}});
  }
  json body = json_object{{"id", "msg_fake"},
                          {"type", "message"},
                          {"role", "assistant"},
                          {"model", t.model},
                          {"content", std::move(content)},
                          {"stop_reason", anthropic_stop(effective_finish(t))},
                          {"stop_sequence", nullptr},
                          {"usage", anthropic_usage(t.usage, t.usage.output)}};
  return dump(body);
}

std::vector<std::string> anthropic_sse(const ScriptedTurn& t, int fragments) {
  std::vector<std::string> out;
  auto emit = [&](std::string_view type, json_object fields) {
    json_object ev{{"type", type}};
    for (auto& kv : fields) ev[kv.key()] = std::move(kv.value());
    out.push_back(sse(ev, type));
  };
  emit("message_start", {{"message", json_object{{"id", "msg_fake"},
                                                 {"type", "message"},
                                                 {"role", "assistant"},
                                                 {"model", t.model},
                                                 {"content", json_array{}},
                                                 {"stop_reason", nullptr},
                                                 {"stop_sequence", nullptr},
                                                 {"usage", anthropic_usage(t.usage, 1)}}}});
  out.push_back(sse(json_object{{"type", "ping"}}, "ping"));
  int index = 0;
  if (!t.thinking.empty()) {
    emit("content_block_start",
         {{"index", index},
          {"content_block",
           json_object{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}}});
    for (const auto& piece : split_pieces(t.thinking, 3)) {
      emit("content_block_delta",
           {{"index", index},
            {"delta", json_object{{"type", "thinking_delta"}, {"thinking", piece}}}});
    }
    emit("content_block_delta",
         {{"index", index},
          {"delta", json_object{{"type", "signature_delta"}, {"signature", kFakeSignature}}}});
    emit("content_block_stop", {{"index", index}});
    ++index;
  }
  if (!t.text.empty()) {
    emit("content_block_start",
         {{"index", index}, {"content_block", json_object{{"type", "text"}, {"text", ""}}}});
    for (const auto& piece : split_pieces(t.text, 3)) {
      emit("content_block_delta",
           {{"index", index}, {"delta", json_object{{"type", "text_delta"}, {"text", piece}}}});
    }
    emit("content_block_stop", {{"index", index}});
    ++index;
  }
  // Content blocks are strictly sequential in this API: one call after the other.
  for (const auto& c : t.tool_calls) {
    emit("content_block_start",
         {{"index", index},
          {"content_block",
           json_object{
               {"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", json_object{}}}}});
    for (const auto& piece : split_pieces(dump(args_object(c)), fragments)) {
      emit("content_block_delta",
           {{"index", index},
            {"delta", json_object{{"type", "input_json_delta"}, {"partial_json", piece}}}});
    }
    emit("content_block_stop", {{"index", index}});
    ++index;
  }
  emit("message_delta", {{"delta", json_object{{"stop_reason", anthropic_stop(effective_finish(t))},
                                               {"stop_sequence", nullptr}}},
                         {"usage", json_object{{"output_tokens", t.usage.output}}}});
  emit("message_stop", {});
  return out;
}

// ---- Gemini ----

std::string gemini_finish(FinishReason f) {
  switch (f) {
    case FinishReason::stop:
    case FinishReason::tool_calls:
      return "STOP";
    case FinishReason::length:
      return "MAX_TOKENS";
    case FinishReason::content_filter:
      return "SAFETY";
    case FinishReason::error:
      return "MALFORMED_FUNCTION_CALL";
    case FinishReason::unknown:
      return "OTHER";
  }
  return "STOP";
}

json gemini_usage(const Usage& u) {
  json_object o{{"promptTokenCount", u.input},
                {"candidatesTokenCount", u.output},
                {"totalTokenCount", total_of(u)}};
  if (u.cache_read != 0) o["cachedContentTokenCount"] = u.cache_read;
  return o;
}

json gemini_call_part(const ToolCall& c) {
  json_object fc{{"name", c.name}, {"args", args_object(c)}};
  if (!c.id.empty()) fc["id"] = c.id;
  return json_object{{"functionCall", std::move(fc)}};
}

json gemini_chunk(const ScriptedTurn& t, json_array parts, json finish, json usage) {
  json_object cand{{"content", json_object{{"parts", std::move(parts)}, {"role", "model"}}}};
  if (!finish.is_null()) cand["finishReason"] = std::move(finish);
  cand["index"] = 0;
  return json_object{{"candidates", json_array{std::move(cand)}},
                     {"usageMetadata", std::move(usage)},
                     {"modelVersion", t.model},
                     {"responseId", "fake-response"}};
}

std::string gemini_json(const ScriptedTurn& t) {
  json_array parts;
  if (!t.thinking.empty()) parts.push_back(json_object{{"text", t.thinking}, {"thought", true}});
  if (!t.text.empty()) parts.push_back(json_object{{"text", t.text}});
  for (const auto& c : t.tool_calls) parts.push_back(gemini_call_part(c));
  return dump(gemini_chunk(t, std::move(parts), json(gemini_finish(effective_finish(t))),
                           gemini_usage(t.usage)));
}

std::vector<std::string> gemini_sse(const ScriptedTurn& t) {
  std::vector<std::string> out;
  // Until the last chunk the usage only knows the prompt.
  json partial_usage =
      json_object{{"promptTokenCount", t.usage.input}, {"totalTokenCount", t.usage.input}};
  for (const auto& piece : split_pieces(t.thinking, 3)) {
    out.push_back(sse(gemini_chunk(t, json_array{json_object{{"text", piece}, {"thought", true}}},
                                   nullptr, partial_usage)));
  }
  for (const auto& piece : split_pieces(t.text, 3)) {
    out.push_back(
        sse(gemini_chunk(t, json_array{json_object{{"text", piece}}}, nullptr, partial_usage)));
  }
  for (const auto& c : t.tool_calls) {
    out.push_back(sse(gemini_chunk(t, json_array{gemini_call_part(c)}, nullptr, partial_usage)));
  }
  out.push_back(sse(gemini_chunk(t, json_array{json_object{{"text", ""}}},
                                 json(gemini_finish(effective_finish(t))), gemini_usage(t.usage))));
  return out;
}

}  // namespace

ToolCall tool_call(std::string id, std::string name, json args) {
  ToolCall c;
  c.id = std::move(id);
  c.name = std::move(name);
  c.raw_arguments = dump(args);
  c.arguments = std::move(args);
  return c;
}

FinishReason effective_finish(const ScriptedTurn& turn) {
  if (turn.finish == FinishReason::stop && !turn.tool_calls.empty()) {
    return FinishReason::tool_calls;
  }
  return turn.finish;
}

std::vector<std::string> split_pieces(const std::string& s, int n) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  if (n < 1) n = 1;
  std::size_t size = s.size();
  std::size_t start = 0;
  for (int i = 1; i <= n && start < size; ++i) {
    std::size_t end =
        i == n ? size : size * static_cast<std::size_t>(i) / static_cast<std::size_t>(n);
    // Never cut inside a UTF-8 sequence: continuation bytes are 10xxxxxx.
    while (end < size && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
    if (end <= start) continue;
    out.push_back(s.substr(start, end - start));
    start = end;
  }
  return out;
}

std::string response_json(WireApi api, const ScriptedTurn& turn) {
  switch (api) {
    case WireApi::openai_chat:
      return chat_json(turn);
    case WireApi::openai_responses:
      return dump(responses_object(turn, true));
    case WireApi::anthropic:
      return anthropic_json(turn);
    case WireApi::gemini:
      return gemini_json(turn);
  }
  return {};
}

std::vector<std::string> response_sse(WireApi api, const ScriptedTurn& turn, int arg_fragments) {
  switch (api) {
    case WireApi::openai_chat:
      return chat_sse(turn, arg_fragments);
    case WireApi::openai_responses:
      return responses_sse(turn, arg_fragments);
    case WireApi::anthropic:
      return anthropic_sse(turn, arg_fragments);
    case WireApi::gemini:
      return gemini_sse(turn);
  }
  return {};
}

std::string error_json(WireApi api, int status, std::string message) {
  switch (api) {
    case WireApi::openai_chat:
    case WireApi::openai_responses: {
      std::string type = "invalid_request_error";
      json code = nullptr;
      if (status == 401) code = "invalid_api_key";
      if (status == 429) {
        type = "requests";
        code = "rate_limit_exceeded";
      }
      if (status >= 500) type = "server_error";
      return dump(json_object{{"error", json_object{{"message", std::move(message)},
                                                    {"type", type},
                                                    {"param", nullptr},
                                                    {"code", std::move(code)}}}});
    }
    case WireApi::anthropic: {
      std::string type = "api_error";
      switch (status) {
        case 400:
          type = "invalid_request_error";
          break;
        case 401:
          type = "authentication_error";
          break;
        case 403:
          type = "permission_error";
          break;
        case 404:
          type = "not_found_error";
          break;
        case 413:
          type = "request_too_large";
          break;
        case 429:
          type = "rate_limit_error";
          break;
        case 529:
          type = "overloaded_error";
          break;
        default:
          break;
      }
      return dump(
          json_object{{"type", "error"},
                      {"error", json_object{{"type", type}, {"message", std::move(message)}}},
                      {"request_id", "req_fake"}});
    }
    case WireApi::gemini: {
      std::string s = "INTERNAL";
      switch (status) {
        case 400:
          s = "INVALID_ARGUMENT";
          break;
        case 401:
          s = "UNAUTHENTICATED";
          break;
        case 403:
          s = "PERMISSION_DENIED";
          break;
        case 404:
          s = "NOT_FOUND";
          break;
        case 429:
          s = "RESOURCE_EXHAUSTED";
          break;
        case 503:
          s = "UNAVAILABLE";
          break;
        case 504:
          s = "DEADLINE_EXCEEDED";
          break;
        default:
          break;
      }
      return dump(json_object{
          {"error",
           json_object{{"code", status}, {"message", std::move(message)}, {"status", s}}}});
    }
  }
  return {};
}

}  // namespace cppflue::testing
