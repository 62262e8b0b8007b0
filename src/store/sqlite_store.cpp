// SPDX-License-Identifier: Apache-2.0
// The SQLite implementation of `Store` (docs/architecture.md).
//
// One connection per Store, guarded by a mutex (SQLite's own FULLMUTEX would not make our
// multi-step operations atomic anyway), with every statement prepared once at open. Another
// process (or another Store on the same file) coordinates through SQLite's file locks: WAL lets
// readers proceed while one writer commits, and busy_timeout absorbs short write contention.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
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
    {2, R"sql(
-- Timestamps are stored as YYYY-MM-DDTHH:MM:SS.sssZ only, so text order is time order and
-- (started_at, id) is a total order for keyset paging. JSON columns hold serialised text
-- ('null' when unset). event_count is not stored: it is the last idx, read through the
-- primary key, so an append never rewrites the run row (and its payload).
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  workflow TEXT NOT NULL,
  instance_id TEXT,
  status TEXT NOT NULL,
  payload TEXT NOT NULL,
  result TEXT NOT NULL,
  error TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  duration_ms INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX runs_by_started ON runs(started_at, id);
CREATE INDEX runs_by_workflow ON runs(workflow, started_at, id);
CREATE INDEX runs_by_status ON runs(status, started_at, id);

CREATE TABLE run_events (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  PRIMARY KEY (run_id, idx)
) STRICT;
)sql"},
    {3, R"sql(
-- Durably queued inputs. seq is the acceptance order; one session's items are leased one at a
-- time in seq order. lease_until is epoch milliseconds.
CREATE TABLE dispatch (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  agent TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  session TEXT NOT NULL,
  input TEXT NOT NULL,
  context TEXT NOT NULL,
  idempotency_key TEXT,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  entries_before INTEGER NOT NULL DEFAULT -1,
  lease_until INTEGER,
  accepted_at TEXT NOT NULL,
  finished_at TEXT,
  error TEXT NOT NULL DEFAULT 'null'
) STRICT;

CREATE UNIQUE INDEX dispatch_by_key ON dispatch(agent, instance_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX dispatch_open_by_session ON dispatch(session, seq)
  WHERE state IN ('pending', 'leased');
CREATE INDEX dispatch_by_state ON dispatch(state, seq);
)sql"},
    {4, R"sql(
-- Admin listings: an agent's instances, and one instance's runs newest first.
CREATE INDEX runs_by_instance ON runs(workflow, instance_id, started_at, id);
)sql"},
};

constexpr int kLatestVersion = kMigrations[std::size(kMigrations) - 1].version;

// entry_count is the last seq: seqs are contiguous from 1 and entries are never deleted one by
// one, and the index seek is O(log n) where COUNT(*) would scan the session.
constexpr const char* kSessionColumns =
    "s.id, s.parent_id, s.agent, s.instance_id, s.metadata, s.created_at, s.updated_at, "
    "IFNULL((SELECT e.seq FROM entries e WHERE e.session_id = s.id ORDER BY e.seq DESC LIMIT 1), "
    "0)";

constexpr const char* kRunColumns =
    "r.id, r.workflow, r.instance_id, r.status, r.payload, r.result, r.error, r.started_at, "
    "r.ended_at, r.duration_ms, "
    "IFNULL((SELECT e.idx FROM run_events e WHERE e.run_id = r.id ORDER BY e.idx DESC LIMIT 1), 0)";

// SQLite's own clock and format for timestamps taken inside a statement: identical to
// iso8601_now(), and taken under the write lock, so event timestamps follow event indices.
constexpr const char* kSqlNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

constexpr int kMaxRunPage = 1000;
constexpr std::int64_t kMaxEventPage = 10000;
constexpr std::size_t kMaxCursorBytes = 4096;

bool is_terminal_status(std::string_view status) {
  return status == "completed" || status == "failed" || status == "aborted";
}

// Run-list cursors: base64url (no padding) of {"s":started_at,"r":id}, the last run returned.
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

std::optional<std::string> base64url_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

std::string encode_run_cursor(const RunRecord& last) {
  return base64url_encode(
      boost::json::serialize(json_object{{"s", last.started_at}, {"r", last.id}}));
}

std::string encode_name_cursor(const std::string& last) {
  return base64url_encode(boost::json::serialize(json_object{{"n", last}}));
}

// A decoded cursor: either an offset (PyFlue's {"offset":N} or a bare digit string) or the
// keyset object this store wrote ({"s","r"} for runs, {"n"} for names).
struct Cursor {
  std::int64_t offset = 0;
  json key = nullptr;  // an object, or null for an offset cursor
};

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
    const json& n = o.at("offset");
    if (!n.is_int64() && !n.is_uint64()) return std::nullopt;
    if (n.is_int64() && n.as_int64() < 0) return std::nullopt;
    if (n.is_uint64() && n.as_uint64() > static_cast<std::uint64_t>(INT64_MAX)) {
      return std::nullopt;
    }
    c.offset = n.is_int64() ? n.as_int64() : static_cast<std::int64_t>(n.as_uint64());
    return c;
  }
  c.key = std::move(v);
  return c;
}

