// SPDX-License-Identifier: Apache-2.0
#include "model/wire_common.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "cppflue/core/ids.hpp"

namespace cppflue::wire {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view trim_base(std::string_view base) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return base;
}

bool is_openai_api(std::string_view base_url) {
  constexpr std::string_view kHost = "https://api.openai.com";
  return base_url.substr(0, kHost.size()) == kHost &&
         (base_url.size() == kHost.size() || base_url[kHost.size()] == '/');
}

std::string join_url(std::string_view base, std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string url(trim_base(base));
  url += '/';
  url += path;
  return url;
}

HttpHeaders make_headers(const WireEndpoint& endpoint, std::string_view auth_name,
                         std::string auth_value) {
  HttpHeaders h;
  h.emplace_back("content-type", "application/json");
  if (!endpoint.api_key.empty()) h.emplace_back(std::string(auth_name), std::move(auth_value));
  for (const auto& kv : endpoint.headers) h.push_back(kv);
  return h;
}

std::string arguments_text(const ToolCall& call) {
  if (!call.raw_arguments.empty()) return call.raw_arguments;
  if (call.arguments.is_null()) return "{}";
  return dump(call.arguments);
}

json arguments_object(const ToolCall& call) {
  if (call.arguments.is_object()) return call.arguments;
  if (!call.raw_arguments.empty()) {
    auto parsed = parse_json(call.raw_arguments);
    if (parsed && parsed->is_object()) return *parsed;
  }
  // An API that needs an object cannot carry anything else; an empty object keeps the
  // conversation valid and the tool result already told the model what went wrong.
  return json_object{};
}

void set_arguments_from_raw(ToolCall& call) {
  std::string_view raw = call.raw_arguments;
  auto first = raw.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    call.arguments = json_object{};
    return;
  }
  auto parsed = parse_json(raw);
  call.arguments = parsed ? std::move(*parsed) : json(nullptr);
}

std::string generate_call_id() {
  return new_hex_id("call_", 24);
}

std::string image_url(const Image& image) {
  if (!image.url.empty()) return image.url;
  return fmt::format("data:{};base64,{}", image.mime_type, image.data_base64);
}

bool split_data_url(std::string_view url, std::string& mime_type, std::string& data) {
  if (url.substr(0, 5) != "data:") return false;
  auto comma = url.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  if (!ends_with(meta, ";base64")) return false;
  mime_type = std::string(meta.substr(0, meta.size() - 7));
  if (mime_type.empty()) mime_type = "application/octet-stream";
  data = std::string(url.substr(comma + 1));
  return true;
}

const json* provider_part(const json& provider_data, std::string_view api_key) {
  const json* p = find(provider_data, api_key);
  return p && !p->is_null() ? p : nullptr;
}

Error malformed(WireApi api, std::string_view what, std::string_view problem) {
  return make_error(ErrorType::provider_error,
                    fmt::format("{} {}: {}", wire_api_name(api), what, problem),
                    json_object{{"api", wire_api_name(api)}, {"where", what}});
}

Result<json> parse_payload(WireApi api, std::string_view what, std::string_view text) {
  auto parsed = parse_json(text, "JSON");
  if (!parsed) {
    std::string excerpt(text.substr(0, 200));
    return fail(malformed(api, what,
                          fmt::format("{} (payload starts: {})", parsed.error().message,
                                      excerpt.empty() ? std::string("<empty>") : excerpt)));
  }
  return parsed;
}

std::int64_t int_at(const json& root, std::string_view path) {
  const json* v = find_path(root, path);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return 0;
}

std::string str(const json& obj, std::string_view key) {
  return get_string_or(obj, key, "");
}

Result<std::string> text_field(WireApi api, std::string_view what, const json& obj,
                               std::string_view key) {
  const json* v = find(obj, key);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) {
    return fail(
        malformed(api, what, fmt::format("\"{}\" is {}, expected a string", key, kind_name(*v))));
  }
  return std::string(v->get_string());
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool mentions_context_overflow(std::string_view text) {
  static constexpr std::string_view kPhrases[] = {
      "context length",          "context_length",
      "context window",          "maximum context",
      "too many tokens",         "prompt is too long",
      "context_length_exceeded", "exceeds the maximum number of tokens",
      "input is too long",       "request too large",
      "prompt too long"};
  std::string l = lower(text);
  return std::any_of(std::begin(kPhrases), std::end(kPhrases),
                     [&](std::string_view p) { return l.find(p) != std::string::npos; });
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64() || v.is_uint64() || v.is_double()) return dump(v);
  return {};
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

