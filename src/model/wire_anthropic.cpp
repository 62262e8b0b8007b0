// SPDX-License-Identifier: Apache-2.0
// Anthropic Messages (POST {base}/v1/messages).
//
// Thinking and redacted_thinking blocks must be sent back unchanged (with their signatures) on
// later turns; they are kept in Message.provider_data {"anthropic": {"blocks": [...]}}.
#include <fmt/format.h>

#include "model/wire_common.hpp"

namespace cppflue::wire {
namespace {

constexpr WireApi kApi = WireApi::anthropic;
constexpr std::string_view kProviderKey = "anthropic";
constexpr int kDefaultMaxTokens = 8192;

json image_block(const Image& img) {
  std::string mime = img.mime_type;
  std::string data = img.data_base64;
  if (data.empty() && !split_data_url(img.url, mime, data)) {
    return json_object{{"type", "image"},
                       {"source", json_object{{"type", "url"}, {"url", img.url}}}};
  }
  return json_object{
      {"type", "image"},
      {"source", json_object{{"type", "base64"}, {"media_type", mime}, {"data", data}}}};
}

// The API wants strictly alternating roles: consecutive same-role messages (tool results
// followed by user text, several tool results) are merged into one.
void push_message(json_array& messages, std::string_view role, json_array blocks) {
  if (blocks.empty()) return;
  if (!messages.empty() && str(messages.back(), "role") == role) {
    auto& content = messages.back().as_object()["content"].as_array();
    for (auto& b : blocks) content.push_back(std::move(b));
    return;
  }
  messages.push_back(json_object{{"role", role}, {"content", std::move(blocks)}});
}

json_array assistant_blocks(const Message& m) {
  json_array blocks;
  if (const json* pd = provider_part(m.provider_data, kProviderKey)) {
    if (const json* kept = find(*pd, "blocks"); kept && kept->is_array()) {
      for (const auto& b : kept->get_array()) blocks.push_back(b);
    }
  }
  // Empty text blocks are rejected by the API.
  if (!m.text.empty()) blocks.push_back(json_object{{"type", "text"}, {"text", m.text}});
  for (const auto& tc : m.tool_calls) {
    blocks.push_back(json_object{
        {"type", "tool_use"}, {"id", tc.id}, {"name", tc.name}, {"input", arguments_object(tc)}});
  }
  return blocks;
}

FinishReason map_stop(std::string_view s) {
  if (s == "end_turn" || s == "stop_sequence") return FinishReason::stop;
  if (s == "tool_use") return FinishReason::tool_calls;
  if (s == "max_tokens" || s == "model_context_window_exceeded") return FinishReason::length;
  if (s == "refusal") return FinishReason::content_filter;
  return FinishReason::unknown;
}

struct RawUsage {
  std::int64_t input = 0, cache_read = 0, cache_write = 0, output = 0;
  // Fields present in `u` replace the ones seen so far (message_delta repeats the totals).
  void merge(const json& u) {
    if (!u.is_object()) return;
    if (find(u, "input_tokens")) input = int_at(u, "input_tokens");
    if (find(u, "cache_read_input_tokens")) cache_read = int_at(u, "cache_read_input_tokens");
    if (find(u, "cache_creation_input_tokens")) {
      cache_write = int_at(u, "cache_creation_input_tokens");
    }
    if (find(u, "output_tokens")) output = int_at(u, "output_tokens");
  }
  Usage usage() const {
    Usage r;
    r.input = input + cache_read + cache_write;  // the API counts cached tokens separately
    r.cache_read = cache_read;
    r.cache_write = cache_write;
    r.output = output;
    r.total_tokens = r.input + r.output;
    return r;
  }
};

void keep_block(json& provider_data, const json& block) {
  if (provider_data.is_null()) {
    provider_data = json_object{{kProviderKey, json_object{{"blocks", json_array{}}}}};
  }
  provider_data.as_object()[kProviderKey].as_object()["blocks"].as_array().push_back(block);
}

class AnthropicStreamDecoder final : public StreamDecoder {
 public:
  Result<void> on_event(const SseEvent& event, std::vector<ModelDelta>& out) override {
    if (event.data.empty()) return {};
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
    if (type == "ping" || type == "message_stop") {
      if (type == "message_stop") stopped_ = true;
      return {};
    }
    if (type == "message_start") return on_message_start(ev, what);
    if (type == "message_delta") return on_message_delta(ev);
    auto index_opt = get_int(ev, "index");
    if (!index_opt) {
      if (type.rfind("content_block", 0) == 0) {
        return fail(malformed(kApi, what, "missing \"index\""));
      }
      return {};  // an event type this decoder does not know: skip it
    }
    int index = static_cast<int>(*index_opt);
    if (type == "content_block_start") return on_block_start(ev, what, index, out);
    auto it = blocks_.find(index);
    if (it == blocks_.end()) {
      return fail(malformed(kApi, what, fmt::format("content block {} was never started", index)));
    }
    json& block = it->second;
    if (type == "content_block_delta") return on_block_delta(ev, what, index, block, out);
    if (type == "content_block_stop") on_block_stop(index, block);
    return {};
  }

