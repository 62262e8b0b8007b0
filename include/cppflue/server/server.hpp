// SPDX-License-Identifier: Apache-2.0
// cppflue/server/server.hpp — `cppflue serve`: the project's agents over HTTP
// (docs/reference/http.md).
//
// Routes (wire-compatible with PyFlue's server; error envelope
// {"error":{"type","message","details","dev"?,"meta"?}}):
//   GET  /health                      {"ok":true,"framework":"cppflue","version"}
//   GET  /agents                      {"agents":[{"name","path","triggers"}]}
//   POST /agents/{name}/{id}          {"message"|"prompt", "session"?} (or wrapped in
//                                     {"payload":{...}}) → {"result":{text,usage,model,metadata}};
//                                     `Accept: text/event-stream` → the session's events as SSE
//                                     (`event: <type>` / `data: {"type":..., ...}`);
//                                     other methods → 405 method_not_allowed
// Agents are the program's compiled agents (CPPFLUE_AGENT) and the project's Markdown agents;
// one instance per (name, id), built on first use; the session key is "<id>:<session>". A
// prompt to a session that is busy waits for its turn.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue::server {

struct ServeOptions {
  std::string root;                 // the project (default: the config file's directory / cwd)
  std::string config_path;          // cppflue.toml (default: found from root)
  std::optional<std::string> host;  // default [server] host (127.0.0.1)
  std::optional<int> port;          // default [server] port (2024); 0 = ephemeral
  std::string model;                // overrides every agent's model when set (e.g. "test:")
  // SSE streams send a heartbeat comment after this long without an event.
  std::chrono::milliseconds heartbeat{15000};
  // A request whose header (body) has not fully arrived in this time gets 408 (slow clients).
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  // Receives every reply the `reply` tool of a webhook-dispatched prompt sends:
  // {"platform","thread","text","agent","agent_id","session_id","dispatch_id",...context}.
  // Called on a runtime thread; [server] reply_url (when set) gets the same JSON by POST.
  std::function<void(const json&)> on_reply;
};

// {"agents":[{"name","path","triggers","kind","problem"?}],"workflows":[{"name","path"}],
// "problems":["<file>:<line>: <what>"]}: what `serve` would serve for the project of
// `config_path` (found from the working directory when empty). An agent with a "problem" would
// answer it instead of running; "problems" lists every broken skill, role and agent file (paths
// relative to the project root). Errors: only a configuration that cannot be loaded.
Result<json> describe_routes(const std::string& config_path);

// The log of a server process (`cppflue serve` and `dev`): info by default, so that each request
// gets its access line (docs/production.md), unless CPPFLUE_LOG sets the level; `format` "json"
// writes one JSON object per line, "text" the default lines, "" keeps what CPPFLUE_LOG_FORMAT
// chose. False (and nothing changes) for any other format.
bool configure_server_log(std::string_view format);

class Server {
 public:
  struct Impl;
  // Loads the configuration and the project's agents, binds and starts serving on the shared
  // runtime. Errors: config_error (bad config, bad host), connection_error (port in use).
  static Result<std::unique_ptr<Server>> start(ServeOptions options);
  explicit Server(std::unique_ptr<Impl> impl);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& host() const;
  int port() const;
  // Re-reads and checks the project's Markdown files and drops the cached instances, so the
  // next requests see edited instructions, skills and cppflue.toml agent settings; connections
  // and requests in flight are untouched. A broken agent file makes that agent answer its
  // problem (500 agent_invalid, naming file and line) while the others keep running; problems()
  // lists them. Returns the number of agents (broken ones included). ([server] settings need a
  // restart.)
  Result<std::size_t> reload();
  // The problems of the project's skill, role and agent files found at start or at the last
  // reload: "<file>:<line>: <what>", the file relative to the project root.
  std::vector<std::string> problems() const;
  // Stops accepting, lets requests in flight finish for up to `grace`, then closes the rest.
  void stop(std::chrono::milliseconds grace);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cppflue::server
