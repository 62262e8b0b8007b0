// SPDX-License-Identifier: Apache-2.0
// cppflue/model/message.hpp — the structured conversation sent to models.
//
// These are provider-neutral value types: a `Message` is one system/user/assistant/tool
// message; assistant messages carry tool calls and thinking, tool messages carry one tool
// result. `ModelRequest` is one model call; `ModelResponse` is its decoded answer.
// `provider_data` fields keep opaque provider items that must be replayed verbatim
// (Anthropic thinking signatures, OpenAI Responses reasoning items, Gemini thought signatures).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue {

enum class Role { system, user, assistant, tool };
std::string_view role_name(Role r);

struct Image {
  std::string mime_type = "image/png";
  std::string data_base64;  // raw base64 (no data: prefix); or
  std::string url;          // an http(s) or data: URL
};

struct ToolCall {
  std::string id;
  std::string name;
  json arguments = json_object{};  // parsed arguments (an object when the model sent valid JSON)
  std::string raw_arguments;       // the exact argument text the model produced
  json provider_data = nullptr;    // e.g. Gemini {"thoughtSignature": "..."}
};

struct Message {
  Role role = Role::user;
  std::string text;                  // user text, assistant text, or tool result text
  std::vector<Image> images;         // user only
  std::string thinking;              // assistant reasoning text (if the API exposes it)
  std::vector<ToolCall> tool_calls;  // assistant only
  // tool messages:
  std::string tool_call_id;
  std::string tool_name;
  bool is_error = false;
  json provider_data = nullptr;  // assistant: opaque replay data (see file comment)
};

json to_json(const Message& m);
Result<Message> message_from_json(const json& j);

struct ToolSpec {
  std::string name;
  std::string description;
  json parameters = json_object{{"type", "object"}, {"properties", json_object{}}};
};

enum class ThinkingLevel { off, minimal, low, medium, high, xhigh };
std::string_view thinking_level_name(ThinkingLevel t);
Result<ThinkingLevel> parse_thinking_level(std::string_view s);

// A structured result requested natively (docs/concepts/typed-outputs.md). Chat Completions sends
// it as `response_format`, Responses as `text.format`, Gemini as `responseJsonSchema` (or, when the
// request also has tools, as a function); Anthropic as a tool named `name` that the model is
// made to call. In the tool forms the answer comes back as a call of the tool `name`, which the
// caller reads as the result.
struct OutputFormat {
  std::string name = "final_result";
  std::string description = "The final response which ends this conversation";
  json schema = json_object{{"type", "object"}};
  bool strict = false;  // OpenAI strict mode: only for schemas where every property is required
};

struct ModelRequest {
  std::string model;  // provider-side model id (no provider prefix)
  std::string system;
  std::vector<Message> messages;
  std::vector<ToolSpec> tools;
  std::optional<ThinkingLevel> thinking;  // nullopt: send nothing
  int max_output_tokens = 0;              // 0: API default (Anthropic needs one: 8192)
  bool stream = true;
  std::optional<OutputFormat> output;  // native structured output, when asked for
  // Prompt caching: Anthropic gets cache_control breakpoints (after the system prompt and
  // tools, and on the last message); OpenAI's own API gets `prompt_cache_key` = `cache_key`
  // (a stable, opaque key per session) when it is set.
  bool prompt_cache = true;
  std::string cache_key;
  // W3C trace context sent as `traceparent`/`tracestate` headers (empty: none).
  std::string traceparent;
  std::string tracestate;
  // Called before each retry of the call (attempt = the one that failed, from 1).
  std::function<void(int attempt, const Error& error, std::chrono::milliseconds delay)> on_retry;
};

// What tokens cost, in USD, from the price table (model/pricing.hpp).
struct Cost {
  double input = 0;  // the input tokens not read from or written to the cache
  double output = 0;
  double cache_read = 0;
  double cache_write = 0;
  double total = 0;
};

struct Usage {
  std::int64_t input = 0;  // every input token, cached ones included
  std::int64_t output = 0;
  std::int64_t cache_read = 0;   // input tokens read from the provider's prompt cache
  std::int64_t cache_write = 0;  // input tokens written to it (Anthropic)
  std::int64_t total_tokens = 0;
  // Absent when the model has no known price (never a made-up 0). A sum keeps a cost only
  // when every part it adds up had one.
  std::optional<Cost> cost;
  bool empty() const { return input == 0 && output == 0 && total_tokens == 0 && !cost; }
  Usage& operator+=(const Usage& o);
};
// {input, output, cache_read, cache_write, total_tokens, cost?:{input, output, cache_read,
// cache_write, total}}
json to_json(const Usage& u);
Usage usage_from_json(const json& j);

enum class FinishReason { stop, tool_calls, length, content_filter, error, unknown };
std::string_view finish_reason_name(FinishReason f);

struct ModelResponse {
  Message message;  // role assistant
  Usage usage;
  std::string model;  // model id the provider reports
  FinishReason finish_reason = FinishReason::unknown;
  std::string raw_finish_reason;  // the provider's own string
  std::string id;                 // provider response id
};

// An incremental piece of a streamed answer, for live display.
struct ModelDelta {
  enum class Kind { text, thinking, tool_call };
  Kind kind = Kind::text;
  std::string text;  // text / thinking fragment; for tool_call the tool name when it starts
  int index = 0;     // tool call index for tool_call
};

}  // namespace cppflue
