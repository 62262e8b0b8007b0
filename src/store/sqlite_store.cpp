// SPDX-License-Identifier: Apache-2.0
// The SQLite implementation of `Store` (DESIGN §5).
//
// One connection per Store, guarded by a mutex (SQLite's own FULLMUTEX would not make our
// multi-step operations atomic anyway), with every statement prepared once at open. Another
// process (or another Store on the same file) coordinates through SQLite's file locks: WAL lets
// readers proceed while one writer commits, and busy_timeout absorbs short write contention.
#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <system_error>

#include "cppflue/core/clock.hpp"
#include "cppflue/store/store.hpp"
#include "store/sqlite_handle.hpp"

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using sqlite::StmtUse;

constexpr int kBusyTimeoutMs = 5000;

// Forward-only schema history. Each migration runs once, in its own transaction, in version
// order; a later schema change is a new element appended here, never an edit of an old one.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  parent_id TEXT,
  agent TEXT,
  instance_id TEXT,
  metadata TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE entries (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  role TEXT,
  content TEXT NOT NULL,
  source TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
) STRICT;

-- Appending bumps the session's updated_at inside the INSERT's own transaction, so the hot
-- path is a single statement and a single commit.
CREATE TRIGGER entries_touch_session AFTER INSERT ON entries BEGIN
  UPDATE sessions SET updated_at = NEW.created_at WHERE id = NEW.session_id;
END;
)sql"},
};

constexpr int kLatestVersion = kMigrations[std::size(kMigrations) - 1].version;

// entry_count is the last seq: seqs are contiguous from 1 and entries are never deleted one by
// one, and the index seek is O(log n) where COUNT(*) would scan the session.
constexpr const char* kSessionColumns =
    "s.id, s.parent_id, s.agent, s.instance_id, s.metadata, s.created_at, s.updated_at, "
    "IFNULL((SELECT e.seq FROM entries e WHERE e.session_id = s.id ORDER BY e.seq DESC LIMIT 1), "
    "0)";

bool is_not_a_database(int rc) {
  return (rc & 0xff) == SQLITE_NOTADB;
}

class SqliteStore final : public Store {
 public:
  static Result<std::shared_ptr<Store>> open(const fs::path& path);

  Result<SessionRecord> open_session(const std::string& id, const SessionInit& init) override;
  Result<std::optional<SessionRecord>> get_session(const std::string& id) override;
  Result<std::vector<SessionRecord>> list_sessions() override;
  Result<bool> delete_session(const std::string& id) override;
  Result<void> update_metadata(const std::string& id, const json& metadata) override;
  Result<std::int64_t> append_entry(const std::string& session_id, const Entry& entry) override;
  Result<std::vector<Entry>> entries(const std::string& session_id) override;

 private:
  explicit SqliteStore(fs::path path) : path_(std::move(path)), path_text_(path_.string()) {}

  Result<void> configure();
  Result<void> migrate();
  Result<void> prepare_all();
  Result<void> exec(const char* sql, std::string_view operation);
  Result<sqlite::Stmt> prepare(const std::string& sql, unsigned flags);
  Result<std::optional<SessionRecord>> get_session_locked(const std::string& id);
  Result<SessionRecord> read_session(const StmtUse& row);

  // The SQLite message for the last failure on this connection, with the database path.
  Error error(std::string_view operation, int rc) const {
    const char* message = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
    int code = db_ ? sqlite3_extended_errcode(db_.get()) : rc;
    return make_error(ErrorType::store_error,
                      fmt::format("store {}: {}: {}", path_text_, operation, message),
                      json_object{{"path", path_text_},
                                  {"operation", operation},
                                  {"sqlite_code", code},
                                  {"sqlite_message", message}});
  }

  std::mutex mutex_;
  fs::path path_;
  std::string path_text_;
  sqlite::Db db_;

  // Cached statements, prepared once with SQLITE_PREPARE_PERSISTENT.
  sqlite::Stmt insert_session_;
  sqlite::Stmt select_session_;
  sqlite::Stmt select_sessions_;
  sqlite::Stmt delete_session_;
  sqlite::Stmt update_metadata_;
  sqlite::Stmt insert_entry_;
  sqlite::Stmt select_entries_;
};

