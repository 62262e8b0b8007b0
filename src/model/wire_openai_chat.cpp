// SPDX-License-Identifier: Apache-2.0
// OpenAI Chat Completions (POST {base}/chat/completions), also spoken by the OpenAI-compatible
// providers (Ollama, OpenRouter, Groq, DeepSeek, Gemini's compatibility endpoint, ...).
#include <fmt/format.h>

#include "model/wire_common.hpp"

namespace cppflue::wire {
namespace {

constexpr WireApi kApi = WireApi::openai_chat;

json encode_user(const Message& m) {
  if (m.images.empty()) return json_object{{"role", "user"}, {"content", m.text}};
  json_array parts;
  if (!m.text.empty()) parts.push_back(json_object{{"type", "text"}, {"text", m.text}});
  for (const auto& img : m.images) {
    parts.push_back(
        json_object{{"type", "image_url"}, {"image_url", json_object{{"url", image_url(img)}}}});
  }
  return json_object{{"role", "user"}, {"content", std::move(parts)}};
}

json encode_assistant(const Message& m) {
  // Reasoning text is not sent back: the API does not take it (DeepSeek even rejects it).
  json_object o{{"role", "assistant"}};
  o["content"] = m.text.empty() && !m.tool_calls.empty() ? json(nullptr) : json(m.text);
  if (!m.tool_calls.empty()) {
    json_array calls;
    for (const auto& tc : m.tool_calls) {
      calls.push_back(json_object{
          {"id", tc.id},
          {"type", "function"},
          {"function", json_object{{"name", tc.name}, {"arguments", arguments_text(tc)}}}});
    }
    o["tool_calls"] = std::move(calls);
  }
  return o;
}

FinishReason map_finish(std::string_view f) {
  if (f == "stop") return FinishReason::stop;
  if (f == "tool_calls" || f == "function_call") return FinishReason::tool_calls;
  if (f == "length") return FinishReason::length;
  if (f == "content_filter") return FinishReason::content_filter;
  return FinishReason::unknown;
}

void read_usage(const json& u, Usage& usage) {
  if (!u.is_object()) return;
  usage.input = int_at(u, "prompt_tokens");
  usage.output = int_at(u, "completion_tokens");
  usage.cache_read = int_at(u, "prompt_tokens_details/cached_tokens");
  usage.total_tokens = int_at(u, "total_tokens");
  if (usage.total_tokens == 0) usage.total_tokens = usage.input + usage.output;
}

// Reasoning text: DeepSeek/vLLM "reasoning_content", OpenRouter/Ollama "reasoning".
std::string reasoning_of(const json& obj) {
  std::string r = str(obj, "reasoning_content");
  if (r.empty()) r = str(obj, "reasoning");
  return r;
}

// Argument text of a tool call; some compatible servers send an object instead of a string.
std::string raw_args(const json& fn) {
  const json* a = find(fn, "arguments");
  if (!a || a->is_null()) return {};
  if (a->is_string()) return std::string(a->get_string());
  return dump(*a);
}

class ChatStreamDecoder final : public StreamDecoder {
 public:
  Result<void> on_event(const SseEvent& event, std::vector<ModelDelta>& out) override {
    std::string_view data = event.data;
    if (data.empty()) return {};
    if (data == "[DONE]") {
      done_ = true;
      return {};
    }
    auto parsed = parse_payload(kApi, "stream chunk", data);
    if (!parsed) return fail(parsed.error());
    const json& chunk = *parsed;
    if (!chunk.is_object()) {
      return fail(malformed(kApi, "stream chunk",
                            fmt::format("expected a JSON object, got {}", kind_name(chunk))));
    }
    if (const json* err = find(chunk, "error"); err && !err->is_null()) {
      return fail(in_band_error(kApi, chunk));
    }
    if (b_.id.empty()) b_.id = str(chunk, "id");
    if (b_.model.empty()) b_.model = str(chunk, "model");
    if (const json* u = find(chunk, "usage"); u && u->is_object()) read_usage(*u, b_.usage);

    const json* choices = find(chunk, "choices");
    if (!choices || choices->is_null()) return {};
    if (!choices->is_array()) {
      return fail(
          malformed(kApi, "stream chunk",
                    fmt::format("\"choices\" is {}, expected an array", kind_name(*choices))));
    }
    for (const auto& choice : choices->get_array()) {
      if (!choice.is_object()) {
        return fail(malformed(kApi, "stream chunk", "a choice is not an object"));
      }
      if (auto idx = get_int(choice, "index"); idx && *idx != 0) continue;  // n > 1: first only
      if (const json* delta = find(choice, "delta"); delta && delta->is_object()) {
        if (auto r = on_delta(*delta, out); !r) return r;
      }
      if (auto f = get_string(choice, "finish_reason")) {
        b_.raw_finish = *f;
        b_.finish = map_finish(*f);
        b_.finished = true;
      }
    }
    return {};
  }

