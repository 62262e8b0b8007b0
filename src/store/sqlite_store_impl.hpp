// SPDX-License-Identifier: Apache-2.0
// The SQLite store's private declarations (docs/architecture.md): one `Connection` per opened
// store, and one class per aggregate over it, each implementing one interface of store.hpp.
//
//   sqlite_store.cpp     Connection: files and permissions, open, pragmas; open_sqlite_store
//   sqlite_schema.cpp    the schema: named, numbered migrations, applied in order
//   sqlite_sessions.cpp  SqliteSessionStore (sessions, entries)
//   sqlite_runs.cpp      SqliteRunStore (runs, run events, listings)
//   sqlite_dispatch.cpp  SqliteDispatchStore (the dispatch queue)
//   sqlite_scrub.cpp     scrub_sqlite_store (its own connection)
// The rules every backend shares (input checks, cursors, composing the three parts into one
// Store) are in checks.hpp, paging.hpp and composed_store.hpp; another backend adds its own set
// of files beside these.
//
// One connection per Store, guarded by a mutex (SQLite's own FULLMUTEX would not make our
// multi-step operations atomic anyway), with each statement prepared once, at its first use.
// Another process (or another Store on the same file) coordinates through SQLite's file locks: WAL
// lets readers proceed while one writer commits, and busy_timeout absorbs short write contention.
#pragma once

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/store/store.hpp"
#include "store/run_owner.hpp"
#include "store/sqlite_handle.hpp"

namespace cppflue::sqlite {

// SQLite's own clock and format for timestamps taken inside a statement: identical to
// iso8601_now(), and taken under the write lock, so event timestamps follow event indices.
inline constexpr const char* kSqlNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

// A fixed name (a run status, a dispatch state) as a SQL string literal. Literals rather than
// parameters, so that the planner can match the partial indexes written with them.
inline std::string literal(std::string_view name) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wstringop-overflow for
  // `"'" + std::string(name)`.
  std::string out;
  out.reserve(name.size() + 2);
  out.push_back('\'');
  out.append(name);
  out.push_back('\'');
  return out;
}

class Connection;

// A statement prepared at its first use and kept for the connection's life
// (SQLITE_PREPARE_PERSISTENT): a process prepares only what it runs. A `cppflue run` needs a few
// of the ~40 statements, and preparing all of them took ~15% of a cold run's instructions.
// Used under the connection's mutex.
class LazyStmt {
 public:
  void set_sql(std::string sql) { sql_ = std::move(sql); }
  // The prepared statement; a failure names the store and SQLite's message.
  Result<sqlite3_stmt*> get(Connection& c);

 private:
  std::string sql_;
  Stmt stmt_;
};

// Prepares `stmts` now. An operation that writes and then reads back calls it before its first
// step, so that a statement failing to prepare never fails it after its write has committed.
Result<void> prepare_now(Connection& c, std::initializer_list<LazyStmt*> stmts);

// A statement's SQL, and where it is kept.
struct StatementSpec {
  LazyStmt* target;
  std::string sql;
};

class Connection {
 public:
  // Creates the parent directory (0700 when new) and the file (0600), opens it, configures the
  // connection (busy timeout, WAL, foreign keys) and brings the schema up to date.
  static Result<std::shared_ptr<Connection>> open(const std::filesystem::path& path);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Held for every use of the connection or of a statement prepared on it.
  std::mutex& mutex() noexcept { return mutex_; }
  sqlite3* db() const noexcept { return db_.get(); }
  const std::string& path_text() const noexcept { return path_text_; }

  // The SQLite message for the last failure on this connection, with the database path.
  Error error(std::string_view operation, int rc) const;
  Result<void> exec(const char* sql, std::string_view operation);
  Result<Stmt> prepare(const std::string& sql, unsigned flags);
  // Gives each target its SQL, prepared at its first use. Debug builds prepare every one now,
  // so that a statement the schema does not accept fails every test that opens a store.
  Result<void> prepare_all(const std::vector<StatementSpec>& specs);
  // Steps a statement that returns no rows, after `bind`; true when it changed a row.
  Result<bool> run_update(LazyStmt& stmt, std::string_view operation,
                          const std::function<void(StmtUse&)>& bind);
  // Rows changed by the last statement.
  std::int64_t changes() const noexcept { return sqlite3_changes(db_.get()); }

 private:
  explicit Connection(std::filesystem::path path)
      : path_(std::move(path)), path_text_(path_.string()) {}
  Result<void> create_files();
  Result<void> configure();

  std::mutex mutex_;
  std::filesystem::path path_;
  std::string path_text_;
  Db db_;
};

// sqlite_schema.cpp: applies, in one transaction, the migrations this database has not had yet,
// recording each in schema_version. A database newer than this build is a store_error.
Result<void> migrate(Connection& connection);

class SqliteSessionStore final : public SessionStore {
 public:
  static Result<std::shared_ptr<SqliteSessionStore>> create(std::shared_ptr<Connection> c);

