// SPDX-License-Identifier: Apache-2.0
// The SQLite SessionStore: sessions and their history entries (sqlite_store_impl.hpp).
#include <fmt/format.h>

#include "cppflue/core/clock.hpp"
#include "store/checks.hpp"
#include "store/sqlite_store_impl.hpp"

namespace cppflue::sqlite {
namespace {

// entry_count is the last seq: seqs are contiguous from 1 and entries are never deleted one by
// one, and the index seek is O(log n) where COUNT(*) would scan the session.
constexpr const char* kSessionColumns =
    "s.id, s.parent_id, s.agent, s.instance_id, s.metadata, s.created_at, s.updated_at, "
    "IFNULL((SELECT e.seq FROM entries e WHERE e.session_id = s.id ORDER BY e.seq DESC LIMIT 1), "
    "0)";

}  // namespace

Result<std::shared_ptr<SqliteSessionStore>> SqliteSessionStore::create(
    std::shared_ptr<Connection> c) {
  std::shared_ptr<SqliteSessionStore> store(new SqliteSessionStore(std::move(c)));
  if (auto r = store->prepare_statements(); !r) return fail(std::move(r.error()));
  return store;
}

Result<void> SqliteSessionStore::prepare_statements() {
  const std::string columns = kSessionColumns;
  return c_->prepare_all({
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
      // Through the partial index of migration 6: one row, however long the session.
      {&select_last_compaction_,
       "SELECT seq, content FROM entries WHERE session_id = ?1 AND kind = 'compaction' "
       "ORDER BY seq DESC LIMIT 1"},
      {&select_entries_from_,
       "SELECT seq, kind, role, content, source, created_at FROM entries WHERE session_id = ?1 "
       "AND seq >= ?2 ORDER BY seq LIMIT ?3"},
  });
}

Result<SessionRecord> SqliteSessionStore::read_session(const StmtUse& row) const {
  SessionRecord s;
  s.id = row.text(0);
  s.parent_id = row.text(1);
  s.agent = row.text(2);
  s.instance_id = row.text(3);
  boost::system::error_code ec;
  s.metadata = boost::json::parse(row.text(4), ec);
  if (ec) {
    const std::string& path = c_->path_text();
    return fail(ErrorType::store_error,
                fmt::format("store {}: session {}: stored metadata is not valid JSON: {}", path,
                            s.id, ec.message()),
                json_object{{"path", path}, {"session", s.id}});
  }
  s.created_at = row.text(5);
  s.updated_at = row.text(6);
  s.entry_count = row.integer(7);
  return s;
}

Result<std::optional<SessionRecord>> SqliteSessionStore::get_session_locked(const std::string& id) {
  auto stmt = select_session_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, id);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<SessionRecord>();
  if (rc != SQLITE_ROW) return fail(c_->error("get session", rc));
  auto s = read_session(q);
  if (!s) return fail(std::move(s.error()));
  return std::optional<SessionRecord>(std::move(*s));
}

Result<SessionRecord> SqliteSessionStore::open_session(const std::string& id,
                                                       const SessionInit& init) {
  const std::string& path = c_->path_text();
  if (auto r = store_detail::check_session_id(id, path); !r) return fail(std::move(r.error()));
  std::string metadata = boost::json::serialize(init.metadata);
  std::string now = iso8601_now();
  std::lock_guard lock(c_->mutex());
  if (auto r = prepare_now(*c_, {&insert_session_, &select_session_}); !r) {
    return fail(std::move(r.error()));
  }
  {
    auto stmt = insert_session_.get(*c_);
    if (!stmt) return fail(std::move(stmt.error()));
    StmtUse q(*stmt);
    q.bind(1, id);
    q.bind_or_null(2, init.parent_id);
    q.bind_or_null(3, init.agent);
    q.bind_or_null(4, init.instance_id);
    q.bind(5, metadata);
    q.bind(6, now);
    int rc = q.step();
    if (rc != SQLITE_DONE) return fail(c_->error("open session", rc));
  }
  auto s = get_session_locked(id);
  if (!s) return fail(std::move(s.error()));
  if (!*s) {
    // Only possible if another process deleted it between the two statements.
    return fail(ErrorType::store_error,
                fmt::format("store {}: session {} was deleted while being opened", path, id),
                json_object{{"path", path}, {"session", id}});
  }
  return std::move(**s);
}

Result<std::optional<SessionRecord>> SqliteSessionStore::get_session(const std::string& id) {
  std::lock_guard lock(c_->mutex());
  return get_session_locked(id);
}

Result<std::vector<SessionRecord>> SqliteSessionStore::list_sessions() {
  std::lock_guard lock(c_->mutex());
  auto stmt = select_sessions_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  std::vector<SessionRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    auto s = read_session(q);
    if (!s) return fail(std::move(s.error()));
    out.push_back(std::move(*s));
  }
  if (rc != SQLITE_DONE) return fail(c_->error("list sessions", rc));
  return out;
}

