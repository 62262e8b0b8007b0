// SPDX-License-Identifier: Apache-2.0
// `cppflue.toml` loading and validation (docs/reference/config.md).
//
// The whole schema is checked here rather than by the consumers, so a typo anywhere in the file
// is reported once, at load time, with the file position and the key path; later modules can
// trust the typed `Config`. Every error is one line: "<file>:<line>:<column>: <message>".
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cppflue/core/config.hpp"
#include "cppflue/core/suggest.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>

#include "config_reader.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using namespace config_detail;

constexpr std::string_view kConfigFileName = "cppflue.toml";

constexpr std::string_view kTopLevelKeys[] = {"agent",     "sandbox",    "secrets",
                                              "providers", "compaction", "mcp",
                                              "server",    "telemetry",  "pricing"};
constexpr std::string_view kAgentKeys[] = {
    "model",       "harness",        "sandbox",          "thinking_level",
    "allow_write", "allow_shell",    "allowed_commands", "allow_compound_commands",
    "max_turns",   "max_task_depth", "typed_retries"};
constexpr std::string_view kSandboxKeys[] = {
    "workspace",  "network",   "git_writable",     "env",         "timeout_seconds",
    "isolation",  "protected", "protect_config",   "allowed_env", "abstract_unix_sockets",
    "memory_max", "tmp_size",  "jail_idle_seconds"};
constexpr std::string_view kSecretKeys[] = {"env", "value"};
constexpr std::string_view kProviderKeys[] = {"api", "base_url", "api_key_env", "api_key",
                                              "headers"};
constexpr std::string_view kCompactionKeys[] = {"enabled", "context_window_tokens",
                                                "reserve_tokens", "keep_recent_tokens", "model"};
constexpr std::string_view kMcpKeys[] = {"mode", "search_limit", "servers"};
constexpr std::string_view kMcpServerKeys[] = {"command", "args",    "env",     "url",
                                               "headers", "enabled", "optional"};
constexpr std::string_view kServerKeys[] = {"host",
                                            "port",
                                            "auth_token_env",
                                            "cors_origins",
                                            "max_body_bytes",
                                            "github_secret_env",
                                            "slack_secret_env",
                                            "hmac_secret_env",
                                            "dispatch_workers",
                                            "max_instances",
                                            "reply_url"};

constexpr std::string_view kTelemetryKeys[] = {"otlp_endpoint", "service_name", "capture_content",
                                               "metrics", "metrics_public"};
constexpr std::string_view kPricingKeys[] = {"input", "output", "cache_read", "cache_write"};

// The schema: every table with the keys it accepts, by key path ("<name>" stands for a name
// the user picks). The parser checks each table against its entry (`keys_of`), and
// `known_config_keys` lists the same entries, so the two cannot disagree.
struct SchemaTable {
  std::string_view path;
  Names keys;
};
constexpr SchemaTable kSchema[] = {
    {"agent", kAgentKeys},
    {"sandbox", kSandboxKeys},
    {"secrets.<name>", kSecretKeys},
    {"providers.<name>", kProviderKeys},
    {"compaction", kCompactionKeys},
    {"mcp", kMcpKeys},
    {"mcp.servers.<name>", kMcpServerKeys},
    {"server", kServerKeys},
    {"telemetry", kTelemetryKeys},
    {"pricing.<name>", kPricingKeys},
};

// The keys of the schema table `path`; an unknown path does not compile.
consteval Names keys_of(std::string_view path) {
  for (const auto& t : kSchema) {
    if (t.path == path) return t.keys;
  }
  throw "keys_of: no such table in kSchema";
}

constexpr bool schema_covers_top_level() {
  for (auto top : kTopLevelKeys) {
    bool found = false;
    for (const auto& t : kSchema) found = found || t.path.substr(0, t.path.find('.')) == top;
    if (!found) return false;
  }
  return true;
}
static_assert(schema_covers_top_level(), "every top-level table needs its entry in kSchema");

constexpr std::string_view kThinkingLevels[] = {"off", "minimal", "low", "medium", "high", "xhigh"};
constexpr std::string_view kIsolationModes[] = {"auto", "jail", "none"};
constexpr std::string_view kProviderApis[] = {"openai-chat", "openai-responses", "anthropic",
                                              "gemini"};