Result<std::shared_ptr<Store>> SqliteStore::open(const fs::path& path) {
  std::shared_ptr<SqliteStore> store(new SqliteStore(path));
  const std::string& text = store->path_text_;
  if (text != ":memory:" && path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: cannot create directory {}: {}", text,
                              path.parent_path().string(), ec.message()),
                  json_object{{"path", text}, {"operation", "create directory"}});
    }
  }
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(text.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  store->db_.reset(raw);  // closed by the handle even when opening failed
  if (rc != SQLITE_OK) return fail(store->error("open", rc));
  sqlite3_extended_result_codes(raw, 1);

  if (auto r = store->configure(); !r) return fail(std::move(r.error()));
  if (auto r = store->migrate(); !r) return fail(std::move(r.error()));
  if (auto r = store->prepare_all(); !r) return fail(std::move(r.error()));
  return std::shared_ptr<Store>(std::move(store));
}

Result<void> SqliteStore::exec(const char* sql, std::string_view operation) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message);
  sqlite3_free(message);  // the same text is available from sqlite3_errmsg
  if (rc != SQLITE_OK) return fail(error(operation, rc));
  return {};
}

Result<sqlite::Stmt> SqliteStore::prepare(const std::string& sql, unsigned flags) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size() + 1), flags, &raw,
                              nullptr);
  sqlite::Stmt stmt(raw);
  if (rc != SQLITE_OK) return fail(error("prepare statement", rc));
  return stmt;
}

Result<void> SqliteStore::configure() {
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  // The first statement that reads the file is where a non-database is detected; say so plainly
  // rather than surfacing a bare "file is not a database" from some later query.
  auto wal = prepare("PRAGMA journal_mode=WAL", 0);
  int rc = SQLITE_OK;
  if (wal) {
    StmtUse q(wal->get());
    rc = q.step();
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
  } else {
    rc = sqlite3_extended_errcode(db_.get());
  }
  if (rc != SQLITE_OK) {
    if (is_not_a_database(rc)) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: the file is not a SQLite database", path_text_),
                  json_object{{"path", path_text_},
                              {"operation", "open"},
                              {"sqlite_code", rc},
                              {"sqlite_message", sqlite3_errstr(rc)}});
    }
    if (!wal) return fail(std::move(wal.error()));
    return fail(error("enable WAL", rc));
  }
  return exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", "configure connection");
}

Result<void> SqliteStore::migrate() {
  // BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh database
  // cannot both apply migration 1.
  if (auto r = exec("BEGIN IMMEDIATE", "begin migration"); !r) return r;
  auto rollback = [this] { sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr); };
  auto step = [&]() -> Result<void> {
    if (auto r = exec("CREATE TABLE IF NOT EXISTS schema_version ("
                      "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT",
                      "create schema_version");
        !r) {
      return r;
    }
    auto current_stmt = prepare("SELECT IFNULL(MAX(version), 0) FROM schema_version", 0);
    if (!current_stmt) return fail(std::move(current_stmt.error()));
    std::int64_t current = 0;
    {
      StmtUse q(current_stmt->get());
      int rc = q.step();
      if (rc != SQLITE_ROW) return fail(error("read schema version", rc));
      current = q.integer(0);
    }
    if (current > kLatestVersion) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: database schema version {} is newer than this build "
                              "supports ({})",
                              path_text_, current, kLatestVersion),
                  json_object{{"path", path_text_},
                              {"schema_version", current},
                              {"supported_version", kLatestVersion}});
    }
    auto record = prepare("INSERT INTO schema_version(version, applied_at) VALUES (?1, ?2)", 0);
    if (!record) return fail(std::move(record.error()));
    for (const Migration& m : kMigrations) {
      if (m.version <= current) continue;
      if (auto r = exec(m.sql, fmt::format("migration {}", m.version)); !r) return r;
      std::string now = iso8601_now();
      StmtUse q(record->get());
      q.bind(1, static_cast<std::int64_t>(m.version));
      q.bind(2, now);
      int rc = q.step();
      if (rc != SQLITE_DONE) return fail(error("record schema version", rc));
    }
    return exec("COMMIT", "commit migration");
  };
  auto r = step();
  if (!r) rollback();
  return r;
}

