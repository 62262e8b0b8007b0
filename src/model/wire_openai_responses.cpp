// SPDX-License-Identifier: Apache-2.0
// OpenAI Responses (POST {base}/responses).
//
// Reasoning items come back as opaque output items that must be replayed verbatim before the
// items they led to; they are kept in Message.provider_data {"openai_responses": {"reasoning":
// [items]}}. Function call item ids ("fc_...") are kept in ToolCall.provider_data {"item_id"}.
#include <fmt/format.h>

#include "model/wire_common.hpp"

namespace cppflue::wire {
namespace {

constexpr WireApi kApi = WireApi::openai_responses;
constexpr std::string_view kProviderKey = "openai_responses";

void encode_message(const Message& m, json_array& input) {
  switch (m.role) {
    case Role::system:
      input.push_back(json_object{{"role", "system"}, {"content", m.text}});
      return;
    case Role::user: {
      json_array parts;
      if (!m.text.empty() || m.images.empty()) {
        parts.push_back(json_object{{"type", "input_text"}, {"text", m.text}});
      }
      for (const auto& img : m.images) {
        parts.push_back(json_object{{"type", "input_image"}, {"image_url", image_url(img)}});
      }
      input.push_back(json_object{{"role", "user"}, {"content", std::move(parts)}});
      return;
    }
    case Role::assistant: {
      if (const json* pd = provider_part(m.provider_data, kProviderKey)) {
        if (const json* items = find(*pd, "reasoning"); items && items->is_array()) {
          for (const auto& item : items->get_array()) input.push_back(item);
        }
      }
      if (!m.text.empty()) {
        input.push_back(json_object{
            {"type", "message"},
            {"role", "assistant"},
            {"content", json_array{json_object{{"type", "output_text"}, {"text", m.text}}}}});
      }
      for (const auto& tc : m.tool_calls) {
        json_object item{{"type", "function_call"},
                         {"call_id", tc.id},
                         {"name", tc.name},
                         {"arguments", arguments_text(tc)}};
        if (auto item_id = get_string(tc.provider_data, "item_id")) item["id"] = *item_id;
        input.push_back(std::move(item));
      }
      return;
    }
    case Role::tool:
      input.push_back(json_object{
          {"type", "function_call_output"}, {"call_id", m.tool_call_id}, {"output", m.text}});
      return;
  }
}

std::string reasoning_text(const json& item) {
  std::string out;
  auto add = [&](const json* parts) {
    if (!parts || !parts->is_array()) return;
    for (const auto& p : parts->get_array()) {
      std::string t = str(p, "text");
      if (t.empty()) continue;
      if (!out.empty()) out += "\n\n";
      out += t;
    }
  };
  add(find(item, "summary"));
  add(find(item, "content"));  // raw reasoning text (open-weight models)
  return out;
}

// A "message" output item: its output_text and refusal parts are the answer's text.
Result<void> add_message_text(const json& item, std::string_view what, ResponseBuilder& b) {
  const json* content = find(item, "content");
  if (!content || !content->is_array()) return {};
  for (const auto& part : content->get_array()) {
    std::string ptype = str(part, "type");
    if (ptype != "output_text" && ptype != "refusal") continue;
    auto t = text_field(kApi, what, part, ptype == "refusal" ? "refusal" : "text");
    if (!t) return fail(t.error());
    b.text += *t;
  }
  return {};
}

// A "function_call" output item, kept by its output index; its "fc_..." item id is kept too.
Result<void> add_function_call(const json& item, int index, std::string_view what,
                               ResponseBuilder& b) {
  std::string name = str(item, "name");
  if (name.empty()) {
    return fail(malformed(kApi, what, fmt::format("output[{}] function_call has no name", index)));
  }
  std::vector<ModelDelta> ignored;
  auto& pending = b.call(index);
  pending.call.id = str(item, "call_id");
  if (pending.call.id.empty()) pending.call.id = str(item, "id");
  b.set_call_name(index, name, ignored);
  pending.call.raw_arguments = str(item, "arguments");
  if (auto item_id = get_string(item, "id")) {
    pending.call.provider_data = json_object{{"item_id", *item_id}};
  }
  return {};
}

// The Response's "output" items; reasoning items are kept verbatim for replay.
Result<void> add_output_items(const json_array& output, std::string_view what, ResponseBuilder& b) {
  json_array reasoning;
  int index = 0;
  for (const auto& item : output) {
    std::string type = str(item, "type");
    if (type == "message") {
      if (auto r = add_message_text(item, what, b); !r) return r;
    } else if (type == "function_call") {
      if (auto r = add_function_call(item, index, what, b); !r) return r;
    } else if (type == "reasoning") {
      std::string t = reasoning_text(item);
      if (!t.empty()) {
        if (!b.thinking.empty()) b.thinking += "\n\n";
        b.thinking += t;
      }
      reasoning.push_back(item);
    }
    ++index;
  }
  if (!reasoning.empty()) {
    b.provider_data = json_object{{kProviderKey, json_object{{"reasoning", std::move(reasoning)}}}};
  }
  return {};
}

// "completed" is a normal stop; "incomplete" names its reason (max tokens, content filter).
void set_finish(const json& root, const std::string& status, ResponseBuilder& b) {
  b.raw_finish = status;
  if (status == "completed") {
    b.finish = FinishReason::stop;
  } else if (status == "incomplete") {
    std::string reason;
    if (const json* d = find(root, "incomplete_details"); d && d->is_object()) {
      reason = str(*d, "reason");
    }
    if (!reason.empty()) b.raw_finish = reason;
    b.finish = reason == "content_filter" ? FinishReason::content_filter : FinishReason::length;
  }
}

void read_usage(const json& u, Usage& usage) {
  usage.input = int_at(u, "input_tokens");
  usage.cache_read = int_at(u, "input_tokens_details/cached_tokens");
  usage.output = int_at(u, "output_tokens");
  usage.total_tokens = int_at(u, "total_tokens");
  if (usage.total_tokens == 0) usage.total_tokens = usage.input + usage.output;
}

// Decodes a complete Response object (the non-streaming body, or the one carried by
// response.completed / response.incomplete).
Result<ModelResponse> decode_response(const json& root, std::string_view what) {
  if (!root.is_object()) {
    return fail(
        malformed(kApi, what, fmt::format("expected a JSON object, got {}", kind_name(root))));
  }
  std::string status = str(root, "status");
  if (const json* err = find(root, "error"); err && err->is_object()) {
    return fail(in_band_error(kApi, root));
  }
  if (status == "failed" || status == "cancelled") {
    return fail(make_error(ErrorType::provider_error,
                           fmt::format("{} error: response {}", wire_api_name(kApi), status),
                           json_object{{"provider_type", status}}));
  }
  const json* output = find(root, "output");
  if (!output || !output->is_array()) {
    return fail(malformed(kApi, what, "missing \"output\" array"));
  }
  ResponseBuilder b;
  b.id = str(root, "id");
  b.model = str(root, "model");
  if (auto r = add_output_items(output->get_array(), what, b); !r) return fail(r.error());
  set_finish(root, status, b);
  if (const json* u = find(root, "usage"); u && u->is_object()) read_usage(*u, b.usage);
  return b.build(kApi);
}

class ResponsesStreamDecoder final : public StreamDecoder {
 public:
  Result<void> on_event(const SseEvent& event, std::vector<ModelDelta>& out) override {
    if (event.data.empty() || event.data == "[DONE]") return {};
    std::string what = event.event.empty() ? "stream event" : "event " + event.event;
    auto parsed = parse_payload(kApi, what, event.data);
    if (!parsed) return fail(parsed.error());
    const json& ev = *parsed;
    if (!ev.is_object()) {
      return fail(
          malformed(kApi, what, fmt::format("expected a JSON object, got {}", kind_name(ev))));
    }
    std::string type = str(ev, "type");
    if (type.empty()) type = event.event;
    what = "event " + type;

    if (type == "error") return fail(in_band_error(kApi, ev));
    if (type == "response.failed") return fail(failure_of(ev));
    if (type == "response.completed" || type == "response.incomplete") {
      return on_response_done(ev, what);
    }
    if (type == "response.created" || type == "response.in_progress") {
      on_response_started(ev);
      return {};
    }
    int index = static_cast<int>(get_int(ev, "output_index").value_or(-1));
    auto delta = text_field(kApi, what, ev, "delta");
    if (!delta) return fail(delta.error());
    if (type == "response.output_text.delta" || type == "response.refusal.delta") {
      b_.append_text(*delta, out);
    } else if (type == "response.reasoning_summary_text.delta" ||
               type == "response.reasoning_text.delta") {
      on_reasoning_delta(ev, index, *delta, out);
    } else if (type == "response.output_item.added" || type == "response.output_item.done") {
      return on_output_item(ev, type, what, index, out);
    } else if (type == "response.function_call_arguments.delta" ||
               type == "response.function_call_arguments.done") {
      return on_call_arguments(ev, type, what, index, *delta);
    }
    return {};
  }

