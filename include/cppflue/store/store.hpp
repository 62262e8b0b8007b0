// SPDX-License-Identifier: Apache-2.0
// cppflue/store/store.hpp — durable state: sessions and their history entries, runs and their
// event logs.
//
// The `Store` interface is what the harness and the server see; `open_sqlite_store` gives the
// SQLite implementation (`.cppflue/state.db`, WAL, STRICT tables, versioned migrations). Every
// append is committed before it returns, so an entry or run event is durable before the next
// model call and visible to another process opening the same database. Thread-safe.
//
// Sessions: `SessionRecord`, `Entry`, `open_session` … `entries`.
// Runs (one invocation of a workflow or agent, `/runs`; see docs/concepts/runs-and-dispatch.md):
// `RunRecord`, `RunEvent`, `RunQuery`/`RunPage`, `create_run` … `list_runs`.
// Dispatch (durably queued inputs, `/dispatch`): `DispatchItem`, `enqueue_dispatch` …
// `dispatch_counts`. Items of one session are leased one at a time, in acceptance order.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/core/redact.hpp"

namespace cppflue {

struct SessionRecord {
  std::string id;
  std::string parent_id;
  std::string agent;
  std::string instance_id;
  json metadata = json_object{};
  std::string created_at;
  std::string updated_at;
  std::int64_t entry_count = 0;
};

struct Entry {
  std::int64_t seq = 0;  // 1-based position in the session, assigned by the store
  std::string kind;      // "message", "compaction", "marker"
  std::string role;      // message role, empty for other kinds
  json content;          // the structured payload (e.g. a serialised Message)
  std::string source;    // "prompt", "stream", "tool", ... (may be empty)
  std::string created_at;
};

struct SessionInit {
  std::string parent_id;
  std::string agent;
  std::string instance_id;
  json metadata = json_object{};
};

// One invocation of a workflow or agent. The store owns `status` transitions, `ended_at`,
// `duration_ms` and `event_count`.
struct RunRecord {
  std::string id;                  // run id (caller-chosen, e.g. "run_<hex>")
  std::string workflow;            // workflow or agent name
  std::string instance_id;         // agent instance / session id when known
  std::string status = "running";  // running | completed | failed | aborted
  json payload = nullptr;
  json result = nullptr;
  json error = nullptr;    // {"type","message",...} when failed/aborted
  std::string started_at;  // ISO-8601 UTC, normalised to YYYY-MM-DDTHH:MM:SS.sssZ
  std::string ended_at;    // empty while running
  std::int64_t duration_ms = 0;
  std::int64_t event_count = 0;  // = index of the last event
};

struct RunEvent {
  std::int64_t index = 0;  // 1-based, contiguous per run, assigned by the store
  std::string type;        // "run_start", "log", "run_end", or any session event type
  json data = json_object{};
  std::string timestamp;  // ISO-8601 UTC, taken when the event is committed
};

// Cursors are opaque: pass back a page's next_cursor. For PyFlue compatibility an offset cursor
// is accepted too: base64url (no padding) of {"offset":N}, or N as a bare digit string.
struct RunQuery {
  std::string workflow;     // empty = any
  std::string status;       // empty = any; one status, or several separated by commas
  int limit = 100;          // clamped to 1..1000
  std::string cursor;       // from RunPage::next_cursor, or an offset cursor
  std::string instance_id;  // empty = any
};

struct RunPage {
  std::vector<RunRecord> runs;
  std::string next_cursor;  // empty when there are no more runs
};

// The distinct agent (workflow) names that have runs, or the instance ids of one agent's runs.
struct NameQuery {
  std::string workflow;  // list_run_instances: the agent (required)
  int limit = 100;       // clamped to 1..1000
  std::string cursor;    // from NamePage::next_cursor, or an offset cursor (see RunQuery)
};

struct NamePage {
  std::vector<std::string> names;  // ascending
  std::string next_cursor;         // empty when there are no more names
};

// An input queued for a persistent agent's session. The store owns seq, state, attempts,
// lease_until, accepted_at and finished_at.
struct DispatchItem {
  std::int64_t seq = 0;           // acceptance order (global)
  std::string id;                 // e.g. "dispatch_<32 hex>" (caller-chosen, unique)
  std::string agent;              // agent name
  std::string instance_id;        // the agent instance ({id} of the route)
  std::string session;            // the session key the input goes to ("<id>:<session>")
  json input = nullptr;           // the input (a string is the prompt; anything else its JSON text)
  json context = nullptr;         // delivery context, e.g. the chat thread a reply tool answers
  std::string idempotency_key;    // empty = none; unique per (agent, instance_id)
  std::string state = "pending";  // pending | leased | done | failed
  std::int64_t attempts = 0;      // leases taken so far
  // The session's entry count when the current attempt began (-1 = not begun): lets a retry
  // after a crash see whether the input already reached the session.
  std::int64_t entries_before = -1;
  std::int64_t lease_until_ms = 0;  // epoch ms, while leased
  std::string accepted_at;
  std::string finished_at;
  json error = nullptr;    // {"type","message"} when failed
  bool duplicate = false;  // enqueue_dispatch: the key was taken; this is the original item
};

class Store {
 public:
  virtual ~Store() = default;
  // Returns the session, creating it with `init` if it does not exist.
  virtual Result<SessionRecord> open_session(const std::string& id, const SessionInit& init) = 0;
  virtual Result<std::optional<SessionRecord>> get_session(const std::string& id) = 0;
  virtual Result<std::vector<SessionRecord>> list_sessions() = 0;
  // Deletes the session and its entries; false if it did not exist.
  virtual Result<bool> delete_session(const std::string& id) = 0;
  virtual Result<void> update_metadata(const std::string& id, const json& metadata) = 0;
  // Appends and commits; returns the assigned seq. The session must exist.
  virtual Result<std::int64_t> append_entry(const std::string& session_id, const Entry& entry) = 0;
  // All entries of the session in seq order (empty if none).
  virtual Result<std::vector<Entry>> entries(const std::string& session_id) = 0;

