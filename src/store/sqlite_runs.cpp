// SPDX-License-Identifier: Apache-2.0
// The SQLite RunStore: runs, their event logs and the run listings (sqlite_store_impl.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "cppflue/core/clock.hpp"
#include "store/checks.hpp"
#include "store/paging.hpp"
#include "store/run_owner.hpp"
#include "store/sqlite_store_impl.hpp"

namespace cppflue::sqlite {
namespace {

using store_detail::not_found;

constexpr const char* kRunColumns =
    "r.id, r.workflow, r.instance_id, r.status, r.payload, r.result, r.error, r.started_at, "
    "r.ended_at, r.duration_ms, "
    "IFNULL((SELECT e.idx FROM run_events e WHERE e.run_id = r.id ORDER BY e.idx DESC LIMIT 1), 0)";

// The filter shapes of list_runs (an index into list_runs_).
constexpr int kByWorkflow = 1;
constexpr int kByStatus = 2;
constexpr int kAfterKey = 4;
constexpr int kByInstance = 8;

// ["a","b"] as JSON text, for json_each.
std::string json_list(const std::vector<std::string>& items) {
  json_array list;
  for (const auto& item : items) list.emplace_back(item);
  return boost::json::serialize(list);
}

}  // namespace

SqliteRunStore::SqliteRunStore(std::shared_ptr<Connection> c)
    : c_(std::move(c)), owner_(c_->path_text()) {}

Result<std::shared_ptr<SqliteRunStore>> SqliteRunStore::create(std::shared_ptr<Connection> c) {
  std::shared_ptr<SqliteRunStore> store(new SqliteRunStore(std::move(c)));
  if (auto r = store->prepare_statements(); !r) return fail(std::move(r.error()));
  if (auto r = store->prepare_listings(); !r) return fail(std::move(r.error()));
  return store;
}

Result<void> SqliteRunStore::prepare_statements() {
  const std::string columns = kRunColumns;
  const std::string now = kSqlNow;
  const std::string running = literal(to_string(RunStatus::running));
  return c_->prepare_all({
      // NULL for anything SQLite cannot read as a time; the caller rejects that.
      {&normalise_time_, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1)"},
      {&insert_run_,
       "INSERT INTO runs(id, workflow, instance_id, status, payload, result, error, started_at, "
       "owner) VALUES (?1, ?2, ?3, " +
           running + ", ?4, 'null', 'null', ?5, ?6)"},
      {&select_run_, "SELECT " + columns + " FROM runs r WHERE r.id = ?1"},
      // The status guard makes finishing atomic against another finisher in any process; the
      // duration comes from the stored start, clamped at 0 against clock steps.
      {&finish_run_, "UPDATE runs SET status = ?2, result = ?3, error = ?4, ended_at = " + now +
                         ", duration_ms = MAX(0, IFNULL(CAST(ROUND((julianday(" + now +
                         ") - julianday(started_at)) * 86400000.0) AS INTEGER), 0)) "
                         "WHERE id = ?1 AND status = " +
                         running},
      // Every running run (through runs_by_status), or one by its key.
      {&select_running_,
       "SELECT id, owner FROM runs WHERE status = " + running + " ORDER BY started_at, id"},
      {&select_running_one_, "SELECT id, owner FROM runs WHERE id = ?1 AND status = " + running},
      // Guarded by status and owner: ends the run only as the owner left it, once.
      {&interrupt_run_,
       "UPDATE runs SET status = 'failed', result = 'null', error = ?3, ended_at = " + now +
           ", duration_ms = MAX(0, IFNULL(CAST(ROUND((julianday(" + now +
           ") - julianday(started_at)) * 86400000.0) AS INTEGER), 0)) "
           "WHERE id = ?1 AND owner = ?2 AND status = " +
           running},
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
  });
}

Result<void> SqliteRunStore::prepare_listings() {
  const std::string columns = kRunColumns;
  std::vector<StatementSpec> specs;
  for (int shape = 0; shape < 16; ++shape) {
    std::string where;
    auto add = [&](const char* condition) {
      where += where.empty() ? " WHERE " : " AND ";
      where += condition;
    };
    if (shape & kByWorkflow) add("r.workflow = ?1");
    if (shape & kByStatus) add("r.status IN (SELECT value FROM json_each(?2))");
    if (shape & kAfterKey) add("(r.started_at, r.id) < (?3, ?4)");
    if (shape & kByInstance) add("r.instance_id = ?7");
    specs.push_back(
        {&list_runs_[shape], "SELECT " + columns + " FROM runs r" + where +
                                 " ORDER BY r.started_at DESC, r.id DESC LIMIT ?5 OFFSET ?6"});
  }
  specs.push_back({&list_workflows_,
                   "SELECT DISTINCT workflow FROM runs WHERE workflow > ?1 ORDER BY workflow "
                   "LIMIT ?2 OFFSET ?3"});
  specs.push_back({&list_instances_,
                   "SELECT DISTINCT instance_id FROM runs WHERE workflow = ?1 AND instance_id > ?2 "
                   "ORDER BY instance_id LIMIT ?3 OFFSET ?4"});
  return c_->prepare_all(specs);
}

// `event` is 0 for a column of the run itself.
Result<json> SqliteRunStore::read_json(const StmtUse& row, int column, std::string_view name,
                                       std::string_view run_id, std::int64_t event) const {
  boost::system::error_code ec;
  json v = boost::json::parse(row.text(column), ec);
  if (!ec) return v;
  const std::string& path = c_->path_text();
  json_object details{{"path", path}, {"run", run_id}, {"column", name}};
  std::string place = fmt::format("run {}", run_id);
  if (event > 0) {
    details["event"] = event;
    place += fmt::format(" event {}", event);
  }
  return fail(
      ErrorType::store_error,
      fmt::format("store {}: {}: stored {} is not valid JSON: {}", path, place, name, ec.message()),
      std::move(details));
}

Result<RunRecord> SqliteRunStore::read_run(const StmtUse& row) const {
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

Result<std::optional<RunRecord>> SqliteRunStore::get_run_locked(const std::string& id) {
  auto stmt = select_run_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, id);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<RunRecord>();
  if (rc != SQLITE_ROW) return fail(c_->error("get run", rc));
  auto r = read_run(q);
  if (!r) return fail(std::move(r.error()));
  return std::optional<RunRecord>(std::move(*r));
}

// Accepts what SQLite reads as a time (ISO-8601 with or without fraction, 'T' or space, 'Z' or
// an offset) and returns it in the one stored format, so that text order stays time order.
Result<std::string> SqliteRunStore::normalise_timestamp(const std::string& text) {
  auto invalid = [&] {
    return fail(ErrorType::invalid_input,
                fmt::format("run started_at {:?} is not an ISO-8601 timestamp", text),
                json_object{{"path", c_->path_text()}, {"started_at", text}});
  };
  // SQLite would also take "now" and bare Julian day numbers; a timestamp starts with a date.
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return invalid();
  auto stmt = normalise_time_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, text);
  int rc = q.step();
  if (rc != SQLITE_ROW) return fail(c_->error("normalise timestamp", rc));
  if (q.is_null(0)) return invalid();
  return std::string(q.text(0));
}