  Result<ModelResponse> finish() override {
    if (!final_) {
      return fail(malformed(kApi, "stream",
                            "stream ended before the response was complete (no "
                            "response.completed event)"));
    }
    ModelResponse r = std::move(*final_);
    // Some compatible servers send a final response without its output: use what streamed.
    if (r.message.text.empty() && r.message.tool_calls.empty() && r.message.thinking.empty()) {
      if (!reasoning_.empty()) {
        b_.provider_data =
            json_object{{kProviderKey, json_object{{"reasoning", std::move(reasoning_)}}}};
      }
      auto streamed = b_.build(kApi);
      if (!streamed) return streamed;
      r.message = std::move(streamed->message);
      if (!r.message.tool_calls.empty() && r.finish_reason == FinishReason::stop) {
        r.finish_reason = FinishReason::tool_calls;
      }
    }
    return r;
  }

 private:
  // response.failed: the response's own error when it has one.
  static Error failure_of(const json& ev) {
    const json* resp = find(ev, "response");
    if (resp && find(*resp, "error")) return in_band_error(kApi, *resp);
    return make_error(ErrorType::provider_error,
                      fmt::format("{} error: response failed", wire_api_name(kApi)));
  }

  // response.completed / response.incomplete carry the whole Response.
  Result<void> on_response_done(const json& ev, const std::string& what) {
    const json* resp = find(ev, "response");
    if (!resp) return fail(malformed(kApi, what, "missing \"response\""));
    auto r = decode_response(*resp, what);
    if (!r) return fail(r.error());
    final_ = std::move(*r);
    return {};
  }