struct ProviderError {
  std::string message;
  std::string type;  // OpenAI/Anthropic "type", Gemini "status"
  std::string code;  // OpenAI "code", Gemini numeric "code"
};

// Reads {"error": {...}}, [{"error": {...}}], or a bare error object.
ProviderError read_error_object(const json& payload) {
  ProviderError pe;
  const json* root = &payload;
  if (root->is_array() && !root->get_array().empty()) root = &root->get_array()[0];
  const json* err = find(*root, "error");
  if (!err && root->is_object() && (find(*root, "message") || find(*root, "code"))) err = root;
  if (err && err->is_object()) {
    pe.message = str(*err, "message");
    pe.type = str(*err, "type");
    if (pe.type.empty()) pe.type = str(*err, "status");
    if (const json* code = find(*err, "code")) pe.code = scalar_text(*code);
  } else if (err && err->is_string()) {
    pe.message = std::string(err->get_string());
  }
  if (pe.message.empty()) pe.message = str(*root, "message");
  if (pe.message.empty()) pe.message = str(*root, "detail");
  return pe;
}

Error classify(WireApi api, int status, const ProviderError& pe) {
  ErrorType type = ErrorType::provider_error;
  bool overflow = mentions_context_overflow(pe.message) || mentions_context_overflow(pe.code) ||
                  mentions_context_overflow(pe.type);
  // Gemini answers a bad key with 400 INVALID_ARGUMENT (a 400 about the context is an overflow).
  bool gemini_bad_key = status == 400 && !overflow &&
                        lower(pe.message).find("api key not valid") != std::string::npos;
  if (status == 401 || status == 403 || gemini_bad_key) {
    type = ErrorType::auth_error;
  } else if (status == 429) {
    type = ErrorType::rate_limited;
  } else if ((status == 400 || status == 413) && overflow) {
    type = ErrorType::context_overflow;
  }
  json_object details;
  if (status > 0) details["status"] = status;
  if (!pe.type.empty()) details["provider_type"] = pe.type;
  if (!pe.code.empty()) details["provider_code"] = pe.code;
  std::string message = status > 0
                            ? fmt::format("{} error {}: {}", wire_api_name(api), status, pe.message)
                            : fmt::format("{} error: {}", wire_api_name(api), pe.message);
  return make_error(type, std::move(message), std::move(details));
}

// The HTTP status an in-band error stands for, from the provider's error type or code.
int status_for(const ProviderError& pe) {
  static const std::pair<std::string_view, int> kByType[] = {{"overloaded_error", 529},
                                                             {"rate_limit_error", 429},
                                                             {"api_error", 500},
                                                             {"authentication_error", 401},
                                                             {"permission_error", 403},
                                                             {"not_found_error", 404},
                                                             {"invalid_request_error", 400},
                                                             {"request_too_large", 413},
                                                             {"rate_limit_exceeded", 429},
                                                             {"insufficient_quota", 429},
                                                             {"server_error", 500},
                                                             {"context_length_exceeded", 400},
                                                             {"RESOURCE_EXHAUSTED", 429},
                                                             {"INVALID_ARGUMENT", 400},
                                                             {"UNAVAILABLE", 503},
                                                             {"INTERNAL", 500},
                                                             {"PERMISSION_DENIED", 403},
                                                             {"UNAUTHENTICATED", 401},
                                                             {"DEADLINE_EXCEEDED", 504},
                                                             {"NOT_FOUND", 404}};
  // A numeric code (Gemini) is the status itself.
  if (pe.code.size() == 3 &&
      std::all_of(pe.code.begin(), pe.code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int n = std::atoi(pe.code.c_str());
    if (n >= 400 && n < 600) return n;
  }
  for (const auto& [name, status] : kByType) {
    if (pe.code == name || pe.type == name) return status;
  }
  return 0;
}

}  // namespace

