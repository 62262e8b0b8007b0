// SPDX-License-Identifier: Apache-2.0
// Searching one file for grep: read through the Workspace (at most kGrepMaxFileBytes), binary
// files skipped, then the buffer search with each candidate line confirmed on its own, or the
// line-by-line search; the budget is checked before every line.
#include <algorithm>
#include <cstring>

#include "cppflue/sandbox/file_tools.hpp"
#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

std::size_t line_end(std::string_view data, std::size_t from) {
  const void* nl = std::memchr(data.data() + from, '\n', data.size() - from);
  return nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) : data.size();
}

}  // namespace

void FileSearcher::run(const std::string& rel, std::size_t limit, FileResult& r) {
  if (budget_.exhausted(tick_)) return;
  auto data = ws_.read_file(rel, kGrepMaxFileBytes);
  if (!data) {
    auto st = ws_.stat(rel);
    if (st && st->is_file && st->size > kGrepMaxFileBytes) r.kind = FileResult::Kind::too_large;
    return;
  }
  if (std::string_view(*data).substr(0, kBinaryProbeBytes).find('\0') != std::string_view::npos) {
    r.kind = FileResult::Kind::binary;
    return;
  }
  r.kind = FileResult::Kind::searched;
  search(rel, *data, limit, r);
}

void FileSearcher::search(const std::string& rel, std::string_view data, std::size_t limit,
                          FileResult& r) {
  const std::size_t n = data.size();
  std::size_t pos = 0;      // search from here (always a line start)
  std::size_t line_no = 1;  // line number of `pos`
  if (!pat_.buffer_search_misses(data)) {
    while (pos < n) {
      if (budget_.exhausted(tick_)) return;
      std::size_t start = 0;
      int rc = matcher_.find(pat_.buffer(), data, pos, &start);
      if (rc == PCRE2_ERROR_NOMATCH) return;
      if (rc < 0) break;                              // a limit: search the rest line by line
      if (start >= n && data.back() == '\n') return;  // the empty "line" after the last "\n"
      // The line containing `start`: it begins after the last "\n" in [pos, start).
      std::size_t ls = pos;
      if (start > pos) {
        const void* nl = memrchr(data.data() + pos, '\n', start - pos);
        if (nl) ls = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) + 1;
      }
      line_no += static_cast<std::size_t>(std::count(data.data() + pos, data.data() + ls, '\n'));
      std::size_t le = line_end(data, start);
      if (!check_line(rel, data, ls, le, line_no, limit, r)) return;
      pos = le + 1;
      ++line_no;
    }
  }
  while (pos < n) {
    std::size_t le = line_end(data, pos);
    if (!check_line(rel, data, pos, le, line_no, limit, r)) return;
    pos = le + 1;
    ++line_no;
  }
}

// Matches the line [ls, le) on its own and records it. False once `limit` lines are kept.
bool FileSearcher::check_line(const std::string& rel, std::string_view data, std::size_t ls,
                              std::size_t le, std::size_t line_no, std::size_t limit,
                              FileResult& r) {
  if (budget_.exhausted(tick_)) return false;
  std::string_view text = data.substr(ls, le - ls);
  std::size_t start = 0;
  int rc = matcher_.find(pat_.line(), text, 0, &start);
  if (rc == PCRE2_ERROR_NOMATCH) return true;
  if (rc < 0) {
    ++r.lines_skipped;
    return !budget_.limit_hit();
  }
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (r.lines_skipped > 0) {
    r.skipped_before.resize(r.lines.size(), 0);
    r.skipped_before.push_back(r.lines_skipped);
  }
  std::string line;
  line.reserve(rel.size() + 24 + clean_line_reserve(text.size(), opt_.max_line_chars));
  line.append(printable_path(rel)).append(1, ':').append(std::to_string(line_no)).append(1, ':');
  append_clean_line(line, text, opt_.max_line_chars);
  r.lines.push_back(std::move(line));
  return r.lines.size() < limit;
}

}  // namespace cppflue::search_detail
