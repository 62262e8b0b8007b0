// SPDX-License-Identifier: Apache-2.0
// cppflue/core/config.hpp — `cppflue.toml`, the project configuration (docs/reference/config.md).
//
// `load_config` reads and validates the whole file: every section and key documented in
// docs/reference/config.md is known, an unknown key is an error naming the key path and the
// file, a value of the wrong type names the key and the expected type, and a TOML syntax error
// gives line and column. Values set in code or on the command line override the file;
// environment variables only override built-in defaults (see `apply_env_defaults`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/error.hpp"

namespace cppflue {

struct AgentConfig {
  std::string model;  // empty: chosen at run time (env, API keys, else the offline model)
  std::string harness = "native";
  std::string sandbox = "virtual";
  std::string thinking_level;  // empty: not set
  bool allow_write = false;
  bool allow_shell = false;
  std::vector<std::string> allowed_commands;
  bool allow_compound_commands = false;
  int max_turns = 50;
  int max_task_depth = 8;
  int typed_retries = 3;
};

struct SandboxConfig {
  std::string workspace;
  bool network = false;
  bool git_writable = false;
  std::map<std::string, std::string> env;
  int timeout_seconds = 120;
  std::string isolation = "auto";
  // Extra workspace paths file tools and the jail may not write (`protected`).
  std::vector<std::string> protected_paths;
  // When the workspace contains the project, cppflue.toml, .env, .agents/, AGENTS.md,
  // CLAUDE.md, .cppflue/ and .git/ are protected too, unless this is false.
  bool protect_config = true;
  // Names the model may set through bash's `env` while an allowlist is in force.
  std::vector<std::string> allowed_env;
  // With network = true, whether jailed commands may connect to the host's abstract UNIX
  // sockets (refused by Landlock scoping where the kernel offers it, ABI 6).
  bool abstract_unix_sockets = false;
  // Per shell command: memory of all its processes (memory cgroup), and the size of the jail's
  // private /tmp (which counts against that memory too). 0 = no limit.
  std::int64_t memory_max = std::int64_t{2} << 30;
  std::int64_t tmp_size = std::int64_t{512} << 20;
  // How long a session's jail is kept between its shell commands (set up once, each command
  // started inside it, nothing of one command left for the next); reaped when idle that long.
  // 0 = a fresh jail for every command.
  int jail_idle_seconds = 60;
};

struct SecretConfig {
  std::string env;    // variable to read, or
  std::string value;  // literal value
};

struct ProviderOverride {
  std::optional<std::string> api;
  std::optional<std::string> base_url;
  std::optional<std::string> api_key;
  std::optional<std::string> api_key_env;
  std::map<std::string, std::string> headers;
};

struct CompactionConfig {
  bool enabled = true;
  long context_window_tokens = 128000;
  long reserve_tokens = 16384;
  long keep_recent_tokens = 20000;
  std::string model;
};

struct McpServerConfig {
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string url;
  std::map<std::string, std::string> headers;
  bool enabled = true;
  // When the server cannot be reached (or its tools not listed), the agent starts without it
  // and logs a warning, instead of failing.
  bool optional = false;
};

struct McpConfig {
  std::string mode = "direct";
  int search_limit = 10;
  std::map<std::string, McpServerConfig> servers;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 2024;
  std::string auth_token_env;
  std::vector<std::string> cors_origins;
  long max_body_bytes = 10485760;
  std::string github_secret_env = "GITHUB_WEBHOOK_SECRET";
  std::string slack_secret_env = "SLACK_SIGNING_SECRET";
  std::string hmac_secret_env = "CPPFLUE_WEBHOOK_SECRET";
  int dispatch_workers = 4;  // dispatched inputs processed at once (one per session at a time)
  // Agent instances kept in memory; beyond that the least recently used idle one is dropped
  // (its sessions stay in the store and are loaded again on its next request).
  int max_instances = 1024;
  // Where the `reply` tool of webhook-dispatched prompts POSTs {"platform","thread","text",...}
  // (empty: replies go to Server::on_reply callbacks only, else they are logged).
  std::string reply_url;
};

// `[telemetry]`: OpenTelemetry export and the server's metrics. The standard OTEL_* variables
// win over these keys (docs/observability.md).
struct TelemetryConfig {
  std::string otlp_endpoint;     // "": no export unless OTEL_EXPORTER_OTLP_ENDPOINT is set
  std::string service_name;      // "": OTEL_SERVICE_NAME, else "cppflue"
  bool capture_content = false;  // message and tool content on spans (redacted, size-bounded)
  bool metrics = true;           // GET /metrics on the server
  bool metrics_public = false;   // true: /metrics without the server's bearer token
};

// `[pricing."provider:model"]`: USD per million tokens, overriding the built-in price table.
struct ModelPrice {
  double input = 0;
  double output = 0;
  double cache_read = 0;
  double cache_write = 0;
};

struct Config {
  std::filesystem::path root;         // directory of the config file, else the working dir
  std::filesystem::path config_path;  // empty when no file was found
  AgentConfig agent;
  SandboxConfig sandbox;
  std::map<std::string, SecretConfig> secrets;
  std::map<std::string, ProviderOverride> providers;
  CompactionConfig compaction;
  McpConfig mcp;
  ServerConfig server;
  TelemetryConfig telemetry;
  std::map<std::string, ModelPrice> pricing;  // by "provider:model"

  // Where sessions, runs and session workspaces are stored: CPPFLUE_STATE_DIR when it is set
  // (a deployment's volume; relative to `root` unless absolute), else <root>/.cppflue.
  std::filesystem::path state_path;
  std::filesystem::path state_dir() const {
    return state_path.empty() ? root / ".cppflue" : state_path;
  }
};

// Loads `path`. A missing file is an error naming it.
Result<Config> load_config_file(const std::filesystem::path& path);
// Parses TOML text; `origin` names the source in errors.
Result<Config> parse_config(std::string_view toml_text, const std::filesystem::path& origin);
// Finds the project: an explicit `--config` path (must exist), else `cppflue.toml` in `cwd`
// (or its parents up to the filesystem root); with no file, defaults rooted at `cwd`.
Result<Config> discover_config(const std::filesystem::path& explicit_path,
                               const std::filesystem::path& cwd);

// A price table file (the built-in data/pricing.toml): `date`, `[sources]` and
// `[models."provider:model"]` entries of input/output/cache_read/cache_write (USD per million
// tokens) and `source`. `origin` names the text in errors.
struct PriceFile {
  std::string date;
  std::map<std::string, std::string> sources;  // name -> URL
  std::map<std::string, ModelPrice> models;    // "provider:model" -> price
};
Result<PriceFile> parse_price_file(std::string_view toml_text, std::string_view origin);

// Every key `parse_config` accepts, as its dotted path, sorted. Tables whose names the user
// picks are written with `<name>`: "secrets.<name>.env", "providers.<name>.base_url",
// "mcp.servers.<name>.command". A key whose value is a table of strings ("sandbox.env") is
// listed itself, not its entries.
std::vector<std::string> known_config_keys();

// Environment overrides of built-in defaults: CPPFLUE_MODEL (when no model was configured),
// CPPFLUE_MAX_TURNS (when max_turns is still the default).
void apply_env_defaults(Config& config);

}  // namespace cppflue
