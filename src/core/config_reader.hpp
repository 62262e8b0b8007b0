// SPDX-License-Identifier: Apache-2.0
// The reading machinery of `cppflue.toml` (internal to src/core): a `Reader` that keeps the first
// problem found, and `Section`, one table of the schema that rejects unknown keys and reads typed
// fields. Shared by config.cpp and the readers of the larger sections in their own files.
#pragma once

#include <fmt/format.h>

#include <toml++/toml.h>
#include <climits>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/core/suggest.hpp"

namespace cppflue::config_detail {

using Names = std::span<const std::string_view>;

std::string join(Names names);
// A key as it would be written in TOML: bare when possible, quoted otherwise.
std::string key_text(std::string_view key);
std::string child_path(std::string_view parent, std::string_view key);
// A string value quoted for a message, control characters escaped.
std::string quote_value(std::string_view s);
std::string one_line(std::string_view s);
std::string_view type_name(const toml::node& node);
Error config_error_at(std::string_view file, const toml::source_region& where, std::string_view key,
                      std::string_view message);

// Walks the document; the first problem found is kept and every later read is a no-op, so
// the section readers stay straight-line code.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  bool failed() const { return error_.has_value(); }
  Error take_error() { return std::move(*error_); }

  void error(const toml::source_region& where, std::string_view key, std::string_view message) {
    if (!error_) error_ = config_error_at(file_, where, key, message);
  }
  void wrong_type(const toml::node& node, std::string_view key, std::string_view expected) {
    error(node.source(), key,
          fmt::format("{}: expected {}, got {}", key, expected, type_name(node)));
  }

 private:
  std::string file_;
  std::optional<Error> error_;
};

// One TOML table of the schema: rejects unknown keys on construction, then reads typed fields.
class Section {
 public:
  // `path` is the key path of the table ("" for the root).
  Section(Reader& reader, const toml::table& table, std::string path, Names known)
      : reader_(reader), table_(table), path_(std::move(path)) {
    for (auto&& [key, node] : table_) {
      bool found = false;
      for (auto k : known) found = found || k == key.str();
      if (found) continue;
      std::string full = child_path(path_, key.str());
      const std::string near =
          did_you_mean(key.str(), std::vector<std::string>(known.begin(), known.end()));
      if (path_.empty()) {
        reader_.error(
            key.source(), full,
            fmt::format("unknown {} {}{} (known top-level tables: {})",
                        node.is_table() ? "table" : "key", quote_value(full), near, join(known)));
      } else {
        reader_.error(key.source(), full,
                      fmt::format("unknown key {}{} (known keys in [{}]: {})", quote_value(full),
                                  near, path_, join(known)));
      }
    }
  }

  void string(std::string_view key, std::string& out, bool non_empty = false) {
    const toml::node* node = get(key);
    if (!node) return;
    const auto* v = node->as_string();
    if (!v) return reader_.wrong_type(*node, full(key), "string");
    if (non_empty && v->get().empty()) {
      return reader_.error(node->source(), full(key),
                           fmt::format("{}: must not be empty", full(key)));
    }
    out = v->get();
  }

  void optional_string(std::string_view key, std::optional<std::string>& out) {
    if (!get(key)) return;
    std::string value;
    string(key, value);
    if (!reader_.failed()) out = std::move(value);
  }

  // `allow_empty`: "" means "not set" for keys whose struct field uses empty that way.
  // A size in bytes: an integer, or a string with a K, M, G or T suffix (powers of 1024),
  // e.g. "512M"; 0 means no limit.
  void size(std::string_view key, std::int64_t& out) {
    const toml::node* node = get(key);
    if (!node) return;
    if (const auto* i = node->as_integer()) {
      if (i->get() < 0) {
        return reader_.error(node->source(), full(key),
                             fmt::format("{}: must not be negative", full(key)));
      }
      out = i->get();
      return;
    }
    const auto* v = node->as_string();
    if (!v) return reader_.wrong_type(*node, full(key), "string or integer");
    const std::string& s = v->get();
    std::int64_t number = 0;
    std::size_t k = 0;
    for (; k < s.size() && s[k] >= '0' && s[k] <= '9'; ++k) {
      if (number > (std::numeric_limits<std::int64_t>::max() - 9) / 10) break;
      number = number * 10 + (s[k] - '0');
    }
    std::string unit = s.substr(k);
    int shift = unit.empty()                 ? 0
                : unit == "K" || unit == "k" ? 10
                : unit == "M" || unit == "m" ? 20
                : unit == "G" || unit == "g" ? 30
                : unit == "T" || unit == "t" ? 40
                                             : -1;
    if (k == 0 || shift < 0 || number > (std::numeric_limits<std::int64_t>::max() >> shift)) {
      return reader_.error(
          node->source(), full(key),
          fmt::format("{}: invalid size {} (a number of bytes with an optional K, M, G or T "
                      "suffix, e.g. \"512M\")",
                      full(key), quote_value(s)));
    }
    out = number << shift;
  }

