// SPDX-License-Identifier: Apache-2.0
// model/wire_common.hpp — private helpers shared by the four wire codecs (not installed).
//
// URL joining, header assembly, argument parsing, provider error-body decoding, the
// "malformed payload" error every decoder reports, and `ResponseBuilder`, the accumulator the
// streaming decoders fill in as events arrive.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/model/wire.hpp"

namespace cppflue::wire {

// The codec singletons, one per wire_<api>.cpp.
const WireCodec& openai_chat_codec();
const WireCodec& openai_responses_codec();
const WireCodec& anthropic_codec();
const WireCodec& gemini_codec();

// `base` + `path` with exactly one slash between them, whatever the base ends with.
std::string join_url(std::string_view base, std::string_view path);
// Base URL without trailing slashes.
std::string_view trim_base(std::string_view base);
bool ends_with(std::string_view s, std::string_view suffix);
// True for OpenAI's own API (https://api.openai.com/...), where parameters that compatible
// servers may refuse (prompt_cache_key) are sent.
bool is_openai_api(std::string_view base_url);

// content-type first, then the auth header (when the key is non-empty), then extra headers.
HttpHeaders make_headers(const WireEndpoint& endpoint, std::string_view auth_name,
                         std::string auth_value);

// The text a tool call's arguments are sent as: the model's own text when we have it.
std::string arguments_text(const ToolCall& call);
// The arguments as a JSON object (APIs that take an object, e.g. Anthropic `input`).
json arguments_object(const ToolCall& call);
// Fills `arguments` from `raw_arguments`: empty text is `{}`, invalid JSON is null.
void set_arguments_from_raw(ToolCall& call);

// "call_<hex>" for APIs that may omit tool call ids.
std::string generate_call_id();

// An `Image` as a URL: `url` as is, or a data: URL built from the base64 data.
std::string image_url(const Image& image);
// Splits a data: URL ("data:image/png;base64,AAAA") into mime type and base64 data.
bool split_data_url(std::string_view url, std::string& mime_type, std::string& data);

// The provider_data sub-object this API stored on a message or tool call (null when absent).
const json* provider_part(const json& provider_data, std::string_view api_key);

// A decoding failure: provider_error "<api> <what>: <problem>".
Error malformed(WireApi api, std::string_view what, std::string_view problem);
// Parses `text` as JSON, failing with `malformed(api, what, ...)`.
Result<json> parse_payload(WireApi api, std::string_view what, std::string_view text);

// Integer at `path` (slash-separated), 0 when absent or not a number.
std::int64_t int_at(const json& root, std::string_view path);
// String at `key`, empty when absent or not a string.
std::string str(const json& obj, std::string_view key);
// String at `key` of a payload field the decoder relies on: absent or null is "", another kind
// is a `malformed` error naming `what` and the key.
Result<std::string> text_field(WireApi api, std::string_view what, const json& obj,
                               std::string_view key);

// Shared HTTP error decoding (the error-body shapes of all four APIs are close enough).
Error decode_http_error(WireApi api, int status, std::string_view body);
// An error the provider reported inside a 200 answer (an SSE error event, an `error` member):
// `payload` is the error envelope ({"error": {...}} or the error object itself). The HTTP
// status is inferred from the provider's error type/code when possible (Anthropic
// overloaded_error -> 529, rate limits -> 429, ...), else left out.
Error in_band_error(WireApi api, const json& payload);

// Thinking budgets (tokens) used by the budget-based APIs.
int anthropic_thinking_budget(ThinkingLevel level);
int gemini_thinking_budget(ThinkingLevel level);

// Accumulates a streamed answer. Tool calls are kept by the API's own index (Chat Completions
// `index`, Responses `output_index`, Anthropic content block index, Gemini part order) and come
// out in index order.
class ResponseBuilder {
 public:
  struct PendingCall {
    ToolCall call;
    std::string args;  // argument text as streamed
  };

  void append_text(std::string_view s, std::vector<ModelDelta>& out);
  void append_thinking(std::string_view s, std::vector<ModelDelta>& out);
  // Creates the call at `index` if needed (emitting a tool_call delta once the name is known).
  PendingCall& call(int index);
  void set_call_name(int index, std::string_view name, std::vector<ModelDelta>& out);
  void append_call_args(int index, std::string_view fragment);
  bool has_calls() const { return !calls_.empty(); }

  // The answer so far; a tool call that never got a name is a malformed stream.
  Result<ModelResponse> build(WireApi api);

  std::string text;
  std::string thinking;
  Usage usage;
  std::string model;
  std::string id;
  std::string raw_finish;
  FinishReason finish = FinishReason::unknown;
  bool finished = false;  // the API said the answer is complete
  json provider_data = nullptr;

 private:
  std::map<int, PendingCall> calls_;
  std::map<int, bool> announced_;
};

}  // namespace cppflue::wire