Result<RunRecord> SqliteRunStore::create_run(const RunRecord& run) {
  const std::string& path = c_->path_text();
  if (auto r = store_detail::check_new_run(run, path); !r) return fail(std::move(r.error()));
  std::string payload = boost::json::serialize(run.payload);
  std::lock_guard lock(c_->mutex());
  if (auto r = prepare_now(*c_, {&normalise_time_, &insert_run_, &select_run_}); !r) {
    return fail(std::move(r.error()));
  }
  std::string started_at = iso8601_now();
  if (!run.started_at.empty()) {
    auto normalised = normalise_timestamp(run.started_at);
    if (!normalised) return fail(std::move(normalised.error()));
    started_at = std::move(*normalised);
  }
  {
    auto stmt = insert_run_.get(*c_);
    if (!stmt) return fail(std::move(stmt.error()));
    StmtUse q(*stmt);
    q.bind(1, run.id);
    q.bind(2, run.workflow);
    q.bind_or_null(3, run.instance_id);
    q.bind(4, payload);
    q.bind(5, started_at);
    q.bind(6, owner_.text());
    int rc = q.step();
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return fail(ErrorType::store_error,
                  fmt::format("store {}: create run: run {} already exists", path, run.id),
                  json_object{{"path", path},
                              {"operation", "create run"},
                              {"run", run.id},
                              {"rule", "duplicate_run"}});
    }
    if (rc != SQLITE_DONE) return fail(c_->error("create run", rc));
  }
  auto stored = get_run_locked(run.id);
  if (!stored) return fail(std::move(stored.error()));
  if (!*stored) {
    // Only possible if another process deleted it between the two statements.
    return fail(ErrorType::store_error,
                fmt::format("store {}: run {} was deleted while being created", path, run.id),
                json_object{{"path", path}, {"run", run.id}});
  }
  return std::move(**stored);
}