  void one_of(std::string_view key, std::string& out, Names allowed, bool allow_empty = false) {
    const toml::node* node = get(key);
    if (!node) return;
    const auto* v = node->as_string();
    if (!v) return reader_.wrong_type(*node, full(key), "string");
    const std::string& s = v->get();
    bool ok = allow_empty && s.empty();
    for (auto a : allowed) ok = ok || a == s;
    if (!ok) {
      return reader_.error(node->source(), full(key),
                           fmt::format("{}: invalid value {} (allowed: {})", full(key),
                                       quote_value(s), join(allowed)));
    }
    out = s;
  }

  void optional_one_of(std::string_view key, std::optional<std::string>& out, Names allowed) {
    if (!get(key)) return;
    std::string value;
    one_of(key, value, allowed);
    if (!reader_.failed()) out = std::move(value);
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* node = get(key);
    if (!node) return;
    const auto* v = node->as_boolean();
    if (!v) return reader_.wrong_type(*node, full(key), "boolean");
    out = v->get();
  }

  template <class Int>
  void integer(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    const toml::node* node = get(key);
    if (!node) return;
    const auto* v = node->as_integer();
    if (!v) return reader_.wrong_type(*node, full(key), "integer");
    std::int64_t n = v->get();
    if (n < min || n > max) {
      std::string range;
      if (max == std::numeric_limits<Int>::max() && min != std::numeric_limits<Int>::min()) {
        range = fmt::format(">= {}", min);
      } else {
        range = fmt::format("{}..{}", min, max);
      }
      return reader_.error(
          node->source(), full(key),
          fmt::format("{}: value {} out of range (allowed: {})", full(key), n, range));
    }
    out = static_cast<Int>(n);
  }

  // A number (integer or float) in [min, max].
  void number(std::string_view key, double& out, double min, double max) {
    const toml::node* node = get(key);
    if (!node) return;
    double n = 0;
    if (const auto* i = node->as_integer()) {
      n = static_cast<double>(i->get());
    } else if (const auto* f = node->as_floating_point()) {
      n = f->get();
    } else {
      return reader_.wrong_type(*node, full(key), "number");
    }
    if (!(n >= min && n <= max)) {  // also refuses nan
      return reader_.error(
          node->source(), full(key),
          fmt::format("{}: value {} out of range (allowed: {}..{})", full(key), n, min, max));
    }
    out = n;
  }

  void string_list(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = get(key);
    if (!node) return;
    const auto* arr = node->as_array();
    if (!arr) return reader_.wrong_type(*node, full(key), "array of strings");
    std::vector<std::string> values;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& item = (*arr)[i];
      const auto* s = item.as_string();
      if (!s) return reader_.wrong_type(item, fmt::format("{}[{}]", full(key), i), "string");
      values.push_back(s->get());
    }
    out = std::move(values);
  }

  void string_map(std::string_view key, std::map<std::string, std::string>& out) {
    const toml::node* node = get(key);
    if (!node) return;
    const auto* tbl = node->as_table();
    if (!tbl) return reader_.wrong_type(*node, full(key), "table of strings");
    std::map<std::string, std::string> values;
    for (auto&& [k, v] : *tbl) {
      const auto* s = v.as_string();
      if (!s) return reader_.wrong_type(v, child_path(full(key), k.str()), "string");
      values[std::string(k.str())] = s->get();
    }
    out = std::move(values);
  }

  // A sub-table (nullptr when absent or of another type, the latter being an error).
  const toml::table* table(std::string_view key) {
    const toml::node* node = get(key);
    if (!node) return nullptr;
    const auto* tbl = node->as_table();
    if (!tbl) reader_.wrong_type(*node, full(key), "table");
    return tbl;
  }

  std::string full(std::string_view key) const { return child_path(path_, key); }

 private:
  const toml::node* get(std::string_view key) const {
    if (reader_.failed()) return nullptr;
    return table_.get(key);
  }

  Reader& reader_;
  const toml::table& table_;
  std::string path_;
};

// The readers of sections kept in their own files (config_telemetry.cpp).
void read_telemetry(Reader& r, Section s, TelemetryConfig& c);
// `table` names the section in messages ("pricing" in cppflue.toml).
void read_pricing(Reader& r, std::string_view table, const toml::table& t, Names keys,
                  std::map<std::string, ModelPrice>& out);

}  // namespace cppflue::config_detail