  void on_response_started(const json& ev) {
    if (const json* resp = find(ev, "response")) {
      b_.id = str(*resp, "id");
      b_.model = str(*resp, "model");
    }
  }

  void on_reasoning_delta(const json& ev, int index, const std::string& delta,
                          std::vector<ModelDelta>& out) {
    // Summary parts are separate paragraphs.
    auto part = std::make_pair(index, get_int(ev, "summary_index").value_or(-1));
    if (!b_.thinking.empty() && part != last_thinking_part_) b_.append_thinking("\n\n", out);
    last_thinking_part_ = part;
    b_.append_thinking(delta, out);
  }

  // response.output_item.added / .done: function calls start (and, when done, carry their
  // arguments); finished reasoning items are kept for replay.
  Result<void> on_output_item(const json& ev, const std::string& type, const std::string& what,
                              int index, std::vector<ModelDelta>& out) {
    const json* item = find(ev, "item");
    if (!item || !item->is_object()) return fail(malformed(kApi, what, "missing \"item\""));
    if (index < 0) return fail(malformed(kApi, what, "missing \"output_index\""));
    std::string item_type = str(*item, "type");
    if (item_type == "function_call") {
      auto& pending = b_.call(index);
      if (auto id = get_string(*item, "call_id")) pending.call.id = *id;
      if (auto id = get_string(*item, "id")) {
        pending.call.provider_data = json_object{{"item_id", *id}};
        item_index_[*id] = index;
      }
      b_.set_call_name(index, str(*item, "name"), out);
      if (type == "response.output_item.done") {
        if (auto args = get_string(*item, "arguments")) pending.args = *args;
      }
    } else if (item_type == "reasoning" && type == "response.output_item.done") {
      reasoning_.push_back(*item);
    }
    return {};
  }