Result<void> SqliteStore::prepare_all() {
  struct Item {
    sqlite::Stmt* target;
    std::string sql;
  };
  const std::string columns = kSessionColumns;
  Item items[] = {
      {&insert_session_,
       "INSERT INTO sessions(id, parent_id, agent, instance_id, metadata, created_at, updated_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT(id) DO NOTHING"},
      {&select_session_, "SELECT " + columns + " FROM sessions s WHERE s.id = ?1"},
      {&select_sessions_, "SELECT " + columns + " FROM sessions s ORDER BY s.created_at, s.id"},
      {&delete_session_, "DELETE FROM sessions WHERE id = ?1"},
      {&update_metadata_, "UPDATE sessions SET metadata = ?2, updated_at = ?3 WHERE id = ?1"},
      // seq is computed inside the INSERT, i.e. under the write lock of its own transaction, so
      // concurrent appenders (threads or processes) can never be given the same number.
      {&insert_entry_,
       "INSERT INTO entries(session_id, seq, kind, role, content, source, created_at) VALUES (?1, "
       "IFNULL((SELECT seq FROM entries WHERE session_id = ?1 ORDER BY seq DESC LIMIT 1), 0) + 1, "
       "?2, ?3, ?4, ?5, ?6) RETURNING seq"},
      {&select_entries_,
       "SELECT seq, kind, role, content, source, created_at FROM entries WHERE session_id = ?1 "
       "ORDER BY seq"},
  };
  for (auto& item : items) {
    auto stmt = prepare(item.sql, SQLITE_PREPARE_PERSISTENT);
    if (!stmt) return fail(std::move(stmt.error()));
    *item.target = std::move(*stmt);
  }
  return {};
}

Result<SessionRecord> SqliteStore::read_session(const StmtUse& row) {
  SessionRecord s;
  s.id = row.text(0);
  s.parent_id = row.text(1);
  s.agent = row.text(2);
  s.instance_id = row.text(3);
  boost::system::error_code ec;
  s.metadata = boost::json::parse(row.text(4), ec);
  if (ec) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: session {}: stored metadata is not valid JSON: {}",
                            path_text_, s.id, ec.message()),
                json_object{{"path", path_text_}, {"session", s.id}});
  }
  s.created_at = row.text(5);
  s.updated_at = row.text(6);
  s.entry_count = row.integer(7);
  return s;
}

Result<std::optional<SessionRecord>> SqliteStore::get_session_locked(const std::string& id) {
  StmtUse q(select_session_.get());
  q.bind(1, id);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<SessionRecord>();
  if (rc != SQLITE_ROW) return fail(error("get session", rc));
  auto s = read_session(q);
  if (!s) return fail(std::move(s.error()));
  return std::optional<SessionRecord>(std::move(*s));
}

Result<SessionRecord> SqliteStore::open_session(const std::string& id, const SessionInit& init) {
  if (id.empty()) {
    return fail(ErrorType::invalid_input, "session id must not be empty",
                json_object{{"path", path_text_}});
  }
  std::string metadata = boost::json::serialize(init.metadata);
  std::string now = iso8601_now();
  std::lock_guard lock(mutex_);
  {
    StmtUse q(insert_session_.get());
    q.bind(1, id);
    q.bind_or_null(2, init.parent_id);
    q.bind_or_null(3, init.agent);
    q.bind_or_null(4, init.instance_id);
    q.bind(5, metadata);
    q.bind(6, now);
    int rc = q.step();
    if (rc != SQLITE_DONE) return fail(error("open session", rc));
  }
  auto s = get_session_locked(id);
  if (!s) return fail(std::move(s.error()));
  if (!*s) {
    // Only possible if another process deleted it between the two statements.
    return fail(ErrorType::store_error,
                fmt::format("store {}: session {} was deleted while being opened", path_text_, id),
                json_object{{"path", path_text_}, {"session", id}});
  }
  return std::move(**s);
}

