// SPDX-License-Identifier: Apache-2.0
// Helpers of the `cppflue.toml` reader: key paths and values written for messages, and errors
// that carry the file position.
#include "config_reader.hpp"

#include "cppflue/core/json.hpp"

namespace cppflue::config_detail {

std::string join(Names names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// A key as it would be written in TOML: bare when possible, quoted otherwise, so key paths in
// messages can be pasted back into the file.
std::string key_text(std::string_view key) {
  bool bare = !key.empty();
  for (char c : key) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) bare = false;
  }
  if (bare) return std::string(key);
  std::string out = "\"";
  for (char c : key) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string child_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return key_text(key);
  return fmt::format("{}.{}", parent, key_text(key));
}

// A string value quoted for a message; control characters are escaped so the message stays on
// one line whatever the file contains.
std::string quote_value(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string one_line(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

Error config_error_at(std::string_view file, const toml::source_region& where, std::string_view key,
                      std::string_view message) {
  json line = nullptr;
  json column = nullptr;
  std::string prefix;
  if (where.begin.line > 0) {
    line = where.begin.line;
    column = where.begin.column;
    prefix = fmt::format("{}:{}:{}: ", file, where.begin.line, where.begin.column);
  } else {
    prefix = fmt::format("{}: ", file);
  }
  json key_value = nullptr;
  if (!key.empty()) key_value = json(boost::json::string(key));
  return make_error(
      ErrorType::config_error, one_line(prefix + std::string(message)),
      json_object{{"file", file}, {"line", line}, {"column", column}, {"key", key_value}});
}

}  // namespace cppflue::config_detail