Error decode_http_error(WireApi api, int status, std::string_view body) {
  ProviderError pe;
  if (auto parsed = parse_json(body)) pe = read_error_object(*parsed);
  if (pe.message.empty()) {
    pe.message = trim(body.substr(0, 500));
    if (pe.message.empty()) pe.message = "(empty response body)";
  }
  return classify(api, status, pe);
}

Error in_band_error(WireApi api, const json& payload) {
  ProviderError pe = read_error_object(payload);
  if (pe.message.empty()) pe.message = dump(payload).substr(0, 500);
  return classify(api, status_for(pe), pe);
}

int anthropic_thinking_budget(ThinkingLevel level) {
  switch (level) {
    case ThinkingLevel::off:
      return 0;
    case ThinkingLevel::minimal:
      return 1024;
    case ThinkingLevel::low:
      return 2048;
    case ThinkingLevel::medium:
      return 8192;
    case ThinkingLevel::high:
      return 16384;
    case ThinkingLevel::xhigh:
      return 32000;
  }
  return 0;
}

int gemini_thinking_budget(ThinkingLevel level) {
  // Within every Gemini 2.5 model's accepted range (Flash-Lite needs >= 512, Flash <= 24576).
  switch (level) {
    case ThinkingLevel::off:
      return 0;
    case ThinkingLevel::minimal:
      return 512;
    case ThinkingLevel::low:
      return 2048;
    case ThinkingLevel::medium:
      return 8192;
    case ThinkingLevel::high:
      return 16384;
    case ThinkingLevel::xhigh:
      return 24576;
  }
  return 0;
}

// ---- ResponseBuilder ----

void ResponseBuilder::append_text(std::string_view s, std::vector<ModelDelta>& out) {
  if (s.empty()) return;
  text += s;
  out.push_back(ModelDelta{ModelDelta::Kind::text, std::string(s), 0});
}

void ResponseBuilder::append_thinking(std::string_view s, std::vector<ModelDelta>& out) {
  if (s.empty()) return;
  thinking += s;
  out.push_back(ModelDelta{ModelDelta::Kind::thinking, std::string(s), 0});
}

ResponseBuilder::PendingCall& ResponseBuilder::call(int index) {
  return calls_[index];
}

void ResponseBuilder::set_call_name(int index, std::string_view name,
                                    std::vector<ModelDelta>& out) {
  auto& c = calls_[index];
  // Names arrive whole (some compatible servers repeat them on every delta: keep the first).
  if (c.call.name.empty()) c.call.name = std::string(name);
  if (!c.call.name.empty() && !announced_[index]) {
    announced_[index] = true;
    // Deltas number calls by their position among the calls, not by the API's index.
    int position = static_cast<int>(std::distance(calls_.begin(), calls_.find(index)));
    out.push_back(ModelDelta{ModelDelta::Kind::tool_call, c.call.name, position});
  }
}

void ResponseBuilder::append_call_args(int index, std::string_view fragment) {
  calls_[index].args += fragment;
}

Result<ModelResponse> ResponseBuilder::build(WireApi api) {
  for (const auto& [index, pending] : calls_) {
    if (pending.call.name.empty()) {
      return fail(malformed(api, "response",
                            fmt::format("tool call at index {} has no function name", index)));
    }
  }
  ModelResponse r;
  r.message.role = Role::assistant;
  r.message.text = text;
  r.message.thinking = thinking;
  r.message.provider_data = provider_data;
  for (auto& [index, pending] : calls_) {
    ToolCall c = pending.call;
    if (c.raw_arguments.empty()) c.raw_arguments = pending.args;
    if (c.raw_arguments.empty()) c.raw_arguments = "{}";
    set_arguments_from_raw(c);
    if (c.id.empty()) c.id = generate_call_id();
    r.message.tool_calls.push_back(std::move(c));
  }
  r.usage = usage;
  r.model = model;
  r.id = id;
  r.raw_finish_reason = raw_finish;
  r.finish_reason = finish;
  if (!r.message.tool_calls.empty() && r.finish_reason == FinishReason::stop) {
    r.finish_reason = FinishReason::tool_calls;
  }
  return r;
}

}  // namespace cppflue::wire
