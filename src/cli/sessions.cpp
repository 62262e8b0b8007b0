// SPDX-License-Identifier: Apache-2.0
// `cppflue sessions list|show ID|rm ID`: inspect the project's stored sessions.
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
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
Totals turn_totals(const std::vector<Entry>& entries) {
  Totals t;
  for (const auto& e : entries) {
    if (e.kind != "message" || e.role != "assistant") continue;
    const json* turn = find(e.content, "turn");
    const json* usage = turn != nullptr ? find(*turn, "usage") : nullptr;
    if (usage == nullptr || !usage->is_object()) continue;
    t.usage += usage_from_json(*usage);
    ++t.turns;
  }
  return t;
}

std::string totals_text(const Totals& t) {
  std::string out =
      fmt::format("{} model turns · {} in · {} out", t.turns, t.usage.input, t.usage.output);
  if (t.usage.cache_read > 0) out += fmt::format(" · {} cached", t.usage.cache_read);
  if (t.usage.cache_write > 0) out += fmt::format(" · {} cache writes", t.usage.cache_write);
  out += t.usage.cost ? " · " + usd_text(t.usage.cost->total) : " · cost unknown";
  return out;
}

// The seqs of user messages that failed operations took out of the context.
std::set<std::int64_t> dropped_seqs(const std::vector<Entry>& entries) {
  std::set<std::int64_t> out;
  for (const auto& e : entries) {
    if (e.kind != "marker") continue;
    if (auto seq = get_int(e.content, "dropped_seq")) out.insert(*seq);
  }
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

// `sessions show ID`: every entry, then the usage and cost of the stored turns.
int show(Store& store, const SessionsOptions& o) {
  auto rec = store.get_session(o.id);
  if (!rec) return report_error(rec.error());
  if (!*rec) return report_error(ErrorType::not_found, fmt::format("session '{}' not found", o.id));
  auto entries = store.entries(o.id);
  if (!entries) return report_error(entries.error());
  if (o.json) {
    json_array arr;
    for (const auto& e : *entries) {
      arr.push_back(json_object{{"seq", e.seq},
                                {"kind", e.kind},
                                {"role", e.role},
                                {"source", e.source},
                                {"created_at", e.created_at},
                                {"content", e.content}});
    }
    auto totals = turn_totals(*entries);
    std::cout << dump(json_object{{"session", record_json(**rec)},
                                  {"entries", arr},
                                  {"turns", totals.turns},
                                  {"usage", to_json(totals.usage)}})
              << '\n';
  } else {
    std::cout << fmt::format("session {} ({} entries, updated {})\n", o.id, (*rec)->entry_count,
                             (*rec)->updated_at);
    auto dropped = dropped_seqs(*entries);
    for (const auto& e : *entries) {
      std::cout << fmt::format("{:>4}  {}\n", e.seq,
                               for_terminal(STDOUT_FILENO, describe(e, dropped.count(e.seq) > 0)));
    }
    if (auto totals = turn_totals(*entries); totals.turns > 0) {
      std::cout << "total: " << totals_text(totals) << '\n';
    }
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
