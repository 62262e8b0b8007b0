// SPDX-License-Identifier: Apache-2.0
// cppflue/net/crypto.hpp — the few primitives signed webhooks need (OpenSSL underneath).
#pragma once

#include <string>
#include <string_view>

namespace cppflue::net {

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex digits.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Equality whose running time depends only on the lengths, not on where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace cppflue::net
