// SPDX-License-Identifier: Apache-2.0
// cppflue/core/clock.hpp — wall-clock helpers: ISO-8601 UTC timestamps with milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace cppflue {

std::string iso8601_now();
std::string iso8601(std::chrono::system_clock::time_point tp);
std::int64_t unix_millis();

}  // namespace cppflue