Result<std::optional<SessionRecord>> SqliteStore::get_session(const std::string& id) {
  std::lock_guard lock(mutex_);
  return get_session_locked(id);
}

Result<std::vector<SessionRecord>> SqliteStore::list_sessions() {
  std::lock_guard lock(mutex_);
  StmtUse q(select_sessions_.get());
  std::vector<SessionRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    auto s = read_session(q);
    if (!s) return fail(std::move(s.error()));
    out.push_back(std::move(*s));
  }
  if (rc != SQLITE_DONE) return fail(error("list sessions", rc));
  return out;
}

Result<bool> SqliteStore::delete_session(const std::string& id) {
  std::lock_guard lock(mutex_);
  StmtUse q(delete_session_.get());
  q.bind(1, id);
  int rc = q.step();
  if (rc != SQLITE_DONE) return fail(error("delete session", rc));
  return sqlite3_changes(db_.get()) > 0;
}

Result<void> SqliteStore::update_metadata(const std::string& id, const json& metadata) {
  std::string text = boost::json::serialize(metadata);
  std::string now = iso8601_now();
  std::lock_guard lock(mutex_);
  StmtUse q(update_metadata_.get());
  q.bind(1, id);
  q.bind(2, text);
  q.bind(3, now);
  int rc = q.step();
  if (rc != SQLITE_DONE) return fail(error("update metadata", rc));
  if (sqlite3_changes(db_.get()) == 0) {
    return fail(ErrorType::not_found, fmt::format("session {} not found", id),
                json_object{{"path", path_text_}, {"session", id}});
  }
  return {};
}

Result<std::int64_t> SqliteStore::append_entry(const std::string& session_id, const Entry& entry) {
  // Serialise outside the lock: it is the costliest part for large payloads.
  std::string content = boost::json::serialize(entry.content);
  std::string created_at = entry.created_at.empty() ? iso8601_now() : entry.created_at;
  std::lock_guard lock(mutex_);
  StmtUse q(insert_entry_.get());
  q.bind(1, session_id);
  q.bind(2, entry.kind);
  q.bind_or_null(3, entry.role);
  q.bind(4, content);
  q.bind_or_null(5, entry.source);
  q.bind(6, created_at);
  int rc = q.step();
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return fail(ErrorType::not_found, fmt::format("session {} not found", session_id),
                  json_object{{"path", path_text_}, {"session", session_id}});
    }
    return fail(error("append entry", rc));
  }
  std::int64_t seq = q.integer(0);
  // Run the statement to completion: in autocommit mode that is the commit, and the entry
  // must be durable before this returns.
  rc = q.step();
  if (rc != SQLITE_DONE) return fail(error("append entry", rc));
  return seq;
}

Result<std::vector<Entry>> SqliteStore::entries(const std::string& session_id) {
  std::lock_guard lock(mutex_);
  StmtUse q(select_entries_.get());
  q.bind(1, session_id);
  std::vector<Entry> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    Entry e;
    e.seq = q.integer(0);
    e.kind = q.text(1);
    e.role = q.text(2);
    boost::system::error_code ec;
    e.content = boost::json::parse(q.text(3), ec);
    if (ec) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: session {} entry {}: stored content is not valid JSON: {}",
                              path_text_, session_id, e.seq, ec.message()),
                  json_object{{"path", path_text_}, {"session", session_id}, {"seq", e.seq}});
    }
    e.source = q.text(4);
    e.created_at = q.text(5);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return fail(error("read entries", rc));
  return out;
}

}  // namespace

Result<std::shared_ptr<Store>> open_sqlite_store(const std::filesystem::path& path) {
  try {
    return SqliteStore::open(path);
  } catch (const std::exception& e) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: cannot open: {}", path.string(), e.what()),
                json_object{{"path", path.string()}});
  }
}

}  // namespace cppflue