  Result<ModelResponse> finish() override {
    if (!b_.finished) {
      return fail(malformed(kApi, "stream",
                            done_ ? "stream ended ([DONE]) before the response was complete "
                                    "(no finish_reason)"
                                  : "stream ended before the response was complete"));
    }
    return b_.build(kApi);
  }

 private:
  Result<void> on_delta(const json& delta, std::vector<ModelDelta>& out) {
    auto content = text_field(kApi, "stream chunk delta", delta, "content");
    if (!content) return fail(content.error());
    b_.append_text(*content, out);
    for (std::string_view key : {"reasoning_content", "reasoning"}) {
      auto reasoning = text_field(kApi, "stream chunk delta", delta, key);
      if (!reasoning) return fail(reasoning.error());
      if (!reasoning->empty()) {
        b_.append_thinking(*reasoning, out);
        break;
      }
    }
    const json* calls = find(delta, "tool_calls");
    if (!calls || calls->is_null()) return {};
    if (!calls->is_array()) {
      return fail(
          malformed(kApi, "stream chunk",
                    fmt::format("delta.tool_calls is {}, expected an array", kind_name(*calls))));
    }
    int position = 0;
    for (const auto& tc : calls->get_array()) {
      if (!tc.is_object()) {
        return fail(malformed(kApi, "stream chunk", "a tool_calls entry is not an object"));
      }
      int index = static_cast<int>(get_int(tc, "index").value_or(position));
      ++position;
      auto& pending = b_.call(index);
      if (auto id = get_string(tc, "id"); id && !id->empty() && pending.call.id.empty()) {
        pending.call.id = *id;
      }
      const json* fn = find(tc, "function");
      if (fn && fn->is_object()) {
        b_.set_call_name(index, str(*fn, "name"), out);
        b_.append_call_args(index, raw_args(*fn));
      }
    }
    return {};
  }

  ResponseBuilder b_;
  bool done_ = false;
};

class OpenAIChatCodec final : public WireCodec {
 public:
  WireApi api() const override { return kApi; }

  EncodedRequest encode(const ModelRequest& req, const WireEndpoint& ep) const override {
    EncodedRequest out;
    out.url = join_url(ep.base_url, "chat/completions");
    out.headers = make_headers(ep, "Authorization", "Bearer " + ep.api_key);

    json_array messages;
    if (!req.system.empty()) {
      messages.push_back(json_object{{"role", "system"}, {"content", req.system}});
    }
    for (const auto& m : req.messages) {
      switch (m.role) {
        case Role::system:
          messages.push_back(json_object{{"role", "system"}, {"content", m.text}});
          break;
        case Role::user:
          messages.push_back(encode_user(m));
          break;
        case Role::assistant:
          messages.push_back(encode_assistant(m));
          break;
        case Role::tool:
          messages.push_back(
              json_object{{"role", "tool"}, {"tool_call_id", m.tool_call_id}, {"content", m.text}});
          break;
      }
    }
    json_object body{{"model", req.model}, {"messages", std::move(messages)}};
    if (!req.tools.empty()) {
      json_array tools;
      for (const auto& t : req.tools) {
        tools.push_back(json_object{{"type", "function"},
                                    {"function", json_object{{"name", t.name},
                                                             {"description", t.description},
                                                             {"parameters", t.parameters}}}});
      }
      body["tools"] = std::move(tools);
    }
    if (req.thinking && *req.thinking != ThinkingLevel::off) {
      body["reasoning_effort"] = thinking_level_name(*req.thinking);
    }
    if (req.output) {
      body["response_format"] =
          json_object{{"type", "json_schema"},
                      {"json_schema", json_object{{"name", req.output->name},
                                                  {"schema", req.output->schema},
                                                  {"strict", req.output->strict}}}};
    }
    if (req.max_output_tokens > 0) body["max_completion_tokens"] = req.max_output_tokens;
    if (req.prompt_cache && !req.cache_key.empty() && is_openai_api(ep.base_url)) {
      body["prompt_cache_key"] = req.cache_key;
    }
    body["stream"] = req.stream;
    if (req.stream) body["stream_options"] = json_object{{"include_usage", true}};
    out.body = std::move(body);
    return out;
  }

