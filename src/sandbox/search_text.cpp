// SPDX-License-Identifier: Apache-2.0
// UTF-8 for grep: the validity check that decides between the buffer and the line search, and
// the output lines, cut to a number of code points with invalid bytes replaced.
#include <algorithm>
#include <cstring>

#include "search_internal.hpp"

namespace cppflue::search_detail {

std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  std::uint32_t cp = c & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  bool ok = cp >= kMin[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
  return ok ? len : 0;
}

bool valid_utf8(std::string_view s) {
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // ASCII fast path, 16 bytes at a time.
    while (i + 16 <= n) {
      std::uint64_t a = 0;
      std::uint64_t b = 0;
      std::memcpy(&a, s.data() + i, 8);
      std::memcpy(&b, s.data() + i + 8, 8);
      if (((a | b) & 0x8080808080808080ull) != 0) break;
      i += 16;
    }
    if (i >= n) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = utf8_sequence(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::size_t clean_line_reserve(std::size_t line_bytes, std::size_t max_chars) {
  return std::min(line_bytes, max_chars > line_bytes / 4 ? line_bytes : max_chars * 4);
}

void append_clean_line(std::string& out, std::string_view line, std::size_t max_chars) {
  std::size_t chars = 0;
  std::size_t i = 0;
  while (i < line.size() && chars < max_chars) {
    auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x80) {  // ASCII run
      std::size_t k = i + 1;
      std::size_t limit = std::min(line.size(), i + (max_chars - chars));
      while (k < limit && static_cast<unsigned char>(line[k]) < 0x80) ++k;
      out.append(line.substr(i, k - i));
      chars += k - i;
      i = k;
      continue;
    }
    std::size_t len = utf8_sequence(line, i);
    if (len > 0) {
      out.append(line.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
    ++chars;
  }
}

}  // namespace cppflue::search_detail