constexpr std::string_view kMcpModes[] = {"direct", "search_execute"};

constexpr std::int64_t kIntMax = INT_MAX;
constexpr std::int64_t kLongMax = LONG_MAX;

void read_agent(Reader& r, const toml::table& t, AgentConfig& a) {
  Section s(r, t, "agent", keys_of("agent"));
  s.string("model", a.model);
  s.string("harness", a.harness, /*non_empty=*/true);
  s.string("sandbox", a.sandbox, /*non_empty=*/true);
  s.one_of("thinking_level", a.thinking_level, kThinkingLevels, /*allow_empty=*/true);
  s.boolean("allow_write", a.allow_write);
  s.boolean("allow_shell", a.allow_shell);
  s.string_list("allowed_commands", a.allowed_commands);
  s.boolean("allow_compound_commands", a.allow_compound_commands);
  s.integer("max_turns", a.max_turns, 1, kIntMax);
  // 0 disables tasks and a negative value means unlimited, so any int is meaningful.
  s.integer("max_task_depth", a.max_task_depth, INT_MIN, kIntMax);
  s.integer("typed_retries", a.typed_retries, 0, kIntMax);
}

void read_sandbox(Reader& r, const toml::table& t, SandboxConfig& c) {
  Section s(r, t, "sandbox", keys_of("sandbox"));
  s.string("workspace", c.workspace);
  s.boolean("network", c.network);
  s.boolean("git_writable", c.git_writable);
  s.string_map("env", c.env);
  s.integer("timeout_seconds", c.timeout_seconds, 1, kIntMax);
  s.one_of("isolation", c.isolation, kIsolationModes);
  s.string_list("protected", c.protected_paths);
  s.boolean("protect_config", c.protect_config);
  s.string_list("allowed_env", c.allowed_env);
  s.boolean("abstract_unix_sockets", c.abstract_unix_sockets);
  s.size("memory_max", c.memory_max);
  s.size("tmp_size", c.tmp_size);
  s.integer("jail_idle_seconds", c.jail_idle_seconds, 0, 86400);
}

void read_secrets(Reader& r, const toml::table& t, std::map<std::string, SecretConfig>& out) {
  for (auto&& [name, node] : t) {
    if (r.failed()) return;
    std::string path = child_path("secrets", name.str());
    const auto* tbl = node.as_table();
    if (!tbl) return r.wrong_type(node, path, "table ({ env = \"VAR\" } or { value = \"...\" })");
    Section s(r, *tbl, path, keys_of("secrets.<name>"));
    SecretConfig secret;
    s.string("env", secret.env, /*non_empty=*/true);
    s.string("value", secret.value);
    if (r.failed()) return;
    bool has_env = tbl->contains("env");
    bool has_value = tbl->contains("value");
    if (has_env == has_value) {
      return r.error(node.source(), path,
                     fmt::format("{}: expected exactly one of 'env' or 'value'", path));
    }
    out[std::string(name.str())] = std::move(secret);
  }
}

void read_providers(Reader& r, const toml::table& t, std::map<std::string, ProviderOverride>& out) {
  for (auto&& [name, node] : t) {
    if (r.failed()) return;
    std::string path = child_path("providers", name.str());
    const auto* tbl = node.as_table();
    if (!tbl) return r.wrong_type(node, path, "table");
    Section s(r, *tbl, path, keys_of("providers.<name>"));
    ProviderOverride p;
    s.optional_one_of("api", p.api, kProviderApis);
    s.optional_string("base_url", p.base_url);
    s.optional_string("api_key_env", p.api_key_env);
    s.optional_string("api_key", p.api_key);
    s.string_map("headers", p.headers);
    if (r.failed()) return;
    if (p.api_key && p.api_key_env) {
      return r.error(node.source(), path,
                     fmt::format("{}: set either 'api_key' or 'api_key_env', not both", path));
    }
    out[std::string(name.str())] = std::move(p);
  }
}

