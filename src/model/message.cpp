// SPDX-License-Identifier: Apache-2.0
#include "cppflue/model/message.hpp"

#include <fmt/format.h>

namespace cppflue {

std::string_view role_name(Role r) {
  switch (r) {
    case Role::system:
      return "system";
    case Role::user:
      return "user";
    case Role::assistant:
      return "assistant";
    case Role::tool:
      return "tool";
  }
  return "user";
}

namespace {

Result<Role> parse_role(std::string_view s) {
  if (s == "system") return Role::system;
  if (s == "user") return Role::user;
  if (s == "assistant") return Role::assistant;
  if (s == "tool") return Role::tool;
  return fail(ErrorType::invalid_input,
              fmt::format("message.role: unknown role \"{}\" (expected system, user, assistant "
                          "or tool)",
                          s));
}

tl::unexpected<Error> field_error(std::string_view path, std::string_view expected,
                                  const json& got) {
  return fail(ErrorType::invalid_input,
              fmt::format("{}: expected {}, got {}", path, expected, kind_name(got)),
              json_object{{"field", path}});
}

// Reads an optional string field into `out`; absent and null leave `out` untouched.
Result<void> read_string(const json& obj, std::string_view key, std::string_view path,
                         std::string& out) {
  const json* v = find(obj, key);
  if (!v || v->is_null()) return {};
  if (!v->is_string()) return field_error(path, "a string", *v);
  out = std::string(v->get_string());
  return {};
}

json image_to_json(const Image& img) {
  json_object o{{"mime_type", img.mime_type}};
  if (!img.data_base64.empty()) o["data_base64"] = img.data_base64;
  if (!img.url.empty()) o["url"] = img.url;
  return o;
}

json tool_call_to_json(const ToolCall& tc) {
  json_object o{{"id", tc.id}, {"name", tc.name}, {"arguments", tc.arguments}};
  if (!tc.raw_arguments.empty()) o["raw_arguments"] = tc.raw_arguments;
  if (!tc.provider_data.is_null()) o["provider_data"] = tc.provider_data;
  return o;
}

Result<Image> image_from_json(const json& j, const std::string& path) {
  if (!j.is_object()) return field_error(path, "an object", j);
  Image img;
  if (auto r = read_string(j, "mime_type", path + ".mime_type", img.mime_type); !r) {
    return fail(r.error());
  }
  if (auto r = read_string(j, "data_base64", path + ".data_base64", img.data_base64); !r) {
    return fail(r.error());
  }
  if (auto r = read_string(j, "url", path + ".url", img.url); !r) return fail(r.error());
  if (img.data_base64.empty() && img.url.empty()) {
    return fail(ErrorType::invalid_input,
                fmt::format("{}: an image needs \"data_base64\" or \"url\"", path),
                json_object{{"field", path}});
  }
  return img;
}

Result<ToolCall> tool_call_from_json(const json& j, const std::string& path) {
  if (!j.is_object()) return field_error(path, "an object", j);
  ToolCall tc;
  if (auto r = read_string(j, "id", path + ".id", tc.id); !r) return fail(r.error());
  if (auto r = read_string(j, "name", path + ".name", tc.name); !r) return fail(r.error());
  if (tc.name.empty()) {
    return fail(ErrorType::invalid_input, fmt::format("{}.name: missing tool name", path),
                json_object{{"field", path + ".name"}});
  }
  if (const json* a = find(j, "arguments")) tc.arguments = *a;
  if (auto r = read_string(j, "raw_arguments", path + ".raw_arguments", tc.raw_arguments); !r) {
    return fail(r.error());
  }
  if (const json* p = find(j, "provider_data")) tc.provider_data = *p;
  return tc;
}

}  // namespace

json to_json(const Message& m) {
  json_object o{{"role", role_name(m.role)}, {"text", m.text}};
  if (!m.images.empty()) {
    json_array a;
    for (const auto& img : m.images) a.push_back(image_to_json(img));
    o["images"] = std::move(a);
  }
  if (!m.thinking.empty()) o["thinking"] = m.thinking;
  if (!m.tool_calls.empty()) {
    json_array a;
    for (const auto& tc : m.tool_calls) a.push_back(tool_call_to_json(tc));
    o["tool_calls"] = std::move(a);
  }
  if (!m.tool_call_id.empty()) o["tool_call_id"] = m.tool_call_id;
  if (!m.tool_name.empty()) o["tool_name"] = m.tool_name;
  if (m.is_error) o["is_error"] = true;
  if (!m.provider_data.is_null()) o["provider_data"] = m.provider_data;
  return o;
}

Result<Message> message_from_json(const json& j) {
  if (!j.is_object()) return field_error("message", "an object", j);
  Message m;
  const json* role = find(j, "role");
  if (!role) {
    return fail(ErrorType::invalid_input, "message.role: missing",
                json_object{{"field", "message.role"}});
  }
  if (!role->is_string()) return field_error("message.role", "a string", *role);
  auto r = parse_role(role->get_string());
  if (!r) return fail(r.error());
  m.role = *r;

  if (auto t = read_string(j, "text", "message.text", m.text); !t) return fail(t.error());
  if (auto t = read_string(j, "thinking", "message.thinking", m.thinking); !t) {
    return fail(t.error());
  }
  if (auto t = read_string(j, "tool_call_id", "message.tool_call_id", m.tool_call_id); !t) {
    return fail(t.error());
  }
  if (auto t = read_string(j, "tool_name", "message.tool_name", m.tool_name); !t) {
    return fail(t.error());
  }

  if (const json* imgs = find(j, "images"); imgs && !imgs->is_null()) {
    if (!imgs->is_array()) return field_error("message.images", "an array", *imgs);
    std::size_t i = 0;
    for (const auto& v : imgs->get_array()) {
      auto img = image_from_json(v, fmt::format("message.images[{}]", i++));
      if (!img) return fail(img.error());
      m.images.push_back(std::move(*img));
    }
  }
  if (const json* calls = find(j, "tool_calls"); calls && !calls->is_null()) {
    if (!calls->is_array()) return field_error("message.tool_calls", "an array", *calls);
    std::size_t i = 0;
    for (const auto& v : calls->get_array()) {
      auto tc = tool_call_from_json(v, fmt::format("message.tool_calls[{}]", i++));
      if (!tc) return fail(tc.error());
      m.tool_calls.push_back(std::move(*tc));
    }
  }
  if (const json* e = find(j, "is_error"); e && !e->is_null()) {
    if (!e->is_bool()) return field_error("message.is_error", "a boolean", *e);
    m.is_error = e->get_bool();
  }
  if (const json* p = find(j, "provider_data")) m.provider_data = *p;
  return m;
}

std::string_view thinking_level_name(ThinkingLevel t) {
  switch (t) {
    case ThinkingLevel::off:
      return "off";
    case ThinkingLevel::minimal:
      return "minimal";
    case ThinkingLevel::low:
      return "low";
    case ThinkingLevel::medium:
      return "medium";
    case ThinkingLevel::high:
      return "high";
    case ThinkingLevel::xhigh:
      return "xhigh";
  }
  return "off";
}

Result<ThinkingLevel> parse_thinking_level(std::string_view s) {
  std::string lower;
  for (char c : s) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (auto t : {ThinkingLevel::off, ThinkingLevel::minimal, ThinkingLevel::low,
                 ThinkingLevel::medium, ThinkingLevel::high, ThinkingLevel::xhigh}) {
    if (lower == thinking_level_name(t)) return t;
  }
  return fail(ErrorType::invalid_input,
              fmt::format("unknown thinking level \"{}\" (expected off, minimal, low, medium, "
                          "high or xhigh)",
                          s));
}

Usage& Usage::operator+=(const Usage& o) {
  if (o.empty()) return *this;
  if (empty()) {
    cost = o.cost;
  } else if (cost && o.cost) {
    cost->input += o.cost->input;
    cost->output += o.cost->output;
    cost->cache_read += o.cost->cache_read;
    cost->cache_write += o.cost->cache_write;
    cost->total += o.cost->total;
  } else {
    cost.reset();  // part of the sum has no price: the total is unknown
  }
  input += o.input;
  output += o.output;
  cache_read += o.cache_read;
  cache_write += o.cache_write;
  total_tokens += o.total_tokens;
  return *this;
}

json to_json(const Usage& u) {
  json_object out{{"input", u.input},
                  {"output", u.output},
                  {"cache_read", u.cache_read},
                  {"cache_write", u.cache_write},
                  {"total_tokens", u.total_tokens}};
  if (u.cost) {
    out["cost"] = json_object{{"input", u.cost->input},
                              {"output", u.cost->output},
                              {"cache_read", u.cost->cache_read},
                              {"cache_write", u.cost->cache_write},
                              {"total", u.cost->total}};
  }
  return out;
}

Usage usage_from_json(const json& j) {
  Usage u;
  u.input = get_int(j, "input").value_or(0);
  u.output = get_int(j, "output").value_or(0);
  u.cache_read = get_int(j, "cache_read").value_or(0);
  u.cache_write = get_int(j, "cache_write").value_or(0);
  u.total_tokens = get_int(j, "total_tokens").value_or(0);
  if (const auto* c = j.is_object() ? j.as_object().if_contains("cost") : nullptr;
      c && c->is_object()) {
    auto number = [&](std::string_view k) {
      const auto* v = c->as_object().if_contains(k);
      return v && v->is_number() ? v->to_number<double>() : 0.0;
    };
    u.cost = Cost{number("input"), number("output"), number("cache_read"), number("cache_write"),
                  number("total")};
  }
  return u;
}

std::string_view finish_reason_name(FinishReason f) {
  switch (f) {
    case FinishReason::stop:
      return "stop";
    case FinishReason::tool_calls:
      return "tool_calls";
    case FinishReason::length:
      return "length";
    case FinishReason::content_filter:
      return "content_filter";
    case FinishReason::error:
      return "error";
    case FinishReason::unknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace cppflue