struct RunCursor {
  std::string started_at;
  std::string id;
};

std::optional<RunCursor> run_keyset(const json& key) {
  auto s = get_string(key, "s");
  auto r = get_string(key, "r");
  if (!s || !r || key.as_object().size() != 2) return std::nullopt;
  return RunCursor{std::move(*s), std::move(*r)};
}

std::optional<std::string> name_keyset(const json& key) {
  auto n = get_string(key, "n");
  if (!n || key.as_object().size() != 1) return std::nullopt;
  return n;
}

// "a,b" → ["a","b"] (blank items dropped), as JSON text for json_each.
std::string status_list(std::string_view text) {
  boost::json::array out;
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
  return boost::json::serialize(out);
}

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

  Result<RunRecord> create_run(const RunRecord& run) override;
  Result<std::int64_t> append_run_event(const std::string& run_id, const std::string& type,
                                        const json& data) override;
  Result<RunRecord> finish_run(const std::string& run_id, const std::string& status,
                               const json& result, const json& error) override;
  Result<std::optional<RunRecord>> get_run(const std::string& run_id) override;
  Result<std::vector<RunEvent>> run_events(const std::string& run_id, std::int64_t after,
                                           std::int64_t limit,
                                           const std::vector<std::string>& types) override;
  Result<RunPage> list_runs(const RunQuery& query) override;
  Result<NamePage> list_run_workflows(const NameQuery& query) override {
    return list_names(query, false);
  }
  Result<NamePage> list_run_instances(const NameQuery& query) override {
    return list_names(query, true);
  }

  Result<DispatchItem> enqueue_dispatch(const DispatchItem& item) override;
  Result<std::optional<DispatchItem>> lease_dispatch(std::chrono::milliseconds lease) override;
  Result<bool> renew_dispatch(const std::string& id, std::chrono::milliseconds lease) override;
  Result<void> begin_dispatch_attempt(const std::string& id, std::int64_t entries_before) override;
  Result<void> finish_dispatch(const std::string& id, const std::string& state,
                               const json& error) override;
  Result<std::optional<DispatchItem>> get_dispatch(const std::string& id) override;
  Result<std::int64_t> release_dispatch_leases() override;
  Result<std::map<std::string, std::int64_t>> dispatch_counts() override;

 private:
  explicit SqliteStore(fs::path path) : path_(std::move(path)), path_text_(path_.string()) {}

  Result<void> configure();
  Result<NamePage> list_names(const NameQuery& query, bool instances);
  Result<void> migrate();
  Result<void> prepare_all();
  Result<void> prepare_runs();
  Result<void> prepare_dispatch();
  Result<DispatchItem> read_dispatch(const StmtUse& row) const;
  Result<std::optional<DispatchItem>> get_dispatch_locked(sqlite3_stmt* stmt, const std::string& a,
                                                          const std::string& b = {},
                                                          const std::string& c = {});
  Result<bool> run_update(sqlite3_stmt* stmt, std::string_view operation,
                          const std::function<void(StmtUse&)>& bind);
  Result<void> exec(const char* sql, std::string_view operation);
  Result<sqlite::Stmt> prepare(const std::string& sql, unsigned flags);
  Result<std::optional<SessionRecord>> get_session_locked(const std::string& id);
  Result<SessionRecord> read_session(const StmtUse& row);
  Result<std::optional<RunRecord>> get_run_locked(const std::string& id);
  Result<RunRecord> read_run(const StmtUse& row);
  Result<json> read_json(const StmtUse& row, int column, std::string_view name,
                         std::string_view run_id, std::int64_t event) const;
  Result<std::string> normalise_timestamp(const std::string& text);

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
  sqlite::Stmt normalise_time_;
  sqlite::Stmt insert_run_;
  sqlite::Stmt select_run_;
  sqlite::Stmt finish_run_;
  sqlite::Stmt insert_run_event_;
  sqlite::Stmt select_run_events_;
  // list_runs, one statement per filter shape so each uses its index: bit 0 = workflow,
  // bit 1 = status, bit 2 = cursor.
  // bit 3 = instance. All take a LIMIT ?5 and an OFFSET ?6.
  sqlite::Stmt list_runs_[16];
  sqlite::Stmt list_workflows_;
  sqlite::Stmt list_instances_;

  sqlite::Stmt insert_dispatch_;
  sqlite::Stmt select_dispatch_;
  sqlite::Stmt select_dispatch_by_key_;
  sqlite::Stmt next_dispatch_;
  sqlite::Stmt lease_dispatch_;
  sqlite::Stmt renew_dispatch_;
  sqlite::Stmt begin_dispatch_;
  sqlite::Stmt finish_dispatch_;
  sqlite::Stmt release_dispatch_;
  sqlite::Stmt count_dispatch_;
};

