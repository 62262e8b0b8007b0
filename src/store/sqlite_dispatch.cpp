// SPDX-License-Identifier: Apache-2.0
// The SQLite DispatchStore: the durable queue of inputs for persistent agents' sessions
// (sqlite_store_impl.hpp).
#include <fmt/format.h>

#include <chrono>

#include "store/checks.hpp"
#include "store/sqlite_store_impl.hpp"

namespace cppflue::sqlite {
namespace {

using store_detail::not_found;

constexpr const char* kDispatchColumns =
    "seq, id, agent, instance_id, session, input, context, idempotency_key, state, attempts, "
    "entries_before, lease_until, accepted_at, finished_at, error, traceparent, tracestate";

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::shared_ptr<SqliteDispatchStore>> SqliteDispatchStore::create(
    std::shared_ptr<Connection> c) {
  std::shared_ptr<SqliteDispatchStore> store(new SqliteDispatchStore(std::move(c)));
  if (auto r = store->prepare_statements(); !r) return fail(std::move(r.error()));
  return store;
}

Result<void> SqliteDispatchStore::prepare_statements() {
  const std::string columns = kDispatchColumns;
  const std::string now = kSqlNow;
  const std::string pending = literal(to_string(DispatchState::pending));
  const std::string leased = literal(to_string(DispatchState::leased));
  // Spelt as in the partial index dispatch_open_by_session, so that the planner can use it.
  const std::string open = "IN (" + pending + ", " + leased + ")";
  return c_->prepare_all({
      {&insert_dispatch_,
       "INSERT INTO dispatch(id, agent, instance_id, session, input, context, idempotency_key, "
       "traceparent, tracestate, state, accepted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, " +
           pending + ", " + now + ")"},
      {&select_dispatch_, "SELECT " + columns + " FROM dispatch WHERE id = ?1"},
      {&select_dispatch_by_key_, "SELECT " + columns +
                                     " FROM dispatch WHERE agent = ?1 AND instance_id = ?2 AND "
                                     "idempotency_key = ?3"},
      // The oldest runnable item: pending or with an expired lease, and first among the
      // unfinished items of its session.
      {&next_dispatch_, "SELECT " + columns + " FROM dispatch d WHERE d.state " + open +
                            " AND (d.state = " + pending +
                            " OR d.lease_until < ?1) AND NOT EXISTS (SELECT 1 FROM dispatch f "
                            "WHERE f.session = d.session AND f.seq < d.seq AND f.state " +
                            open + ") ORDER BY d.seq LIMIT 1"},
      {&lease_dispatch_, "UPDATE dispatch SET state = " + leased +
                             ", attempts = attempts + 1, lease_until = ?2 WHERE id = ?1"},
      {&renew_dispatch_,
       "UPDATE dispatch SET lease_until = ?2 WHERE id = ?1 AND state = " + leased},
      {&begin_dispatch_, "UPDATE dispatch SET entries_before = ?2 WHERE id = ?1"},
      {&finish_dispatch_,
       "UPDATE dispatch SET state = ?2, error = ?3, lease_until = NULL, finished_at = " + now +
           " WHERE id = ?1"},
      {&release_dispatch_,
       "UPDATE dispatch SET state = " + pending + ", lease_until = NULL WHERE state = " + leased},
      {&count_dispatch_, "SELECT state, COUNT(*) FROM dispatch GROUP BY state"},
      // accepted_at is ISO-8601 UTC; julianday reads it, 2440587.5 is the Unix epoch.
      {&oldest_dispatch_,
       "SELECT CAST((julianday(MIN(accepted_at)) - 2440587.5) * 86400000.0 "
       "AS INTEGER) FROM dispatch WHERE state " +
           open},
  });
}

Result<DispatchItem> SqliteDispatchStore::read_dispatch(const StmtUse& row) const {
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
    const std::string& path = c_->path_text();
    return fail(ErrorType::store_error,
                fmt::format("store {}: dispatch {}: stored {} is not valid JSON: {}", path, d.id,
                            name, ec.message()),
                json_object{{"path", path}, {"dispatch", d.id}, {"column", name}});
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
  d.traceparent = row.text(15);
  d.tracestate = row.text(16);
  return d;
}

Result<std::optional<DispatchItem>> SqliteDispatchStore::get_dispatch_locked(LazyStmt& lazy,
                                                                             const std::string& a,
                                                                             const std::string& b,
                                                                             const std::string& c) {
  auto stmt = lazy.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, a);
  if (!b.empty()) q.bind(2, b);
  if (!c.empty()) q.bind(3, c);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<DispatchItem>();
  if (rc != SQLITE_ROW) return fail(c_->error("read dispatch", rc));
  auto d = read_dispatch(q);
  if (!d) return fail(std::move(d.error()));
  return std::optional<DispatchItem>(std::move(*d));
}

Result<DispatchItem> SqliteDispatchStore::enqueue_dispatch(const DispatchItem& item) {
  const std::string& path = c_->path_text();
  if (auto r = store_detail::check_dispatch_item(item, path); !r) return fail(std::move(r.error()));
  std::string input = boost::json::serialize(item.input);
  std::string context = boost::json::serialize(item.context);
  std::lock_guard lock(c_->mutex());
  if (auto r = prepare_now(*c_, {&insert_dispatch_, &select_dispatch_by_key_, &select_dispatch_});
      !r) {
    return fail(std::move(r.error()));
  }
  {
    auto stmt = insert_dispatch_.get(*c_);
    if (!stmt) return fail(std::move(stmt.error()));
    StmtUse q(*stmt);
    q.bind(1, item.id);
    q.bind(2, item.agent);
    q.bind(3, item.instance_id);
    q.bind(4, item.session);
    q.bind(5, input);
    q.bind(6, context);
    q.bind_or_null(7, item.idempotency_key);
    q.bind(8, item.traceparent);
    q.bind(9, item.tracestate);
    int rc = q.step();
    if (rc == SQLITE_CONSTRAINT_UNIQUE && !item.idempotency_key.empty()) {
      auto original = get_dispatch_locked(select_dispatch_by_key_, item.agent, item.instance_id,
                                          item.idempotency_key);
      if (!original) return fail(std::move(original.error()));
      if (*original) {
        (*original)->duplicate = true;
        return std::move(**original);
      }
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: dispatch {} already exists", path, item.id),
                  json_object{{"path", path}, {"dispatch", item.id}, {"rule", "duplicate"}});
    }
    if (rc != SQLITE_DONE) return fail(c_->error("enqueue dispatch", rc));
  }
  auto stored = get_dispatch_locked(select_dispatch_, item.id);
  if (!stored) return fail(std::move(stored.error()));
  if (!*stored) {
    return fail(ErrorType::store_error,
                fmt::format("store {}: dispatch {} vanished after its insert", path, item.id),
                json_object{{"path", path}, {"dispatch", item.id}});
  }
  return std::move(**stored);
}

