// SPDX-License-Identifier: Apache-2.0
// Gemini generateContent / streamGenerateContent (POST {base}/v1beta/models/{model}:...).
//
// Thought signatures must be replayed on the parts they came with: a function call's is kept in
// ToolCall.provider_data {"thoughtSignature"}, a text part's in Message.provider_data
// {"gemini": {"text_signature"}}. Gemini does not always give function calls ids; missing ones
// are generated.
#include <fmt/format.h>

#include "model/wire_common.hpp"

namespace cppflue::wire {
namespace {

constexpr WireApi kApi = WireApi::gemini;
constexpr std::string_view kProviderKey = "gemini";

json image_part(const Image& img) {
  std::string mime = img.mime_type;
  std::string data = img.data_base64;
  if (data.empty() && !split_data_url(img.url, mime, data)) {
    return json_object{{"fileData", json_object{{"mimeType", mime}, {"fileUri", img.url}}}};
  }
  return json_object{{"inlineData", json_object{{"mimeType", mime}, {"data", data}}}};
}

void push_content(json_array& contents, std::string_view role, json_array parts) {
  if (parts.empty()) return;
  if (!contents.empty() && str(contents.back(), "role") == role) {
    auto& existing = contents.back().as_object()["parts"].as_array();
    for (auto& p : parts) existing.push_back(std::move(p));
    return;
  }
  contents.push_back(json_object{{"role", role}, {"parts", std::move(parts)}});
}

json function_response(const Message& m, std::string_view name) {
  json response;
  auto parsed = parse_json(m.text);
  if (parsed && parsed->is_object()) {
    response = std::move(*parsed);
  } else {
    response = json_object{{m.is_error ? "error" : "result", m.text}};
  }
  json_object fr{{"name", name}};
  if (!m.tool_call_id.empty()) fr["id"] = m.tool_call_id;
  fr["response"] = std::move(response);
  return json_object{{"functionResponse", std::move(fr)}};
}

FinishReason map_finish(std::string_view f) {
  if (f == "STOP") return FinishReason::stop;
  if (f == "MAX_TOKENS") return FinishReason::length;
  if (f == "SAFETY" || f == "RECITATION" || f == "BLOCKLIST" || f == "PROHIBITED_CONTENT" ||
      f == "SPII" || f == "IMAGE_SAFETY" || f == "IMAGE_PROHIBITED_CONTENT") {
    return FinishReason::content_filter;
  }
  if (f == "MALFORMED_FUNCTION_CALL" || f == "UNEXPECTED_TOOL_CALL") return FinishReason::error;
  return FinishReason::unknown;
}

void read_usage(const json& u, Usage& usage) {
  if (!u.is_object()) return;
  usage.input = int_at(u, "promptTokenCount");
  usage.cache_read = int_at(u, "cachedContentTokenCount");
  usage.output = int_at(u, "candidatesTokenCount") + int_at(u, "thoughtsTokenCount");
  usage.total_tokens = int_at(u, "totalTokenCount");
  if (usage.total_tokens == 0) usage.total_tokens = usage.input + usage.output;
}

// Adds one GenerateContentResponse (a whole answer, or one streamed chunk of it) to `b`.
class Accumulator {
 public:
  Result<void> add(const json& root, std::string_view what, std::vector<ModelDelta>& out) {
    if (!root.is_object()) {
      return fail(
          malformed(kApi, what, fmt::format("expected a JSON object, got {}", kind_name(root))));
    }
    if (const json* err = find(root, "error"); err && !err->is_null()) {
      return fail(in_band_error(kApi, root));
    }
    if (auto v = get_string(root, "modelVersion")) b.model = *v;
    if (auto v = get_string(root, "responseId")) b.id = *v;
    if (const json* u = find(root, "usageMetadata")) read_usage(*u, b.usage);
    if (const json* pf = find(root, "promptFeedback")) {
      if (auto reason = get_string(*pf, "blockReason")) {
        b.raw_finish = *reason;
        b.finish = FinishReason::content_filter;
        b.finished = true;
      }
    }
    const json* candidates = find(root, "candidates");
    if (!candidates || candidates->is_null()) return {};
    if (!candidates->is_array()) {
      return fail(malformed(
          kApi, what,
          fmt::format("\"candidates\" is {}, expected an array", kind_name(*candidates))));
    }
    if (candidates->get_array().empty()) return {};
    const json& cand = candidates->get_array()[0];
    if (const json* parts = find_path(cand, "content/parts"); parts && !parts->is_null()) {
      if (!parts->is_array()) {
        return fail(malformed(kApi, what, "candidates[0].content.parts is not an array"));
      }
      for (const auto& part : parts->get_array()) {
        if (auto r = add_part(part, what, out); !r) return r;
      }
    }
    if (auto f = get_string(cand, "finishReason")) {
      b.raw_finish = *f;
      b.finish = map_finish(*f);
      b.finished = true;
    }
    return {};
  }

