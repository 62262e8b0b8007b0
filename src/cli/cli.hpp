// SPDX-License-Identifier: Apache-2.0
// The `cppflue` command line: one function per subcommand, sharing the options below.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/cppflue.hpp"

namespace cppflue::cli {

struct CommonOptions {
  std::string config;  // --config
};

struct RunOptions {
  std::string workflow;  // positional: run this registered workflow
  std::string prompt;
  std::string agent;    // --agent: a compiled or Markdown agent
  std::string skill;    // --skill NAME
  std::string args;     // --args JSON (skill arguments)
  std::string payload;  // --payload JSON (workflow payload)
  std::string session = "default";
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
};

struct ServeCommandOptions {
  std::optional<std::string> host;
  std::optional<int> port;
  std::string model;
  int grace_seconds = 10;
  double heartbeat_seconds = 15;
  double header_timeout_seconds = 10;
  double body_timeout_seconds = 30;
};

int run_command(const CommonOptions& common, const RunOptions& opts);
int serve_command(const CommonOptions& common, const ServeCommandOptions& opts);
int chat_command(const CommonOptions& common, const std::string& session, const std::string& model);
int sessions_command(const CommonOptions& common, const SessionsOptions& opts);
int doctor_command(const CommonOptions& common, bool json);

// Prints "cppflue: error: <message>" to stderr; returns the exit code 1.
int report_error(const std::string& message);

// Ctrl-C handling: SIGINT is blocked in every thread and received by a watcher thread, which
// calls the current handler (e.g. aborting the running operation).
void install_interrupt_watcher();
void set_interrupt_handler(std::function<void()> handler);
bool interrupted();

}  // namespace cppflue::cli
