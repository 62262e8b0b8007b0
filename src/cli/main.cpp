// SPDX-License-Identifier: Apache-2.0
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "cli.hpp"
#include "commands.hpp"
#include "cppflue/cli.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/log_env.hpp"
#include "cppflue/net/otlp.hpp"
#include "deploy.hpp"
#include "init.hpp"
#include "runs.hpp"
#include "suggest.hpp"
#include "trace.hpp"

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

}  // namespace cppflue::cli

namespace cppflue::cli {
namespace {

// The options `serve` and `dev` share.
void add_serve_options(CLI::App* cmd, ServeCommandOptions& opts, CommonOptions& common) {
  cmd->add_option("--host", opts.host, "Address to bind (default: [server] host, 127.0.0.1)");
  cmd->add_option("--port", opts.port,
                  "Port (default: [server] port, 2024; 0 = any free port, printed)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("-m,--model", opts.model, "Model for every agent, as provider:model");
  cmd->add_option("--grace", opts.grace_seconds,
                  "Seconds requests in flight get to finish on SIGTERM (default 10)")
      ->check(CLI::Range(0, 3600));
  cmd->add_option("--heartbeat", opts.heartbeat_seconds,
                  "Seconds without an event before an SSE stream gets a heartbeat comment "
                  "(default 15)")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_option("--header-timeout", opts.header_timeout_seconds,
                  "Seconds a client has to send a whole request header before 408 (default 10)")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_option("--body-timeout", opts.body_timeout_seconds,
                  "Seconds a client has to send a request body before 408 (default 30)")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_option("--log-format", opts.log_format,
                  "Log lines on stderr as text (default) or json: one object per line "
                  "(default: CPPFLUE_LOG_FORMAT)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--config", common.config, "Path to cppflue.toml");
}

// Every subcommand's options (filled in by parsing) and the subcommands themselves (to tell
// which one was given).
struct CommandLine {
  CommonOptions common;
  RunOptions run;
  RunOptions chat;
  SessionsOptions sessions;
  InitOptions init;
  std::string skill_name;
  ServeCommandOptions serve;
  DevOptions dev;
  InvokeOptions invoke;
  LogsOptions logs;
  RunsOptions runs;
  TraceOptions trace;
  BuildOptions build;
  BuildOptions deploy;
  bool doctor_json = false;
  bool doctor_offline = false;
  std::vector<std::string> help_words;

  CLI::App* run_cmd = nullptr;
  CLI::App* chat_cmd = nullptr;
  CLI::App* sessions_cmd = nullptr;
  CLI::App* init_cmd = nullptr;
  CLI::App* skill_new_cmd = nullptr;
  CLI::App* serve_cmd = nullptr;
  CLI::App* dev_cmd = nullptr;
  CLI::App* routes_cmd = nullptr;
  CLI::App* invoke_cmd = nullptr;
  CLI::App* logs_cmd = nullptr;
  CLI::App* runs_cmd = nullptr;
  CLI::App* trace_cmd = nullptr;
  CLI::App* build_cmd = nullptr;
  CLI::App* deploy_cmd = nullptr;
  CLI::App* doctor_cmd = nullptr;
  CLI::App* help_cmd = nullptr;
};

void configure_app(CLI::App& app, CommonOptions& common) {
  app.name("cppflue");
  app.set_version_flag("--version", std::string("cppflue ") + cppflue::kVersion);
  app.require_subcommand(1);
  app.add_option("--config", common.config, "Path to cppflue.toml (default: search upwards)");
}

// The options `run` and `chat` share: the agent, its session, model, sandbox and policy.
void add_agent_options(CLI::App* cmd, RunOptions& run) {
  cmd->add_option("-a,--agent", run.agent,
                  "Agent: a compiled agent of this application or a Markdown agent of "
                  ".agents/agents (default: the [agent] configuration)");
  auto* session = cmd->add_option(
      "-s,--session", run.session,
      "Session id to use (created if new); without -s or -c a new session is started and its "
      "id printed. History persists in .cppflue/state.db");
  cmd->add_flag("-c,--continue", run.continue_last,
                "Continue the agent's most recently updated session")
      ->excludes(session);
  cmd->add_option(
      "-m,--model", run.model,
      "Model as provider:model, e.g. openai:gpt-5.5, anthropic:claude-sonnet-4-6, test:demo");
  cmd->add_option("--sandbox", run.sandbox,
                  "Sandbox: virtual (default; per-session workspace, jailed shell), local "
                  "(the project directory, unjailed), none (no file or shell tools)");
  cmd->add_flag("--allow-write", run.allow_write,
                "Allow the file-writing tools (write, edit, mkdir, rm)");
  cmd->add_flag("--allow-shell", run.allow_shell,
                "Allow the bash tool (subject to allowed_commands and the compound guard)");
  cmd->add_option("--secret", run.secrets,
                  "Expose a [secrets] entry to this session's shell commands (repeatable); its "
                  "value is redacted from output, history and events");
}

CLI::App* add_run_command(CLI::App& app, RunOptions& run, CommonOptions& common) {
  auto* run_cmd = app.add_subcommand(
      "run", "Run one prompt (or a skill, or a workflow) and print the answer as it streams");
  run_cmd->add_option("workflow", run.workflow,
                      "A workflow of this application to run once (with --payload)");
  run_cmd->add_option("-p,--prompt", run.prompt,
                      "The prompt text (`-` reads it from standard input)");
  run_cmd->add_option("--skill", run.skill,
                      "Run this skill (of .agents/skills) and print its JSON result");
  run_cmd->add_option("--args", run.args, "Skill arguments as a JSON object (with --skill)");
  run_cmd->add_option("--payload", run.payload, "Workflow payload as a JSON object");
  add_agent_options(run_cmd, run);
  run_cmd->add_flag("--stream", run.stream_events, "Print every event as one JSON object per line");
  run_cmd->add_flag(
      "--json", run.json,
      "Print one JSON object when done: {\"text\",\"usage\",\"model\",\"session_id\"} "
      "(with --skill also \"result\"; for a workflow {\"run_id\",\"status\",\"result\"})");
  run_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  run_cmd->footer(
      "Exit status: 0 success, 1 error, 130 aborted (Ctrl-C).\n"
      "With no API key the offline test:demo model is used, and cppflue says so.");
  return run_cmd;
}

CLI::App* add_chat_command(CLI::App& app, RunOptions& chat, CommonOptions& common) {
  auto* chat_cmd = app.add_subcommand(
      "chat", "Interactive conversation with an agent (/help lists the commands, /exit quits)");
  add_agent_options(chat_cmd, chat);
  chat_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  chat_cmd->footer(
      "Enter sends; a pasted block is one message; end a line with \\ to type another line.\n"
      "Ctrl-C clears the line, or stops the answer; Ctrl-D on an empty line quits; Ctrl-Z stops "
      "(fg resumes).\n"
      "Commands: /help /new /session [ID] /sessions /model [NAME] /tools /compact /exit");
  return chat_cmd;
}

CLI::App* add_sessions_command(CLI::App& app, SessionsOptions& sessions, CommonOptions& common) {
  auto* sessions_cmd = app.add_subcommand(
      "sessions",
      "List, show or delete stored sessions, or scrub secrets out of everything stored (scrub "
      "--secret NAME | --all | --stdin)");
  sessions_cmd->add_option("action", sessions.action, "list | show | rm | scrub")
      ->check(CLI::IsMember({"list", "show", "rm", "scrub"}));
  sessions_cmd->add_option("id", sessions.id, "Session id (for show and rm)");
  sessions_cmd->add_flag("--json", sessions.json, "Machine-readable output");
  sessions_cmd
      ->add_option("--after", sessions.after,
                   "show: only the entries after this seq (a page; see --limit)")
      ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
  sessions_cmd->add_option("--limit", sessions.limit,
                           "show: at most N entries; the last line (JSON: next_after) says "
                           "where the next page starts");
  sessions_cmd->add_option("--secret", sessions.scrub_secrets,
                           "scrub: a [secrets] name whose value is removed (repeatable)");
  sessions_cmd->add_flag("--all", sessions.scrub_all,
                         "scrub: every configured secret and provider API key");
  sessions_cmd->add_flag("--stdin", sessions.scrub_stdin,
                         "scrub: also a value read from standard input (kept off the command "
                         "line, where other users could see it)");
  sessions_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return sessions_cmd;
}

CLI::App* add_init_command(CLI::App& app, InitOptions& init_opts) {
  auto* init_cmd = app.add_subcommand(
      "init",
      "Scaffold a CppFlue project: config, AGENTS.md, a skill, a role, a Markdown agent, "
      "a C++ agent and workflow with a CMakeLists.txt");
  init_cmd->add_option("dir", init_opts.dir, "Directory to create or fill (default: .)");
  init_cmd->add_flag("--force", init_opts.force, "Overwrite files that already exist");
  return init_cmd;
}

// `skill new NAME`; returns the `new` subcommand.
CLI::App* add_skill_command(CLI::App& app, std::string& skill_name, CommonOptions& common) {
  auto* skill_cmd = app.add_subcommand("skill", "Skill scaffolding");
  skill_cmd->require_subcommand(1);
  auto* skill_new_cmd =
      skill_cmd->add_subcommand("new", "Create .agents/skills/NAME/SKILL.md from a template");
  skill_new_cmd->add_option("name", skill_name, "Skill name: lowercase letters, digits, hyphens")
      ->required();
  skill_new_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return skill_new_cmd;
}

CLI::App* add_serve_command(CLI::App& app, ServeCommandOptions& serve, CommonOptions& common) {
  auto* serve_cmd = app.add_subcommand(
      "serve",
      "Serve the project's agents and workflows over HTTP (GET /health, GET /agents, POST "
      "/agents/NAME/ID with {\"message\"} → JSON result, SSE events with Accept: "
      "text/event-stream, or a background run with X-Webhook: true; POST /workflows/NAME; "
      "GET /runs/ID[/events|/stream]; POST /agents/NAME/ID/dispatch; /webhooks/...; /admin/...; "
      "dashboard at /__cppflue)");
  add_serve_options(serve_cmd, serve, common);
  serve_cmd->footer("Stops on SIGINT/SIGTERM: no new connections, requests in flight finish.");
  return serve_cmd;
}

CLI::App* add_dev_command(CLI::App& app, DevOptions& dev, CommonOptions& common) {
  auto* dev_cmd = app.add_subcommand(
      "dev",
      "Serve like `serve`, and reload the agents when .agents/, AGENTS.md, CLAUDE.md or "
      "cppflue.toml change (connections and requests in flight are kept); dashboard at "
      "/__cppflue");
  add_serve_options(dev_cmd, dev.serve, common);
  dev_cmd
      ->add_option("--poll", dev.poll_seconds, "Seconds between checks for changes (default 0.5)")
      ->check(CLI::Range(0.05, 60.0));
  dev_cmd->add_option("--build-command", dev.build_command,
                      "A compiled application: how to rebuild it when src/, include/ or "
                      "CMakeLists.txt change (default: cmake --build on the build directory of "
                      "the executable; none: never)");
  dev_cmd->add_flag("--allow-agent-edits", dev.allow_agent_edits,
                    "Also rebuild or reload on changes to files the agents can write themselves "
                    "(sources inside a project-mode workspace; the configuration when [sandbox] "
                    "protect_config = false). Without it such changes are reported, not acted on");
  dev_cmd->footer(
      "A compiled application (agents or workflows in C++) is rebuilt when its "
      "sources change, then restarted (connections are closed gracefully).");
  return dev_cmd;
}

CLI::App* add_routes_command(CLI::App& app, CommonOptions& common) {
  auto* routes_cmd = app.add_subcommand(
      "routes",
      "Print the routes `serve` would offer as JSON ({\"agents\":[...],\"workflows\":[...]})");
  routes_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return routes_cmd;
}

CLI::App* add_invoke_command(CLI::App& app, InvokeOptions& invoke, CommonOptions& common) {
  auto* invoke_cmd = app.add_subcommand(
      "invoke", "Call an agent once, as POST /agents/NAME/ID would, and print {\"result\":...}");
  invoke_cmd->add_option("name", invoke.name, "Agent name")->required();
  invoke_cmd->add_option("id", invoke.id, "Agent instance id (default: default)");
  invoke_cmd->add_option("--payload", invoke.payload,
                         "JSON object: {\"message\":\"...\", \"session\"?:\"...\"}");
  invoke_cmd->add_option("--server", invoke.server,
                         "Call a running server (http://HOST:PORT) instead of running locally; "
                         "a Bearer token comes from CPPFLUE_TOKEN");
  invoke_cmd->add_option("-m,--model", invoke.model, "Model override, as provider:model (local)");
  invoke_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return invoke_cmd;
}

CLI::App* add_logs_command(CLI::App& app, LogsOptions& logs, CommonOptions& common) {
  auto* logs_cmd = app.add_subcommand("logs", "Print the events of a run");
  logs_cmd->add_option("run_id", logs.run_id, "Run id (run_...)")->required();
  logs_cmd->add_flag("-f,--follow,!--no-follow", logs.follow,
                     "Keep printing events until the run ends (default: print what exists)");
  logs_cmd->add_option("--server", logs.server,
                       "Read from a running server (http://HOST:PORT) instead of the project's "
                       "store; a Bearer token comes from CPPFLUE_TOKEN");
  logs_cmd->add_option("--since", logs.since, "Only events after this index")
      ->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
  logs_cmd->add_option("--types", logs.types, "Comma-separated event types to print");
  logs_cmd->add_option("--limit", logs.limit, "At most this many events (without --follow)")
      ->check(CLI::Range(1, 1000));
  logs_cmd->add_option("--format", logs.format, "pretty (default), json or ndjson");
  logs_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return logs_cmd;
}

CLI::App* add_doctor_command(CLI::App& app, bool& doctor_json, bool& doctor_offline,
                             CommonOptions& common) {
  auto* doctor_cmd = app.add_subcommand("doctor", "Check the configuration, providers and store");
  doctor_cmd->add_flag("--json", doctor_json, "Machine-readable output");
  doctor_cmd->add_flag("--offline", doctor_offline,
                       "A provider key that is not set is reported, not a failure (checks "
                       "without secrets, as in CI)");
  doctor_cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return doctor_cmd;
}

CLI::App* add_help_command(CLI::App& app, std::vector<std::string>& words) {
  auto* help_cmd = app.add_subcommand(
      "help", "Print the help of cppflue or of a command (`help run`, `help skill new`)");
  help_cmd->add_option("command", words, "The command (default: cppflue itself)");
  return help_cmd;
}

// `build` and `deploy` share their options; `deploy` adds --dry-run.
CLI::App* add_build_command(CLI::App& app, BuildOptions& o, CommonOptions& common, bool deploy) {
  std::string targets;
  for (const auto& t : deploy_targets()) targets += (targets.empty() ? "" : ", ") + t;
  auto* cmd = deploy ? app.add_subcommand("deploy",
                                          "Build the deployment files of --target, record them in "
                                          ".cppflue/deploy.json, then run the platform's CLI "
                                          "(fly deploy, railway up, wrangler deploy, ...) or print "
                                          "the command to run")
                     : app.add_subcommand("build",
                                          "Write deployment files for --target into a folder: a "
                                          "container image, a self-contained bundle, a platform's "
                                          "configuration, a CI pipeline, a systemd unit or "
                                          "Kubernetes manifests");
  cmd->add_option("--target", o.target, "One of: " + targets)->required();
  cmd->add_option("-o,--output", o.output, "Output folder (default: dist/TARGET in the project)");
  cmd->add_flag("--force", o.force,
                "Replace the output folder when it exists (only one `cppflue build` made)");
  cmd->add_option("--image", o.image,
                  "The image name the files refer to (default: the project's name)");
  cmd->add_option("--upstream", o.upstream,
                  "vercel, netlify: the URL of the container deployment to proxy to");
  cmd->add_option("--replicas", o.replicas,
                  "Replicas (kubernetes); only 1: replicas cannot share the SQLite store");
  cmd->add_flag("--allow-agent-edits", o.allow_agent_edits,
                "Compile a compiled project even when the agents can write its sources "
                "([sandbox] workspace holds the project): their code then runs here");
  if (deploy) {
    cmd->add_flag("--dry-run", o.dry_run, "Write the files and the manifest; run nothing");
  }
  cmd->add_option("--config", common.config, "Path to cppflue.toml");
  return cmd;
}

// The top-level options and every subcommand, in the order `--help` lists them.
void add_commands(CLI::App& app, CommandLine& cl) {
  configure_app(app, cl.common);
  cl.run_cmd = add_run_command(app, cl.run, cl.common);
  cl.chat_cmd = add_chat_command(app, cl.chat, cl.common);
  cl.sessions_cmd = add_sessions_command(app, cl.sessions, cl.common);
  cl.init_cmd = add_init_command(app, cl.init);
  cl.skill_new_cmd = add_skill_command(app, cl.skill_name, cl.common);
  cl.serve_cmd = add_serve_command(app, cl.serve, cl.common);
  cl.dev_cmd = add_dev_command(app, cl.dev, cl.common);
  cl.routes_cmd = add_routes_command(app, cl.common);
  cl.invoke_cmd = add_invoke_command(app, cl.invoke, cl.common);
  cl.logs_cmd = add_logs_command(app, cl.logs, cl.common);
  cl.runs_cmd = add_runs_command(app, cl.runs, cl.common);
  cl.trace_cmd = add_trace_command(app, cl.trace, cl.common);
  cl.build_cmd = add_build_command(app, cl.build, cl.common, false);
  cl.deploy_cmd = add_build_command(app, cl.deploy, cl.common, true);
  cl.doctor_cmd = add_doctor_command(app, cl.doctor_json, cl.doctor_offline, cl.common);
  cl.help_cmd = add_help_command(app, cl.help_words);
}

// Trace export for the commands that run agents, from OTEL_* and [telemetry] (nothing starts
// without an endpoint). The spans still queued are delivered before the command returns, or
// given up on after a few seconds.
class TelemetryScope {
 public:
  explicit TelemetryScope(const CommonOptions& common) {
    std::error_code ec;
    auto config = discover_config(common.config, std::filesystem::current_path(ec));
    if (!config) return;  // the command reports its configuration itself
    started_ = start_telemetry(config->telemetry).exporting;
  }
  ~TelemetryScope() {
    if (started_) stop_telemetry(std::chrono::milliseconds(3000));
  }
  TelemetryScope(const TelemetryScope&) = delete;
  TelemetryScope& operator=(const TelemetryScope&) = delete;

 private:
  bool started_ = false;
};

// Runs the subcommand that was given; errors thrown by it are reported (exit code 1).
int run_subcommand(const CommandLine& cl) {
  std::optional<TelemetryScope> telemetry;
  if (*cl.run_cmd || *cl.chat_cmd || *cl.serve_cmd || *cl.dev_cmd) telemetry.emplace(cl.common);
  try {
    if (*cl.run_cmd) return run_command(cl.common, cl.run);
    if (*cl.chat_cmd) return chat_command(cl.common, cl.chat);
    if (*cl.sessions_cmd) return sessions_command(cl.common, cl.sessions);
    if (*cl.doctor_cmd) return doctor_command(cl.common, cl.doctor_json, cl.doctor_offline);
    if (*cl.serve_cmd) return serve_command(cl.common, cl.serve);
    if (*cl.dev_cmd) return dev_command(cl.common, cl.dev);
    if (*cl.routes_cmd) return routes_command(cl.common);
    if (*cl.invoke_cmd) return invoke_command(cl.common, cl.invoke);
    if (*cl.logs_cmd) return logs_command(cl.common, cl.logs);
    if (*cl.runs_cmd) return runs_command(cl.common, cl.runs);
    if (*cl.trace_cmd) return trace_command(cl.common, cl.trace);
    if (*cl.build_cmd) return build_command(cl.common, cl.build);
    if (*cl.deploy_cmd) return deploy_command(cl.common, cl.deploy);
    if (*cl.init_cmd) return init_command(cl.init);
    if (*cl.skill_new_cmd) return skill_new_command(cl.common.config, cl.skill_name);
  } catch (const cppflue::Exception& e) {
    return report_error(e.error());
  } catch (const std::exception& e) {
    return report_error(ErrorType::internal, e.what());
  }
  return 0;
}

}  // namespace
}  // namespace cppflue::cli

int cppflue::cli_main(int argc, char** argv) {
  using namespace cppflue::cli;
  cppflue::log::check_environment();  // a wrong CPPFLUE_LOG is reported now, not at a first log
  // The project's .env is read with its cppflue.toml; variables already set win.
  enable_project_dotenv();
  CLI::App app{
      "CppFlue — agent harness framework for C++.\n"
      "Run agents with persistent sessions, tools and streaming events against OpenAI,\n"
      "Anthropic, Gemini or any OpenAI-compatible endpoint (or the offline test: model)."};
  CommandLine cl;
  add_commands(app, cl);
  set_program_name(argc > 0 ? argv[0] : nullptr);
  set_json_errors(wants_json(argc, argv));
  if (auto status = check_command_words(app, argc, argv)) return *status;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; usage errors exit 1 like any other error (docs/reference/cli.md).
    if (e.get_exit_code() != 0 && json_errors()) {
      std::cout << dump(error_object(make_error(ErrorType::invalid_input, e.what()))) << std::endl;
    }
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (*cl.help_cmd) return help_command(app, cl.help_words);
  int status = run_subcommand(cl);
  if (*cl.serve_cmd) {
    // The server has stopped: requests in flight had their grace, the runs still going were
    // ended as interrupted, telemetry is flushed. Work left on the runtime's threads (a
    // workflow's step, a prompt) is not waited for, as returning would (the runtime joins its
    // threads at exit): the process ends now.
    cppflue::log::get()->flush();
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(status);
  }
  return status;
}