// Inside the lease transaction: selects the next eligible item and leases it.
Result<std::optional<DispatchItem>> SqliteDispatchStore::lease_next_locked(
    std::chrono::milliseconds lease) {
  std::int64_t now = epoch_ms_now();
  std::optional<DispatchItem> item;
  {
    auto stmt = next_dispatch_.get(*c_);
    if (!stmt) return fail(std::move(stmt.error()));
    StmtUse q(*stmt);
    q.bind(1, now);
    int rc = q.step();
    if (rc == SQLITE_DONE) return item;
    if (rc != SQLITE_ROW) return fail(c_->error("lease dispatch", rc));
    auto d = read_dispatch(q);
    if (!d) return fail(std::move(d.error()));
    item = std::move(*d);
  }
  std::int64_t until = now + lease.count();
  auto updated = c_->run_update(lease_dispatch_, "lease dispatch", [&](StmtUse& q) {
    q.bind(1, item->id);
    q.bind(2, until);
  });
  if (!updated) return fail(std::move(updated.error()));
  item->state = to_string(DispatchState::leased);
  item->attempts += 1;
  item->lease_until_ms = until;
  return item;
}

Result<std::optional<DispatchItem>> SqliteDispatchStore::lease_dispatch(
    std::chrono::milliseconds lease) {
  std::lock_guard lock(c_->mutex());
  // Select and lease in one write transaction, so two leasers (threads or processes) can never
  // take the same item or two items of one session.
  if (auto r = c_->exec("BEGIN IMMEDIATE", "lease dispatch"); !r) {
    return fail(std::move(r.error()));
  }
  auto rollback = [&] { c_->exec("ROLLBACK", "lease dispatch"); };
  auto item = lease_next_locked(lease);
  if (!item) {
    rollback();
    return fail(std::move(item.error()));
  }
  if (auto r = c_->exec("COMMIT", "lease dispatch"); !r) {
    rollback();
    return fail(std::move(r.error()));
  }
  return item;
}

