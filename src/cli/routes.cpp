// SPDX-License-Identifier: Apache-2.0
// `cppflue routes`, `cppflue invoke` and `cppflue logs`: the server's routes, one agent call
// (locally, or against a running server with --server), and a run's events (from the project's
// store, or from a server).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli.hpp"
#include "cppflue/client/client.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/server/server.hpp"
#include "cppflue/store/store.hpp"
#include "event_lines.hpp"
#include "suggest.hpp"

namespace cppflue::cli {

namespace {

Result<json> parse_payload(const std::string& text) {
  if (text.empty()) return json(json_object{});
  auto parsed = parse_json(text);
  if (!parsed) {
    return fail(ErrorType::invalid_input, "--payload is not valid JSON: " + parsed.error().message);
  }
  if (!parsed->is_object())
    return fail(ErrorType::invalid_input, "--payload must be a JSON object");
  return parsed;
}

ClientOptions client_options() {
  ClientOptions o;
  if (const char* token = std::getenv("CPPFLUE_TOKEN"); token != nullptr) o.token = token;
  return o;
}

// The event types of a comma-separated --types list (empty: every type).
std::vector<std::string> split_types(const std::string& list) {
  std::vector<std::string> types;
  for (std::size_t start = 0; start < list.size();) {
    auto comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) types.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return types;
}

// What `logs` does with each event: drops those of other types than asked for, prints the rest
// one by one (pretty: see event_lines.hpp; ndjson: one object per line), or (--format json)
// collects them into one array that finish() prints.
class LogPrinter {
 public:
  LogPrinter(std::string format, std::vector<std::string> types)
      : format_(std::move(format)), types_(std::move(types)) {}

  const std::vector<std::string>& types() const { return types_; }

  void emit(const json& event) {
    if (!wanted(event)) return;
    if (format_ == "json") {
      collected_.push_back(event);
    } else if (format_ == "pretty") {
      print(pretty_.add(event));
    } else {
      // As stored (Boost's number format); made safe only for a terminal.
      std::cout << for_terminal(STDOUT_FILENO, serialize(event)) << "\n";
      std::cout.flush();
    }
  }

  // Nothing new for now (a followed run is quiet): prints what is held back.
  void idle() { print(pretty_.flush()); }

  // The exit status.
  int finish() {
    if (format_ == "json") std::cout << for_terminal(STDOUT_FILENO, serialize(collected_)) << "\n";
    idle();
    return 0;
  }

 private:
  bool wanted(const json& event) const {
    if (types_.empty()) return true;
    std::string type = get_string_or(event, "type", "");
    return std::find(types_.begin(), types_.end(), type) != types_.end();
  }

  static void print(const std::vector<std::string>& lines) {
    for (const auto& line : lines) std::cout << for_terminal(STDOUT_FILENO, line) << "\n";
    if (!lines.empty()) std::cout.flush();
  }