  Result<ModelResponse> finish() override {
    if (!b_.finished) {
      return fail(malformed(kApi, "stream",
                            stopped_ ? "stream ended (message_stop) without a stop_reason"
                                     : "stream ended before the response was complete"));
    }
    b_.usage = usage_.usage();
    return b_.build(kApi);
  }

 private:
  Result<void> on_message_start(const json& ev, const std::string& what) {
    const json* msg = find(ev, "message");
    if (!msg || !msg->is_object()) return fail(malformed(kApi, what, "missing \"message\""));
    b_.id = str(*msg, "id");
    b_.model = str(*msg, "model");
    if (const json* u = find(*msg, "usage")) usage_.merge(*u);
    return {};
  }

  Result<void> on_message_delta(const json& ev) {
    if (const json* d = find(ev, "delta")) {
      if (auto s = get_string(*d, "stop_reason")) {
        b_.raw_finish = *s;
        b_.finish = map_stop(*s);
        b_.finished = true;
      }
    }
    if (const json* u = find(ev, "usage")) usage_.merge(*u);
    return {};
  }

  Result<void> on_block_start(const json& ev, const std::string& what, int index,
                              std::vector<ModelDelta>& out) {
    const json* block = find(ev, "content_block");
    if (!block || !block->is_object()) {
      return fail(malformed(kApi, what, "missing \"content_block\""));
    }
    blocks_[index] = *block;
    std::string btype = str(*block, "type");
    if (btype == "text") {
      b_.append_text(str(*block, "text"), out);
    } else if (btype == "thinking") {
      b_.append_thinking(str(*block, "thinking"), out);
    } else if (btype == "tool_use") {
      auto& pending = b_.call(index);
      pending.call.id = str(*block, "id");
      b_.set_call_name(index, str(*block, "name"), out);
    }
    return {};
  }

  Result<void> on_block_delta(const json& ev, const std::string& what, int index, json& block,
                              std::vector<ModelDelta>& out) {
    const json* d = find(ev, "delta");
    if (!d || !d->is_object()) return fail(malformed(kApi, what, "missing \"delta\""));
    std::string dtype = str(*d, "type");
    std::string_view key = dtype == "text_delta"         ? "text"
                           : dtype == "thinking_delta"   ? "thinking"
                           : dtype == "signature_delta"  ? "signature"
                           : dtype == "input_json_delta" ? "partial_json"
                                                         : "";
    if (key.empty()) return {};  // e.g. citations_delta: nothing to keep
    auto piece = text_field(kApi, what, *d, key);
    if (!piece) return fail(piece.error());
    if (dtype == "text_delta") {
      b_.append_text(*piece, out);
    } else if (dtype == "thinking_delta") {
      b_.append_thinking(*piece, out);
      block.as_object()["thinking"] = str(block, "thinking") + *piece;
    } else if (dtype == "signature_delta") {
      block.as_object()["signature"] = str(block, "signature") + *piece;
    } else {
      b_.append_call_args(index, *piece);
    }
    return {};
  }

