// SPDX-License-Identifier: Apache-2.0
// The `cppflue` command line: one function per subcommand, sharing the options below.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/cppflue.hpp"

namespace cppflue {
struct SessionRecord;
}

namespace cppflue::cli {

struct CommonOptions {
  std::string config;  // --config
};

struct RunOptions {
  std::string workflow;  // positional: run this registered workflow
  std::string prompt;
  std::string agent;           // --agent: a compiled or Markdown agent
  std::string skill;           // --skill NAME
  std::string args;            // --args JSON (skill arguments)
  std::string payload;         // --payload JSON (workflow payload)
  std::string session;         // -s: this session; empty: a new one (or the latest with -c)
  bool continue_last = false;  // -c/--continue: the agent's most recently updated session
  std::string model;
  std::string sandbox;
  bool allow_write = false;
  bool allow_shell = false;
  std::vector<std::string> secrets;  // --secret NAME, repeatable
  bool stream_events = false;        // --stream: JSON lines
  bool json = false;                 // --json: final JSON object
};

struct SessionsOptions {
  std::string action = "list";
  std::string id;
  bool json = false;
  // show: the entries after this seq, at most `limit` of them (0: all).
  std::int64_t after = 0;
  std::size_t limit = 0;
  // scrub: configured secrets by name, every known secret, a value read from stdin.
  std::vector<std::string> scrub_secrets;
  bool scrub_all = false;
  bool scrub_stdin = false;
};

struct ServeCommandOptions {
  std::optional<std::string> host;
  std::optional<int> port;
  std::string model;
  int grace_seconds = 10;
  double heartbeat_seconds = 15;
  double header_timeout_seconds = 10;
  double body_timeout_seconds = 30;
  std::string log_format;  // --log-format text|json; empty: CPPFLUE_LOG_FORMAT, else text
};

struct InvokeOptions {
  std::string name;
  std::string id;       // default "default"
  std::string payload;  // JSON object: {"message"|"prompt", "session"?, ...}
  std::string server;   // --server URL: call a running server instead
  std::string model;
};

struct LogsOptions {
  std::string run_id;
  std::string server;  // --server URL; default: the project's store
  bool follow = false;
  std::int64_t since = 0;
  std::string types;  // comma-separated
  int limit = 1000;
  std::string format = "pretty";  // pretty | json | ndjson
};

struct DevOptions {
  ServeCommandOptions serve;
  double poll_seconds = 0.5;
  // A compiled application: the command that rebuilds it (default: `cmake --build DIR` for the
  // CMake build directory holding the running executable); "none" disables rebuilding.
  std::string build_command;
  // Act on changes to files the agents themselves can write (the sources of a compiled
  // application in project mode; the configuration with [sandbox] protect_config = false).
  bool allow_agent_edits = false;
};

int run_command(const CommonOptions& common, const RunOptions& opts);
int routes_command(const CommonOptions& common);
int invoke_command(const CommonOptions& common, const InvokeOptions& opts);
int logs_command(const CommonOptions& common, const LogsOptions& opts);
int dev_command(const CommonOptions& common, const DevOptions& opts);
int serve_command(const CommonOptions& common, const ServeCommandOptions& opts);
int chat_command(const CommonOptions& common, const RunOptions& opts);
int sessions_command(const CommonOptions& common, const SessionsOptions& opts);
// `offline`: a missing provider key is reported but is not a failure.
int doctor_command(const CommonOptions& common, bool json, bool offline = false);
// Whether the agents' workspace ([sandbox] workspace) holds the project root ("project mode"):
// then agents can write the project's files, sources included.
bool workspace_holds_project(const Config& config);

// The session a `run` or `chat` works on: -s ID as given, the agent's most recently updated
// top-level session with -c (a new one when there is none), else a new one.
struct SessionChoice {
  enum class Kind { given, continued, nothing_to_continue, fresh };
  std::string id;
  Kind kind = Kind::fresh;
};
Result<SessionChoice> choose_session(const CommonOptions& common, const RunOptions& o);
// What to tell the user about `choice` on stderr ("new session ID (continue it with -c, ...)");
// empty for a session given with -s.
std::string describe_session_choice(const SessionChoice& choice, const std::string& agent);
// Whether a stored session is a conversation of agent `agent` from the command line: top-level
// (no task child) and not the server's (INSTANCE:SESSION, named by HTTP clients). What -c
// continues and chat's /sessions lists.
bool command_line_session(const SessionRecord& record, const std::string& agent);
// A new session id: the UTC time and 24 random bits, e.g. "20261206-132415-3f9a0c".
std::string new_session_id();

// The agent of --agent (compiled or Markdown; a compiled one gets `session_id` as its
// context), else the one the configuration describes; the flags (-m, --sandbox, --allow-*)
// override both. An unknown agent's error says what to do; `chat` picks its example command.
Result<Agent> make_agent(const CommonOptions& common, const RunOptions& o,
                         const std::string& session_id, bool chat = false);

// Prints "cppflue: error: <message>" to stderr ("error:" styled when `styled(stderr)`), and in
// JSON mode also `error_object(error)` as one line on stdout; returns the exit code 1. A bare
// message is an invalid_input error.
int report_error(const Error& error);
int report_error(ErrorType type, const std::string& message);
int report_error(const std::string& message);

// JSON mode: the command's output is JSON (--json, --stream), so are its errors.
void set_json_errors(bool on);
bool json_errors();

// An error as JSON mode prints it: {"error":{"type":"<wire name>","message":"..."}}.
json error_object(const Error& e);

// Whether output on `fd` may carry escape sequences (colour, bold): it is a terminal, NO_COLOR
// is unset or empty, and TERM is not "dumb".
bool styled(int fd);

// `text` made harmless for a terminal. What a model writes (or a file it read, or a tool's
// output) could otherwise rewrite the screen, the window title or the clipboard: escape
// sequences (CSI, OSC, DCS, ... whole; a string sequence never closed ends at the line break),
// C0 controls but newline and tab (a carriage return could overwrite what was shown), DEL and
// the C1 controls U+0080..U+009F are dropped, and bytes that are not valid UTF-8 become U+FFFD.
std::string terminal_safe(std::string_view text);
// terminal_safe for text that arrives in pieces (a streamed answer): a sequence or a UTF-8
// character split between two pieces is handled as a whole.
class TerminalFilter {
 public:
  std::string feed(std::string_view text);
  // At the end of the text: a UTF-8 character left incomplete becomes U+FFFD.
  std::string finish();

 private:
  void text_byte(unsigned char c, std::string& out);

  enum class State { text, escape, csi, string, string_escape };
  State state_ = State::text;
  std::string partial_;       // the bytes of a UTF-8 character begun
  std::size_t expected_ = 0;  // its length
};
// terminal_safe(text) when `fd` is a terminal; else `text` as it is (files and pipes get the
// exact bytes).
std::string for_terminal(int fd, std::string_view text);

// A cost in USD for people: "$0.0042", "$1.37" (four decimals below a dollar, two above).
std::string usd_text(double usd);

// "cppflue: error: ", styled for stderr when `styled` allows it.
std::string error_prefix();

// Ctrl-C handling: SIGINT is blocked in every thread and received by a watcher thread, which
// calls the current handler (e.g. aborting the running operation).
// Tells stderr when `agent` runs on the offline test: model.
void note_offline_model(const Agent& agent);
void install_interrupt_watcher();
void set_interrupt_handler(std::function<void()> handler);
bool interrupted();

}  // namespace cppflue::cli