Result<bool> SqliteSessionStore::delete_session(const std::string& id) {
  std::lock_guard lock(c_->mutex());
  auto stmt = delete_session_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, id);
  int rc = q.step();
  if (rc != SQLITE_DONE) return fail(c_->error("delete session", rc));
  return c_->changes() > 0;
}

Result<void> SqliteSessionStore::update_metadata(const std::string& id, const json& metadata) {
  std::string text = boost::json::serialize(metadata);
  std::string now = iso8601_now();
  std::lock_guard lock(c_->mutex());
  auto stmt = update_metadata_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, id);
  q.bind(2, text);
  q.bind(3, now);
  int rc = q.step();
  if (rc != SQLITE_DONE) return fail(c_->error("update metadata", rc));
  if (c_->changes() == 0) return fail(store_detail::not_found(c_->path_text(), "session", id));
  return {};
}

Result<std::int64_t> SqliteSessionStore::append_entry(const std::string& session_id,
                                                      const Entry& entry) {
  // Serialise outside the lock: it is the costliest part for large payloads.
  std::string content = boost::json::serialize(entry.content);
  std::string created_at = entry.created_at.empty() ? iso8601_now() : entry.created_at;
  std::lock_guard lock(c_->mutex());
  auto stmt = insert_entry_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, session_id);
  q.bind(2, entry.kind);  // any kind is kept as given (EntryKind names the harness's)
  q.bind_or_null(3, entry.role);
  q.bind(4, content);
  q.bind_or_null(5, entry.source);
  q.bind(6, created_at);
  int rc = q.step();
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return fail(store_detail::not_found(c_->path_text(), "session", session_id));
    }
    return fail(c_->error("append entry", rc));
  }
  std::int64_t seq = q.integer(0);
  // Run the statement to completion: in autocommit mode that is the commit, and the entry
  // must be durable before this returns.
  rc = q.step();
  if (rc != SQLITE_DONE) return fail(c_->error("append entry", rc));
  return seq;
}

Result<Entry> SqliteSessionStore::read_entry(const StmtUse& row,
                                             const std::string& session_id) const {
  Entry e;
  e.seq = row.integer(0);
  e.kind = row.text(1);
  e.role = row.text(2);
  boost::system::error_code ec;
  e.content = boost::json::parse(row.text(3), ec);
  if (ec) {
    const std::string& path = c_->path_text();
    return fail(ErrorType::store_error,
                fmt::format("store {}: session {} entry {}: stored content is not valid JSON: {}",
                            path, session_id, e.seq, ec.message()),
                json_object{{"path", path}, {"session", session_id}, {"seq", e.seq}});
  }
  e.source = row.text(4);
  e.created_at = row.text(5);
  return e;
}

Result<std::vector<Entry>> SqliteSessionStore::context_entries(const std::string& session_id) {
  std::lock_guard lock(c_->mutex());
  std::int64_t from = 1;
  {
    auto stmt = select_last_compaction_.get(*c_);
    if (!stmt) return fail(std::move(stmt.error()));
    StmtUse q(*stmt);
    q.bind(1, session_id);
    int rc = q.step();
    if (rc == SQLITE_ROW) {
      const std::int64_t seq = q.integer(0);
      boost::system::error_code ec;
      json content = boost::json::parse(q.text(1), ec);
      const json* kept =
          ec || !content.is_object() ? nullptr : content.as_object().if_contains("first_kept_seq");
      // An unreadable compaction: read everything, and let the harness name the entry.
      from = kept != nullptr && kept->is_int64() ? std::min(kept->as_int64(), seq) : 1;
    } else if (rc != SQLITE_DONE) {
      return fail(c_->error("read the last compaction", rc));
    }
  }
  return entries_from(session_id, from);
}

Result<std::vector<Entry>> SqliteSessionStore::entries(const std::string& session_id) {
  std::lock_guard lock(c_->mutex());
  return entries_from(session_id, 1);
}

Result<std::vector<Entry>> SqliteSessionStore::entries_page(const std::string& session_id,
                                                            std::int64_t after_seq,
                                                            std::size_t limit) {
  if (limit == 0 || after_seq == INT64_MAX) return std::vector<Entry>{};
  std::lock_guard lock(c_->mutex());
  const auto capped = static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
  return entries_from(session_id, std::max<std::int64_t>(after_seq, 0) + 1, capped);
}

Result<std::vector<Entry>> SqliteSessionStore::entries_from(const std::string& session_id,
                                                            std::int64_t from, std::int64_t limit) {
  auto stmt = select_entries_from_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, session_id);
  q.bind(2, from);
  q.bind(3, limit);
  std::vector<Entry> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    auto e = read_entry(q, session_id);
    if (!e) return fail(std::move(e.error()));
    out.push_back(std::move(*e));
  }
  if (rc != SQLITE_DONE) return fail(c_->error("read entries", rc));
  return out;
}

}  // namespace cppflue::sqlite
