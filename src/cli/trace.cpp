// SPDX-License-Identifier: Apache-2.0
// `cppflue trace`: a stored session or run as a tree with durations, tokens and cost.
//
// A run's events carry everything (operation, turn, tool, task and compaction starts and ends,
// each with its time). A session stores entries, not events: an operation starts at its user
// message, a model call lasts from the entry before its answer to the answer, a tool call from
// the answer that asked for it to its result, and a task's child session is read in its place.
#include "trace.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include "cppflue/core/clock.hpp"

namespace cppflue::cli {

namespace {

// An entry's or event's time in epoch milliseconds; -1 when it is not one.
std::int64_t epoch_ms(std::string_view iso) {
  return parse_iso8601_ms(iso).value_or(-1);
}

TraceNode* add(TraceNode& parent, std::string kind, std::string name, std::int64_t start) {
  auto node = std::make_unique<TraceNode>();
  node->kind = std::move(kind);
  node->name = std::move(name);
  node->start_ms = start;
  parent.children.push_back(std::move(node));
  return parent.children.back().get();
}

// Every node's usage: its own (a model call's) plus its children's; the end of a node with no
// end of its own is its last child's.
void sum_up(TraceNode& n) {
  for (auto& c : n.children) {
    sum_up(*c);
    if (c->usage) {
      if (!n.usage) n.usage = Usage{};
      *n.usage += *c->usage;
    }
    if (n.end_ms < c->end_ms) n.end_ms = std::max(n.end_ms, c->end_ms);
  }
}

std::string duration_text(const TraceNode& n) {
  if (n.start_ms < 0 || n.end_ms < 0) return "";
  std::int64_t ms = std::max<std::int64_t>(n.end_ms - n.start_ms, 0);
  return ms < 1000 ? fmt::format("{} ms", ms)
                   : fmt::format("{:.2f} s", static_cast<double>(ms) / 1000);
}

std::string usage_text(const Usage& u) {
  std::string out = fmt::format("{} in · {} out", u.input, u.output);
  if (u.cache_read > 0) out += fmt::format(" · {} cached", u.cache_read);
  if (u.cost) out += " · " + usd_text(u.cost->total);
  return out;
}

std::string label(const TraceNode& n) {
  if (n.kind == "operation" || n.kind == "session" || n.kind == "run") {
    return n.kind == "operation" ? n.name : fmt::format("{} {}", n.kind, n.name);
  }
  return fmt::format("{} {}", n.kind, n.name);
}

void print(const TraceNode& n, const std::string& prefix, bool last, bool root, std::string& out) {
  std::string line = root ? std::string() : prefix + (last ? "└─ " : "├─ ");
  line += label(n);
  if (n.is_error) line += " (failed)";
  if (auto d = duration_text(n); !d.empty()) line += "  " + d;
  if (n.usage && (n.kind == "chat" || n.usage->input + n.usage->output > 0)) {
    line += "  " + usage_text(*n.usage);
  }
  out += line + "\n";
  std::string next = root ? std::string() : prefix + (last ? "   " : "│  ");
  for (std::size_t i = 0; i < n.children.size(); ++i) {
    print(*n.children[i], next, i + 1 == n.children.size(), false, out);
  }
}

std::string text_of(const json& data, std::string_view key) {
  return get_string_or(data, key, "");
}

}  // namespace

std::unique_ptr<TraceNode> trace_run(const RunRecord& run, const std::vector<RunEvent>& events) {
  auto root = std::make_unique<TraceNode>();
  root->kind = "run";
  root->name = run.workflow.empty() ? run.id : run.workflow;
  std::map<std::string, TraceNode*> ops, turns, tools, tasks, task_sessions, compactions;
  for (const auto& e : events) {
    const std::int64_t t = epoch_ms(e.timestamp);
    const std::string op = text_of(e.data, "operation_id");
    auto op_node = [&]() -> TraceNode& {
      auto it = ops.find(op);
      return it == ops.end() ? *root : *it->second;
    };
    if (e.type == "run_start") {
      root->start_ms = t;
    } else if (e.type == "run_end") {
      root->end_ms = t;
      root->is_error = get_bool(e.data, "is_error").value_or(false);
    } else if (e.type == "operation_start") {
      auto parent = task_sessions.find(text_of(e.data, "session_id"));
      TraceNode& p = parent == task_sessions.end() ? *root : *parent->second;
      ops[op] = add(p, "operation", text_of(e.data, "operation_kind"), t);
    } else if (e.type == "operation") {
      if (auto it = ops.find(op); it != ops.end()) {
        it->second->end_ms = t;
        it->second->is_error = get_bool(e.data, "is_error").value_or(false);
      }
    } else if (e.type == "turn_request") {
      turns[text_of(e.data, "turn_id")] = add(op_node(), "chat", text_of(e.data, "model"), t);
    } else if (e.type == "turn") {
      if (auto it = turns.find(text_of(e.data, "turn_id")); it != turns.end()) {
        it->second->end_ms = t;
        if (const json* u = find(e.data, "usage")) it->second->usage = usage_from_json(*u);
      }
    } else if (e.type == "tool_start") {
      tools[op + "/" + text_of(e.data, "toolCallId")] =
          add(op_node(), "tool", text_of(e.data, "toolName"), t);
    } else if (e.type == "tool_end") {
      if (auto it = tools.find(op + "/" + text_of(e.data, "toolCallId")); it != tools.end()) {
        it->second->end_ms = t;
        it->second->is_error = get_bool(e.data, "isError").value_or(false);
      }
    } else if (e.type == "task_start") {
      std::string id = text_of(e.data, "taskId");
      tasks[id] = task_sessions[id] = add(op_node(), "task", id, t);
    } else if (e.type == "task_end") {
      if (auto it = tasks.find(text_of(e.data, "taskId")); it != tasks.end()) {
        it->second->end_ms = t;
        it->second->is_error = get_bool(e.data, "isError").value_or(false);
      }
    } else if (e.type == "compaction_start") {
      compactions[op] = add(op_node(), "compaction", text_of(e.data, "reason"), t);
    } else if (e.type == "compaction_end") {
      if (auto it = compactions.find(op); it != compactions.end()) it->second->end_ms = t;
    }
  }
  sum_up(*root);
  return root;
}

std::unique_ptr<TraceNode> trace_session(const std::string& id, const std::vector<Entry>& entries,
                                         const EntriesOf& entries_of) {
  auto root = std::make_unique<TraceNode>();
  root->kind = "session";
  root->name = id;
  TraceNode* op = nullptr;
  std::int64_t previous = -1;
  std::map<std::string, std::int64_t> asked;  // tool call id → when the model asked for it
  for (const auto& e : entries) {
    const std::int64_t t = epoch_ms(e.created_at);
    if (root->start_ms < 0) root->start_ms = t;
    root->end_ms = std::max(root->end_ms, t);
    if (e.kind == "message" && e.role == "user") {
      op = add(*root, "operation", e.source.empty() ? "prompt" : e.source, t);
      op->end_ms = t;
    } else if (e.kind == "message" && op != nullptr) {
      auto m = message_from_json(e.content);
      if (m && m->role == Role::assistant) {
        std::string model = "model";
        TraceNode* chat = add(*op, "chat", model, previous);
        if (const json* turn = find(e.content, "turn")) {
          chat->name = get_string_or(*turn, "model", model);
          if (const json* u = find(*turn, "usage")) chat->usage = usage_from_json(*u);
        }
        chat->end_ms = t;
        for (const auto& c : m->tool_calls) asked[c.id] = t;
      } else if (m && m->role == Role::tool) {
        auto it = asked.find(m->tool_call_id);
        TraceNode* tool = add(*op, "tool", m->tool_name, it == asked.end() ? previous : it->second);
        tool->end_ms = t;
        tool->is_error = m->is_error;
      }
      op->end_ms = t;
    } else if (e.kind == "compaction" && op != nullptr) {
      add(*op, "compaction", get_string_or(e.content, "reason", ""), previous)->end_ms = t;
    } else if (e.kind == "marker" && op != nullptr) {
      std::string event = get_string_or(e.content, "event", "");
      if (event == "failed" || event == "interrupted") op->is_error = true;
      if (event == "task") {
        std::string child = get_string_or(e.content, "task_id", "");
        TraceNode* task = add(*op, "task", child, -1);
        task->is_error = get_bool(e.content, "is_error").value_or(false);
        if (!child.empty() && entries_of) {
          auto sub = trace_session(child, entries_of(child), entries_of);
          task->start_ms = sub->start_ms;
          task->end_ms = sub->end_ms;
          for (auto& c : sub->children) task->children.push_back(std::move(c));
        }
      }
    }
    previous = t;
  }
  sum_up(*root);
  return root;
}

std::string trace_text(const TraceNode& root) {
  std::string out;
  print(root, "", true, true, out);
  return out;
}

json trace_json(const TraceNode& n) {
  json_object out{{"kind", n.kind}, {"name", n.name}, {"is_error", n.is_error}};
  out["started_at"] = n.start_ms < 0 ? json(nullptr)
                                     : json(iso8601(std::chrono::system_clock::time_point(
                                           std::chrono::milliseconds(n.start_ms))));
  out["duration_ms"] = n.start_ms < 0 || n.end_ms < 0
                           ? json(nullptr)
                           : json(std::max<std::int64_t>(n.end_ms - n.start_ms, 0));
  if (n.usage) out["usage"] = to_json(*n.usage);
  json_array children;
  for (const auto& c : n.children) children.push_back(trace_json(*c));
  out["children"] = std::move(children);
  return out;
}

CLI::App* add_trace_command(CLI::App& app, TraceOptions& trace, CommonOptions& common) {
  auto* cmd = app.add_subcommand(
      "trace",
      "Show a stored session or run as a tree of operations, model calls, tools and tasks, with "
      "durations, tokens and cost");
  cmd->add_option("id", trace.id, "A session id, or a run id (run_...)")->required();
  cmd->add_flag("--json", trace.json, "The tree as JSON");
  cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return cmd;
}

int trace_command(const CommonOptions& common, const TraceOptions& o) {
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return report_error(config.error());
  auto db = config->state_dir() / "state.db";
  if (!std::filesystem::exists(db)) {
    return report_error(ErrorType::not_found,
                        fmt::format("'{}' not found (no store at {})", o.id, db.string()));
  }
  auto store = open_sqlite_store(db);
  if (!store) return report_error(store.error());
  std::unique_ptr<TraceNode> tree;
  if (auto run = (*store)->get_run(o.id); run && *run) {
    std::vector<RunEvent> events;
    for (std::int64_t after = 0;;) {
      auto page = (*store)->run_events(o.id, after, 10000);
      if (!page) return report_error(page.error());
      if (page->empty()) break;
      after = page->back().index;
      for (auto& e : *page) events.push_back(std::move(e));
    }
    tree = trace_run(**run, events);
  } else if (auto session = (*store)->get_session(o.id); session && *session) {
    auto entries = (*store)->entries(o.id);
    if (!entries) return report_error(entries.error());
    auto& s = **store;
    tree = trace_session(o.id, *entries, [&s](const std::string& child) {
      auto e = s.entries(child);
      return e ? std::move(*e) : std::vector<Entry>{};
    });
  } else {
    return report_error(ErrorType::not_found,
                        fmt::format("no session or run '{}' (see cppflue sessions list and "
                                    "cppflue runs list)",
                                    o.id));
  }
  if (o.json) {
    std::cout << dump(trace_json(*tree)) << '\n';
  } else {
    std::cout << for_terminal(STDOUT_FILENO, trace_text(*tree));
  }
  return 0;
}

}  // namespace cppflue::cli