Result<bool> SqliteDispatchStore::renew_dispatch(const std::string& id,
                                                 std::chrono::milliseconds lease) {
  std::int64_t until = epoch_ms_now() + lease.count();
  std::lock_guard lock(c_->mutex());
  return c_->run_update(renew_dispatch_, "renew dispatch lease", [&](StmtUse& q) {
    q.bind(1, id);
    q.bind(2, until);
  });
}

Result<void> SqliteDispatchStore::begin_dispatch_attempt(const std::string& id,
                                                         std::int64_t entries_before) {
  std::lock_guard lock(c_->mutex());
  auto r = c_->run_update(begin_dispatch_, "begin dispatch attempt", [&](StmtUse& q) {
    q.bind(1, id);
    q.bind(2, entries_before);
  });
  if (!r) return fail(std::move(r.error()));
  if (!*r) return fail(not_found(c_->path_text(), "dispatch", id));
  return {};
}

Result<void> SqliteDispatchStore::finish_dispatch(const std::string& id, const std::string& state,
                                                  const json& error_value) {
  auto checked = store_detail::check_finish_state(id, state, c_->path_text());
  if (!checked) return fail(std::move(checked.error()));
  const std::string_view stored_state = to_string(*checked);
  std::string error_text = boost::json::serialize(error_value);
  std::lock_guard lock(c_->mutex());
  auto r = c_->run_update(finish_dispatch_, "finish dispatch", [&](StmtUse& q) {
    q.bind(1, id);
    q.bind(2, stored_state);
    q.bind(3, error_text);
  });
  if (!r) return fail(std::move(r.error()));
  if (!*r) return fail(not_found(c_->path_text(), "dispatch", id));
  return {};
}

Result<std::optional<DispatchItem>> SqliteDispatchStore::get_dispatch(const std::string& id) {
  std::lock_guard lock(c_->mutex());
  return get_dispatch_locked(select_dispatch_, id);
}

Result<std::int64_t> SqliteDispatchStore::release_dispatch_leases() {
  std::lock_guard lock(c_->mutex());
  auto r = c_->run_update(release_dispatch_, "release dispatch leases", [](StmtUse&) {});
  if (!r) return fail(std::move(r.error()));
  return c_->changes();
}

Result<std::map<std::string, std::int64_t>> SqliteDispatchStore::dispatch_counts() {
  std::lock_guard lock(c_->mutex());
  auto stmt = count_dispatch_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  std::map<std::string, std::int64_t> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out[std::string(q.text(0))] = q.integer(1);
  if (rc != SQLITE_DONE) return fail(c_->error("count dispatch", rc));
  return out;
}

Result<std::optional<std::int64_t>> SqliteDispatchStore::oldest_open_dispatch_ms() {
  std::lock_guard lock(c_->mutex());
  auto stmt = oldest_dispatch_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  int rc = q.step();
  if (rc != SQLITE_ROW) return fail(c_->error("oldest dispatch", rc));
  if (q.is_null(0)) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(q.integer(0));
}

}  // namespace cppflue::sqlite