Result<std::shared_ptr<Store>> SqliteStore::open(const fs::path& path) {
  std::shared_ptr<SqliteStore> store(new SqliteStore(path));
  const std::string& text = store->path_text_;
  if (text != ":memory:" && path.has_parent_path()) {
    std::error_code ec;
    bool created = !fs::exists(path.parent_path(), ec);
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: cannot create directory {}: {}", text,
                              path.parent_path().string(), ec.message()),
                  json_object{{"path", text}, {"operation", "create directory"}});
    }
    // The history is private: a new state folder is 0700, the database 0600 (SQLite gives its
    // -wal and -shm files the database's permissions).
    if (created) ::chmod(path.parent_path().c_str(), 0700);
    int fd = ::open(text.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      struct stat st {};
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
          (st.st_mode & 077) != 0) {
        ::fchmod(fd, st.st_mode & 0700);
      }
      ::close(fd);
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
  return prepare_runs();
}

Result<void> SqliteStore::prepare_runs() {
  struct Item {
    sqlite::Stmt* target;
    std::string sql;
  };
  const std::string columns = kRunColumns;
  const std::string now = kSqlNow;
  std::vector<Item> items = {
      // NULL for anything SQLite cannot read as a time; the caller rejects that.
      {&normalise_time_, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1)"},
      {&insert_run_,
       "INSERT INTO runs(id, workflow, instance_id, status, payload, result, error, started_at) "
       "VALUES (?1, ?2, ?3, 'running', ?4, 'null', 'null', ?5)"},
      {&select_run_, "SELECT " + columns + " FROM runs r WHERE r.id = ?1"},
      // The status guard makes finishing atomic against another finisher in any process; the
      // duration comes from the stored start, clamped at 0 against clock steps.
      {&finish_run_, "UPDATE runs SET status = ?2, result = ?3, error = ?4, ended_at = " + now +
                         ", duration_ms = MAX(0, IFNULL(CAST(ROUND((julianday(" + now +
                         ") - julianday(started_at)) * 86400000.0) AS INTEGER), 0)) "
                         "WHERE id = ?1 AND status = 'running'"},
      // idx is computed inside the INSERT, under the write lock of its own transaction, so
      // concurrent appenders (threads or processes) can never be given the same number.
      {&insert_run_event_,
       "INSERT INTO run_events(run_id, idx, type, data, timestamp) VALUES (?1, "
       "IFNULL((SELECT idx FROM run_events WHERE run_id = ?1 ORDER BY idx DESC LIMIT 1), 0) + 1, "
       "?2, ?3, " +
           now + ") RETURNING idx"},
      {&select_run_events_,
       "SELECT idx, type, data, timestamp FROM run_events WHERE run_id = ?1 AND idx > ?2 "
       "AND (?3 IS NULL OR type IN (SELECT value FROM json_each(?3))) ORDER BY idx LIMIT ?4"},
  };
  for (int shape = 0; shape < 16; ++shape) {
    std::string where;
    auto add = [&](const char* condition) {
      where += where.empty() ? " WHERE " : " AND ";
      where += condition;
    };
    if (shape & 1) add("r.workflow = ?1");
    if (shape & 2) add("r.status IN (SELECT value FROM json_each(?2))");
    if (shape & 4) add("(r.started_at, r.id) < (?3, ?4)");
    if (shape & 8) add("r.instance_id = ?7");
    items.push_back(
        {&list_runs_[shape], "SELECT " + columns + " FROM runs r" + where +
                                 " ORDER BY r.started_at DESC, r.id DESC LIMIT ?5 OFFSET ?6"});
  }
  items.push_back({&list_workflows_,
                   "SELECT DISTINCT workflow FROM runs WHERE workflow > ?1 ORDER BY workflow "
                   "LIMIT ?2 OFFSET ?3"});
  items.push_back({&list_instances_,
                   "SELECT DISTINCT instance_id FROM runs WHERE workflow = ?1 AND instance_id > ?2 "
                   "ORDER BY instance_id LIMIT ?3 OFFSET ?4"});
  for (auto& item : items) {
    auto stmt = prepare(item.sql, SQLITE_PREPARE_PERSISTENT);
    if (!stmt) return fail(std::move(stmt.error()));
    *item.target = std::move(*stmt);
  }
  return prepare_dispatch();
}

// ---- dispatch ----