  // Creates a running run from `id`, `workflow` (both required), `instance_id`, `payload` and
  // `started_at` (now when empty); the other fields are the store's. Returns the stored record.
  // A taken id is a store_error with details {"rule":"duplicate_run"}.
  virtual Result<RunRecord> create_run(const RunRecord& run) = 0;
  // Appends and commits one event; returns its index. Unknown run → not_found. Events may still
  // be appended after finish_run (a caller typically appends "run_end" right after it).
  virtual Result<std::int64_t> append_run_event(const std::string& run_id, const std::string& type,
                                                const json& data) = 0;
  // Ends a running run with `status` (completed | failed | aborted), setting ended_at and
  // duration_ms. A run that has already ended is returned unchanged. Unknown run → not_found.
  virtual Result<RunRecord> finish_run(const std::string& run_id, const std::string& status,
                                       const json& result, const json& error) = 0;
  virtual Result<std::optional<RunRecord>> get_run(const std::string& run_id) = 0;
  // Events with index > `after`, ascending, at most `limit` (clamped to 1..10000), only of the
  // given `types` when non-empty. Unknown run → not_found (a known run may have none yet).
  virtual Result<std::vector<RunEvent>> run_events(const std::string& run_id, std::int64_t after,
                                                   std::int64_t limit,
                                                   const std::vector<std::string>& types = {}) = 0;
  // Newest first by (started_at, id). A cursor that this store did not produce → invalid_input.
  virtual Result<RunPage> list_runs(const RunQuery& query) = 0;
  // The names that appear as `workflow` in runs, ascending. A bad cursor → invalid_input.
  virtual Result<NamePage> list_run_workflows(const NameQuery& query) = 0;
  // The non-empty instance ids of `query.workflow`'s runs, ascending.
  virtual Result<NamePage> list_run_instances(const NameQuery& query) = 0;

  // Commits a new pending item (id, agent, instance_id, session required). With an
  // idempotency_key already used for (agent, instance_id), nothing is stored and the original
  // item is returned with `duplicate` set.
  virtual Result<DispatchItem> enqueue_dispatch(const DispatchItem& item) = 0;
  // Leases the oldest item that may run now, or nullopt: an item is eligible when it is
  // pending (or leased with an expired lease) and no earlier item of its session is still
  // pending or leased. Leasing adds an attempt and sets the lease to now + `lease`.
  virtual Result<std::optional<DispatchItem>> lease_dispatch(std::chrono::milliseconds lease) = 0;
  // Extends a held lease; false when the item is no longer leased.
  virtual Result<bool> renew_dispatch(const std::string& id, std::chrono::milliseconds lease) = 0;
  // Records the session's entry count as the current attempt begins.
  virtual Result<void> begin_dispatch_attempt(const std::string& id,
                                              std::int64_t entries_before) = 0;
  // Ends an item: state "done" or "failed" (with `error`).
  virtual Result<void> finish_dispatch(const std::string& id, const std::string& state,
                                       const json& error) = 0;
  virtual Result<std::optional<DispatchItem>> get_dispatch(const std::string& id) = 0;
  // Returns every leased item to pending (for the only server of this store, at start-up: its
  // previous process died holding them); returns how many.
  virtual Result<std::int64_t> release_dispatch_leases() = 0;
  // Item count per state.
  virtual Result<std::map<std::string, std::int64_t>> dispatch_counts() = 0;
};

// Opens (creating directories and the schema as needed) the SQLite store at `path`.
Result<std::shared_ptr<Store>> open_sqlite_store(const std::filesystem::path& path);

struct ScrubReport {
  std::int64_t values_checked = 0;    // stored texts looked at
  std::int64_t values_rewritten = 0;  // texts in which something was redacted
};

// Rewrites every stored conversation and run text of the SQLite store at `path` through
// `redactor` (each secret becomes "[REDACTED:<name>]"), in one transaction, then wipes the old
// values from the file (secure_delete, WAL checkpoint, VACUUM). Safe while other processes use
// the store (they wait for the write lock). Errors: store_error naming the step.
Result<ScrubReport> scrub_sqlite_store(const std::filesystem::path& path, const Redactor& redactor);

}  // namespace cppflue