  Result<ModelResponse> decode(std::string_view text) const override {
    auto parsed = parse_payload(kApi, "response body", text);
    if (!parsed) return fail(parsed.error());
    const json& root = *parsed;
    if (!root.is_object()) {
      return fail(malformed(kApi, "response body",
                            fmt::format("expected a JSON object, got {}", kind_name(root))));
    }
    if (const json* err = find(root, "error"); err && !err->is_null()) {
      return fail(in_band_error(kApi, root));
    }
    const json* choices = find(root, "choices");
    if (!choices || !choices->is_array() || choices->get_array().empty()) {
      return fail(malformed(kApi, "response body", "missing or empty \"choices\" array"));
    }
    const json& choice = choices->get_array()[0];
    const json* msg = find(choice, "message");
    if (!msg || !msg->is_object()) {
      return fail(malformed(kApi, "response body", "choices[0].message is missing"));
    }
    ResponseBuilder b;
    std::vector<ModelDelta> ignored;
    b.id = str(root, "id");
    b.model = str(root, "model");
    if (const json* content = find(*msg, "content"); content && !content->is_null()) {
      if (content->is_string()) {
        b.text = std::string(content->get_string());
      } else if (content->is_array()) {
        // Some compatible servers answer with content parts.
        for (const auto& part : content->get_array()) b.text += str(part, "text");
      } else {
        return fail(malformed(kApi, "response body",
                              fmt::format("choices[0].message.content is {}, expected a string",
                                          kind_name(*content))));
      }
    }
    b.thinking = reasoning_of(*msg);
    if (const json* calls = find(*msg, "tool_calls"); calls && !calls->is_null()) {
      if (!calls->is_array()) {
        return fail(
            malformed(kApi, "response body", "choices[0].message.tool_calls is not an array"));
      }
      int index = 0;
      for (const auto& tc : calls->get_array()) {
        const json* fn = find(tc, "function");
        if (!fn || !fn->is_object() || str(*fn, "name").empty()) {
          return fail(malformed(
              kApi, "response body",
              fmt::format("choices[0].message.tool_calls[{}] has no function name", index)));
        }
        auto& pending = b.call(index);
        pending.call.id = str(tc, "id");  // may be "" (Gemini's compatible endpoint): generated
        b.set_call_name(index, str(*fn, "name"), ignored);
        pending.call.raw_arguments = raw_args(*fn);
        ++index;
      }
    }
    b.raw_finish = str(choice, "finish_reason");
    b.finish = map_finish(b.raw_finish);
    if (const json* u = find(root, "usage")) read_usage(*u, b.usage);
    return b.build(kApi);
  }

  std::unique_ptr<StreamDecoder> stream_decoder() const override {
    return std::make_unique<ChatStreamDecoder>();
  }

  Error decode_error(int status, std::string_view body) const override {
    return decode_http_error(kApi, status, body);
  }
};

}  // namespace

const WireCodec& openai_chat_codec() {
  static const OpenAIChatCodec codec;
  return codec;
}

}  // namespace cppflue::wire
