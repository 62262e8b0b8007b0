// SPDX-License-Identifier: Apache-2.0
// cppflue/core/clock.hpp — wall-clock helpers: ISO-8601 UTC timestamps with milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cppflue {

std::string iso8601_now();
std::string iso8601(std::chrono::system_clock::time_point tp);
std::int64_t unix_millis();
// "2026-11-24T10:00:00.123Z" (as iso8601 writes it; the fraction and the Z are optional) →
// milliseconds since the epoch; nullopt when the text is not such a time.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace cppflue
