// SPDX-License-Identifier: Apache-2.0
// The SQLite store's schema: a forward-only history of numbered, named migrations, and
// `migrate`, which applies those a database has not had yet.
#include <fmt/format.h>

#include <cstdint>
#include <iterator>

#include "cppflue/core/clock.hpp"
#include "store/sqlite_store_impl.hpp"

namespace cppflue::sqlite {
namespace {

// Each migration runs once, in version order, and is recorded in schema_version. A later schema
// change is a new element appended here, never an edit of an old one: a database created by any
// earlier build upgrades in place. The SQL text is frozen history, so it spells the stored names
// (statuses, states) as the literals they were when it was written.
struct Migration {
  int version;
  const char* name;  // what it adds (documentation; the version is what is recorded)
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, "sessions and entries", R"sql(
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
    {2, "runs and run events", R"sql(
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
    {3, "dispatch queue", R"sql(
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
    {4, "runs by instance", R"sql(
-- Admin listings: an agent's instances, and one instance's runs newest first.
CREATE INDEX runs_by_instance ON runs(workflow, instance_id, started_at, id);
)sql"},
    {5, "trace context of dispatched inputs", R"sql(
-- The W3C trace context of the request that queued an input, so that its processing joins the
-- caller's trace.
ALTER TABLE dispatch ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
ALTER TABLE dispatch ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';
)sql"},
    {6, "compactions by session", R"sql(
-- Opening a session reads from its last compaction on: finding it must not scan the entries
-- that compaction replaced.
CREATE INDEX entries_compactions ON entries(session_id, seq) WHERE kind = 'compaction';
)sql"},
    {7, "who runs a run", R"sql(
-- The process that created the run (store/run_owner.hpp), so that a run left running by a
-- process that has ended can be ended as interrupted. '' for runs made before this version.
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
)sql"},
};

constexpr int kLatestVersion = kMigrations[std::size(kMigrations) - 1].version;

Result<std::int64_t> current_version(Connection& c) {
  if (auto r = c.exec("CREATE TABLE IF NOT EXISTS schema_version ("
                      "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT",
                      "create schema_version");
      !r) {
    return fail(std::move(r.error()));
  }
  auto stmt = c.prepare("SELECT IFNULL(MAX(version), 0) FROM schema_version", 0);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(stmt->get());
  int rc = q.step();
  if (rc != SQLITE_ROW) return fail(c.error("read schema version", rc));
  return q.integer(0);
}

// Inside the migration transaction.
Result<void> apply_migrations(Connection& c) {
  auto current = current_version(c);
  if (!current) return fail(std::move(current.error()));
  if (*current > kLatestVersion) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: database schema version {} is newer than this build "
                            "supports ({})",
                            c.path_text(), *current, kLatestVersion),
                json_object{{"path", c.path_text()},
                            {"schema_version", *current},
                            {"supported_version", kLatestVersion}});
  }
  auto record = c.prepare("INSERT INTO schema_version(version, applied_at) VALUES (?1, ?2)", 0);
  if (!record) return fail(std::move(record.error()));
  for (const Migration& m : kMigrations) {
    if (m.version <= *current) continue;
    if (auto r = c.exec(m.sql, fmt::format("migration {}", m.version)); !r) return r;
    std::string now = iso8601_now();
    StmtUse q(record->get());
    q.bind(1, static_cast<std::int64_t>(m.version));
    q.bind(2, now);
    int rc = q.step();
    if (rc != SQLITE_DONE) return fail(c.error("record schema version", rc));
  }
  return c.exec("COMMIT", "commit migration");
}

}  // namespace

Result<void> migrate(Connection& c) {
  // BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh database
  // cannot both apply migration 1.
  if (auto r = c.exec("BEGIN IMMEDIATE", "begin migration"); !r) return r;
  auto r = apply_migrations(c);
  if (!r) sqlite3_exec(c.db(), "ROLLBACK", nullptr, nullptr, nullptr);
  return r;
}

}  // namespace cppflue::sqlite
