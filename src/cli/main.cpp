// SPDX-License-Identifier: Apache-2.0
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli.hpp"
#include "cppflue/cli.hpp"
#include "init.hpp"

namespace cppflue::cli {
namespace {
std::mutex g_handler_mu;
std::function<void()> g_handler;
std::atomic<bool> g_interrupted{false};
}  // namespace

void install_interrupt_watcher() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread created later
  std::thread([set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      g_interrupted = true;
      std::function<void()> handler;
      {
        std::lock_guard lock(g_handler_mu);
        handler = g_handler;
      }
      if (handler) {
        handler();
      } else {
        std::_Exit(130);
      }
    }
  }).detach();
}

void set_interrupt_handler(std::function<void()> handler) {
  std::lock_guard lock(g_handler_mu);
  g_handler = std::move(handler);
}

bool interrupted() {
  return g_interrupted.load();
}

int report_error(const std::string& message) {
  std::cerr << "cppflue: error: " << message << std::endl;
  return 1;
}

}  // namespace cppflue::cli

int cppflue::cli_main(int argc, char** argv) {
  using namespace cppflue::cli;
  CLI::App app{
      "CppFlue — agent harness framework for C++.\n"
      "Run agents with persistent sessions, tools and streaming events against OpenAI,\n"
      "Anthropic, Gemini or any OpenAI-compatible endpoint (or the offline test: model)."};
  app.name("cppflue");
  app.set_version_flag("--version", std::string("cppflue ") + cppflue::kVersion);
  app.require_subcommand(1);
  CommonOptions common;
  app.add_option("--config", common.config, "Path to cppflue.toml (default: search upwards)");

  RunOptions run;
  auto* run_cmd = app.add_subcommand(
      "run", "Run one prompt (or a skill, or a workflow) and print the answer as it streams");
  run_cmd->add_option("workflow", run.workflow,
                      "A workflow of this application to run once (with --payload)");
  run_cmd->add_option("-p,--prompt", run.prompt,
                      "The prompt text (`-` reads it from standard input)");
  run_cmd->add_option("-a,--agent", run.agent,
                      "Agent: a compiled agent of this application or a Markdown agent of "
                      ".agents/agents (default: the [agent] configuration)");
  run_cmd->add_option("--skill", run.skill,
                      "Run this skill (of .agents/skills) and print its JSON result");
  run_cmd->add_option("--args", run.args, "Skill arguments as a JSON object (with --skill)");
  run_cmd->add_option("--payload", run.payload, "Workflow payload as a JSON object");
  run_cmd->add_option("-s,--session", run.session,
                      "Session id (default: default); history persists in .cppflue/state.db");
  run_cmd->add_option(
      "-m,--model", run.model,
      "Model as provider:model, e.g. openai:gpt-5.5, anthropic:claude-sonnet-4-6, test:demo");
  run_cmd->add_option("--sandbox", run.sandbox,
                      "Sandbox: virtual (default; per-session workspace, jailed shell), local "
                      "(the project directory, unjailed), none (no file or shell tools)");
  run_cmd->add_flag("--allow-write", run.allow_write,
                    "Allow the file-writing tools (write, edit, mkdir, rm)");
  run_cmd->add_flag("--allow-shell", run.allow_shell,
                    "Allow the bash tool (subject to allowed_commands and the compound guard)");
  run_cmd->add_option("--secret", run.secrets,
                      "Expose a [secrets] entry to this run's shell commands (repeatable); its "
                      "value is redacted from output, history and events");
  run_cmd->add_flag("--stream", run.stream_events, "Print every event as one JSON object per line");
  run_cmd->add_flag(
      "--json", run.json,
      "Print one JSON object when done: {\"text\",\"usage\",\"model\",\"session_id\"} "
      "(with --skill also \"result\"; for a workflow {\"run_id\",\"status\",\"result\"})");
  run_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  run_cmd->footer(
      "Exit status: 0 success, 1 error, 130 aborted (Ctrl-C).\n"
      "With no API key the offline test:demo model is used, and cppflue says so.");

  std::string chat_session = "default", chat_model;
  auto* chat_cmd =
      app.add_subcommand("chat", "Interactive conversation on a session (/exit to quit)");
  chat_cmd->add_option("-s,--session", chat_session, "Session id (default: default)");
  chat_cmd->add_option("-m,--model", chat_model, "Model as provider:model");
  chat_cmd->add_option("--config", common.config, "Path to cppflue.toml");

  SessionsOptions sessions;
  auto* sessions_cmd = app.add_subcommand("sessions", "List, show or delete stored sessions");
  sessions_cmd->add_option("action", sessions.action, "list | show | rm")
      ->check(CLI::IsMember({"list", "show", "rm"}));
  sessions_cmd->add_option("id", sessions.id, "Session id (for show and rm)");
  sessions_cmd->add_flag("--json", sessions.json, "Machine-readable output");
  sessions_cmd->add_option("--config", common.config, "Path to cppflue.toml");

  cppflue::cli::InitOptions init_opts;
  auto* init_cmd = app.add_subcommand(
      "init",
      "Scaffold a CppFlue project: config, AGENTS.md, a skill, a role, a Markdown agent, "
      "a C++ agent and workflow with a CMakeLists.txt");
  init_cmd->add_option("dir", init_opts.dir, "Directory to create or fill (default: .)");
  init_cmd->add_flag("--force", init_opts.force, "Overwrite files that already exist");

  std::string skill_name;
  auto* skill_cmd = app.add_subcommand("skill", "Skill scaffolding");
  skill_cmd->require_subcommand(1);
  auto* skill_new_cmd =
      skill_cmd->add_subcommand("new", "Create .agents/skills/NAME/SKILL.md from a template");
  skill_new_cmd->add_option("name", skill_name, "Skill name: lowercase letters, digits, hyphens")
      ->required();
  skill_new_cmd->add_option("--config", common.config, "Path to cppflue.toml");

  ServeCommandOptions serve;
  auto* serve_cmd = app.add_subcommand(
      "serve",
      "Serve the project's agents and workflows over HTTP (GET /health, GET /agents, POST "
      "/agents/NAME/ID with {\"message\"} → JSON result, SSE events with Accept: "
      "text/event-stream, or a background run with X-Webhook: true; POST /workflows/NAME; "
      "GET /runs/ID[/events|/stream])");
  serve_cmd->add_option("--host", serve.host,
                        "Address to bind (default: [server] host, 127.0.0.1)");
  serve_cmd
      ->add_option("--port", serve.port,
                   "Port (default: [server] port, 2024; 0 = any free port, printed)")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("-m,--model", serve.model, "Model for every agent, as provider:model");
  serve_cmd
      ->add_option("--grace", serve.grace_seconds,
                   "Seconds requests in flight get to finish on SIGTERM (default 10)")
      ->check(CLI::Range(0, 3600));
  serve_cmd
      ->add_option("--heartbeat", serve.heartbeat_seconds,
                   "Seconds without an event before an SSE stream gets a heartbeat comment "
                   "(default 15)")
      ->check(CLI::Range(0.05, 3600.0));
  serve_cmd
      ->add_option("--header-timeout", serve.header_timeout_seconds,
                   "Seconds a client has to send a whole request header before 408 (default 10)")
      ->check(CLI::Range(0.05, 3600.0));
  serve_cmd
      ->add_option("--body-timeout", serve.body_timeout_seconds,
                   "Seconds a client has to send a request body before 408 (default 30)")
      ->check(CLI::Range(0.05, 3600.0));
  serve_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  serve_cmd->footer("Stops on SIGINT/SIGTERM: no new connections, requests in flight finish.");

  bool doctor_json = false;
  auto* doctor_cmd = app.add_subcommand("doctor", "Check the configuration, providers and store");
  doctor_cmd->add_flag("--json", doctor_json, "Machine-readable output");
  doctor_cmd->add_option("--config", common.config, "Path to cppflue.toml");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; usage errors are errors like any other (exit 1, SPEC §12).
    return app.exit(e) == 0 ? 0 : 1;
  }

  try {
    if (*run_cmd) return run_command(common, run);
    if (*chat_cmd) return chat_command(common, chat_session, chat_model);
    if (*sessions_cmd) return sessions_command(common, sessions);
    if (*doctor_cmd) return doctor_command(common, doctor_json);
    if (*serve_cmd) return serve_command(common, serve);
    if (*init_cmd) return init_command(init_opts);
    if (*skill_new_cmd) return skill_new_command(common.config, skill_name);
  } catch (const cppflue::Exception& e) {
    return report_error(e.what());
  } catch (const std::exception& e) {
    return report_error(e.what());
  }
  return 0;
}