  ResponseBuilder b;

 private:
  Result<void> add_part(const json& part, std::string_view what, std::vector<ModelDelta>& out) {
    if (!part.is_object()) return fail(malformed(kApi, what, "a content part is not an object"));
    std::string signature = str(part, "thoughtSignature");
    if (const json* fc = find(part, "functionCall")) {
      std::string name = str(*fc, "name");
      if (!fc->is_object() || name.empty()) {
        return fail(malformed(kApi, what, "functionCall without a name"));
      }
      int index = next_call_++;
      auto& pending = b.call(index);
      pending.call.id = str(*fc, "id");
      b.set_call_name(index, name, out);
      const json* args = find(*fc, "args");
      pending.call.raw_arguments = args && !args->is_null() ? dump(*args) : "{}";
      if (!signature.empty()) {
        pending.call.provider_data = json_object{{"thoughtSignature", signature}};
      }
      return {};
    }
    if (const json* t = find(part, "text"); t && !t->is_string()) {
      return fail(malformed(
          kApi, what, fmt::format("a part's \"text\" is {}, expected a string", kind_name(*t))));
    }
    std::string text = str(part, "text");
    if (get_bool(part, "thought").value_or(false)) {
      b.append_thinking(text, out);
    } else {
      b.append_text(text, out);
      if (!signature.empty() && b.provider_data.is_null()) {
        b.provider_data = json_object{{kProviderKey, json_object{{"text_signature", signature}}}};
      }
    }
    return {};
  }

  int next_call_ = 0;
};

class GeminiStreamDecoder final : public StreamDecoder {
 public:
  Result<void> on_event(const SseEvent& event, std::vector<ModelDelta>& out) override {
    if (event.data.empty()) return {};
    auto parsed = parse_payload(kApi, "stream chunk", event.data);
    if (!parsed) return fail(parsed.error());
    return acc_.add(*parsed, "stream chunk", out);
  }

  Result<ModelResponse> finish() override {
    if (!acc_.b.finished) {
      return fail(malformed(kApi, "stream",
                            "stream ended before the response was complete (no finishReason)"));
    }
    return acc_.b.build(kApi);
  }

