// SPDX-License-Identifier: Apache-2.0
// `cppflue doctor`: what configuration, providers, model and store this project would use.
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "cppflue/harness/project_check.hpp"
#include "cppflue/store/store.hpp"

namespace cppflue::cli {

namespace {

// The model the configuration (or the environment) picks and how it resolves; an unresolvable
// model clears `ok`.
// `offline`: a provider key that is not set is reported, but is not a failure (checks in CI,
// where the keys are not given).
json_object model_report(const Config& config, bool offline, bool& ok) {
  std::string model = config.agent.model.empty() ? default_model() : config.agent.model;
  auto resolved = resolve_model(model, config.providers);
  json_object m{{"model", model}, {"ok", resolved.has_value()}};
  if (resolved) {
    m["provider"] = resolved->provider.name;
    m["offline"] = resolved->provider.offline;
    if (!resolved->provider.offline) {
      m["api"] = wire_api_name(resolved->provider.api);
      m["base_url"] = resolved->provider.base_url;
    }
  } else {
    m["error"] = resolved.error().message;
    if (offline && resolved.error().type == ErrorType::auth_error) {
      m["offline_check"] = true;  // the key is given where the agents run
    } else {
      ok = false;
    }
  }
  return m;
}

// "set" or "missing" for each provider's API key variable.
json_object api_keys_report() {
  json_object keys;
  for (const char* var :
       {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY",
        "GROQ_API_KEY", "DEEPSEEK_API_KEY", "MISTRAL_API_KEY", "XAI_API_KEY", "TOGETHER_API_KEY",
        "FIREWORKS_API_KEY", "CEREBRAS_API_KEY"}) {
    const char* v = std::getenv(var);
    keys[var] = v && *v ? "set" : "missing";
  }
  return keys;
}

// The session store and how many sessions it holds; a store that cannot be opened clears `ok`.
json_object store_report(const Config& config, bool& ok) {
  auto db = config.state_dir() / "state.db";
  json_object store{{"path", db.string()}};
  if (!std::filesystem::exists(db)) {
    store["ok"] = true;
    store["sessions"] = 0;
    store["note"] = "created on first use";
    return store;
  }
  auto s = open_sqlite_store(db);
  if (!s) {
    store["ok"] = false;
    store["error"] = s.error().message;
    ok = false;
    return store;
  }
  auto list = (*s)->list_sessions();
  store["ok"] = list.has_value();
  if (list)
    store["sessions"] = list->size();
  else
    store["error"] = list.error().message;
  return store;
}

json_object sandbox_report(const Config& config) {
  const JailStatus& jail = jail_status();
  return json_object{{"configured", config.agent.sandbox},
                     {"isolation", config.sandbox.isolation},
                     {"effective", effective_isolation(config)},
                     {"jail", json_object{{"available", jail.available},
                                          {"reason", jail.reason},
                                          {"bwrap", jail.bwrap},
                                          {"landlock_abi", jail.landlock_abi},
                                          {"helper", jail.helper},
                                          {"seccomp", jail.seccomp},
                                          {"cgroup_pids", jail.cgroup_pids},
                                          {"cgroup_memory", jail.cgroup_memory},
                                          {"cgroup_v2", jail.cgroup_v2}}}};
}

// The project's skills, roles and Markdown agents, each file read and checked:
// {"skills","roles","agents" (counts of the files that are fine),"problems":["file:line: ..."]}.
json_object project_report(const Config& config, bool& ok) {
  const ProjectCheck check = check_project(config);
  json_array problems;
  for (const auto& p : check.problems) problems.push_back(json(p.error.message));
  if (!problems.empty()) ok = false;
  std::size_t agents = 0;
  for (const auto& [name, def] : check.agents) {
    agents += check.agent_problem(name) || check.shared_problem() ? 0 : 1;
  }
  return json_object{{"skills", check.skills.items.size()},
                     {"roles", check.roles.items.size()},
                     {"agents", agents},
                     {"problems", std::move(problems)}};
}

// Everything `doctor` reports about a configuration that loaded, added to `report`.
void add_config_reports(json_object& report, Config& config, bool offline, bool& ok) {
  apply_env_defaults(config);
  report["config"] = json_object{{"ok", true},
                                 {"file", config.config_path.empty() ? "(none: built-in defaults)"
                                                                     : config.config_path.string()},
                                 {"root", config.root.string()}};
  report["model"] = model_report(config, offline, ok);
  report["api_keys"] = api_keys_report();
  json_array providers;
  for (const auto& p : known_providers(config.providers))
    providers.push_back(boost::json::string(p));
  report["providers"] = providers;
  report["store"] = store_report(config, ok);
  json_array harnesses;
  for (const auto& h : harness_names()) harnesses.push_back(boost::json::string(h));
  report["harness"] = json_object{{"configured", config.agent.harness}, {"available", harnesses}};
  report["sandbox"] = sandbox_report(config);
  report["project"] = project_report(config, ok);
}

// The `doctor` report: {"version","config",...,"ok"}.
json_object doctor_report(const CommonOptions& common, bool offline) {
  json_object report;
  bool ok = true;
  report["version"] = kVersion;
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) {
    report["config"] = json_object{{"ok", false}, {"error", config.error().message}};
    ok = false;
  } else {
    add_config_reports(report, *config, offline, ok);
  }
  report["ok"] = ok;
  return report;
}

void print_line(std::string_view k, const std::string& v) {
  std::cout << fmt::format("{:<10} {}\n", k, for_terminal(STDOUT_FILENO, v));
}

std::string model_summary(const json& m) {
  std::string model(m.at("model").as_string());
  if (!m.at("ok").as_bool()) {
    const bool offline_check = m.as_object().contains("offline_check");
    return model + (offline_check ? "  (not checked offline: " : "  ERROR: ") +
           std::string(m.at("error").as_string()) + (offline_check ? ")" : "");
  }
  if (m.at("offline").as_bool()) {
    return model + "  (offline test model: scripted answers, no network)";
  }
  return fmt::format("{}  ({} at {})", model, std::string_view(m.at("api").as_string()),
                     std::string_view(m.at("base_url").as_string()));
}

std::string api_keys_summary(const json& api_keys) {
  std::string keys;
  for (const auto& kv : api_keys.as_object()) {
    if (kv.value().as_string() == "set") keys += (keys.empty() ? "" : ", ") + std::string(kv.key());
  }
  return keys.empty() ? "none set" : keys;
}

std::string store_summary(const json& st) {
  return fmt::format("{}  ({})", std::string_view(st.at("path").as_string()),
                     st.at("ok").as_bool()
                         ? (st.as_object().contains("sessions")
                                ? fmt::format("{} sessions", st.at("sessions").to_number<long>())
                                : std::string("ok"))
                         : "ERROR: " + std::string(st.at("error").as_string()));
}

// The report for people: one aligned line per item.
void print_report(const json_object& report) {
  print_line("cppflue", kVersion);
  const json& c = report.at("config");
  if (!c.at("ok").as_bool()) {
    print_line("config", "ERROR: " + std::string(c.at("error").as_string()));
    return;
  }
  print_line("config", std::string(c.at("file").as_string()));
  print_line("root", std::string(c.at("root").as_string()));
  print_line("model", model_summary(report.at("model")));
  print_line("api keys", api_keys_summary(report.at("api_keys")));
  print_line("store", store_summary(report.at("store")));
  print_line("harness", std::string(report.at("harness").at("configured").as_string()));
  print_line("sandbox", std::string(report.at("sandbox").at("configured").as_string()));
  print_line("isolation", std::string(report.at("sandbox").at("effective").as_string()));
  const json& project = report.at("project");
  const auto& problems = project.at("problems").as_array();
  print_line(
      "project",
      fmt::format(
          "{} skill(s), {} role(s), {} Markdown agent(s) ready{}",
          project.at("skills").to_number<long>(), project.at("roles").to_number<long>(),
          project.at("agents").to_number<long>(),
          problems.empty() ? std::string() : fmt::format("; {} problem(s):", problems.size())));
  for (const auto& p : problems) {
    std::cout << "  " << for_terminal(STDOUT_FILENO, p.as_string()) << '\n';
  }
}

}  // namespace

int doctor_command(const CommonOptions& common, bool as_json, bool offline) {
  json_object report = doctor_report(common, offline);
  const bool ok = report.at("ok").as_bool();
  if (as_json) {
    std::cout << dump(report) << '\n';
  } else {
    print_report(report);
  }
  return ok ? 0 : 1;
}

}  // namespace cppflue::cli
