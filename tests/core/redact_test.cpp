// SPDX-License-Identifier: Apache-2.0
// Redaction of secret values and of the ways a command re-encodes them.
#include "cppflue/core/redact.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

using cppflue::json;
using cppflue::Redactor;

namespace {

constexpr const char* kSecret = "ghp-RT-very-secret-ABCDEF123456";

std::string base64(const std::string& s) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
    for (int k = 18; k >= 0; k -= 6) out += a[(v >> k) & 63];
  }
  if (i < s.size()) {
    unsigned v = (unsigned char)s[i] << 16 | (i + 1 < s.size() ? (unsigned char)s[i + 1] << 8 : 0);
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += i + 1 < s.size() ? a[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string hex(const std::string& s, bool upper) {
  // (Indexing a conditional of two string literals miscompiles under GCC 12 with sanitizers.)
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

TEST(Redactor, EncodingsAndFragmentsOfASecret) {
  Redactor r;
  r.add("tok", kSecret);
  const std::string s = kSecret;
  std::string reversed(s.rbegin(), s.rend());
  struct Row {
    const char* what;
    std::string text;
  };
  std::vector<Row> rows = {
      {"raw", "token=" + s + "\n"},
      {"reversed", reversed + "\n"},
      {"base64", base64(s) + "\n"},
      {"base64 after 1 byte", base64("x" + s)},
      {"base64 after 2 bytes", base64("xy" + s) + " trailing"},
      {"base64 inside a JSON", base64("RT_TOKEN=" + s + "\nPATH=/usr/bin")},
      {"hex", hex(s, false)},
      {"HEX", hex(s, true)},
      {"minus the first char", s.substr(1)},
      {"minus three at the end", s.substr(0, s.size() - 3)},
      {"a middle piece", "x" + s.substr(5, 14) + "y"},
      {"environ dump", std::string("HOME=/w") + '\0' + "RT_TOKEN=" + s + '\0' + "PATH=/bin"},
  };
  for (const auto& row : rows) {
    std::string out = r.apply(row.text);
    EXPECT_NE(out.find("[REDACTED:tok]"), std::string::npos) << row.what << ": " << out;
    EXPECT_EQ(out.find(s), std::string::npos) << row.what;
    EXPECT_EQ(out.find(s.substr(4, 12)), std::string::npos) << row.what << ": " << out;
  }
}

TEST(Redactor, UrlEncodingOfSpecialCharacters) {
  Redactor r;
  r.add("pw", "p@ss w0rd/with&chars");
  EXPECT_EQ(r.apply("u=p%40ss%20w0rd%2Fwith%26chars&x=1"), "u=[REDACTED:pw]&x=1");
}

TEST(Redactor, OrdinaryTextAndShortSecretsAreLeftAlone) {
  Redactor r;
  r.add("tok", kSecret);
  r.add("pin", "4711");
  EXPECT_EQ(r.apply("nothing to see here: ghp- and RT-very are fine"),
            "nothing to see here: ghp- and RT-very are fine");
  // Short values are matched as they are, without encodings or fragments.
  EXPECT_EQ(r.apply("pin 4711, not 1174"), "pin [REDACTED:pin], not 1174");
  EXPECT_EQ(r.apply(""), "");
}

TEST(Redactor, ContainingSecretIsReplacedWhole) {
  Redactor r;
  r.add("inner", "abcdefgh12");
  r.add("outer", "xxabcdefgh12yy-long-value");
  EXPECT_EQ(r.apply("[xxabcdefgh12yy-long-value]"), "[[REDACTED:outer]]");
  EXPECT_EQ(r.apply("abcdefgh12"), "[REDACTED:inner]");
}

TEST(Redactor, JsonStringsAndKeys) {
  Redactor r;
  r.add("tok", kSecret);
  json v =
      cppflue::json_object{{std::string(kSecret), boost::json::array{std::string("a ") + kSecret}}};
  r.apply(v);
  EXPECT_EQ(cppflue::dump(v), R"({"[REDACTED:tok]":["a [REDACTED:tok]"]})");
}

}  // namespace
