// SPDX-License-Identifier: Apache-2.0
// cppflue/core/ids.hpp — identifiers: ULIDs (time-ordered, 26 Crockford base-32 chars) and
// prefixed random ids such as "op_<32 hex>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cppflue {

std::string new_ulid();
// `prefix` followed by `hex_chars` random lowercase hex digits, e.g. new_hex_id("op_", 32).
std::string new_hex_id(std::string_view prefix, int hex_chars = 32);
// 64 random bits from this thread's generator (seeded from std::random_device and the clock).
std::uint64_t random_u64();

}  // namespace cppflue
