// SPDX-License-Identifier: Apache-2.0
// cppflue/store/run_store.hpp — runs (one invocation of a workflow or agent, `/runs`; see
// docs/concepts/runs-and-dispatch.md) and their event logs.
//
// `RunStore` is what the harness's workflow runner (app.hpp: create_run, append_run_event,
// finish_run), the server's `/runs` and admin routes and the CLI's `logs` command need. A `Store`
// (store.hpp) is a RunStore, so a `std::shared_ptr<Store>` converts to
// `std::shared_ptr<RunStore>`. Implementations are thread-safe, and every event append is
// committed before it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {

// A run's status. `RunRecord::status` and the `status` arguments are still strings; these name
// the values so that callers can migrate to `to_string(RunStatus::completed)` /
// `parse_run_status(run.status)`. The strings are the stored format and the JSON answers'.
enum class RunStatus {
  running,    // "running": created, not finished
  completed,  // "completed"
  failed,     // "failed": `error` says why
  aborted,    // "aborted": cancelled; `error` says by what
};

constexpr std::string_view to_string(RunStatus status) noexcept {
  switch (status) {
    case RunStatus::running:
      return "running";
    case RunStatus::completed:
      return "completed";
    case RunStatus::failed:
      return "failed";
    case RunStatus::aborted:
      return "aborted";
  }
  return {};
}

// The status a string names; nullopt for any other string (exact, case-sensitive match).
constexpr std::optional<RunStatus> parse_run_status(std::string_view text) noexcept {
  for (RunStatus s :
       {RunStatus::running, RunStatus::completed, RunStatus::failed, RunStatus::aborted}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

// A status a run ends with (the ones `finish_run` accepts): anything but running.
constexpr bool is_terminal(RunStatus status) noexcept {
  return status != RunStatus::running;
}

// One invocation of a workflow or agent. The store owns `status` transitions, `ended_at`,
// `duration_ms` and `event_count`.
struct RunRecord {
  std::string id;                  // run id (caller-chosen, e.g. "run_<hex>")
  std::string workflow;            // workflow or agent name
  std::string instance_id;         // agent instance / session id when known
  std::string status = "running";  // running | completed | failed | aborted (see RunStatus)
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

// Which runs RunStore::end_interrupted_runs looks at.
struct InterruptedRuns {
  std::string run_id;  // empty: every running run
  bool own = false;    // also the runs created through this store object (a server that stops)
};

class RunStore {
 public:
  virtual ~RunStore() = default;
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
  // Ends as `failed`, with error {"type":"interrupted","message"}, the running runs whose
  // process has ended (crashed, killed, or stopped without ending them) and, with `which.own`,
  // those created through this store object. A run whose process cannot be checked from here
  // (another host or PID namespace, or a run stored before owners were recorded) is left alone.
  // Returns the runs this call ended (another process may end the same ones); the caller
  // appends their run_end events (cppflue::end_interrupted_runs does both). A store that does
  // not record who runs a run ends none.
  virtual Result<std::vector<RunRecord>> end_interrupted_runs(const InterruptedRuns& which) {
    (void)which;
    return std::vector<RunRecord>{};
  }
};

}  // namespace cppflue
