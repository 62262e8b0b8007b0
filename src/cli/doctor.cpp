// SPDX-License-Identifier: Apache-2.0
// `cppflue doctor`: what configuration, providers, model and store this project would use.
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "cppflue/store/store.hpp"

namespace cppflue::cli {

int doctor_command(const CommonOptions& common, bool as_json) {
  json_object report;
  bool ok = true;
  report["version"] = kVersion;
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) {
    report["config"] = json_object{{"ok", false}, {"error", config.error().message}};
    ok = false;
  } else {
    apply_env_defaults(*config);
    report["config"] =
        json_object{{"ok", true},
                    {"file", config->config_path.empty() ? "(none: built-in defaults)"
                                                         : config->config_path.string()},
                    {"root", config->root.string()}};
    std::string model = config->agent.model.empty() ? default_model() : config->agent.model;
    auto resolved = resolve_model(model, config->providers);
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
      ok = false;
    }
    report["model"] = m;
    json_object keys;
    for (const char* var :
         {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY",
          "GROQ_API_KEY", "DEEPSEEK_API_KEY", "MISTRAL_API_KEY", "XAI_API_KEY", "TOGETHER_API_KEY",
          "FIREWORKS_API_KEY", "CEREBRAS_API_KEY"}) {
      const char* v = std::getenv(var);
      keys[var] = v && *v ? "set" : "missing";
    }
    report["api_keys"] = keys;
    json_array providers;
    for (const auto& p : known_providers(config->providers))
      providers.push_back(boost::json::string(p));
    report["providers"] = providers;
    auto db = config->state_dir() / "state.db";
    json_object store{{"path", db.string()}};
    if (std::filesystem::exists(db)) {
      auto s = open_sqlite_store(db);
      if (s) {
        auto list = (*s)->list_sessions();
        store["ok"] = list.has_value();
        if (list)
          store["sessions"] = list->size();
        else
          store["error"] = list.error().message;
      } else {
        store["ok"] = false;
        store["error"] = s.error().message;
        ok = false;
      }
    } else {
      store["ok"] = true;
      store["sessions"] = 0;
      store["note"] = "created on first use";
    }
    report["store"] = store;
    json_array harnesses;
    for (const auto& h : harness_names()) harnesses.push_back(boost::json::string(h));
    report["harness"] =
        json_object{{"configured", config->agent.harness}, {"available", harnesses}};
    const JailStatus& jail = jail_status();
    report["sandbox"] = json_object{{"configured", config->agent.sandbox},
                                    {"isolation", config->sandbox.isolation},
                                    {"effective", effective_isolation(*config)},
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
  report["ok"] = ok;
  if (as_json) {
    std::cout << dump(report) << '\n';
    return ok ? 0 : 1;
  }
  auto line = [](std::string_view k, std::string v) {
    std::cout << fmt::format("{:<10} {}\n", k, v);
  };
  line("cppflue", kVersion);
  const json& c = report["config"];
  if (c.at("ok").as_bool()) {
    line("config", std::string(c.at("file").as_string()));
    line("root", std::string(c.at("root").as_string()));
    const json& m = report["model"];
    std::string model(m.at("model").as_string());
    if (!m.at("ok").as_bool()) {
      line("model", model + "  ERROR: " + std::string(m.at("error").as_string()));
    } else if (m.at("offline").as_bool()) {
      line("model", model + "  (offline test model: scripted answers, no network)");
    } else {
      line("model", fmt::format("{}  ({} at {})", model, std::string_view(m.at("api").as_string()),
                                std::string_view(m.at("base_url").as_string())));
    }
    std::string keys;
    for (const auto& kv : report["api_keys"].as_object()) {
      if (kv.value().as_string() == "set")
        keys += (keys.empty() ? "" : ", ") + std::string(kv.key());
    }
    line("api keys", keys.empty() ? "none set" : keys);
    const json& st = report["store"];
    line("store",
         fmt::format("{}  ({})", std::string_view(st.at("path").as_string()),
                     st.at("ok").as_bool()
                         ? (st.as_object().contains("sessions")
                                ? fmt::format("{} sessions", st.at("sessions").to_number<long>())
                                : std::string("ok"))
                         : "ERROR: " + std::string(st.at("error").as_string())));
    line("harness", std::string(report["harness"].at("configured").as_string()));
    line("sandbox", std::string(report["sandbox"].at("configured").as_string()));
    line("isolation", std::string(report["sandbox"].at("effective").as_string()));
  } else {
    line("config", "ERROR: " + std::string(c.at("error").as_string()));
  }
  return ok ? 0 : 1;
}

}  // namespace cppflue::cli
