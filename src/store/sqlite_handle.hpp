// SPDX-License-Identifier: Apache-2.0
// Private RAII helpers over the SQLite C API, used by the SQLite store only.
//
// Kept deliberately thin: owning handles for the connection and statements, and a scope guard
// that resets a cached statement so it never keeps a read snapshot (and thus the WAL) pinned
// after the caller is done with it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace cppflue::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// One use of a prepared statement. Text is bound without copying (SQLITE_STATIC): the caller's
// strings outlive the use, and the destructor clears the bindings before they could dangle.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  ~StmtUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;

  int bind(int index, std::string_view text) noexcept {
    return sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                             SQLITE_STATIC);
  }
  // Empty text is stored as NULL: the optional columns mean "not set" then.
  int bind_or_null(int index, std::string_view text) noexcept {
    if (text.empty()) return sqlite3_bind_null(stmt_, index);
    return bind(index, text);
  }
  int bind(int index, std::int64_t value) noexcept {
    return sqlite3_bind_int64(stmt_, index, value);
  }

  int step() noexcept { return sqlite3_step(stmt_); }

  // NULL reads as "".
  bool is_null(int column) const noexcept {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  std::string_view text(int column) const noexcept {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    if (!p) return {};
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
  }
  std::int64_t integer(int column) const noexcept { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace cppflue::sqlite
