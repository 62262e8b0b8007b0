// SPDX-License-Identifier: Apache-2.0
// cppflue/store/session_store.hpp — sessions and their history entries: the part of the store an
// agent's conversation lives in.
//
// `SessionStore` is the seam the harness's `Agent` needs (open_session, entries, append_entry,
// update_metadata); the CLI's `sessions` commands use the rest (list, get, delete). A `Store`
// (store.hpp) is a SessionStore, so a `std::shared_ptr<Store>` converts to
// `std::shared_ptr<SessionStore>`. Implementations are thread-safe, and every append is
// committed before it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {

// The entry kinds the harness writes. `Entry::kind` is still a string (the store keeps any kind
// as given); these name the known ones so that callers can migrate from string literals to
// `to_string(EntryKind::message)` / `parse_entry_kind(e.kind)`. The strings are the stored format.
enum class EntryKind {
  message,  // "message": a serialised Message, `role` set
  marker,   // "marker": a note in the history (an interrupted turn, a task), not sent to the model
  compaction,  // "compaction": a summary that replaces the messages before its first kept seq
};

constexpr std::string_view to_string(EntryKind kind) noexcept {
  switch (kind) {
    case EntryKind::message:
      return "message";
    case EntryKind::marker:
      return "marker";
    case EntryKind::compaction:
      return "compaction";
  }
  return {};
}

// The kind a stored string names; nullopt for any other string (exact, case-sensitive match).
constexpr std::optional<EntryKind> parse_entry_kind(std::string_view text) noexcept {
  for (EntryKind k : {EntryKind::message, EntryKind::marker, EntryKind::compaction}) {
    if (text == to_string(k)) return k;
  }
  return std::nullopt;
}

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
  std::string kind;      // "message", "compaction", "marker" (see EntryKind)
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

class SessionStore {
 public:
  virtual ~SessionStore() = default;
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
  // The entries the session's context is made of, in seq order: from the first entry the last
  // compaction kept (`first_kept_seq` of its content) on, that compaction included; all of
  // them when nothing was compacted. A store reads nothing a compaction replaced. The default
  // reads every entry and drops those.
  virtual Result<std::vector<Entry>> context_entries(const std::string& session_id);
  // A page of the history: at most `limit` entries with seq > `after_seq`, in seq order (empty
  // at the end). For reading a long history without holding all of it (`sessions show`, the
  // admin API). The default reads every entry and keeps the page.
  virtual Result<std::vector<Entry>> entries_page(const std::string& session_id,
                                                  std::int64_t after_seq, std::size_t limit);
};

// An entry as JSON: {"seq","kind","role","source","created_at","content"} (`sessions show --json`,
// GET /admin/sessions/{id}/entries).
json to_json(const Entry& e);

// The seq the context of `entries` (in seq order) starts at: the last compaction's
// `first_kept_seq` (at most the compaction's own seq), else 1.
std::int64_t context_start(const std::vector<Entry>& entries);

}  // namespace cppflue