constexpr const char* kDispatchColumns =
    "seq, id, agent, instance_id, session, input, context, idempotency_key, state, attempts, "
    "entries_before, lease_until, accepted_at, finished_at, error";

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<void> SqliteStore::prepare_dispatch() {
  struct Item {
    sqlite::Stmt* target;
    std::string sql;
  };
  const std::string columns = kDispatchColumns;
  const std::string now = kSqlNow;
  Item items[] = {
      {&insert_dispatch_,
       "INSERT INTO dispatch(id, agent, instance_id, session, input, context, idempotency_key, "
       "state, accepted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', " +
           now + ")"},
      {&select_dispatch_, "SELECT " + columns + " FROM dispatch WHERE id = ?1"},
      {&select_dispatch_by_key_, "SELECT " + columns +
                                     " FROM dispatch WHERE agent = ?1 AND instance_id = ?2 AND "
                                     "idempotency_key = ?3"},
      // The oldest runnable item: pending or with an expired lease, and first among the
      // unfinished items of its session.
      {&next_dispatch_,
       "SELECT " + columns +
           " FROM dispatch d WHERE d.state IN ('pending', 'leased') AND (d.state = 'pending' OR "
           "d.lease_until < ?1) AND NOT EXISTS (SELECT 1 FROM dispatch f WHERE f.session = "
           "d.session AND f.seq < d.seq AND f.state IN ('pending', 'leased')) ORDER BY d.seq "
           "LIMIT 1"},
      {&lease_dispatch_,
       "UPDATE dispatch SET state = 'leased', attempts = attempts + 1, lease_until = ?2 WHERE "
       "id = ?1"},
      {&renew_dispatch_, "UPDATE dispatch SET lease_until = ?2 WHERE id = ?1 AND state = 'leased'"},
      {&begin_dispatch_, "UPDATE dispatch SET entries_before = ?2 WHERE id = ?1"},
      {&finish_dispatch_,
       "UPDATE dispatch SET state = ?2, error = ?3, lease_until = NULL, "
       "finished_at = " +
           now + " WHERE id = ?1"},
      {&release_dispatch_,
       "UPDATE dispatch SET state = 'pending', lease_until = NULL WHERE state = 'leased'"},
      {&count_dispatch_, "SELECT state, COUNT(*) FROM dispatch GROUP BY state"},
  };
  for (auto& item : items) {
    auto stmt = prepare(item.sql, SQLITE_PREPARE_PERSISTENT);
    if (!stmt) return fail(std::move(stmt.error()));
    *item.target = std::move(*stmt);
  }
  return {};
}

Result<DispatchItem> SqliteStore::read_dispatch(const StmtUse& row) const {
  DispatchItem d;
  d.seq = row.integer(0);
  d.id = row.text(1);
  d.agent = row.text(2);
  d.instance_id = row.text(3);
  d.session = row.text(4);
  auto parse = [&](int column, std::string_view name) -> Result<json> {
    boost::system::error_code ec;
    json v = boost::json::parse(row.text(column), ec);
    if (!ec) return v;
    return fail(ErrorType::store_error,
                fmt::format("store {}: dispatch {}: stored {} is not valid JSON: {}", path_text_,
                            d.id, name, ec.message()),
                json_object{{"path", path_text_}, {"dispatch", d.id}, {"column", name}});
  };
  auto input = parse(5, "input");
  if (!input) return fail(std::move(input.error()));
  d.input = std::move(*input);
  auto context = parse(6, "context");
  if (!context) return fail(std::move(context.error()));
  d.context = std::move(*context);
  d.idempotency_key = row.text(7);
  d.state = row.text(8);
  d.attempts = row.integer(9);
  d.entries_before = row.integer(10);
  d.lease_until_ms = row.integer(11);
  d.accepted_at = row.text(12);
  d.finished_at = row.text(13);
  auto error_value = parse(14, "error");
  if (!error_value) return fail(std::move(error_value.error()));
  d.error = std::move(*error_value);
  return d;
}

Result<std::optional<DispatchItem>> SqliteStore::get_dispatch_locked(sqlite3_stmt* stmt,
                                                                     const std::string& a,
                                                                     const std::string& b,
                                                                     const std::string& c) {
  StmtUse q(stmt);
  q.bind(1, a);
  if (!b.empty()) q.bind(2, b);
  if (!c.empty()) q.bind(3, c);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<DispatchItem>();
  if (rc != SQLITE_ROW) return fail(error("read dispatch", rc));
  auto d = read_dispatch(q);
  if (!d) return fail(std::move(d.error()));
  return std::optional<DispatchItem>(std::move(*d));
}

Result<bool> SqliteStore::run_update(sqlite3_stmt* stmt, std::string_view operation,
                                     const std::function<void(StmtUse&)>& bind) {
  StmtUse q(stmt);
  bind(q);
  int rc = q.step();
  if (rc != SQLITE_DONE) return fail(error(operation, rc));
  return sqlite3_changes(db_.get()) > 0;
}

