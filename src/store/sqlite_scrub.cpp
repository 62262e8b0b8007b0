// SPDX-License-Identifier: Apache-2.0
// Rewriting stored text to remove secrets (`cppflue sessions scrub`): every text column that can
// hold model input or output, through a Redactor, then the freed pages are wiped (secure_delete,
// WAL checkpoint, VACUUM), so the old values are not left in the file either.
#include <sqlite3.h>

#include <fmt/format.h>

#include "cppflue/store/store.hpp"
#include "sqlite_handle.hpp"

namespace cppflue {

namespace {

struct Column {
  const char* table;
  const char* column;
};

// Every column that stores conversation or run data (JSON text).
constexpr Column kColumns[] = {
    {"entries", "content"}, {"sessions", "metadata"}, {"run_events", "data"},
    {"runs", "payload"},    {"runs", "result"},       {"runs", "error"},
    {"dispatch", "input"},  {"dispatch", "context"},  {"dispatch", "error"},
};

std::string redact_text(std::string_view text, const Redactor& redactor) {
  boost::system::error_code ec;
  json value = boost::json::parse(text, ec);
  if (ec) return redactor.apply(text);
  redactor.apply(value);
  return boost::json::serialize(value);
}

}  // namespace

Result<ScrubReport> scrub_sqlite_store(const std::filesystem::path& path,
                                       const Redactor& redactor) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
  auto failure = [&](std::string_view what) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: {}: {}", path.string(), what,
                            db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc)),
                json_object{{"path", path.string()}, {"operation", what}});
  };
  if (rc != SQLITE_OK) return failure("open");
  sqlite3_busy_timeout(db.get(), 10000);
  auto exec = [&](const char* sql) {
    return sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr);
  };
  if (exec("PRAGMA secure_delete = ON") != SQLITE_OK) return failure("secure_delete");
  if (exec("BEGIN IMMEDIATE") != SQLITE_OK) return failure("begin");
  ScrubReport report;
  for (const auto& c : kColumns) {
    std::string select = fmt::format("SELECT rowid, {} FROM {}", c.column, c.table);
    std::string update = fmt::format("UPDATE {} SET {} = ?1 WHERE rowid = ?2", c.table, c.column);
    sqlite3_stmt* sel = nullptr;
    sqlite3_stmt* upd = nullptr;
    if (sqlite3_prepare_v2(db.get(), select.c_str(), -1, &sel, nullptr) != SQLITE_OK) {
      // A table of a newer schema step that this database does not have yet.
      sqlite3_finalize(sel);
      continue;
    }
    if (sqlite3_prepare_v2(db.get(), update.c_str(), -1, &upd, nullptr) != SQLITE_OK) {
      sqlite3_finalize(sel);
      exec("ROLLBACK");
      return failure("prepare");
    }
    bool ok = true;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
      ++report.values_checked;
      auto rowid = sqlite3_column_int64(sel, 0);
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(sel, 1));
      if (p == nullptr) continue;
      std::string_view text(p, static_cast<std::size_t>(sqlite3_column_bytes(sel, 1)));
      std::string cleaned = redact_text(text, redactor);
      if (cleaned == text) continue;
      sqlite3_bind_text(upd, 1, cleaned.data(), static_cast<int>(cleaned.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(upd, 2, rowid);
      if (sqlite3_step(upd) != SQLITE_DONE) ok = false;
      sqlite3_reset(upd);
      ++report.values_rewritten;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (!ok || rc != SQLITE_DONE) {
      exec("ROLLBACK");
      return failure("rewrite");
    }
  }
  if (exec("COMMIT") != SQLITE_OK) {
    exec("ROLLBACK");
    return failure("commit");
  }
  // The old values may survive in the WAL and in free pages: fold the WAL in and rebuild.
  if (exec("PRAGMA wal_checkpoint(TRUNCATE)") != SQLITE_OK) return failure("checkpoint");
  if (exec("VACUUM") != SQLITE_OK) return failure("vacuum");
  if (exec("PRAGMA wal_checkpoint(TRUNCATE)") != SQLITE_OK) return failure("checkpoint");
  return report;
}

}  // namespace cppflue
