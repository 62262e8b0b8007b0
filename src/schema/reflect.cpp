// SPDX-License-Identifier: Apache-2.0
// The non-template half of cppflue/schema/reflect.hpp: error paths, messages and scalar checks.
#include "cppflue/schema/reflect.hpp"

#include <fmt/format.h>

#include <cmath>

namespace cppflue {

namespace detail {

namespace {

// A short rendering of a value for messages: numbers and short strings in full.
std::string show(const json& v) {
  if (v.is_double()) return fmt::format("{}", v.get_double());  // dump() writes 2.5 as 2.5E0
  std::string s = dump(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// A name as a JSON string literal ("a\"b"), so quotes and control characters stay readable.
std::string quote(std::string_view name) {
  return boost::json::serialize(boost::json::string_view(name.data(), name.size()));
}

}  // namespace

std::size_t Reader::enter(std::string_view key) {
  std::size_t mark = path_.size();
  path_ += '/';
  path_ += escape_pointer_token(key);
  return mark;
}

std::size_t Reader::enter(std::size_t index) {
  std::size_t mark = path_.size();
  path_ += '/';
  path_ += std::to_string(index);
  return mark;
}

void Reader::error(std::string message) {
  errors_.push_back({path_, std::move(message)});
}

void Reader::type_error(std::string_view expected, const json& got) {
  error(fmt::format("expected {}, got {}", expected, kind_name(got)));
}

void Reader::check_keys(const json_object& obj,
                        const std::vector<std::pair<std::string_view, bool>>& keys) {
  for (const auto& [name, required] : keys) {
    if (required && !obj.contains(name)) {
      error(fmt::format("missing required property {}", quote(name)));
    }
  }
  for (const auto& kv : obj) {
    bool known = false;
    for (const auto& key : keys) known = known || key.first == kv.key();
    if (!known) error(fmt::format("unexpected property {}", quote(kv.key())));
  }
}

std::optional<std::int64_t> Reader::read_signed(const json& v, std::int64_t lo, std::int64_t hi) {
  std::optional<std::int64_t> n;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64()) {
    if (v.get_uint64() <= static_cast<std::uint64_t>(hi))
      n = static_cast<std::int64_t>(v.get_uint64());
  } else if (v.is_double()) {
    double d = v.get_double();
    if (std::trunc(d) != d) {  // also NaN and infinities
      error(fmt::format("expected integer, got {}", show(v)));
      return std::nullopt;
    }
    // [-2^63, 2^63) is exactly the range of int64.
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) n = static_cast<std::int64_t>(d);
  } else {
    type_error("integer", v);
    return std::nullopt;
  }
  if (!n || *n < lo || *n > hi) {
    error(fmt::format("{} is out of range [{}, {}]", show(v), lo, hi));
    return std::nullopt;
  }
  return n;
}

std::optional<std::uint64_t> Reader::read_unsigned(const json& v, std::uint64_t hi) {
  std::optional<std::uint64_t> n;
  if (v.is_uint64()) {
    n = v.get_uint64();
  } else if (v.is_int64()) {
    if (v.get_int64() >= 0) n = static_cast<std::uint64_t>(v.get_int64());
  } else if (v.is_double()) {
    double d = v.get_double();
    if (std::trunc(d) != d) {
      error(fmt::format("expected integer, got {}", show(v)));
      return std::nullopt;
    }
    if (d >= 0 && d < 18446744073709551616.0) n = static_cast<std::uint64_t>(d);
  } else {
    type_error("integer", v);
    return std::nullopt;
  }
  if (!n || *n > hi) {
    error(fmt::format("{} is out of range [0, {}]", show(v), hi));
    return std::nullopt;
  }
  return n;
}

std::optional<double> Reader::read_number(const json& v, double max_abs) {
  if (!v.is_number()) {
    type_error("number", v);
    return std::nullopt;
  }
  double d = v.to_number<double>();
  if (std::fabs(d) > max_abs) {
    error(fmt::format("{} is out of range", show(v)));
    return std::nullopt;
  }
  return d;
}

const boost::json::string* Reader::read_string(const json& v) {
  if (v.is_string()) return &v.get_string();
  type_error("string", v);
  return nullptr;
}

std::optional<std::size_t> Reader::read_enum(const json& v,
                                             const std::vector<std::string_view>& names) {
  if (v.is_string()) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == v.get_string()) return i;
    }
  }
  std::string allowed;
  for (std::string_view n : names) {
    if (!allowed.empty()) allowed += ", ";
    allowed += quote(n);
  }
  error(fmt::format("expected one of {}, got {}", allowed, show(v)));
  return std::nullopt;
}

}  // namespace detail
}  // namespace cppflue
