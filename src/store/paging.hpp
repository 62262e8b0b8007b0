// SPDX-License-Identifier: Apache-2.0
// Paging rules shared by every store backend: page-size limits, and the cursors of the run and
// name listings (run_store.hpp). Private to src/store.
//
// A cursor the store writes is base64url (no padding) of the last item returned: {"s":started_at,
// "r":id} for runs, {"n":name} for names. An offset cursor is accepted too (PyFlue's
// base64url({"offset":N}), or N as a bare digit string). Backend-neutral: a backend turns a
// position into its own keyset or OFFSET query.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/store/run_store.hpp"

namespace cppflue::store_detail {

constexpr int kMaxListPage = 1000;             // RunQuery / NameQuery limit
constexpr std::int64_t kMaxEventPage = 10000;  // run_events limit

std::int64_t clamp_list_limit(int limit);
std::int64_t clamp_event_limit(std::int64_t limit);

// Where a run listing resumes: after `offset` rows of the filtered order, and after the run
// `after_started_at`/`after_id` when `keyset` is set (a cursor this store wrote).
struct RunPosition {
  std::int64_t offset = 0;
  bool keyset = false;
  std::string after_started_at;
  std::string after_id;
};

// The position a RunQuery cursor names (the start for an empty cursor); anything this store
// did not write → invalid_input "invalid runs cursor".
Result<RunPosition> read_run_cursor(const std::string& cursor, const std::string& path_text);
std::string write_run_cursor(const RunRecord& last);

// Where a name listing resumes: after `offset` rows, and after the name `after` when `keyset`.
struct NamePosition {
  std::int64_t offset = 0;
  bool keyset = false;
  std::string after;
};

// As read_run_cursor, for NameQuery cursors ("invalid listing cursor").
Result<NamePosition> read_name_cursor(const std::string& cursor, const std::string& path_text);
std::string write_name_cursor(const std::string& last);

// "a, b,,c" → ["a","b","c"]: RunQuery::status, blank items dropped, items trimmed of spaces.
std::vector<std::string> split_list(std::string_view text);

}  // namespace cppflue::store_detail