Result<std::int64_t> SqliteRunStore::append_run_event(const std::string& run_id,
                                                      const std::string& type, const json& data) {
  if (auto r = store_detail::check_event_type(run_id, type, c_->path_text()); !r) {
    return fail(std::move(r.error()));
  }
  // Serialise outside the lock: it is the costliest part for large payloads.
  std::string text = boost::json::serialize(data);
  std::lock_guard lock(c_->mutex());
  auto stmt = insert_run_event_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  q.bind(1, run_id);
  q.bind(2, type);
  q.bind(3, text);
  int rc = q.step();
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return fail(not_found(c_->path_text(), "run", run_id));
    return fail(c_->error("append run event", rc));
  }
  std::int64_t index = q.integer(0);
  // Run the statement to completion: in autocommit mode that is the commit, and the event
  // must be durable before this returns.
  rc = q.step();
  if (rc != SQLITE_DONE) return fail(c_->error("append run event", rc));
  return index;
}

Result<RunRecord> SqliteRunStore::finish_run(const std::string& run_id, const std::string& status,
                                             const json& result, const json& error_value) {
  auto checked = store_detail::check_finish_status(run_id, status, c_->path_text());
  if (!checked) return fail(std::move(checked.error()));
  const std::string_view stored_status = to_string(*checked);
  std::string result_text = boost::json::serialize(result);
  std::string error_text = boost::json::serialize(error_value);
  std::lock_guard lock(c_->mutex());
  if (auto r = prepare_now(*c_, {&finish_run_, &select_run_}); !r)
    return fail(std::move(r.error()));
  {
    auto stmt = finish_run_.get(*c_);
    if (!stmt) return fail(std::move(stmt.error()));
    StmtUse q(*stmt);
    q.bind(1, run_id);
    q.bind(2, stored_status);
    q.bind(3, result_text);
    q.bind(4, error_text);
    int rc = q.step();
    if (rc != SQLITE_DONE) return fail(c_->error("finish run", rc));
  }
  // Either just finished, or already finished earlier (left as it was), or missing.
  auto stored = get_run_locked(run_id);
  if (!stored) return fail(std::move(stored.error()));
  if (!*stored) return fail(not_found(c_->path_text(), "run", run_id));
  return std::move(**stored);
}

Result<std::vector<RunRecord>> SqliteRunStore::end_interrupted_runs(const InterruptedRuns& which) {
  std::lock_guard lock(c_->mutex());
  LazyStmt& select = which.run_id.empty() ? select_running_ : select_running_one_;
  if (auto r = prepare_now(*c_, {&select, &interrupt_run_, &select_run_}); !r) {
    return fail(std::move(r.error()));
  }
  // Which ones, first: the owners are checked outside the statement, each once.
  std::vector<std::pair<std::string, std::string>> ending;  // id, owner
  std::map<std::string, store_detail::OwnerState> states;   // owner → state
  std::set<std::string> keep;  // the lock files of owners whose runs stay running
  {
    auto stmt = select.get(*c_);
    if (!stmt) return fail(std::move(stmt.error()));
    StmtUse q(*stmt);
    if (!which.run_id.empty()) q.bind(1, which.run_id);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      std::string owner(q.text(1));
      bool mine = owner_.is(owner);
      if (!mine && !states.contains(owner)) states[owner] = owner_.state_of(owner);
      if ((mine && which.own) || (!mine && states[owner] == store_detail::OwnerState::ended)) {
        ending.emplace_back(q.text(0), std::move(owner));
      } else {
        keep.insert(store_detail::owner_nonce(owner));
      }
    }
    if (rc != SQLITE_DONE) return fail(c_->error("find interrupted runs", rc));
  }
  std::vector<RunRecord> ended;
  for (const auto& [id, owner] : ending) {
    std::string who = store_detail::describe_owner(owner);
    std::string message =
        owner_.is(owner)
            ? fmt::format("the process running the run ({}) stopped before the run ended", who)
            : fmt::format("the process running the run ({}) ended before the run did", who);
    std::string error_text = boost::json::serialize(
        json_object{{"type", "interrupted"}, {"message", std::move(message)}});
    {
      auto stmt = interrupt_run_.get(*c_);
      if (!stmt) return fail(std::move(stmt.error()));
      StmtUse q(*stmt);
      q.bind(1, id);
      q.bind(2, owner);
      q.bind(3, error_text);
      int rc = q.step();
      if (rc != SQLITE_DONE) return fail(c_->error("end interrupted run", rc));
    }
    if (c_->changes() == 0) continue;  // ended meanwhile, by its process or another caller
    auto stored = get_run_locked(id);
    if (!stored) return fail(std::move(stored.error()));
    if (*stored) ended.push_back(std::move(**stored));
  }
  // Every run of the owners that have ended is ended now: their lock files can go.
  if (which.run_id.empty()) owner_.sweep(keep);
  return ended;
}

