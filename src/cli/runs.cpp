// SPDX-License-Identifier: Apache-2.0
// `cppflue runs list|show`: see runs.hpp.
#include "runs.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cppflue/harness/app.hpp"
#include "cppflue/store/store.hpp"
#include "event_lines.hpp"

namespace cppflue::cli {

namespace {

// What runs the run: the workflow, or "agent/instance" for a background agent run (a workflow
// run's instance id is its own id).
std::string run_name(const RunRecord& r) {
  if (r.instance_id.empty() || r.instance_id == r.id) return r.workflow;
  return r.workflow + "/" + r.instance_id;
}

std::string duration_text(const RunRecord& r) {
  return r.ended_at.empty() ? std::string("-") : human_duration(r.duration_ms);
}

json summary_json(const RunRecord& r) {
  json ended = r.ended_at.empty() ? json(nullptr) : json(r.ended_at);
  json duration = r.ended_at.empty() ? json(nullptr) : json(r.duration_ms);
  return json_object{{"id", r.id},
                     {"workflow", r.workflow},
                     {"instance_id", r.instance_id},
                     {"status", r.status},
                     {"started_at", r.started_at},
                     {"ended_at", ended},
                     {"duration_ms", duration},
                     {"event_count", r.event_count}};
}

json record_json(const RunRecord& r) {
  json out = summary_json(r);
  out.as_object()["payload"] = r.payload;
  out.as_object()["result"] = r.result;
  out.as_object()["error"] = r.error;
  return out;
}

// --status: one status or several separated by commas, each a run status.
Result<void> check_status(const std::string& list) {
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = std::min(list.find(',', start), list.size());
    std::string one = list.substr(start, comma - start);
    if (!parse_run_status(one)) {
      return fail(ErrorType::invalid_input,
                  fmt::format("--status must be running, completed, failed or aborted, or "
                              "several of them separated by commas (got '{}')",
                              one));
    }
    start = comma + 1;
  }
  return {};
}

void print_table(const std::vector<RunRecord>& runs) {
  std::vector<std::vector<std::string>> rows{
      {"RUN", "WORKFLOW/AGENT", "STATUS", "STARTED", "DURATION"}};
  for (const auto& r : runs) {
    rows.push_back({r.id, run_name(r), r.status, r.started_at, duration_text(r)});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], width[i]) : row[i];
    }
    std::cout << for_terminal(STDOUT_FILENO, line) << "\n";
  }
}

int list_runs(Store& store, const RunsOptions& o) {
  RunQuery query;
  query.status = o.status;
  query.limit = o.limit;
  auto page = store.list_runs(query);
  if (!page) return report_error(page.error().message);
  if (o.json) {
    json_array out;
    for (const auto& r : page->runs) out.push_back(summary_json(r));
    std::cout << dump(out) << "\n";
    return 0;
  }
  if (page->runs.empty()) {
    std::cout << (o.status.empty() ? std::string("no runs\n")
                                   : "no runs with status " + o.status + "\n");
    return 0;
  }
  print_table(page->runs);
  if (!page->next_cursor.empty()) {
    std::cout << fmt::format("(the newest {}; --limit N shows more)\n", page->runs.size());
  }
  return 0;
}

void print_record(const RunRecord& r) {
  auto row = [](std::string_view label, const std::string& value) {
    std::cout << fmt::format("{:<9} {}\n", label, for_terminal(STDOUT_FILENO, value));
  };
  row("run", r.id);
  row(r.instance_id.empty() || r.instance_id == r.id ? "workflow" : "agent", run_name(r));
  row("status", r.status);
  row("started", r.started_at);
  row("ended", r.ended_at.empty() ? "-" : r.ended_at);
  row("duration", duration_text(r));
  row("events", fmt::format("{} (cppflue logs {})", r.event_count, r.id));
  row("payload", dump(r.payload));
  if (!r.result.is_null()) row("result", dump(r.result));
  if (!r.error.is_null()) row("error", dump(r.error));
}

int show_run(Store& store, const std::filesystem::path& db, const RunsOptions& o) {
  auto run = store.get_run(o.id);
  if (!run) return report_error(run.error().message);
  if (!*run) {
    return report_error(fmt::format("run {} is not in {} (cppflue runs list shows the stored runs)",
                                    o.id, db.string()));
  }
  if (o.json) {
    std::cout << dump(record_json(**run)) << "\n";
  } else {
    print_record(**run);
  }
  return 0;
}

}  // namespace

CLI::App* add_runs_command(CLI::App& app, RunsOptions& runs, CommonOptions& common) {
  auto* cmd = app.add_subcommand(
      "runs",
      "List the project's stored runs, newest first, or show one (events: cppflue logs RUN_ID)");
  cmd->add_option("action", runs.action, "list | show")->check(CLI::IsMember({"list", "show"}));
  cmd->add_option("run_id", runs.id, "Run id (for show)");
  cmd->add_option("--limit", runs.limit, "list: at most this many runs (default 20)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--status", runs.status,
                  "list: only runs with this status: running, completed, failed or aborted "
                  "(several: comma-separated)");
  cmd->add_flag("--json", runs.json, "Machine-readable output");
  cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return cmd;
}

int runs_command(const CommonOptions& common, const RunsOptions& o) {
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return report_error(config.error().message);
  auto db = config->state_dir() / "state.db";
  if (o.action == "show" && o.id.empty()) return report_error("runs show needs a run id");
  if (!o.status.empty()) {
    if (auto ok = check_status(o.status); !ok) return report_error(ok.error().message);
  }
  if (!std::filesystem::exists(db)) {
    if (o.action == "list") {
      std::cout << (o.json ? "[]\n" : "no runs (no store at " + db.string() + ")\n");
      return 0;
    }
    return report_error(fmt::format("run {} is not in {} (no store yet)", o.id, db.string()));
  }
  auto store = open_sqlite_store(db);
  if (!store) return report_error(store.error().message);
  // Runs whose process has ended (killed, crashed) are shown as what they are: interrupted.
  (void)end_interrupted_runs(**store, {.run_id = o.action == "show" ? o.id : std::string()});
  if (o.action == "show") return show_run(**store, db, o);
  return list_runs(**store, o);
}

}  // namespace cppflue::cli