  std::string format_;
  std::vector<std::string> types_;
  json_array collected_;
  PrettyEvents pretty_;
};

// `logs --server URL`: the run's events from a running server.
int server_logs(const LogsOptions& o, LogPrinter& printer) {
  Client client(o.server, client_options());
  if (!o.follow) {
    json page = client.runs().events(
        o.run_id, {.after = o.since, .limit = o.limit, .types = printer.types()});
    for (const auto& e : page.at("events").as_array()) printer.emit(e);
    return printer.finish();
  }
  install_interrupt_watcher();
  client.runs().stream(
      o.run_id,
      [&](const ClientEvent& e) {
        printer.emit(e.data);
        return true;
      },
      o.since);
  return printer.finish();
}

// A stored event as the server's API shows it.
json event_json(const std::string& run_id, const RunEvent& e) {
  return json_object{{"run_id", run_id},      {"runId", run_id}, {"event_index", e.index},
                     {"eventIndex", e.index}, {"type", e.type},  {"timestamp", e.timestamp},
                     {"data", e.data}};
}

// Prints the stored events of the run (with --follow, until it ends or Ctrl-C); the exit status.
int print_stored_events(Store& store, const LogsOptions& o, LogPrinter& printer) {
  install_interrupt_watcher();
  std::atomic<bool> interrupted{false};
  set_interrupt_handler([&] { interrupted = true; });
  std::int64_t after = o.since;
  int checks_after_end = 0;
  int idle_polls = 0;
  for (;;) {
    auto events = store.run_events(o.run_id, after, o.follow ? 1000 : o.limit);
    if (!events) return report_error(events.error().message);
    bool ended = false;
    for (const auto& e : *events) {
      printer.emit(event_json(o.run_id, e));
      after = e.index;
      ended = ended || e.type == events::RunEnd::type;
    }
    if (!o.follow || ended || interrupted) break;
    if (events->empty()) {
      printer.idle();
      // A run that ended without a run_end event (its process died) gets one last look.
      auto current = store.get_run(o.run_id);
      // A run whose process has ended (killed, crashed) is ended as interrupted, with its
      // run_end, which the next read prints; checked once a second.
      if (current && *current && (**current).status == "running" && ++idle_polls % 5 == 0) {
        (void)end_interrupted_runs(store, {.run_id = o.run_id});
        continue;
      }
      if (current && *current && (**current).status != "running") {
        // Its run_end event follows the status by a moment; a run still without one a
        // second later ended without it (its process died).
        if (++checks_after_end > 5) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  set_interrupt_handler(nullptr);
  return printer.finish();
}

// `logs` without --server: the project's own store (runs made by `cppflue run WORKFLOW` and by
// a server on it).
int store_logs(const CommonOptions& common, const LogsOptions& o, LogPrinter& printer) {
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return report_error(config.error().message);
  auto store = open_sqlite_store(config->state_dir() / "state.db");
  if (!store) return report_error(store.error().message);
  auto run = (*store)->get_run(o.run_id);
  if (!run) return report_error(run.error().message);
  if (!*run) {
    return report_error("run " + o.run_id + " is not in " +
                        (config->state_dir() / "state.db").string() +
                        " (use --server URL for a run of another server)");
  }
  return print_stored_events(**store, o, printer);
}

}  // namespace

int routes_command(const CommonOptions& common) {
  auto routes = server::describe_routes(common.config);
  if (!routes) return report_error(routes.error().message);
  std::cout << dump(*routes) << "\n";  // dump() escapes what a terminal would act on
  const auto& problems = routes->at("problems").as_array();
  for (const auto& p : problems) {
    std::cerr << error_prefix() << for_terminal(STDERR_FILENO, p.as_string()) << '\n';
  }
  return problems.empty() ? 0 : 1;
}

namespace {

// `cppflue invoke NAME` for a NAME `serve` would not offer (`names`, comma-separated).
int unknown_route(const CommonOptions& common, const InvokeOptions& o, const std::string& names) {
  std::string message = "Unknown route: " + o.name +
                        ". Available routes: " + (names.empty() ? "(none)" : names) +
                        ". (Workflows run with `cppflue run WORKFLOW --payload JSON`.)";
  std::error_code ec;
  auto config = discover_config(common.config, std::filesystem::current_path(ec));
  if (config) {
    std::string example = "invoke " + shell_word(o.name);
    if (!o.id.empty()) example += " " + shell_word(o.id);
    if (!o.payload.empty()) example += " --payload " + shell_word(o.payload);
    message += unknown_agent_hint(o.name, config->root, available_agents(config->root), example);
  }
  return report_error(ErrorType::not_found, message);
}

}  // namespace

int invoke_command(const CommonOptions& common, const InvokeOptions& o) {
  auto payload = parse_payload(o.payload);
  if (!payload) return report_error(payload.error().message);
  const std::string id = o.id.empty() ? "default" : o.id;
  if (!o.server.empty()) {
    Client client(o.server, client_options());
    AgentReply reply = client.agents().invoke(o.name, id, *payload);
    std::cout << dump(reply.body) << "\n";
    return 0;
  }
  auto routes = server::describe_routes(common.config);
  if (!routes) return report_error(routes.error().message);
  bool known = false;
  std::string names;
  for (const auto& a : routes->at("agents").as_array()) {
    std::string name(a.at("name").as_string());
    names += (names.empty() ? "" : ", ") + name;
    known = known || name == o.name;
  }
  if (!known) return unknown_route(common, o, names);
  std::string message = get_string_or(*payload, "message", get_string_or(*payload, "prompt", ""));
  if (message.find_first_not_of(" \t\r\n") == std::string::npos) {
    return report_error("--payload needs a \"message\" (or \"prompt\") string");
  }
  std::string session = get_string_or(*payload, "session", "default");
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return report_error(config.error().message);
  auto factory = find_agent(o.name, config->root);
  if (!factory) return report_error(factory.error().message);
  InitOptions defaults;
  defaults.config_path = common.config;
  defaults.root = config->root.string();
  defaults.name = o.name;
  Agent agent =
      factory->instantiate(AgentContext{id, {}, *payload}, defaults, [&](InitOptions& init) {
        if (!o.model.empty()) init.model = o.model;
      });
  note_offline_model(agent);
  install_interrupt_watcher();
  Session s = agent.session(id + ":" + session);
  set_interrupt_handler([s]() mutable { s.abort(); });
  PromptResult r = s.prompt(message);
  set_interrupt_handler(nullptr);
  json result = json_object{{"text", r.text},
                            {"metadata", r.metadata},
                            {"usage", to_json(r.usage)},
                            {"model", json_object{{"id", r.model}}},
                            {"session_id", r.session_id}};
  std::cout << dump(json_object{{"result", std::move(result)}}) << "\n";
  return 0;
}

int logs_command(const CommonOptions& common, const LogsOptions& o) {
  if (o.format != "pretty" && o.format != "json" && o.format != "ndjson") {
    return report_error("--format must be one of: pretty, json, ndjson (got '" + o.format + "')");
  }
  LogPrinter printer(o.format, split_types(o.types));
  if (!o.server.empty()) return server_logs(o, printer);
  return store_logs(common, o, printer);
}

}  // namespace cppflue::cli