  // response.function_call_arguments.delta / .done; the call is found by its item id when
  // the event has no output_index.
  Result<void> on_call_arguments(const json& ev, const std::string& type, const std::string& what,
                                 int index, const std::string& delta) {
    if (index < 0) {
      auto it = item_index_.find(str(ev, "item_id"));
      if (it == item_index_.end()) {
        return fail(malformed(kApi, what, "arguments for an unknown function call"));
      }
      index = it->second;
    }
    if (type == "response.function_call_arguments.delta") {
      b_.append_call_args(index, delta);
    } else if (auto args = get_string(ev, "arguments")) {
      b_.call(index).args = *args;
    }
    return {};
  }

  ResponseBuilder b_;
  std::optional<ModelResponse> final_;
  json_array reasoning_;
  std::map<std::string, int> item_index_;
  std::pair<int, std::int64_t> last_thinking_part_{-2, -2};
};

class OpenAIResponsesCodec final : public WireCodec {
 public:
  WireApi api() const override { return kApi; }

  EncodedRequest encode(const ModelRequest& req, const WireEndpoint& ep) const override {
    EncodedRequest out;
    out.url = join_url(ep.base_url, "responses");
    out.headers = make_headers(ep, "Authorization", "Bearer " + ep.api_key);
    json_object body{{"model", req.model}};
    if (!req.system.empty()) body["instructions"] = req.system;
    json_array input;
    for (const auto& m : req.messages) encode_message(m, input);
    body["input"] = std::move(input);
    if (!req.tools.empty()) {
      json_array tools;
      for (const auto& t : req.tools) {
        tools.push_back(json_object{{"type", "function"},
                                    {"name", t.name},
                                    {"description", t.description},
                                    {"parameters", t.parameters},
                                    {"strict", false}});
      }
      body["tools"] = std::move(tools);
    }
    if (req.thinking && *req.thinking != ThinkingLevel::off) {
      body["reasoning"] =
          json_object{{"effort", thinking_level_name(*req.thinking)}, {"summary", "auto"}};
      // Lets reasoning items be replayed even when the account does not store responses.
      body["include"] = json_array{"reasoning.encrypted_content"};
    }
    if (req.output) {
      body["text"] = json_object{{"format", json_object{{"type", "json_schema"},
                                                        {"name", req.output->name},
                                                        {"schema", req.output->schema},
                                                        {"strict", req.output->strict}}}};
    }
    if (req.max_output_tokens > 0) body["max_output_tokens"] = req.max_output_tokens;
    if (req.prompt_cache && !req.cache_key.empty() && is_openai_api(ep.base_url)) {
      body["prompt_cache_key"] = req.cache_key;
    }
    body["stream"] = req.stream;
    out.body = std::move(body);
    return out;
  }

  Result<ModelResponse> decode(std::string_view text) const override {
    auto parsed = parse_payload(kApi, "response body", text);
    if (!parsed) return fail(parsed.error());
    return decode_response(*parsed, "response body");
  }

  std::unique_ptr<StreamDecoder> stream_decoder() const override {
    return std::make_unique<ResponsesStreamDecoder>();
  }

  Error decode_error(int status, std::string_view body) const override {
    return decode_http_error(kApi, status, body);
  }
};

}  // namespace

const WireCodec& openai_responses_codec() {
  static const OpenAIResponsesCodec codec;
  return codec;
}

}  // namespace cppflue::wire