void read_compaction(Reader& r, const toml::table& t, CompactionConfig& c) {
  Section s(r, t, "compaction", keys_of("compaction"));
  s.boolean("enabled", c.enabled);
  s.integer("context_window_tokens", c.context_window_tokens, 1, kLongMax);
  s.integer("reserve_tokens", c.reserve_tokens, 0, kLongMax);
  s.integer("keep_recent_tokens", c.keep_recent_tokens, 0, kLongMax);
  s.string("model", c.model);
}

void read_mcp(Reader& r, const toml::table& t, McpConfig& c) {
  Section s(r, t, "mcp", keys_of("mcp"));
  s.one_of("mode", c.mode, kMcpModes);
  s.integer("search_limit", c.search_limit, 1, kIntMax);
  const toml::table* servers = s.table("servers");
  if (!servers) return;
  for (auto&& [name, node] : *servers) {
    if (r.failed()) return;
    std::string path = child_path("mcp.servers", name.str());
    const auto* tbl = node.as_table();
    if (!tbl) return r.wrong_type(node, path, "table");
    Section server(r, *tbl, path, keys_of("mcp.servers.<name>"));
    McpServerConfig m;
    server.string("command", m.command);
    server.string_list("args", m.args);
    server.string_map("env", m.env);
    server.string("url", m.url);
    server.string_map("headers", m.headers);
    server.boolean("enabled", m.enabled);
    server.boolean("optional", m.optional);
    if (r.failed()) return;
    if (m.command.empty() == m.url.empty()) {
      return r.error(node.source(), path,
                     fmt::format("{}: set exactly one of 'command' (stdio server) or 'url' "
                                 "(HTTP server)",
                                 path));
    }
    c.servers[std::string(name.str())] = std::move(m);
  }
}

void read_server(Reader& r, const toml::table& t, ServerConfig& c) {
  Section s(r, t, "server", keys_of("server"));
  s.string("host", c.host, /*non_empty=*/true);
  s.integer("port", c.port, 1, 65535);
  s.string("auth_token_env", c.auth_token_env);
  s.string_list("cors_origins", c.cors_origins);
  s.integer("max_body_bytes", c.max_body_bytes, 1, kLongMax);
  s.string("github_secret_env", c.github_secret_env);
  s.string("slack_secret_env", c.slack_secret_env);
  s.string("hmac_secret_env", c.hmac_secret_env);
  s.integer("dispatch_workers", c.dispatch_workers, 1, 256);
  s.integer("max_instances", c.max_instances, 1, 1000000);
  s.string("reply_url", c.reply_url);
}

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  abs = abs.lexically_normal();
  // "/a/b/" → "/a/b", so parent_path() walks one directory at a time.
  if (!abs.has_filename() && abs.has_relative_path()) abs = abs.parent_path();
  return abs;
}

// A TOML syntax error for people: toml++'s description, or what it means where it is obscure
// (a string left open runs into the end of its line, which toml++ reports as a control
// character).
std::string syntax_error_message(std::string_view text, const toml::parse_error& e) {
  std::string_view what = e.description();
  const auto& at = e.source().begin;
  const bool in_string = what.find("string") != std::string_view::npos;
  if (in_string && what.find("end-of-file") != std::string_view::npos) {
    return "TOML syntax error: unterminated string: the file ends before the string is closed";
  }
  if (in_string && what.find("control characters") != std::string_view::npos && at.line > 0) {
    // The character at the reported position: a line break means the string was not closed.
    std::size_t line_start = 0;
    for (std::size_t line = 1; line < at.line && line_start != std::string_view::npos; ++line) {
      line_start = text.find('\n', line_start);
      if (line_start != std::string_view::npos) ++line_start;
    }
    std::size_t pos =
        line_start == std::string_view::npos ? text.size() : line_start + at.column - 1;
    if (pos >= text.size() || text[pos] == '\n' || text[pos] == '\r') {
      return "TOML syntax error: unterminated string: a \"...\" or '...' string must end on the "
             "line it starts on (use \"\"\"...\"\"\" or \'\'\'...\'\'\' for text of several lines)";
    }
  }
  return fmt::format("TOML syntax error: {}", what);
}

