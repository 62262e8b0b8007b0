// SPDX-License-Identifier: Apache-2.0
// What dump() writes for strings: valid JSON that is also safe on a terminal (DEL and the C1
// controls escaped), and read back to the same text.
#include <gtest/gtest.h>

#include <string>

#include "cppflue/core/json.hpp"

using namespace cppflue;

namespace {

TEST(JsonOutput, ControlCharactersAreEscapedAndReadBackUnchanged) {
  const std::string text = std::string(
                               "esc\x1b[2J del\x7f csi\xC2\x9B"
                               "1m nbsp\xC2\xA0 e\xC3\xA9 nul") +
                           std::string(1, '\0') + "end";
  const std::string out = dump(json(text));
  EXPECT_EQ(out, "\"esc\\u001b[2J del\\u007f csi\\u009b1m nbsp\xC2\xA0 e\xC3\xA9 nul\\u0000end\"");
  for (char c : out) {
    const auto b = static_cast<unsigned char>(c);
    EXPECT_FALSE(b < 0x20 || b == 0x7F) << "a raw control byte in " << out;
  }
  auto back = parse_json(out);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(std::string(back->as_string()), text);
  auto pretty = dump_pretty(json_object{{"k\xC2\x85", text}});
  EXPECT_NE(pretty.find("k\\u0085"), std::string::npos) << "keys too: " << pretty;
}

}  // namespace