  // Thinking blocks are kept for later turns; a tool_use block's "input" stands in for
  // arguments that were not streamed.
  void on_block_stop(int index, const json& block) {
    std::string btype = str(block, "type");
    if (btype == "thinking" || btype == "redacted_thinking") {
      keep_block(b_.provider_data, block);
    } else if (btype == "tool_use") {
      auto& pending = b_.call(index);
      const json* input = find(block, "input");
      if (pending.args.empty() && input && input->is_object() && !input->as_object().empty()) {
        pending.args = dump(*input);
      }
    }
  }

  ResponseBuilder b_;
  RawUsage usage_;
  std::map<int, json> blocks_;
  bool stopped_ = false;
};

// The conversation as Anthropic messages; system messages are folded into `system` (the API
// has no system role in the list).
json_array encode_messages(const std::vector<Message>& history, std::string& system) {
  json_array messages;
  for (const auto& m : history) {
    switch (m.role) {
      case Role::system:
        // No system role in the message list: fold it into the system prompt.
        if (!system.empty()) system += "\n\n";
        system += m.text;
        break;
      case Role::user: {
        json_array blocks;
        for (const auto& img : m.images) blocks.push_back(image_block(img));
        if (!m.text.empty()) blocks.push_back(json_object{{"type", "text"}, {"text", m.text}});
        push_message(messages, "user", std::move(blocks));
        break;
      }
      case Role::assistant:
        push_message(messages, "assistant", assistant_blocks(m));
        break;
      case Role::tool: {
        json_object result{{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}};
        // An empty content string would become an empty text block, which the API rejects.
        if (!m.text.empty()) result["content"] = m.text;
        result["is_error"] = m.is_error;
        push_message(messages, "user", json_array{std::move(result)});
        break;
      }
    }
  }
  return messages;
}

// A cache breakpoint on the last content block of the conversation, so the next turn reads
// everything before it from the cache. Thinking blocks cannot carry one; then none is set.
void mark_last_block(json_array& messages, const json& cache_control) {
  if (messages.empty()) return;
  json* content = messages.back().as_object().if_contains("content");
  if (content == nullptr || !content->is_array() || content->as_array().empty()) return;
  json& last = content->as_array().back();
  if (!last.is_object()) return;
  auto type = last.as_object().if_contains("type");
  if (type != nullptr && type->is_string() &&
      (type->get_string() == "thinking" || type->get_string() == "redacted_thinking")) {
    return;
  }
  last.as_object()["cache_control"] = cache_control;
}

class AnthropicCodec final : public WireCodec {
 public:
  WireApi api() const override { return kApi; }

