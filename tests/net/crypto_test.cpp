// SPDX-License-Identifier: Apache-2.0
// HMAC-SHA256 through the libcrypto opened at run time, and the constant-time comparison.
#include "cppflue/net/crypto.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cppflue {
namespace {

TEST(Crypto, HmacSha256MatchesRfc4231) {
  EXPECT_EQ(net::crypto_problem(), "");
  // RFC 4231, test case 2.
  EXPECT_EQ(net::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block size is hashed first.
  EXPECT_EQ(net::hmac_sha256_hex(std::string(131, '\xaa'),
                                 "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // An empty key and an empty message are valid.
  EXPECT_EQ(net::hmac_sha256_hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Crypto, ConstantTimeEqualComparesEveryByte) {
  std::string a(64, 'a');
  EXPECT_TRUE(net::constant_time_equal(a, a));
  EXPECT_TRUE(net::constant_time_equal("", ""));
  std::string first = a, last = a;
  first.front() = 'b';
  last.back() = 'b';
  EXPECT_FALSE(net::constant_time_equal(a, first));
  EXPECT_FALSE(net::constant_time_equal(a, last));
  EXPECT_FALSE(net::constant_time_equal(a, a.substr(1)));
  EXPECT_FALSE(net::constant_time_equal("", "a"));
  // Bytes above 0x7f and NULs are data like any other.
  EXPECT_FALSE(net::constant_time_equal(std::string("\x80\x00", 2), std::string("\x80\x01", 2)));
  EXPECT_TRUE(net::constant_time_equal(std::string("\xff\x00", 2), std::string("\xff\x00", 2)));
}

}  // namespace
}  // namespace cppflue
