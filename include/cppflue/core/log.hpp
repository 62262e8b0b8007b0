// SPDX-License-Identifier: Apache-2.0
// cppflue/core/log.hpp — logging through spdlog. Logs go to stderr; the level comes from
// CPPFLUE_LOG (trace|debug|info|warn|error|critical|off, default warn; `serve` and `dev` make
// the default info) so that normal CLI output stays clean. An unknown CPPFLUE_LOG value is
// reported (a warning naming the valid levels) and the default level kept. The format is text
// (a timestamped line) or JSON (one object per line: time, level, message and the line's
// fields), from CPPFLUE_LOG_FORMAT (text|json) or set_format. Internal to the library: not part
// of cppflue.hpp.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string_view>

namespace cppflue::log {

enum class Format { text, json };

// The valid CPPFLUE_LOG values, as messages list them.
inline constexpr std::string_view kLevelNames = "trace, debug, info, warn, error, critical, off";

std::shared_ptr<spdlog::logger> get();

// The level a CPPFLUE_LOG value names, case-insensitively (also "warning" and "err"); nullopt
// for any other value.
std::optional<spdlog::level::level_enum> parse_level(std::string_view name);
// "text" or "json" (case-insensitive); nullopt for any other value.
std::optional<Format> parse_format(std::string_view name);

// What CPPFLUE_LOG and CPPFLUE_LOG_FORMAT say now; nullopt when unset, empty or invalid.
std::optional<spdlog::level::level_enum> environment_level();
std::optional<Format> environment_format();

// Every line from now on is written in `format`.
void set_format(Format format);
// Applies CPPFLUE_LOG as it is now, or `level` when it names none (unset, empty or unknown).
void set_default_level(spdlog::level::level_enum level);

// Logs `message` at `level` with structured `fields`: in the JSON format they are members of
// the line's object (next to time, level and message); the text format shows only `message`,
// so write what matters into it too.
void write(spdlog::level::level_enum level, std::string_view message,
           const boost::json::object& fields);

}  // namespace cppflue::log