  EncodedRequest encode(const ModelRequest& req, const WireEndpoint& ep) const override {
    EncodedRequest out;
    std::string_view base = trim_base(ep.base_url);
    out.url = ends_with(base, "/v1") ? join_url(base, "messages") : join_url(base, "v1/messages");
    out.headers = make_headers(ep, "x-api-key", ep.api_key);
    out.headers.insert(out.headers.begin() + 1, {"anthropic-version", "2023-06-01"});

    std::string system = req.system;
    json_array messages = encode_messages(req.messages, system);

    int max_tokens = req.max_output_tokens > 0 ? req.max_output_tokens : kDefaultMaxTokens;
    json_object body{{"model", req.model}};
    if (req.thinking && *req.thinking != ThinkingLevel::off) {
      int budget = anthropic_thinking_budget(*req.thinking);
      // max_tokens counts the thinking too: leave room for the answer after it.
      if (max_tokens < budget + kDefaultMaxTokens) max_tokens = budget + kDefaultMaxTokens;
      body["max_tokens"] = max_tokens;
      body["thinking"] = json_object{{"type", "enabled"}, {"budget_tokens", budget}};
    } else {
      body["max_tokens"] = max_tokens;
    }
    const json ephemeral = json_object{{"type", "ephemeral"}};
    if (!system.empty() && req.prompt_cache) {
      // A breakpoint after the system prompt caches the tools and the system prompt.
      body["system"] =
          json_array{json_object{{"type", "text"}, {"text", system}, {"cache_control", ephemeral}}};
    } else if (!system.empty()) {
      body["system"] = system;
    }
    if (req.prompt_cache) mark_last_block(messages, ephemeral);
    body["messages"] = std::move(messages);
    if (!req.tools.empty() || req.output) {
      json_array tools;
      for (const auto& t : req.tools) {
        tools.push_back(json_object{
            {"name", t.name}, {"description", t.description}, {"input_schema", t.parameters}});
      }
      if (req.output) {
        // Structured output as a forced tool: the only tool → that tool; with other tools →
        // "any" tool (the result tool among them); extended thinking allows only "auto".
        tools.push_back(json_object{{"name", req.output->name},
                                    {"description", req.output->description},
                                    {"input_schema", req.output->schema}});
        if (body.contains("thinking")) {
          body["tool_choice"] = json_object{{"type", "auto"}};
        } else if (req.tools.empty()) {
          body["tool_choice"] = json_object{{"type", "tool"}, {"name", req.output->name}};
        } else {
          body["tool_choice"] = json_object{{"type", "any"}};
        }
      }
      // Without a system prompt, the breakpoint that caches the tools is on the last one.
      if (req.prompt_cache && system.empty() && !tools.empty()) {
        tools.back().as_object()["cache_control"] = ephemeral;
      }
      body["tools"] = std::move(tools);
    }
    body["stream"] = req.stream;
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
    if (str(root, "type") == "error") return fail(in_band_error(kApi, root));
    const json* content = find(root, "content");
    if (!content || !content->is_array()) {
      return fail(malformed(kApi, "response body", "missing \"content\" array"));
    }
    ResponseBuilder b;
    std::vector<ModelDelta> ignored;
    b.id = str(root, "id");
    b.model = str(root, "model");
    int index = 0;
    for (const auto& block : content->get_array()) {
      std::string type = str(block, "type");
      if (type == "text") {
        auto t = text_field(kApi, "response body", block, "text");
        if (!t) return fail(t.error());
        b.text += *t;
      } else if (type == "thinking") {
        auto t = text_field(kApi, "response body", block, "thinking");
        if (!t) return fail(t.error());
        b.thinking += *t;
        keep_block(b.provider_data, block);
      } else if (type == "redacted_thinking") {
        keep_block(b.provider_data, block);
      } else if (type == "tool_use") {
        std::string name = str(block, "name");
        if (name.empty()) {
          return fail(malformed(kApi, "response body",
                                fmt::format("content[{}] tool_use has no name", index)));
        }
        auto& pending = b.call(index);
        pending.call.id = str(block, "id");
        b.set_call_name(index, name, ignored);
        const json* input = find(block, "input");
        pending.call.raw_arguments = input ? dump(*input) : "{}";
      }
      ++index;
    }
    b.raw_finish = str(root, "stop_reason");
    b.finish = map_stop(b.raw_finish);
    RawUsage u;
    if (const json* uj = find(root, "usage")) u.merge(*uj);
    b.usage = u.usage();
    return b.build(kApi);
  }

  std::unique_ptr<StreamDecoder> stream_decoder() const override {
    return std::make_unique<AnthropicStreamDecoder>();
  }

  Error decode_error(int status, std::string_view body) const override {
    return decode_http_error(kApi, status, body);
  }
};

}  // namespace

const WireCodec& anthropic_codec() {
  static const AnthropicCodec codec;
  return codec;
}

}  // namespace cppflue::wire