Result<std::optional<RunRecord>> SqliteRunStore::get_run(const std::string& run_id) {
  std::lock_guard lock(c_->mutex());
  return get_run_locked(run_id);
}

// With the lock held.
Result<std::vector<RunEvent>> SqliteRunStore::read_events(const std::string& run_id,
                                                          std::int64_t after, std::int64_t limit,
                                                          const std::string& type_list) {
  std::vector<RunEvent> out;
  auto stmt = select_run_events_.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
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
  if (rc != SQLITE_DONE) return fail(c_->error("read run events", rc));
  return out;
}

Result<std::vector<RunEvent>> SqliteRunStore::run_events(const std::string& run_id,
                                                         std::int64_t after, std::int64_t limit,
                                                         const std::vector<std::string>& types) {
  std::string type_list = types.empty() ? std::string() : json_list(types);
  after = std::max<std::int64_t>(after, 0);
  limit = store_detail::clamp_event_limit(limit);
  std::lock_guard lock(c_->mutex());
  auto out = read_events(run_id, after, limit, type_list);
  if (!out) return fail(std::move(out.error()));
  if (out->empty()) {
    // "No events (yet)" and "no such run" look alike; the caller needs to tell them apart.
    auto run = get_run_locked(run_id);
    if (!run) return fail(std::move(run.error()));
    if (!*run) return fail(not_found(c_->path_text(), "run", run_id));
  }
  return out;
}

Result<RunPage> SqliteRunStore::list_runs(const RunQuery& query) {
  auto position = store_detail::read_run_cursor(query.cursor, c_->path_text());
  if (!position) return fail(std::move(position.error()));
  const std::int64_t limit = store_detail::clamp_list_limit(query.limit);
  int shape = (query.workflow.empty() ? 0 : kByWorkflow) | (query.status.empty() ? 0 : kByStatus) |
              (position->keyset ? kAfterKey : 0) | (query.instance_id.empty() ? 0 : kByInstance);
  std::string statuses =
      query.status.empty() ? std::string() : json_list(store_detail::split_list(query.status));
  std::lock_guard lock(c_->mutex());
  auto stmt = list_runs_[shape].get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  if (shape & kByWorkflow) q.bind(1, query.workflow);
  if (shape & kByStatus) q.bind(2, statuses);
  if (shape & kAfterKey) {
    q.bind(3, position->after_started_at);
    q.bind(4, position->after_id);
  }
  if (shape & kByInstance) q.bind(7, query.instance_id);
  // One row more than asked tells whether another page exists, so the last page has no cursor.
  q.bind(5, limit + 1);
  q.bind(6, position->offset);
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
  if (!more && rc != SQLITE_DONE) return fail(c_->error("list runs", rc));
  // The next page continues after the last run returned, whatever the kind of this cursor.
  if (more) page.next_cursor = store_detail::write_run_cursor(page.runs.back());
  return page;
}

Result<NamePage> SqliteRunStore::list_names(const NameQuery& query, bool instances) {
  const std::string& path = c_->path_text();
  auto position = store_detail::read_name_cursor(query.cursor, path);
  if (!position) return fail(std::move(position.error()));
  if (instances && query.workflow.empty()) {
    return fail(ErrorType::invalid_input, "listing instances needs a workflow name",
                json_object{{"path", path}});
  }
  const std::int64_t limit = store_detail::clamp_list_limit(query.limit);
  std::lock_guard lock(c_->mutex());
  LazyStmt& lazy = instances ? list_instances_ : list_workflows_;
  auto stmt = lazy.get(*c_);
  if (!stmt) return fail(std::move(stmt.error()));
  StmtUse q(*stmt);
  int n = 1;
  if (instances) q.bind(n++, query.workflow);
  q.bind(n++, position->after);  // "" before the first name
  q.bind(n++, limit + 1);
  q.bind(n++, position->offset);
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
    return fail(c_->error(instances ? "list run instances" : "list run workflows", rc));
  }
  if (more) page.next_cursor = store_detail::write_name_cursor(page.names.back());
  return page;
}

}  // namespace cppflue::sqlite