 private:
  Accumulator acc_;
};

// {base}/v1beta/models/{model}:generateContent (or :streamGenerateContent?alt=sse).
std::string request_url(const ModelRequest& req, const WireEndpoint& ep) {
  std::string_view base = trim_base(ep.base_url);
  if (base.empty()) base = "https://generativelanguage.googleapis.com";
  std::string_view model = req.model;
  if (model.substr(0, 7) == "models/") model.remove_prefix(7);
  std::string path = fmt::format("models/{}:{}", model,
                                 req.stream ? "streamGenerateContent?alt=sse" : "generateContent");
  bool versioned = ends_with(base, "/v1beta") || ends_with(base, "/v1");
  return join_url(base, versioned ? path : "v1beta/" + path);
}

json_array user_parts(const Message& m) {
  json_array parts;
  if (!m.text.empty()) parts.push_back(json_object{{"text", m.text}});
  for (const auto& img : m.images) parts.push_back(image_part(img));
  if (parts.empty()) parts.push_back(json_object{{"text", ""}});
  return parts;
}

json function_call_part(const ToolCall& tc) {
  json_object fc{{"name", tc.name}};
  if (!tc.id.empty()) fc["id"] = tc.id;
  fc["args"] = arguments_object(tc);
  json_object p{{"functionCall", std::move(fc)}};
  if (auto sig = get_string(tc.provider_data, "thoughtSignature")) p["thoughtSignature"] = *sig;
  return p;
}

// An assistant message's parts; records each tool call's name for the results that follow.
json_array model_parts(const Message& m, std::map<std::string, std::string>& call_names) {
  json_array parts;
  if (!m.text.empty()) {
    json_object p{{"text", m.text}};
    if (const json* pd = provider_part(m.provider_data, kProviderKey)) {
      if (auto sig = get_string(*pd, "text_signature")) p["thoughtSignature"] = *sig;
    }
    parts.push_back(std::move(p));
  }
  for (const auto& tc : m.tool_calls) {
    call_names[tc.id] = tc.name;
    parts.push_back(function_call_part(tc));
  }
  return parts;
}

// The conversation as "contents"; system messages are appended to `system` instead.
json_array encode_contents(const std::vector<Message>& messages, std::string& system) {
  json_array contents;
  std::map<std::string, std::string> call_names;  // tool call id -> name, for results
  for (const auto& m : messages) {
    switch (m.role) {
      case Role::system:
        if (!system.empty()) system += "\n\n";
        system += m.text;
        break;
      case Role::user:
        push_content(contents, "user", user_parts(m));
        break;
      case Role::assistant:
        push_content(contents, "model", model_parts(m, call_names));
        break;
      case Role::tool: {
        std::string name = m.tool_name;
        if (name.empty()) {
          auto it = call_names.find(m.tool_call_id);
          if (it != call_names.end()) name = it->second;
        }
        push_content(contents, "user", json_array{function_response(m, name)});
        break;
      }
    }
  }
  return contents;
}

json function_declaration(std::string_view name, std::string_view description, const json& schema) {
  // parameters_json_schema takes standard JSON Schema (the older `parameters` field only
  // takes an OpenAPI subset); this is what the recorded requests use.
  return json_object{
      {"name", name}, {"description", description}, {"parameters_json_schema", schema}};
}

// "tools" (and "toolConfig" for structured output alongside tools) in `body`, or the JSON
// response settings in `config` when there are no tools.
void add_tools_and_output(const ModelRequest& req, json_object& body, json_object& config) {
  if (!req.tools.empty()) {
    json_array decls;
    json_array names;
    for (const auto& t : req.tools) {
      decls.push_back(function_declaration(t.name, t.description, t.parameters));
      names.push_back(json(t.name));
    }
    if (req.output) {
      // A JSON response cannot be combined with function calling: with tools the result is a
      // function the model must eventually call (mode ANY).
      decls.push_back(
          function_declaration(req.output->name, req.output->description, req.output->schema));
      names.push_back(json(req.output->name));
      body["toolConfig"] =
          json_object{{"functionCallingConfig",
                       json_object{{"mode", "ANY"}, {"allowedFunctionNames", std::move(names)}}}};
    }
    body["tools"] = json_array{json_object{{"functionDeclarations", std::move(decls)}}};
  } else if (req.output) {
    config["responseMimeType"] = "application/json";
    config["responseJsonSchema"] = req.output->schema;
  }
}

class GeminiCodec final : public WireCodec {
 public:
  WireApi api() const override { return kApi; }

  EncodedRequest encode(const ModelRequest& req, const WireEndpoint& ep) const override {
    EncodedRequest out;
    out.url = request_url(req, ep);
    out.headers = make_headers(ep, "x-goog-api-key", ep.api_key);

    std::string system = req.system;
    json_array contents = encode_contents(req.messages, system);
    json_object body;
    if (!system.empty()) {
      body["systemInstruction"] = json_object{{"parts", json_array{json_object{{"text", system}}}}};
    }
    body["contents"] = std::move(contents);
    json_object config;
    add_tools_and_output(req, body, config);
    if (req.max_output_tokens > 0) config["maxOutputTokens"] = req.max_output_tokens;
    if (req.thinking && *req.thinking != ThinkingLevel::off) {
      config["thinkingConfig"] = json_object{
          {"thinkingBudget", gemini_thinking_budget(*req.thinking)}, {"includeThoughts", true}};
    }
    if (!config.empty()) body["generationConfig"] = std::move(config);
    out.body = std::move(body);
    return out;
  }

  Result<ModelResponse> decode(std::string_view text) const override {
    auto parsed = parse_payload(kApi, "response body", text);
    if (!parsed) return fail(parsed.error());
    Accumulator acc;
    std::vector<ModelDelta> ignored;
    if (auto r = acc.add(*parsed, "response body", ignored); !r) return fail(r.error());
    if (!find(*parsed, "candidates") && !acc.b.finished) {
      return fail(malformed(kApi, "response body", "missing \"candidates\""));
    }
    return acc.b.build(kApi);
  }

  std::unique_ptr<StreamDecoder> stream_decoder() const override {
    return std::make_unique<GeminiStreamDecoder>();
  }

  Error decode_error(int status, std::string_view body) const override {
    return decode_http_error(kApi, status, body);
  }
};

}  // namespace

const WireCodec& gemini_codec() {
  static const GeminiCodec codec;
  return codec;
}

}  // namespace cppflue::wire
