// SPDX-License-Identifier: Apache-2.0
// What every SessionStore shares: where a session's context starts, and the default
// context_entries (every entry read, those a compaction replaced dropped).
#include <algorithm>

#include "cppflue/store/session_store.hpp"

namespace cppflue {

std::int64_t context_start(const std::vector<Entry>& entries) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->kind != "compaction") continue;
    const json* kept =
        it->content.is_object() ? it->content.as_object().if_contains("first_kept_seq") : nullptr;
    // An unreadable compaction: everything, and the reader names the entry.
    return kept != nullptr && kept->is_int64() ? std::min(kept->as_int64(), it->seq) : 1;
  }
  return 1;
}

Result<std::vector<Entry>> SessionStore::context_entries(const std::string& session_id) {
  auto all = entries(session_id);
  if (!all) return all;
  const std::int64_t from = context_start(*all);
  std::erase_if(*all, [from](const Entry& e) { return e.seq < from; });
  return all;
}

json to_json(const Entry& e) {
  return json_object{{"seq", e.seq},
                     {"kind", e.kind},
                     {"role", e.role},
                     {"source", e.source},
                     {"created_at", e.created_at},
                     {"content", e.content}};
}

Result<std::vector<Entry>> SessionStore::entries_page(const std::string& session_id,
                                                      std::int64_t after_seq, std::size_t limit) {
  auto all = entries(session_id);
  if (!all) return all;
  std::vector<Entry> page;
  for (auto& e : *all) {
    if (page.size() >= limit) break;
    if (e.seq > after_seq) page.push_back(std::move(e));
  }
  return page;
}

}  // namespace cppflue
