// SPDX-License-Identifier: Apache-2.0
// What `run` and `chat` share: the agent the flags ask for, and the session it works on (a new
// one per invocation, -s ID, or -c for the most recent one).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cli.hpp"
#include "cppflue/core/clock.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/project_check.hpp"
#include "cppflue/store/store.hpp"
#include "suggest.hpp"

namespace cppflue::cli {

namespace {

// The command-line flags that override the configuration's (or the agent's) choices.
void apply_run_flags(const RunOptions& o, InitOptions& init) {
  if (!o.model.empty()) init.model = o.model;
  if (!o.sandbox.empty()) init.sandbox = o.sandbox;
  if (o.allow_write) init.allow_write = true;
  if (o.allow_shell) init.allow_shell = true;
}

// The command line, after the binary, that runs what `o` asks for with --agent: `run --agent
// NAME -p "PROMPT"` (a long or multi-line prompt becomes "Hello"); `chat --agent NAME` for chat.
std::string run_example(const RunOptions& o, bool chat) {
  if (chat) return "chat --agent " + shell_word(o.agent);
  std::string out = "run --agent " + shell_word(o.agent);
  if (!o.skill.empty()) {
    out += " --skill " + shell_word(o.skill);
    if (!o.args.empty()) out += " --args " + shell_word(o.args);
    return out;
  }
  bool plain = !o.prompt.empty() && o.prompt != "-" && o.prompt.size() <= 60 &&
               o.prompt.find_first_of("\r\n") == std::string::npos;
  return out + " -p " + double_quoted(plain ? o.prompt : "Hello");
}

// The most recently updated top-level session of agent `agent_name` in the project's store;
// empty when there is none (or no store yet).
Result<std::string> latest_session(const CommonOptions& common, const std::string& agent_name) {
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return fail(config.error());
  auto db = config->state_dir() / "state.db";
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return std::string();
  auto store = open_sqlite_store(db);
  if (!store) return fail(store.error());
  auto list = (*store)->list_sessions();
  if (!list) return fail(list.error());
  const SessionRecord* best = nullptr;
  for (const auto& r : *list) {
    if (!command_line_session(r, agent_name)) continue;
    if (!best || r.updated_at > best->updated_at) best = &r;
  }
  return best ? best->id : std::string();
}

}  // namespace

bool command_line_session(const SessionRecord& record, const std::string& agent) {
  return record.parent_id.empty() && record.agent == agent &&
         record.id.find(':') == std::string::npos;
}

std::string new_session_id() {
  // Sortable by time, readable, and unique enough for one user's runs: the UTC time to the
  // second and 24 random bits.
  auto now = iso8601_now();  // 2026-12-06T13:24:15.123Z
  std::string stamp;
  for (char c : now.substr(0, 19)) {
    if (c != '-' && c != ':') stamp += c == 'T' ? '-' : c;
  }
  return stamp + new_hex_id("-", 6);
}

Result<SessionChoice> choose_session(const CommonOptions& common, const RunOptions& o) {
  if (!o.session.empty() && o.continue_last) {
    return fail(ErrorType::invalid_input, "use either -s/--session ID or -c/--continue, not both");
  }
  if (!o.session.empty()) return SessionChoice{o.session, SessionChoice::Kind::given};
  if (o.continue_last) {
    auto latest = latest_session(common, o.agent.empty() ? "default" : o.agent);
    if (!latest) return fail(latest.error());
    if (!latest->empty()) return SessionChoice{*latest, SessionChoice::Kind::continued};
    return SessionChoice{new_session_id(), SessionChoice::Kind::nothing_to_continue};
  }
  return SessionChoice{new_session_id(), SessionChoice::Kind::fresh};
}

std::string describe_session_choice(const SessionChoice& choice, const std::string& agent) {
  switch (choice.kind) {
    case SessionChoice::Kind::given:
      return {};
    case SessionChoice::Kind::continued:
      return fmt::format("continuing session {}", choice.id);
    case SessionChoice::Kind::nothing_to_continue:
      return fmt::format("no earlier session of agent '{}' to continue: new session {}", agent,
                         choice.id);
    case SessionChoice::Kind::fresh:
      return fmt::format("new session {} (continue it with -c, or -s {})", choice.id, choice.id);
  }
  return {};
}

Result<Agent> make_agent(const CommonOptions& common, const RunOptions& o,
                         const std::string& session_id, bool chat) {
  auto apply_flags = [&o](InitOptions& init) { apply_run_flags(o, init); };
  if (o.agent.empty()) {
    InitOptions init;
    init.config_path = common.config;
    apply_flags(init);
    return cppflue::init(std::move(init));
  }
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return fail(config.error());
  auto factory = find_agent(o.agent, config->root);
  if (!factory) {
    Error error = factory.error();
    if (error.type == ErrorType::not_found) {
      error.message += unknown_agent_hint(o.agent, config->root, available_agents(config->root),
                                          run_example(o, chat));
    }
    return fail(std::move(error));
  }
  if (!find_registered_agent(o.agent)) {
    // A Markdown agent: what it names (tools, skills, subagents, model, sandbox) is checked
    // first, so that a mistake is reported with its file and line.
    const auto dir = config->root / ".agents";
    auto agents = scan_agent_definitions(dir / "agents");
    if (auto it = agents.items.find(o.agent); it != agents.items.end()) {
      auto problems = check_agent_definition(it->second, *config, scan_skills(dir / "skills"),
                                             agents.items, agents.problems);
      if (!problems.empty()) return fail(problems.front().error);
    }
  }
  InitOptions defaults;
  defaults.config_path = common.config;
  defaults.root = config->root.string();
  defaults.name = o.agent;
  return factory->instantiate(AgentContext{session_id, {}, nullptr}, defaults, apply_flags);
}

}  // namespace cppflue::cli