Result<DispatchItem> SqliteStore::enqueue_dispatch(const DispatchItem& item) {
  if (item.id.empty() || item.agent.empty() || item.instance_id.empty() || item.session.empty()) {
    return fail(ErrorType::invalid_input,
                "a dispatch item needs an id, an agent, an instance id and a session",
                json_object{{"path", path_text_}, {"dispatch", item.id}});
  }
  std::string input = boost::json::serialize(item.input);
  std::string context = boost::json::serialize(item.context);
  std::lock_guard lock(mutex_);
  {
    StmtUse q(insert_dispatch_.get());
    q.bind(1, item.id);
    q.bind(2, item.agent);
    q.bind(3, item.instance_id);
    q.bind(4, item.session);
    q.bind(5, input);
    q.bind(6, context);
    q.bind_or_null(7, item.idempotency_key);
    int rc = q.step();
    if (rc == SQLITE_CONSTRAINT_UNIQUE && !item.idempotency_key.empty()) {
      auto original = get_dispatch_locked(select_dispatch_by_key_.get(), item.agent,
                                          item.instance_id, item.idempotency_key);
      if (!original) return fail(std::move(original.error()));
      if (*original) {
        (*original)->duplicate = true;
        return std::move(**original);
      }
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: dispatch {} already exists", path_text_, item.id),
                  json_object{{"path", path_text_}, {"dispatch", item.id}, {"rule", "duplicate"}});
    }
    if (rc != SQLITE_DONE) return fail(error("enqueue dispatch", rc));
  }
  auto stored = get_dispatch_locked(select_dispatch_.get(), item.id);
  if (!stored) return fail(std::move(stored.error()));
  if (!*stored) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: dispatch {} vanished after its insert", path_text_, item.id),
                json_object{{"path", path_text_}, {"dispatch", item.id}});
  }
  return std::move(**stored);
}

Result<std::optional<DispatchItem>> SqliteStore::lease_dispatch(std::chrono::milliseconds lease) {
  std::lock_guard lock(mutex_);
  // Select and lease in one write transaction, so two leasers (threads or processes) can never
  // take the same item or two items of one session.
  if (auto r = exec("BEGIN IMMEDIATE", "lease dispatch"); !r) return fail(std::move(r.error()));
  auto rollback = [&] { exec("ROLLBACK", "lease dispatch"); };
  std::int64_t now = epoch_ms_now();
  std::optional<DispatchItem> item;
  {
    StmtUse q(next_dispatch_.get());
    q.bind(1, now);
    int rc = q.step();
    if (rc == SQLITE_ROW) {
      auto d = read_dispatch(q);
      if (!d) {
        rollback();
        return fail(std::move(d.error()));
      }
      item = std::move(*d);
    } else if (rc != SQLITE_DONE) {
      auto e = error("lease dispatch", rc);
      rollback();
      return fail(std::move(e));
    }
  }
  if (item) {
    std::int64_t until = now + lease.count();
    auto updated = run_update(lease_dispatch_.get(), "lease dispatch", [&](StmtUse& q) {
      q.bind(1, item->id);
      q.bind(2, until);
    });
    if (!updated) {
      rollback();
      return fail(std::move(updated.error()));
    }
    item->state = "leased";
    item->attempts += 1;
    item->lease_until_ms = until;
  }
  if (auto r = exec("COMMIT", "lease dispatch"); !r) {
    rollback();
    return fail(std::move(r.error()));
  }
  return item;
}

Result<bool> SqliteStore::renew_dispatch(const std::string& id, std::chrono::milliseconds lease) {
  std::int64_t until = epoch_ms_now() + lease.count();
  std::lock_guard lock(mutex_);
  return run_update(renew_dispatch_.get(), "renew dispatch lease", [&](StmtUse& q) {
    q.bind(1, id);
    q.bind(2, until);
  });
}

Result<void> SqliteStore::begin_dispatch_attempt(const std::string& id,
                                                 std::int64_t entries_before) {
  std::lock_guard lock(mutex_);
  auto r = run_update(begin_dispatch_.get(), "begin dispatch attempt", [&](StmtUse& q) {
    q.bind(1, id);
    q.bind(2, entries_before);
  });
  if (!r) return fail(std::move(r.error()));
  if (!*r) {
    return fail(ErrorType::not_found, fmt::format("dispatch {} not found", id),
                json_object{{"path", path_text_}, {"dispatch", id}});
  }
  return {};
}

