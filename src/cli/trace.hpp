// SPDX-License-Identifier: Apache-2.0
// `cppflue trace SESSION|RUN [--json]`: the tree of operations, model calls, tools, tasks and
// compactions of a stored session or run, with durations, tokens and cost, from the store.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "cppflue/model/message.hpp"
#include "cppflue/store/store.hpp"

namespace cppflue::cli {

struct TraceOptions {
  std::string id;  // a session id, or a run id ("run_...")
  bool json = false;
};

// One step of the tree.
struct TraceNode {
  std::string kind;            // session, run, operation, chat, tool, task, compaction
  std::string name;            // operation kind, model, tool name, task id, compaction reason
  std::int64_t start_ms = -1;  // epoch milliseconds, -1 when not known
  std::int64_t end_ms = -1;
  std::optional<Usage> usage;  // model calls, and the sums of the nodes above them
  bool is_error = false;
  std::vector<std::unique_ptr<TraceNode>> children;
};

// The tree of a run from its stored events (run_start .. run_end, with its agents' events).
std::unique_ptr<TraceNode> trace_run(const RunRecord& run, const std::vector<RunEvent>& events);
// The tree of a session from its stored entries; a task's child session is read with `entries`.
using EntriesOf = std::function<std::vector<Entry>(const std::string& session_id)>;
std::unique_ptr<TraceNode> trace_session(const std::string& id, const std::vector<Entry>& entries,
                                         const EntriesOf& entries_of);

// Text (one line per node, indented as a tree) and JSON forms.
std::string trace_text(const TraceNode& root);
json trace_json(const TraceNode& node);

CLI::App* add_trace_command(CLI::App& app, TraceOptions& trace, CommonOptions& common);
int trace_command(const CommonOptions& common, const TraceOptions& opts);

}  // namespace cppflue::cli