// `display` names the file in messages (as the user gave it); `file` is where it lives.
Result<Config> parse_document(std::string_view text, const std::string& display,
                              const fs::path& file) {
  Config config;
  config.config_path = absolute_normal(file);
  config.root = config.config_path.parent_path();

  toml::table doc;
#if TOML_EXCEPTIONS
  try {
    doc = toml::parse(text, display);
  } catch (const toml::parse_error& e) {
    return fail(config_error_at(display, e.source(), "", syntax_error_message(text, e)));
  }
#else
  toml::parse_result parsed = toml::parse(text, display);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    return fail(config_error_at(display, e.source(), "", syntax_error_message(text, e)));
  }
  doc = std::move(parsed).table();
#endif

  Reader reader(display);
  Section root(reader, doc, "", kTopLevelKeys);
  if (const auto* t = root.table("agent")) read_agent(reader, *t, config.agent);
  if (const auto* t = root.table("sandbox")) read_sandbox(reader, *t, config.sandbox);
  if (const auto* t = root.table("secrets")) read_secrets(reader, *t, config.secrets);
  if (const auto* t = root.table("providers")) read_providers(reader, *t, config.providers);
  if (const auto* t = root.table("compaction")) read_compaction(reader, *t, config.compaction);
  if (const auto* t = root.table("mcp")) read_mcp(reader, *t, config.mcp);
  if (const auto* t = root.table("server")) read_server(reader, *t, config.server);
  if (const auto* t = root.table("telemetry")) {
    read_telemetry(reader, Section(reader, *t, "telemetry", keys_of("telemetry")),
                   config.telemetry);
  }
  if (const auto* t = root.table("pricing")) {
    read_pricing(reader, "pricing", *t, keys_of("pricing.<name>"), config.pricing);
  }
  if (reader.failed()) return fail(reader.take_error());
  return config;
}

Error file_error(const fs::path& path, const std::string& message) {
  return make_error(
      ErrorType::config_error, one_line(message),
      json_object{
          {"file", path.string()}, {"line", nullptr}, {"column", nullptr}, {"key", nullptr}});
}

// `display` names the file in messages: the path as the user gave it, or as found.
Result<Config> load_file(const fs::path& path, const fs::path& display) {
  try {
    std::error_code ec;
    auto status = fs::status(path, ec);
    if (!fs::exists(status)) {
      return fail(file_error(display, fmt::format("config file not found: {}", display.string())));
    }
    if (fs::is_directory(status)) {
      return fail(
          file_error(display, fmt::format("config file {} is a directory", display.string())));
    }
    // Non-blocking and regular files only (a FIFO would hang the start), at most 4 MiB.
    constexpr std::size_t kMaxConfigBytes = std::size_t{4} << 20;
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      return fail(file_error(display, fmt::format("cannot read config file {}: {}",
                                                  display.string(), std::strerror(err))));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::size_t>(st.st_size) > kMaxConfigBytes) {
      ::close(fd);
      return fail(file_error(
          display,
          fmt::format("config file {} is not a regular file of at most 4 MiB", display.string())));
    }
    std::string text;
    char chunk[65536];
    ssize_t n = 0;
    while ((n = ::read(fd, chunk, sizeof chunk)) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || text.size() + static_cast<std::size_t>(n) > kMaxConfigBytes) {
        ::close(fd);
        return fail(
            file_error(display, fmt::format("cannot read config file {}", display.string())));
      }
      text.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return parse_document(text, display.string(), path);
  } catch (const std::exception& e) {
    // Nothing above is expected to throw; this keeps a bug from crashing the caller.
    return fail(file_error(
        display, fmt::format("cannot load config file {}: {}", display.string(), e.what())));
  }
}

// The file name to show for a discovered config: short when it is in the working directory.
fs::path display_name(const fs::path& file, const fs::path& cwd) {
  if (file.parent_path() == cwd) return file.filename();
  return file;
}

}  // namespace

Result<Config> parse_config(std::string_view toml_text, const fs::path& origin) {
  try {
    return parse_document(toml_text, origin.string(), origin);
  } catch (const std::exception& e) {
    return fail(file_error(
        origin, fmt::format("cannot load configuration {}: {}", origin.string(), e.what())));
  }
}