Result<void> SqliteStore::finish_dispatch(const std::string& id, const std::string& state,
                                          const json& error_value) {
  if (state != "done" && state != "failed") {
    return fail(ErrorType::invalid_input,
                fmt::format("dispatch {}: cannot finish with state {:?} (expected done or failed)",
                            id, state),
                json_object{{"path", path_text_}, {"dispatch", id}, {"state", state}});
  }
  std::string error_text = boost::json::serialize(error_value);
  std::lock_guard lock(mutex_);
  auto r = run_update(finish_dispatch_.get(), "finish dispatch", [&](StmtUse& q) {
    q.bind(1, id);
    q.bind(2, state);
    q.bind(3, error_text);
  });
  if (!r) return fail(std::move(r.error()));
  if (!*r) {
    return fail(ErrorType::not_found, fmt::format("dispatch {} not found", id),
                json_object{{"path", path_text_}, {"dispatch", id}});
  }
  return {};
}

Result<std::optional<DispatchItem>> SqliteStore::get_dispatch(const std::string& id) {
  std::lock_guard lock(mutex_);
  return get_dispatch_locked(select_dispatch_.get(), id);
}

Result<std::int64_t> SqliteStore::release_dispatch_leases() {
  std::lock_guard lock(mutex_);
  auto r = run_update(release_dispatch_.get(), "release dispatch leases", [](StmtUse&) {});
  if (!r) return fail(std::move(r.error()));
  return static_cast<std::int64_t>(sqlite3_changes(db_.get()));
}

Result<std::map<std::string, std::int64_t>> SqliteStore::dispatch_counts() {
  std::lock_guard lock(mutex_);
  StmtUse q(count_dispatch_.get());
  std::map<std::string, std::int64_t> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out[std::string(q.text(0))] = q.integer(1);
  if (rc != SQLITE_DONE) return fail(error("count dispatch", rc));
  return out;
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

// `event` is 0 for a column of the run itself.
Result<json> SqliteStore::read_json(const StmtUse& row, int column, std::string_view name,
                                    std::string_view run_id, std::int64_t event) const {
  boost::system::error_code ec;
  json v = boost::json::parse(row.text(column), ec);
  if (!ec) return v;
  json_object details{{"path", path_text_}, {"run", run_id}, {"column", name}};
  std::string place = fmt::format("run {}", run_id);
  if (event > 0) {
    details["event"] = event;
    place += fmt::format(" event {}", event);
  }
  return fail(ErrorType::store_error,
              fmt::format("store {}: {}: stored {} is not valid JSON: {}", path_text_, place, name,
                          ec.message()),
              std::move(details));
}

Result<RunRecord> SqliteStore::read_run(const StmtUse& row) {
  RunRecord r;
  r.id = row.text(0);
  r.workflow = row.text(1);
  r.instance_id = row.text(2);
  r.status = row.text(3);
  auto payload = read_json(row, 4, "payload", r.id, 0);
  if (!payload) return fail(std::move(payload.error()));
  r.payload = std::move(*payload);
  auto result = read_json(row, 5, "result", r.id, 0);
  if (!result) return fail(std::move(result.error()));
  r.result = std::move(*result);
  auto error_value = read_json(row, 6, "error", r.id, 0);
  if (!error_value) return fail(std::move(error_value.error()));
  r.error = std::move(*error_value);
  r.started_at = row.text(7);
  r.ended_at = row.text(8);
  r.duration_ms = row.integer(9);
  r.event_count = row.integer(10);
  return r;
}

Result<std::optional<RunRecord>> SqliteStore::get_run_locked(const std::string& id) {
  StmtUse q(select_run_.get());
  q.bind(1, id);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<RunRecord>();
  if (rc != SQLITE_ROW) return fail(error("get run", rc));
  auto r = read_run(q);
  if (!r) return fail(std::move(r.error()));
  return std::optional<RunRecord>(std::move(*r));
}

// Accepts what SQLite reads as a time (ISO-8601 with or without fraction, 'T' or space, 'Z' or
// an offset) and returns it in the one stored format, so that text order stays time order.
Result<std::string> SqliteStore::normalise_timestamp(const std::string& text) {
  auto invalid = [&] {
    return fail(ErrorType::invalid_input,
                fmt::format("run started_at {:?} is not an ISO-8601 timestamp", text),
                json_object{{"path", path_text_}, {"started_at", text}});
  };
  // SQLite would also take "now" and bare Julian day numbers; a timestamp starts with a date.
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return invalid();
  StmtUse q(normalise_time_.get());
  q.bind(1, text);
  int rc = q.step();
  if (rc != SQLITE_ROW) return fail(error("normalise timestamp", rc));
  if (sqlite3_column_type(normalise_time_.get(), 0) == SQLITE_NULL) return invalid();
  return std::string(q.text(0));
}

Result<RunRecord> SqliteStore::create_run(const RunRecord& run) {
  if (run.id.empty() || run.workflow.empty()) {
    return fail(ErrorType::invalid_input,
                run.id.empty() ? "run id must not be empty" : "run workflow must not be empty",
                json_object{{"path", path_text_}, {"run", run.id}});
  }
  if (!run.status.empty() && run.status != "running") {
    return fail(ErrorType::invalid_input,
                fmt::format("run {}: a new run must be \"running\", not {:?}", run.id, run.status),
                json_object{{"path", path_text_}, {"run", run.id}, {"status", run.status}});
  }
  std::string payload = boost::json::serialize(run.payload);
  std::lock_guard lock(mutex_);
  std::string started_at = iso8601_now();
  if (!run.started_at.empty()) {
    auto normalised = normalise_timestamp(run.started_at);
    if (!normalised) return fail(std::move(normalised.error()));
    started_at = std::move(*normalised);
  }
  {
    StmtUse q(insert_run_.get());
    q.bind(1, run.id);
    q.bind(2, run.workflow);
    q.bind_or_null(3, run.instance_id);
    q.bind(4, payload);
    q.bind(5, started_at);
    int rc = q.step();
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: create run: run {} already exists", path_text_, run.id),
                  json_object{{"path", path_text_},
                              {"operation", "create run"},
                              {"run", run.id},
                              {"rule", "duplicate_run"}});
    }
    if (rc != SQLITE_DONE) return fail(error("create run", rc));
  }
  auto stored = get_run_locked(run.id);
  if (!stored) return fail(std::move(stored.error()));
  if (!*stored) {
    // Only possible if another process deleted it between the two statements.
    return fail(ErrorType::store_error,
                fmt::format("store {}: run {} was deleted while being created", path_text_, run.id),
                json_object{{"path", path_text_}, {"run", run.id}});
  }
  return std::move(**stored);
}

