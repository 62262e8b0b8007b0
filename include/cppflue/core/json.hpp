// SPDX-License-Identifier: Apache-2.0
// cppflue/core/json.hpp — the one JSON DOM of CppFlue (Boost.JSON) and small helpers.
//
// `cppflue::json` is a Boost.JSON value: objects keep insertion order, which keeps request
// bodies and schemas deterministic. Helpers here read optional fields without throwing and
// parse text into a Result that names the position of a syntax error.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cppflue/core/error.hpp"

namespace cppflue {

using json = boost::json::value;
using json_object = boost::json::object;
using json_array = boost::json::array;

// Parses `text`; on failure the error says `what` (e.g. "response body") and the byte offset.
Result<json> parse_json(std::string_view text, std::string_view what = "JSON");

// Compact serialisation.
std::string dump(const json& v);
// Indented serialisation (2 spaces), used for prompts and human output; `sort_keys` orders
// object keys (stable prompts whatever the insertion order).
std::string dump_pretty(const json& v, bool sort_keys = false);

// Field access that never throws: nullptr / nullopt / fallback when absent or of another type.
const json* find(const json& obj, std::string_view key);
std::optional<std::string> get_string(const json& obj, std::string_view key);
std::string get_string_or(const json& obj, std::string_view key, std::string_view fallback);
std::optional<std::int64_t> get_int(const json& obj, std::string_view key);
std::optional<bool> get_bool(const json& obj, std::string_view key);

// Follows a slash-separated path of object keys and array indices ("choices/0/delta").
const json* find_path(const json& root, std::string_view path);

// Name of a JSON kind for error messages ("string", "object", ...).
std::string_view kind_name(const json& v);

}  // namespace cppflue
