// SPDX-License-Identifier: Apache-2.0
// `cppflue sessions list|show ID|rm ID`: inspect the project's stored sessions.
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <set>

#include "cli.hpp"
#include "cppflue/store/store.hpp"

namespace cppflue::cli {

namespace {
json record_json(const SessionRecord& r) {
  return json_object{{"id", r.id},
                     {"agent", r.agent},
                     {"parent_id", r.parent_id},
                     {"entries", r.entry_count},
                     {"created_at", r.created_at},
                     {"updated_at", r.updated_at},
                     {"metadata", r.metadata}};
}

// The usage of the stored turns (the model's answers carry theirs); the cost is absent when a
// turn's model had no price.
struct Totals {
  Usage usage;
  int turns = 0;
};
void add_totals(Totals& t, const Entry& e) {
  if (e.kind != "message" || e.role != "assistant") return;
  const json* turn = find(e.content, "turn");
  const json* usage = turn != nullptr ? find(*turn, "usage") : nullptr;
  if (usage == nullptr || !usage->is_object()) return;
  t.usage += usage_from_json(*usage);
  ++t.turns;
}

std::string totals_text(const Totals& t) {
  std::string out =
      fmt::format("{} model turns · {} in · {} out", t.turns, t.usage.input, t.usage.output);
  if (t.usage.cache_read > 0) out += fmt::format(" · {} cached", t.usage.cache_read);
  if (t.usage.cache_write > 0) out += fmt::format(" · {} cache writes", t.usage.cache_write);
  out += t.usage.cost ? " · " + usd_text(t.usage.cost->total) : " · cost unknown";
  return out;
}

std::string describe(const Entry& e, bool dropped) {
  if (e.kind != "message") return fmt::format("[{}] {}", e.kind, dump(e.content));
  if (dropped) return describe(e, false) + "  [failed: not sent again]";
  auto m = message_from_json(e.content);
  if (!m) return fmt::format("[unreadable] {}", m.error().message);
  std::string out = fmt::format("{}: {}", role_name(m->role), m->text);
  for (const auto& c : m->tool_calls) {
    out += fmt::format("\n    tool call {} {}({})", c.id, c.name, dump(c.arguments));
  }
  if (m->role == Role::tool) {
    out = fmt::format("tool {} [{}]{}: {}", m->tool_name, m->tool_call_id,
                      m->is_error ? " (error)" : "", m->text);
  }
  return out;
}
// `sessions scrub`: the values to remove, then every stored text rewritten without them.
int scrub(const Config& config, const std::filesystem::path& db, const SessionsOptions& o) {
  if (o.scrub_secrets.empty() && !o.scrub_all && !o.scrub_stdin) {
    return report_error(
        "sessions scrub needs what to remove: --secret NAME (repeatable), --all (every "
        "configured secret and provider key) or --stdin (a value read from standard input)");
  }
  Redactor redactor;
  for (const auto& name : o.scrub_secrets) {
    auto it = config.secrets.find(name);
    if (it == config.secrets.end()) {
      return report_error(fmt::format("unknown secret '{}' (not in [secrets] of {})", name,
                                      config.config_path.string()));
    }
    std::string value = it->second.value;
    if (!it->second.env.empty()) {
      const char* v = std::getenv(it->second.env.c_str());
      if (v == nullptr) {
        return report_error(
            fmt::format("secret '{}': environment variable {} is not set", name, it->second.env));
      }
      value = v;
    }
    redactor.add(name, value);
  }
  std::shared_ptr<const Redactor> known;
  if (o.scrub_all) known = known_secrets_redactor(config);
  if (o.scrub_stdin) {
    std::string value;
    std::getline(std::cin, value);
    if (value.empty()) return report_error("sessions scrub --stdin: no value on standard input");
    redactor.add("scrubbed", value);
  }
  auto report = scrub_sqlite_store(db, redactor);
  if (report && known && !known->empty()) {
    auto more = scrub_sqlite_store(db, *known);
    if (!more) return report_error(more.error());
    report->values_rewritten += more->values_rewritten;
  }
  if (!report) return report_error(report.error());
  std::cout << fmt::format("scrubbed {}: {} of {} stored texts rewritten\n", db.string(),
                           report->values_rewritten, report->values_checked);
  return 0;
}

// Reads the history page by page (never all of it at once): `each` gets every entry with
// seq > `after`, at most `limit` of them. The seq of the last entry given, when the limit stopped
// it with more to come.
constexpr std::size_t kPage = 500;

Result<std::optional<std::int64_t>> for_each_entry(Store& store, const std::string& id,
                                                   std::int64_t after, std::size_t limit,
                                                   const std::function<void(const Entry&)>& each) {
  std::size_t seen = 0;
  while (seen < limit) {
    const std::size_t want = std::min(kPage, limit - seen);
    auto page = store.entries_page(id, after, want);
    if (!page) return fail(std::move(page.error()));
    for (const auto& e : *page) each(e);
    seen += page->size();
    if (!page->empty()) after = page->back().seq;
    if (page->size() < want) return std::optional<std::int64_t>{};
  }
  // The limit was reached: is there more?
  auto next = store.entries_page(id, after, 1);
  if (!next) return fail(std::move(next.error()));
  return next->empty() ? std::optional<std::int64_t>{} : std::optional<std::int64_t>{after};
}

// `sessions show ID [--after SEQ] [--limit N]`: the entries, then (for the whole history) the
// usage and cost of the stored turns. Memory stays that of one page, however long the session.
int show(Store& store, const SessionsOptions& o) {
  auto rec = store.get_session(o.id);
  if (!rec) return report_error(rec.error());
  if (!*rec) return report_error(ErrorType::not_found, fmt::format("session '{}' not found", o.id));
  const bool whole = o.after <= 0 && o.limit == 0;
  const std::size_t limit = o.limit > 0 ? o.limit : SIZE_MAX;
  Totals totals;
  Result<std::optional<std::int64_t>> more = std::optional<std::int64_t>{};
  if (o.json) {
    // Streamed: one entry at a time into the array, the totals after it.
    std::cout << "{\"session\":" << dump(record_json(**rec)) << ",\"entries\":[";
    bool first = true;
    more = for_each_entry(store, o.id, o.after, limit, [&](const Entry& e) {
      std::cout << (first ? "" : ",") << dump(to_json(e));
      first = false;
      add_totals(totals, e);
    });
    if (!more) return report_error(more.error());
    std::cout << "]";
    if (*more) std::cout << ",\"next_after\":" << **more;
    if (whole) {
      std::cout << ",\"turns\":" << totals.turns << ",\"usage\":" << dump(to_json(totals.usage));
    }
    std::cout << "}\n";
    return 0;
  }
  // The failed user messages are known from markers that come after them: one pass for those.
  std::set<std::int64_t> dropped;
  auto markers = for_each_entry(store, o.id, o.after, limit, [&](const Entry& e) {
    if (e.kind != "marker") return;
    if (auto seq = get_int(e.content, "dropped_seq")) dropped.insert(*seq);
  });
  if (!markers) return report_error(markers.error());
  std::cout << fmt::format("session {} ({} entries, updated {})\n", o.id, (*rec)->entry_count,
                           (*rec)->updated_at);
  more = for_each_entry(store, o.id, o.after, limit, [&](const Entry& e) {
    std::cout << fmt::format("{:>4}  {}\n", e.seq,
                             for_terminal(STDOUT_FILENO, describe(e, dropped.count(e.seq) > 0)));
    add_totals(totals, e);
  });
  if (!more) return report_error(more.error());
  if (*more) {
    std::cout << fmt::format("more: cppflue sessions show {} --after {}\n", o.id, **more);
  } else if (whole && totals.turns > 0) {
    std::cout << "total: " << totals_text(totals) << '\n';
  }
  return 0;
}

}  // namespace

int sessions_command(const CommonOptions& common, const SessionsOptions& o) {
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return report_error(config.error());
  auto db = config->state_dir() / "state.db";
  if ((o.action == "show" || o.action == "rm") && o.id.empty()) {
    return report_error("sessions " + o.action + " needs a session id");
  }
  if (!std::filesystem::exists(db)) {
    if (o.action == "list") {
      std::cout << (o.json ? "[]\n" : "no sessions (no store at " + db.string() + ")\n");
      return 0;
    }
    return report_error(ErrorType::not_found,
                        fmt::format("session '{}' not found (no store at {})", o.id, db.string()));
  }
  if (o.action == "scrub") return scrub(*config, db, o);
  auto store = open_sqlite_store(db);
  if (!store) return report_error(store.error());

  if (o.action == "list") {
    auto list = (*store)->list_sessions();
    if (!list) return report_error(list.error());
    if (o.json) {
      json_array arr;
      for (const auto& r : *list) arr.push_back(record_json(r));
      std::cout << dump(arr) << '\n';
    } else if (list->empty()) {
      std::cout << "no sessions\n";
    } else {
      std::cout << fmt::format("{:<32} {:>8}  {}\n", "SESSION", "ENTRIES", "UPDATED");
      for (const auto& r : *list) {
        std::cout << fmt::format("{:<32} {:>8}  {}\n", for_terminal(STDOUT_FILENO, r.id),
                                 r.entry_count, r.updated_at);
      }
    }
    return 0;
  }
  if (o.action == "show") return show(**store, o);
  auto removed = (*store)->delete_session(o.id);
  if (!removed) return report_error(removed.error());
  if (!*removed)
    return report_error(ErrorType::not_found, fmt::format("session '{}' not found", o.id));
  std::cout << "deleted session " << o.id << '\n';
  return 0;
}

}  // namespace cppflue::cli