  Result<SessionRecord> open_session(const std::string& id, const SessionInit& init) override;
  Result<std::optional<SessionRecord>> get_session(const std::string& id) override;
  Result<std::vector<SessionRecord>> list_sessions() override;
  Result<bool> delete_session(const std::string& id) override;
  Result<void> update_metadata(const std::string& id, const json& metadata) override;
  Result<std::int64_t> append_entry(const std::string& session_id, const Entry& entry) override;
  Result<std::vector<Entry>> entries(const std::string& session_id) override;
  Result<std::vector<Entry>> context_entries(const std::string& session_id) override;
  Result<std::vector<Entry>> entries_page(const std::string& session_id, std::int64_t after_seq,
                                          std::size_t limit) override;

 private:
  explicit SqliteSessionStore(std::shared_ptr<Connection> c) : c_(std::move(c)) {}
  Result<void> prepare_statements();
  Result<std::optional<SessionRecord>> get_session_locked(const std::string& id);
  Result<SessionRecord> read_session(const StmtUse& row) const;
  Result<Entry> read_entry(const StmtUse& row, const std::string& session_id) const;
  // The entries of `session_id` from seq `from` on, in order, at most `limit` (-1: all); the
  // caller holds the mutex.
  Result<std::vector<Entry>> entries_from(const std::string& session_id, std::int64_t from,
                                          std::int64_t limit = -1);

  std::shared_ptr<Connection> c_;
  LazyStmt insert_session_;
  LazyStmt select_session_;
  LazyStmt select_sessions_;
  LazyStmt delete_session_;
  LazyStmt update_metadata_;
  LazyStmt insert_entry_;
  LazyStmt select_last_compaction_;
  LazyStmt select_entries_from_;
};

class SqliteRunStore final : public RunStore {
 public:
  static Result<std::shared_ptr<SqliteRunStore>> create(std::shared_ptr<Connection> c);

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
  Result<std::vector<RunRecord>> end_interrupted_runs(const InterruptedRuns& which) override;

 private:
  explicit SqliteRunStore(std::shared_ptr<Connection> c);
  Result<void> prepare_statements();
  Result<void> prepare_listings();
  Result<NamePage> list_names(const NameQuery& query, bool instances);
  Result<std::optional<RunRecord>> get_run_locked(const std::string& id);
  Result<RunRecord> read_run(const StmtUse& row) const;
  Result<json> read_json(const StmtUse& row, int column, std::string_view name,
                         std::string_view run_id, std::int64_t event) const;
  Result<std::string> normalise_timestamp(const std::string& text);
  Result<std::vector<RunEvent>> read_events(const std::string& run_id, std::int64_t after,
                                            std::int64_t limit, const std::string& type_list);

  std::shared_ptr<Connection> c_;
  store_detail::RunOwner owner_;  // recorded with the runs created here
  LazyStmt normalise_time_;
  LazyStmt insert_run_;
  LazyStmt select_running_;
  LazyStmt select_running_one_;
  LazyStmt interrupt_run_;
  LazyStmt select_run_;
  LazyStmt finish_run_;
  LazyStmt insert_run_event_;
  LazyStmt select_run_events_;
  // list_runs, one statement per filter shape so each uses its index: bit 0 = workflow,
  // bit 1 = status, bit 2 = cursor, bit 3 = instance. All take a LIMIT ?5 and an OFFSET ?6.
  LazyStmt list_runs_[16];
  LazyStmt list_workflows_;
  LazyStmt list_instances_;
};

class SqliteDispatchStore final : public DispatchStore {
 public:
  static Result<std::shared_ptr<SqliteDispatchStore>> create(std::shared_ptr<Connection> c);

  Result<DispatchItem> enqueue_dispatch(const DispatchItem& item) override;
  Result<std::optional<DispatchItem>> lease_dispatch(std::chrono::milliseconds lease) override;
  Result<bool> renew_dispatch(const std::string& id, std::chrono::milliseconds lease) override;
  Result<void> begin_dispatch_attempt(const std::string& id, std::int64_t entries_before) override;
  Result<void> finish_dispatch(const std::string& id, const std::string& state,
                               const json& error) override;
  Result<std::optional<DispatchItem>> get_dispatch(const std::string& id) override;
  Result<std::int64_t> release_dispatch_leases() override;
  Result<std::map<std::string, std::int64_t>> dispatch_counts() override;
  Result<std::optional<std::int64_t>> oldest_open_dispatch_ms() override;

 private:
  explicit SqliteDispatchStore(std::shared_ptr<Connection> c) : c_(std::move(c)) {}
  Result<void> prepare_statements();
  Result<DispatchItem> read_dispatch(const StmtUse& row) const;
  Result<std::optional<DispatchItem>> get_dispatch_locked(LazyStmt& stmt, const std::string& a,
                                                          const std::string& b = {},
                                                          const std::string& c = {});
  Result<std::optional<DispatchItem>> lease_next_locked(std::chrono::milliseconds lease);

  std::shared_ptr<Connection> c_;
  LazyStmt insert_dispatch_;
  LazyStmt select_dispatch_;
  LazyStmt select_dispatch_by_key_;
  LazyStmt next_dispatch_;
  LazyStmt lease_dispatch_;
  LazyStmt renew_dispatch_;
  LazyStmt begin_dispatch_;
  LazyStmt finish_dispatch_;
  LazyStmt release_dispatch_;
  LazyStmt count_dispatch_;
  LazyStmt oldest_dispatch_;
};

}  // namespace cppflue::sqlite