Result<std::int64_t> SqliteStore::append_run_event(const std::string& run_id,
                                                   const std::string& type, const json& data) {
  if (type.empty()) {
    return fail(ErrorType::invalid_input,
                fmt::format("run {}: event type must not be empty", run_id),
                json_object{{"path", path_text_}, {"run", run_id}});
  }
  // Serialise outside the lock: it is the costliest part for large payloads.
  std::string text = boost::json::serialize(data);
  std::lock_guard lock(mutex_);
  StmtUse q(insert_run_event_.get());
  q.bind(1, run_id);
  q.bind(2, type);
  q.bind(3, text);
  int rc = q.step();
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return fail(ErrorType::not_found, fmt::format("run {} not found", run_id),
                  json_object{{"path", path_text_}, {"run", run_id}});
    }
    return fail(error("append run event", rc));
  }
  std::int64_t index = q.integer(0);
  // Run the statement to completion: in autocommit mode that is the commit, and the event
  // must be durable before this returns.
  rc = q.step();
  if (rc != SQLITE_DONE) return fail(error("append run event", rc));
  return index;
}

Result<RunRecord> SqliteStore::finish_run(const std::string& run_id, const std::string& status,
                                          const json& result, const json& error_value) {
  if (!is_terminal_status(status)) {
    return fail(ErrorType::invalid_input,
                fmt::format("run {}: cannot finish with status {:?} (expected completed, failed "
                            "or aborted)",
                            run_id, status),
                json_object{{"path", path_text_}, {"run", run_id}, {"status", status}});
  }
  std::string result_text = boost::json::serialize(result);
  std::string error_text = boost::json::serialize(error_value);
  std::lock_guard lock(mutex_);
  {
    StmtUse q(finish_run_.get());
    q.bind(1, run_id);
    q.bind(2, status);
    q.bind(3, result_text);
    q.bind(4, error_text);
    int rc = q.step();
    if (rc != SQLITE_DONE) return fail(error("finish run", rc));
  }
  // Either just finished, or already finished earlier (left as it was), or missing.
  auto stored = get_run_locked(run_id);
  if (!stored) return fail(std::move(stored.error()));
  if (!*stored) {
    return fail(ErrorType::not_found, fmt::format("run {} not found", run_id),
                json_object{{"path", path_text_}, {"run", run_id}});
  }
  return std::move(**stored);
}

Result<std::optional<RunRecord>> SqliteStore::get_run(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  return get_run_locked(run_id);
}

