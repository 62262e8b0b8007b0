// SPDX-License-Identifier: Apache-2.0
// Paging rules shared by every store backend (paging.hpp).
#include "store/paging.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <system_error>

namespace cppflue::store_detail {
namespace {

constexpr std::size_t kMaxCursorBytes = 4096;

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : in) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kBase64Url[(bits >> count) & 0x3f]);
    }
  }
  if (count > 0) out.push_back(kBase64Url[(bits << (6 - count)) & 0x3f]);
  return out;
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// A decoded cursor: either an offset (PyFlue's {"offset":N} or a bare digit string) or the
// keyset object this store wrote ({"s","r"} for runs, {"n"} for names).
struct Cursor {
  std::int64_t offset = 0;
  json key = nullptr;  // an object, or null for an offset cursor
};

std::optional<std::int64_t> offset_value(const json& n) {
  if (!n.is_int64() && !n.is_uint64()) return std::nullopt;
  if (n.is_int64() && n.as_int64() < 0) return std::nullopt;
  if (n.is_uint64() && n.as_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return n.is_int64() ? n.as_int64() : static_cast<std::int64_t>(n.as_uint64());
}

std::optional<Cursor> decode_cursor(std::string_view text) {
  if (text.empty() || text.size() > kMaxCursorBytes) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    Cursor c;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), c.offset);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return c;
  }
  auto raw = base64url_decode(text);
  if (!raw) return std::nullopt;
  boost::system::error_code ec;
  json v = boost::json::parse(*raw, ec);
  if (ec || !v.is_object()) return std::nullopt;
  Cursor c;
  const json_object& o = v.as_object();
  if (o.size() == 1 && o.contains("offset")) {
    auto offset = offset_value(o.at("offset"));
    if (!offset) return std::nullopt;
    c.offset = *offset;
    return c;
  }
  c.key = std::move(v);
  return c;
}

}  // namespace

std::int64_t clamp_list_limit(int limit) {
  return std::clamp(limit, 1, kMaxListPage);
}

std::int64_t clamp_event_limit(std::int64_t limit) {
  return std::clamp<std::int64_t>(limit, 1, kMaxEventPage);
}

Result<RunPosition> read_run_cursor(const std::string& cursor, const std::string& path_text) {
  RunPosition position;
  if (cursor.empty()) return position;
  auto invalid = [&] {
    return fail(ErrorType::invalid_input, "invalid runs cursor",
                json_object{{"path", path_text}, {"cursor", cursor}});
  };
  auto c = decode_cursor(cursor);
  if (!c) return invalid();
  position.offset = c->offset;
  if (c->key.is_null()) return position;
  auto s = get_string(c->key, "s");
  auto r = get_string(c->key, "r");
  if (!s || !r || c->key.as_object().size() != 2) return invalid();
  position.keyset = true;
  position.after_started_at = std::move(*s);
  position.after_id = std::move(*r);
  return position;
}

std::string write_run_cursor(const RunRecord& last) {
  return base64url_encode(
      boost::json::serialize(json_object{{"s", last.started_at}, {"r", last.id}}));
}

Result<NamePosition> read_name_cursor(const std::string& cursor, const std::string& path_text) {
  NamePosition position;
  if (cursor.empty()) return position;
  auto invalid = [&] {
    return fail(ErrorType::invalid_input, "invalid listing cursor",
                json_object{{"path", path_text}, {"cursor", cursor}});
  };
  auto c = decode_cursor(cursor);
  if (!c) return invalid();
  position.offset = c->offset;
  if (c->key.is_null()) return position;
  auto n = get_string(c->key, "n");
  if (!n || c->key.as_object().size() != 1) return invalid();
  position.keyset = true;
  position.after = std::move(*n);
  return position;
}

std::string write_name_cursor(const std::string& last) {
  return base64url_encode(boost::json::serialize(json_object{{"n", last}}));
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

}  // namespace cppflue::store_detail
