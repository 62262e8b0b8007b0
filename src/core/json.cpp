// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

namespace cppflue {

Result<json> parse_json(std::string_view text, std::string_view what) {
  boost::json::stream_parser parser;
  boost::system::error_code ec;
  std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) {
    // Trailing non-whitespace after a complete value.
    ec = boost::json::error::extra_data;
  }
  if (!ec) parser.finish(ec);
  if (ec) {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < consumed && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return fail(ErrorType::invalid_input,
                fmt::format("invalid {}: {} at line {}, column {} (byte {})", what, ec.message(),
                            line, col, consumed),
                json_object{{"line", line}, {"column", col}, {"offset", consumed}});
  }
  return parser.release();
}

namespace {

// JSON text that is also safe to show on a terminal: besides what JSON requires, DEL and the C1
// controls U+0080..U+009F (U+009B is a one-character CSI) are written as \u escapes.
void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    auto c = static_cast<unsigned char>(ch);
    if (c == 0xC2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) {
        out += fmt::format("\\u{:04x}", next);
        ++i;
        continue;
      }
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// Numbers as people and models write them: 5.0 → "5", 0.1 → "0.1" (shortest round trip), not
// Boost's "5E0"; non-finite values (not JSON) → null.
void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", d);
}

void compact(std::string& out, const json& v) {
  switch (v.kind()) {
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        append_string(out, kv.key());
        out += ':';
        compact(out, kv.value());
      }
      out += '}';
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        compact(out, e);
      }
      out += ']';
      return;
    }
    case boost::json::kind::string:
      append_string(out, v.get_string());
      return;
    case boost::json::kind::double_:
      append_double(out, v.get_double());
      return;
    case boost::json::kind::int64:
      fmt::format_to(std::back_inserter(out), "{}", v.get_int64());
      return;
    case boost::json::kind::uint64:
      fmt::format_to(std::back_inserter(out), "{}", v.get_uint64());
      return;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::null:
      out += "null";
      return;
  }
}

}  // namespace

std::string dump(const json& v) {
  std::string out;
  compact(out, v);
  return out;
}

namespace {
void pretty(std::string& out, const json& v, int indent, bool sort_keys) {
  auto pad = [&](int n) { out.append(static_cast<std::size_t>(n) * 2, ' '); };
  switch (v.kind()) {
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      std::vector<const boost::json::key_value_pair*> items;
      items.reserve(o.size());
      for (const auto& kv : o) items.push_back(&kv);
      if (sort_keys) {
        std::sort(items.begin(), items.end(),
                  [](const auto* a, const auto* b) { return a->key() < b->key(); });
      }
      out += "{\n";
      for (std::size_t i = 0; i < items.size(); ++i) {
        pad(indent + 1);
        append_string(out, items[i]->key());
        out += ": ";
        pretty(out, items[i]->value(), indent + 1, sort_keys);
        out += i + 1 < items.size() ? ",\n" : "\n";
      }
      pad(indent);
      out += "}";
      return;
    }
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      if (a.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (std::size_t i = 0; i < a.size(); ++i) {
        pad(indent + 1);
        pretty(out, a[i], indent + 1, sort_keys);
        out += i + 1 < a.size() ? ",\n" : "\n";
      }
      pad(indent);
      out += "]";
      return;
    }
    default:
      compact(out, v);
  }
}
}  // namespace

std::string dump_pretty(const json& v, bool sort_keys) {
  std::string out;
  pretty(out, v, 0, sort_keys);
  return out;
}

const json* find(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  return obj.get_object().if_contains(key);
}

std::optional<std::string> get_string(const json& obj, std::string_view key) {
  const json* v = find(obj, key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

std::string get_string_or(const json& obj, std::string_view key, std::string_view fallback) {
  auto s = get_string(obj, key);
  return s ? *s : std::string(fallback);
}

std::optional<std::int64_t> get_int(const json& obj, std::string_view key) {
  const json* v = find(obj, key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  // Out of range (or NaN): no value, rather than undefined behaviour in the conversion.
  if (v->is_uint64()) {
    if (v->get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(v->get_uint64());
  }
  if (v->is_double()) {
    double d = v->get_double();
    if (!(d >= -9.2e18 && d <= 9.2e18)) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<bool> get_bool(const json& obj, std::string_view key) {
  const json* v = find(obj, key);
  if (!v || !v->is_bool()) return std::nullopt;
  return v->get_bool();
}

const json* find_path(const json& root, std::string_view path) {
  const json* cur = &root;
  while (!path.empty() && cur) {
    auto slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (cur->is_object()) {
      cur = cur->get_object().if_contains(part);
    } else if (cur->is_array()) {
      std::size_t idx = 0;
      for (char c : part) {
        if (c < '0' || c > '9') return nullptr;
        idx = idx * 10 + static_cast<std::size_t>(c - '0');
      }
      const auto& arr = cur->get_array();
      cur = idx < arr.size() ? &arr[idx] : nullptr;
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::string_view kind_name(const json& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      return "integer";
    case boost::json::kind::double_:
      return "number";
    case boost::json::kind::string:
      return "string";
    case boost::json::kind::array:
      return "array";
    case boost::json::kind::object:
      return "object";
  }
  return "unknown";
}

}  // namespace cppflue
