// SPDX-License-Identifier: Apache-2.0
// cppflue/store/store.hpp — durable state: sessions and their history entries, runs and their
// event logs, the dispatch queue.
//
// The state is three aggregates, each behind its own interface (and header):
//   - `SessionStore` (session_store.hpp): `SessionRecord`, `Entry`, `open_session` … `entries`.
//   - `RunStore` (run_store.hpp): one invocation of a workflow or agent (`/runs`; see
//     docs/concepts/runs-and-dispatch.md): `RunRecord`, `RunEvent`, `RunQuery`/`RunPage`,
//     `create_run` … `list_run_instances`.
//   - `DispatchStore` (dispatch_store.hpp): durably queued inputs (`/dispatch`): `DispatchItem`,
//     `enqueue_dispatch` … `dispatch_counts`. Items of one session are leased one at a time, in
//     acceptance order.
// `Store` is all three at once, and is the type callers hold (`std::shared_ptr<Store>`); it
// converts to a shared_ptr of any one of them for code that needs only that part.
//
// Who uses which part:
//   - harness: `Agent` (agent.hpp) uses SessionStore only (open_session, entries, append_entry,
//     update_metadata); the workflow runner (app.hpp) uses RunStore only (create_run,
//     append_run_event, finish_run). The options still take a `std::shared_ptr<Store>`.
//   - server: all three (agents' sessions, `/runs`, `/dispatch`, the admin listings).
//   - CLI: SessionStore (`sessions`, `doctor`), RunStore (`logs`).
//
// Entry kinds, run statuses and dispatch states have enums (`EntryKind`, `RunStatus`,
// `DispatchState`) with `to_string` / `parse_*` giving exactly the stored strings. The record
// fields and the interface arguments stay strings for now, so existing callers keep compiling;
// new code should build and compare them through the enums.
//
// `open_sqlite_store` gives the SQLite implementation (`.cppflue/state.db`, WAL, STRICT tables,
// versioned migrations). Every append is committed before it returns, so an entry or run event is
// durable before the next model call and visible to another process opening the same database.
// Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "cppflue/core/json.hpp"
#include "cppflue/core/redact.hpp"
#include "cppflue/store/dispatch_store.hpp"
#include "cppflue/store/run_store.hpp"
#include "cppflue/store/session_store.hpp"

namespace cppflue {

class Store : public SessionStore, public RunStore, public DispatchStore {
 public:
  ~Store() override = default;
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