Result<std::vector<RunEvent>> SqliteStore::run_events(const std::string& run_id, std::int64_t after,
                                                      std::int64_t limit,
                                                      const std::vector<std::string>& types) {
  std::string type_list;
  if (!types.empty()) {
    json_array list;
    for (const auto& t : types) list.emplace_back(t);
    type_list = boost::json::serialize(list);
  }
  after = std::max<std::int64_t>(after, 0);
  limit = std::clamp<std::int64_t>(limit, 1, kMaxEventPage);
  std::lock_guard lock(mutex_);
  std::vector<RunEvent> out;
  {
    StmtUse q(select_run_events_.get());
    q.bind(1, run_id);
    q.bind(2, after);
    q.bind_or_null(3, type_list);
    q.bind(4, limit);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      RunEvent e;
      e.index = q.integer(0);
      e.type = q.text(1);
      auto data = read_json(q, 2, "data", run_id, e.index);
      if (!data) return fail(std::move(data.error()));
      e.data = std::move(*data);
      e.timestamp = q.text(3);
      out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return fail(error("read run events", rc));
  }
  if (out.empty()) {
    // "No events (yet)" and "no such run" look alike; the caller needs to tell them apart.
    auto run = get_run_locked(run_id);
    if (!run) return fail(std::move(run.error()));
    if (!*run) {
      return fail(ErrorType::not_found, fmt::format("run {} not found", run_id),
                  json_object{{"path", path_text_}, {"run", run_id}});
    }
  }
  return out;
}

Result<RunPage> SqliteStore::list_runs(const RunQuery& query) {
  std::optional<Cursor> cursor;
  std::optional<RunCursor> keyset;
  if (!query.cursor.empty()) {
    cursor = decode_cursor(query.cursor);
    if (cursor && !cursor->key.is_null()) keyset = run_keyset(cursor->key);
    if (!cursor || (!cursor->key.is_null() && !keyset)) {
      return fail(ErrorType::invalid_input, "invalid runs cursor",
                  json_object{{"path", path_text_}, {"cursor", query.cursor}});
    }
  }
  const std::int64_t limit = std::clamp(query.limit, 1, kMaxRunPage);
  const std::int64_t offset = cursor ? cursor->offset : 0;
  int shape = (query.workflow.empty() ? 0 : 1) | (query.status.empty() ? 0 : 2) | (keyset ? 4 : 0) |
              (query.instance_id.empty() ? 0 : 8);
  std::string statuses = query.status.empty() ? std::string() : status_list(query.status);
  std::lock_guard lock(mutex_);
  StmtUse q(list_runs_[shape].get());
  if (shape & 1) q.bind(1, query.workflow);
  if (shape & 2) q.bind(2, statuses);
  if (keyset) {
    q.bind(3, keyset->started_at);
    q.bind(4, keyset->id);
  }
  if (shape & 8) q.bind(7, query.instance_id);
  // One row more than asked tells whether another page exists, so the last page has no cursor.
  q.bind(5, limit + 1);
  q.bind(6, offset);
  RunPage page;
  int rc;
  bool more = false;
  while ((rc = q.step()) == SQLITE_ROW) {
    if (static_cast<std::int64_t>(page.runs.size()) == limit) {
      more = true;
      break;
    }
    auto r = read_run(q);
    if (!r) return fail(std::move(r.error()));
    page.runs.push_back(std::move(*r));
  }
  if (!more && rc != SQLITE_DONE) return fail(error("list runs", rc));
  // The next page continues after the last run returned, whatever the kind of this cursor.
  if (more) page.next_cursor = encode_run_cursor(page.runs.back());
  return page;
}

Result<NamePage> SqliteStore::list_names(const NameQuery& query, bool instances) {
  std::optional<Cursor> cursor;
  std::optional<std::string> after;
  if (!query.cursor.empty()) {
    cursor = decode_cursor(query.cursor);
    if (cursor && !cursor->key.is_null()) after = name_keyset(cursor->key);
    if (!cursor || (!cursor->key.is_null() && !after)) {
      return fail(ErrorType::invalid_input, "invalid listing cursor",
                  json_object{{"path", path_text_}, {"cursor", query.cursor}});
    }
  }
  if (instances && query.workflow.empty()) {
    return fail(ErrorType::invalid_input, "listing instances needs a workflow name",
                json_object{{"path", path_text_}});
  }
  const std::int64_t limit = std::clamp(query.limit, 1, kMaxRunPage);
  const std::int64_t offset = cursor ? cursor->offset : 0;
  const std::string start = after.value_or(std::string());
  std::lock_guard lock(mutex_);
  StmtUse q(instances ? list_instances_.get() : list_workflows_.get());
  int n = 1;
  if (instances) q.bind(n++, query.workflow);
  q.bind(n++, start);
  q.bind(n++, limit + 1);
  q.bind(n++, offset);
  NamePage page;
  int rc;
  bool more = false;
  while ((rc = q.step()) == SQLITE_ROW) {
    if (static_cast<std::int64_t>(page.names.size()) == limit) {
      more = true;
      break;
    }
    page.names.emplace_back(q.text(0));
  }
  if (!more && rc != SQLITE_DONE) {
    return fail(error(instances ? "list run instances" : "list run workflows", rc));
  }
  if (more) page.next_cursor = encode_name_cursor(page.names.back());
  return page;
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
