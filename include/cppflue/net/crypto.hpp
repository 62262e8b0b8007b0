// SPDX-License-Identifier: Apache-2.0
// cppflue/net/crypto.hpp — the few primitives signed webhooks need (OpenSSL's libcrypto
// underneath, opened at the first signature rather than linked).
#pragma once

#include <string>
#include <string_view>

namespace cppflue::net {

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex digits; empty when libcrypto cannot
// be loaded (crypto_problem() says why), which no signature equals.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Why hmac_sha256_hex cannot compute here (libcrypto.so.3 missing or unusable, with the Debian
// package to install), or empty. Opens the library when nothing has yet.
std::string crypto_problem();

// Equality whose running time depends only on the lengths, not on where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace cppflue::net
