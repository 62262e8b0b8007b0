// SPDX-License-Identifier: Apache-2.0
// ISO-8601 UTC times: written with milliseconds, and read back (as the store keeps them).
#include <gtest/gtest.h>

#include "cppflue/core/clock.hpp"

namespace cppflue {
namespace {

TEST(Clock, TimesRoundTripWithTheirMilliseconds) {
  auto tp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1765039064254));
  std::string text = iso8601(tp);
  EXPECT_EQ(text, "2025-12-06T16:37:44.254Z");
  EXPECT_EQ(parse_iso8601_ms(text), 1765039064254);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:01.5Z"), 1500);
  auto now = unix_millis();
  EXPECT_EQ(parse_iso8601_ms(iso8601_now()).value_or(0) / 1000, now / 1000);
}

TEST(Clock, ReadingATimeRefusesWhatIsNotOne) {
  for (const char* bad : {"", "yesterday", "2026-13-01T00:00:00Z", "2026-12-06T25:00:00Z",
                          "2026-12-06", "2026-12-06T10:61:00Z", "2026-12-06T10:00:-1Z"}) {
    EXPECT_FALSE(parse_iso8601_ms(bad)) << bad;
  }
}

}  // namespace
}  // namespace cppflue
