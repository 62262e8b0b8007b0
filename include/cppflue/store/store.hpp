// SPDX-License-Identifier: Apache-2.0
// cppflue/store/store.hpp — durable state: sessions and their history entries.
//
// The `Store` interface is what the harness sees; `open_sqlite_store` gives the SQLite
// implementation (`.cppflue/state.db`, WAL, STRICT tables, versioned migrations). Every
// append is committed before it returns, so an entry is durable before the next model call
// and visible to another process opening the same database. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"

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
};

// Opens (creating directories and the schema as needed) the SQLite store at `path`.
Result<std::shared_ptr<Store>> open_sqlite_store(const std::filesystem::path& path);

}  // namespace cppflue