namespace {
// CPPFLUE_STATE_DIR moves the state folder (sessions, runs, session workspaces) out of the
// project, for deployments whose project files are read-only and whose state is a volume. It
// may not hold the project or the agents' workspace: the state would be theirs to read.
Result<void> apply_state_dir_env(Config& config) {
  const char* dir = std::getenv("CPPFLUE_STATE_DIR");
  if (dir == nullptr || *dir == '\0') return {};
  fs::path p(dir);
  p = (p.is_absolute() ? p : config.root / p).lexically_normal();
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(p, ec);
  auto holds = [&](const fs::path& inner) {
    const fs::path target = fs::weakly_canonical(inner, ec);
    for (const fs::path& state : {p, real}) {
      const fs::path rel = target.lexically_relative(state);
      if (!rel.empty() && *rel.begin() != "..") return true;
    }
    return false;
  };
  fs::path workspace = config.sandbox.workspace;
  if (!workspace.empty() && workspace.is_relative()) workspace = config.root / workspace;
  if (holds(config.root) || (!workspace.empty() && holds(workspace))) {
    return fail(ErrorType::config_error,
                fmt::format("CPPFLUE_STATE_DIR={} holds the project or the agents' workspace: "
                            "the state (sessions, secrets in them) would be theirs to read. Give "
                            "it a folder of its own",
                            dir));
  }
  config.state_path = p;
  return {};
}
}  // namespace

Result<Config> load_config_file(const fs::path& path) {
  auto config = load_file(path, path);
  if (!config) return config;
  if (auto r = apply_state_dir_env(*config); !r) return fail(std::move(r.error()));
  return config;
}

namespace detail {
Result<void> load_project_dotenv(const fs::path& root);  // dotenv.cpp
}  // namespace detail

namespace {
Result<Config> find_config(const fs::path& explicit_path, const fs::path& base) {
  if (!explicit_path.empty()) {
    // A relative --config is relative to the given working directory, not the process's.
    fs::path p = explicit_path.is_absolute() ? explicit_path : base / explicit_path;
    return load_file(p, explicit_path);
  }
  for (fs::path dir = base;; dir = dir.parent_path()) {
    fs::path candidate = dir / kConfigFileName;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec))
      return load_file(candidate, display_name(candidate, base));
    if (dir == dir.root_path() || dir.parent_path() == dir || dir.empty()) break;
  }
  Config config;
  config.root = base;
  return config;
}
}  // namespace

Result<Config> discover_config(const fs::path& explicit_path, const fs::path& cwd) {
  auto config = find_config(explicit_path, absolute_normal(cwd.empty() ? fs::path(".") : cwd));
  if (!config) return config;
  if (auto r = detail::load_project_dotenv(config->root); !r) return fail(std::move(r.error()));
  if (auto r = apply_state_dir_env(*config); !r) return fail(std::move(r.error()));
  return config;
}

std::vector<std::string> known_config_keys() {
  std::vector<std::string> out;
  for (const auto& t : kSchema) {
    for (auto key : t.keys) {
      std::string full = fmt::format("{}.{}", t.path, key);
      // A key that holds tables of its own ("mcp.servers") is listed through their keys.
      bool nested = false;
      for (const auto& other : kSchema) {
        nested = nested || other.path.substr(0, full.size() + 1) == full + ".";
      }
      if (!nested) out.push_back(std::move(full));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void apply_env_defaults(Config& config) {
  if (config.agent.model.empty()) {
    if (const char* model = std::getenv("CPPFLUE_MODEL"); model && *model) {
      config.agent.model = model;
    }
  }
  if (config.agent.max_turns == AgentConfig{}.max_turns) {
    if (const char* turns = std::getenv("CPPFLUE_MAX_TURNS"); turns && *turns) {
      std::string_view text(turns);
      int value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      // An unusable value is ignored: the default is safer than a half-parsed number.
      if (ec == std::errc() && end == text.data() + text.size() && value >= 1) {
        config.agent.max_turns = value;
      }
    }
  }
}

}  // namespace cppflue
