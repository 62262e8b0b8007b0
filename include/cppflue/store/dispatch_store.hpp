// SPDX-License-Identifier: Apache-2.0
// cppflue/store/dispatch_store.hpp — the dispatch queue: durably queued inputs for persistent
// agents' sessions (`/dispatch`). Items of one session are leased one at a time, in acceptance
// order.
//
// `DispatchStore` is what the server's dispatch worker and admin routes need; the harness does
// not use it. A `Store` (store.hpp) is a DispatchStore, so a `std::shared_ptr<Store>` converts to
// `std::shared_ptr<DispatchStore>`. Implementations are thread-safe, and every change is
// committed before it returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cppflue/core/json.hpp"

namespace cppflue {

// A dispatch item's state. `DispatchItem::state`, the `finish_dispatch` argument and the keys of
// `dispatch_counts` are still strings; these name the values so that callers can migrate to
// `to_string(DispatchState::done)` / `parse_dispatch_state(item.state)`. The strings are the
// stored format and the JSON answers'.
enum class DispatchState {
  pending,  // "pending": accepted, waiting for a lease
  leased,   // "leased": being delivered (until lease_until_ms)
  done,     // "done"
  failed,   // "failed": `error` says why
};

constexpr std::string_view to_string(DispatchState state) noexcept {
  switch (state) {
    case DispatchState::pending:
      return "pending";
    case DispatchState::leased:
      return "leased";
    case DispatchState::done:
      return "done";
    case DispatchState::failed:
      return "failed";
  }
  return {};
}

// The state a string names; nullopt for any other string (exact, case-sensitive match).
constexpr std::optional<DispatchState> parse_dispatch_state(std::string_view text) noexcept {
  for (DispatchState s : {DispatchState::pending, DispatchState::leased, DispatchState::done,
                          DispatchState::failed}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

// A state an item ends in (the ones `finish_dispatch` accepts): done or failed.
constexpr bool is_terminal(DispatchState state) noexcept {
  return state == DispatchState::done || state == DispatchState::failed;
}

// An input queued for a persistent agent's session. The store owns seq, state, attempts,
// lease_until, accepted_at and finished_at.
struct DispatchItem {
  std::int64_t seq = 0;         // acceptance order (global)
  std::string id;               // e.g. "dispatch_<32 hex>" (caller-chosen, unique)
  std::string agent;            // agent name
  std::string instance_id;      // the agent instance ({id} of the route)
  std::string session;          // the session key the input goes to ("<id>:<session>")
  json input = nullptr;         // the input (a string is the prompt; anything else its JSON text)
  json context = nullptr;       // delivery context, e.g. the chat thread a reply tool answers
  std::string idempotency_key;  // empty = none; unique per (agent, instance_id)
  std::string traceparent;      // the W3C trace context of the request that queued it
  std::string tracestate;
  std::string state = "pending";  // pending | leased | done | failed (see DispatchState)
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

class DispatchStore {
 public:
  virtual ~DispatchStore() = default;
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
  // When the oldest pending or leased item was accepted (epoch ms); nullopt when none is.
  virtual Result<std::optional<std::int64_t>> oldest_open_dispatch_ms() = 0;
};

}  // namespace cppflue
