// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "cppflue/core/json.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using cppflue::testing::TempDir;
using cppflue::testing::write_file;

constexpr const char* kFullConfig = R"(
[agent]
model = "openai:gpt-5.5"
harness = "custom"
sandbox = "local"
thinking_level = "high"
allow_write = true
allow_shell = true
allowed_commands = ["git", "ls"]
allow_compound_commands = true
max_turns = 12
max_task_depth = -1
typed_retries = 0

[sandbox]
workspace = "work"
network = true
git_writable = true
env = { FOO = "bar", "X-Y" = "z" }
timeout_seconds = 30
isolation = "jail"
protected = ["ci.yml", "deploy/"]
protect_config = false
allowed_env = ["FOO"]

[secrets]
github = { env = "GITHUB_TOKEN" }
literal = { value = "s3cret" }

[providers.local]
api = "openai-chat"
base_url = "http://127.0.0.1:8080/v1"
api_key_env = "MY_KEY"
headers = { "X-Team" = "a" }

[providers.other]
api = "anthropic"
api_key = "sk-1"

[compaction]
enabled = false
context_window_tokens = 64000
reserve_tokens = 1000
keep_recent_tokens = 5000
model = "openai:gpt-mini"

[mcp]
mode = "search_execute"
search_limit = 5

[mcp.servers.files]
command = "node"
args = ["server.js", "stdio"]
env = { DEBUG = "1" }
enabled = false

[mcp.servers.remote]
url = "http://127.0.0.1:3001/mcp"
headers = { Authorization = "Bearer t" }
optional = true

[server]
host = "0.0.0.0"
port = 8080
auth_token_env = "API_TOKEN"
cors_origins = ["http://localhost:3000"]
max_body_bytes = 2048
github_secret_env = "GH"
slack_secret_env = "SL"
hmac_secret_env = "HM"
dispatch_workers = 8
max_instances = 50
reply_url = "http://127.0.0.1:9/replies"
)";

Error parse_error(std::string_view text) {
  auto r = parse_config(text, "cppflue.toml");
  EXPECT_FALSE(r.has_value()) << "expected an error for:\n" << text;
  if (r) return Error{};
  EXPECT_EQ(r.error().type, ErrorType::config_error);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  return r.error();
}

// Sets an environment variable for the scope of a test and restores the previous state.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Config, FullFileWithEveryKey) {
  auto r = parse_config(kFullConfig, "/proj/cppflue.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Config& c = *r;
  EXPECT_EQ(c.root, std::filesystem::path("/proj"));
  EXPECT_EQ(c.config_path, std::filesystem::path("/proj/cppflue.toml"));
  EXPECT_EQ(c.state_dir(), std::filesystem::path("/proj/.cppflue"));

  EXPECT_EQ(c.agent.model, "openai:gpt-5.5");
  EXPECT_EQ(c.agent.harness, "custom");
  EXPECT_EQ(c.agent.sandbox, "local");
  EXPECT_EQ(c.agent.thinking_level, "high");
  EXPECT_TRUE(c.agent.allow_write);
  EXPECT_TRUE(c.agent.allow_shell);
  EXPECT_EQ(c.agent.allowed_commands, (std::vector<std::string>{"git", "ls"}));
  EXPECT_TRUE(c.agent.allow_compound_commands);
  EXPECT_EQ(c.agent.max_turns, 12);
  EXPECT_EQ(c.agent.max_task_depth, -1);
  EXPECT_EQ(c.agent.typed_retries, 0);

  EXPECT_EQ(c.sandbox.workspace, "work");
  EXPECT_TRUE(c.sandbox.network);
  EXPECT_TRUE(c.sandbox.git_writable);
  EXPECT_EQ(c.sandbox.protected_paths, (std::vector<std::string>{"ci.yml", "deploy/"}));
  EXPECT_FALSE(c.sandbox.protect_config);
  EXPECT_EQ(c.sandbox.allowed_env, (std::vector<std::string>{"FOO"}));
  EXPECT_EQ(c.sandbox.env, (std::map<std::string, std::string>{{"FOO", "bar"}, {"X-Y", "z"}}));
  EXPECT_EQ(c.sandbox.timeout_seconds, 30);
  EXPECT_EQ(c.sandbox.isolation, "jail");

  ASSERT_EQ(c.secrets.size(), 2u);
  EXPECT_EQ(c.secrets.at("github").env, "GITHUB_TOKEN");
  EXPECT_EQ(c.secrets.at("github").value, "");
  EXPECT_EQ(c.secrets.at("literal").value, "s3cret");

  ASSERT_EQ(c.providers.size(), 2u);
  const auto& local = c.providers.at("local");
  EXPECT_EQ(local.api, "openai-chat");
  EXPECT_EQ(local.base_url, "http://127.0.0.1:8080/v1");
  EXPECT_EQ(local.api_key_env, "MY_KEY");
  EXPECT_FALSE(local.api_key.has_value());
  EXPECT_EQ(local.headers.at("X-Team"), "a");
  EXPECT_EQ(c.providers.at("other").api_key, "sk-1");
  EXPECT_FALSE(c.providers.at("other").base_url.has_value());

  EXPECT_FALSE(c.compaction.enabled);
  EXPECT_EQ(c.compaction.context_window_tokens, 64000);
  EXPECT_EQ(c.compaction.reserve_tokens, 1000);
  EXPECT_EQ(c.compaction.keep_recent_tokens, 5000);
  EXPECT_EQ(c.compaction.model, "openai:gpt-mini");

  EXPECT_EQ(c.mcp.mode, "search_execute");
  EXPECT_EQ(c.mcp.search_limit, 5);
  ASSERT_EQ(c.mcp.servers.size(), 2u);
  const auto& files = c.mcp.servers.at("files");
  EXPECT_EQ(files.command, "node");
  EXPECT_EQ(files.args, (std::vector<std::string>{"server.js", "stdio"}));
  EXPECT_EQ(files.env.at("DEBUG"), "1");
  EXPECT_FALSE(files.enabled);
  const auto& remote = c.mcp.servers.at("remote");
  EXPECT_EQ(remote.url, "http://127.0.0.1:3001/mcp");
  EXPECT_EQ(remote.headers.at("Authorization"), "Bearer t");
  EXPECT_TRUE(remote.enabled);
  EXPECT_TRUE(remote.optional);
  EXPECT_FALSE(files.optional);

  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_EQ(c.server.auth_token_env, "API_TOKEN");
  EXPECT_EQ(c.server.cors_origins, (std::vector<std::string>{"http://localhost:3000"}));
  EXPECT_EQ(c.server.max_body_bytes, 2048);
  EXPECT_EQ(c.server.github_secret_env, "GH");
  EXPECT_EQ(c.server.slack_secret_env, "SL");
  EXPECT_EQ(c.server.hmac_secret_env, "HM");
  EXPECT_EQ(c.server.dispatch_workers, 8);
  EXPECT_EQ(c.server.max_instances, 50);
  EXPECT_EQ(c.server.reply_url, "http://127.0.0.1:9/replies");
}

TEST(Config, EmptyFileGivesDefaults) {
  auto r = parse_config("", "/proj/cppflue.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Config& c = *r;
  EXPECT_EQ(c.agent.model, "");
  EXPECT_EQ(c.agent.harness, "native");
  EXPECT_EQ(c.agent.sandbox, "virtual");
  EXPECT_EQ(c.agent.max_turns, 50);
  EXPECT_EQ(c.agent.max_task_depth, 8);
  EXPECT_EQ(c.agent.typed_retries, 3);
  EXPECT_EQ(c.sandbox.timeout_seconds, 120);
  EXPECT_EQ(c.sandbox.isolation, "auto");
  EXPECT_TRUE(c.sandbox.protect_config);
  EXPECT_TRUE(c.sandbox.protected_paths.empty());
  EXPECT_TRUE(c.sandbox.allowed_env.empty());
  EXPECT_TRUE(c.secrets.empty());
  EXPECT_TRUE(c.providers.empty());
  EXPECT_TRUE(c.compaction.enabled);
  EXPECT_EQ(c.compaction.context_window_tokens, 128000);
  EXPECT_EQ(c.mcp.mode, "direct");
  EXPECT_EQ(c.mcp.search_limit, 10);
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 2024);
  EXPECT_EQ(c.server.max_body_bytes, 10485760);
  EXPECT_EQ(c.server.hmac_secret_env, "CPPFLUE_WEBHOOK_SECRET");
  EXPECT_EQ(c.server.dispatch_workers, 4);
  EXPECT_EQ(c.server.max_instances, 1024);
  EXPECT_TRUE(c.server.reply_url.empty());
}

TEST(Config, UnknownKeyNamesKeyAndKnownKeys) {
  Error e = parse_error("# comment\n\n[agent]\nmodle = \"x\"\n");
  EXPECT_EQ(e.message,
            "cppflue.toml:4:1: unknown key 'agent.modle'; did you mean 'model'? (known keys in "
            "[agent]: model, harness, "
            "sandbox, thinking_level, allow_write, allow_shell, allowed_commands, "
            "allow_compound_commands, max_turns, max_task_depth, typed_retries)");
  EXPECT_EQ(e.details.at("file"), "cppflue.toml");
  EXPECT_EQ(e.details.at("line"), 4);
  EXPECT_EQ(e.details.at("column"), 1);
  EXPECT_EQ(e.details.at("key"), "agent.modle");
}

TEST(Config, UnknownTopLevelTable) {
  Error e = parse_error("[agnet]\nmodel = \"x\"\n");
  EXPECT_EQ(e.message,
            "cppflue.toml:1:2: unknown table 'agnet'; did you mean 'agent'? (known top-level "
            "tables: agent, sandbox, "
            "secrets, providers, compaction, mcp, server, telemetry, pricing)");
  EXPECT_EQ(e.details.at("key"), "agnet");

  Error k = parse_error("model = \"x\"\n");
  EXPECT_EQ(k.message.rfind("cppflue.toml:1:1: unknown key 'model' (known top-level tables: ", 0),
            0u)
      << k.message;
}

TEST(Config, UnknownKeysInNestedTables) {
  Error e = parse_error("[mcp.servers.fs]\ncommand = \"x\"\ncwd = \"/\"\n");
  EXPECT_EQ(e.message,
            "cppflue.toml:3:1: unknown key 'mcp.servers.fs.cwd' (known keys in [mcp.servers.fs]: "
            "command, args, env, url, headers, enabled, optional)");
  Error p = parse_error("[providers.x]\napi_url = \"x\"\n");
  EXPECT_EQ(p.details.at("key"), "providers.x.api_url");
  Error s = parse_error("[secrets]\ngh = { env = \"A\", file = \"b\" }\n");
  EXPECT_EQ(s.details.at("key"), "secrets.gh.file");
  EXPECT_NE(s.message.find("known keys in [secrets.gh]: env, value"), std::string::npos)
      << s.message;
}

TEST(Config, WrongType) {
  Error e = parse_error("[agent]\nmodel = \"x\"\n\n\nmax_turns = \"ten\"\n");
  EXPECT_EQ(e.message, "cppflue.toml:5:13: agent.max_turns: expected integer, got string");
  EXPECT_EQ(e.details.at("key"), "agent.max_turns");
  EXPECT_EQ(e.details.at("line"), 5);
  EXPECT_EQ(e.details.at("column"), 13);

  EXPECT_EQ(parse_error("[agent]\nallow_write = 1\n").message,
            "cppflue.toml:2:15: agent.allow_write: expected boolean, got integer");
  EXPECT_EQ(parse_error("[agent]\nallowed_commands = [\"ls\", 3]\n").message,
            "cppflue.toml:2:27: agent.allowed_commands[1]: expected string, got integer");
  EXPECT_EQ(parse_error("[sandbox]\nenv = { A = 1.5 }\n").message,
            "cppflue.toml:2:13: sandbox.env.A: expected string, got float");
  EXPECT_EQ(parse_error("agent = 3\n").message,
            "cppflue.toml:1:9: agent: expected table, got integer");
  EXPECT_EQ(parse_error("[compaction]\nenabled = \"yes\"\n").details.at("key"),
            "compaction.enabled");
  EXPECT_EQ(parse_error("[sandbox]\nprotected = \"ci.yml\"\n").details.at("key"),
            "sandbox.protected");
  EXPECT_EQ(parse_error("[sandbox]\nprotect_config = \"no\"\n").details.at("key"),
            "sandbox.protect_config");
  EXPECT_EQ(parse_error("[sandbox]\nallowed_env = [1]\n").details.at("key"),
            "sandbox.allowed_env[0]");
}

TEST(Config, BadEnumValue) {
  Error e = parse_error("[agent]\nthinking_level = \"extreme\"\n");
  EXPECT_EQ(e.message,
            "cppflue.toml:2:18: agent.thinking_level: invalid value 'extreme' (allowed: off, "
            "minimal, low, medium, high, xhigh)");
  EXPECT_EQ(parse_error("[sandbox]\nisolation = \"docker\"\n").message,
            "cppflue.toml:2:13: sandbox.isolation: invalid value 'docker' (allowed: auto, jail, "
            "none)");
  EXPECT_EQ(parse_error("[providers.p]\napi = \"soap\"\n").message,
            "cppflue.toml:2:7: providers.p.api: invalid value 'soap' (allowed: openai-chat, "
            "openai-responses, anthropic, gemini)");
  EXPECT_EQ(parse_error("[mcp]\nmode = \"all\"\n").details.at("key"), "mcp.mode");
}

TEST(Config, OutOfRange) {
  Error e = parse_error("[server]\nport = 70000\n");
  EXPECT_EQ(e.message,
            "cppflue.toml:2:8: server.port: value 70000 out of range (allowed: 1..65535)");
  EXPECT_EQ(parse_error("[server]\nport = 0\n").details.at("key"), "server.port");
  EXPECT_EQ(parse_error("[server]\ndispatch_workers = 0\n").details.at("key"),
            "server.dispatch_workers");
  EXPECT_EQ(parse_error("[server]\nreply_url = 5\n").details.at("key"), "server.reply_url");
  EXPECT_EQ(parse_error("[server]\nmax_instances = 0\n").details.at("key"), "server.max_instances");
  EXPECT_EQ(parse_error("[agent]\nmax_turns = 0\n").message,
            "cppflue.toml:2:13: agent.max_turns: value 0 out of range (allowed: >= 1)");
  EXPECT_EQ(parse_error("[agent]\nmax_turns = 99999999999\n").details.at("key"), "agent.max_turns");
}

TEST(Config, StructuralRules) {
  EXPECT_EQ(parse_error("[secrets]\ngh = { env = \"A\", value = \"b\" }\n").message,
            "cppflue.toml:2:6: secrets.gh: expected exactly one of 'env' or 'value'");
  EXPECT_EQ(parse_error("[secrets]\ngh = {}\n").details.at("key"), "secrets.gh");
  EXPECT_EQ(parse_error("[secrets]\ngh = \"TOKEN\"\n").details.at("key"), "secrets.gh");
  Error both = parse_error("[mcp.servers.x]\ncommand = \"a\"\nurl = \"http://h\"\n");
  EXPECT_EQ(both.details.at("key"), "mcp.servers.x");
  EXPECT_NE(both.message.find("exactly one of 'command'"), std::string::npos) << both.message;
  EXPECT_EQ(parse_error("[mcp.servers.x]\nenabled = true\n").details.at("key"), "mcp.servers.x");
  EXPECT_EQ(parse_error("[providers.x]\napi_key = \"a\"\napi_key_env = \"B\"\n").details.at("key"),
            "providers.x");
}

TEST(Config, SyntaxError) {
  Error e = parse_error("[agent]\nmodel = \"x\"\nmax_turns = = 3\n");
  EXPECT_EQ(e.message.rfind("cppflue.toml:3:", 0), 0u) << e.message;
  EXPECT_NE(e.message.find(": TOML syntax error: "), std::string::npos) << e.message;
  EXPECT_EQ(e.details.at("line"), 3);
  EXPECT_TRUE(e.details.at("key").is_null());

  Error dup = parse_error("[agent]\n[agent]\n");
  EXPECT_NE(dup.message.find("TOML syntax error"), std::string::npos) << dup.message;
  for (const char* text :
       {"[agent]\nmodel = \"abc\n", "[agent]\nmodel = \"abc", "[agent]\nmodel = 'abc\r\n",
        "[agent]\nmodel = \"abc\nsandbox = \"x\"\n"}) {
    Error unterminated = parse_error(text);
    EXPECT_EQ(unterminated.message.rfind("cppflue.toml:2:", 0), 0u) << unterminated.message;
    EXPECT_NE(unterminated.message.find("unterminated string"), std::string::npos)
        << "toml++'s 'control characters' is not what the user did: " << unterminated.message;
  }
  Error control = parse_error("[agent]\nmodel = \"a\x01b\"\n");
  EXPECT_EQ(control.message.find("unterminated"), std::string::npos)
      << "a real control character keeps toml++'s message: " << control.message;
}

TEST(Config, GarbageNeverThrows) {
  const std::string inputs[] = {std::string("\0\0\xff", 3), "[[[",
                                "a = [1, \"x\"]",           "\xef\xbb\xbf[agent]\nmodel = 1",
                                "[agent.model]\n",          "[mcp]\nservers = 3\n"};
  for (const auto& in : inputs) {
    auto r = parse_config(in, "g.toml");
    ASSERT_FALSE(r.has_value()) << in;
    EXPECT_EQ(r.error().message.rfind("g.toml:", 0), 0u) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
}

TEST(Config, LoadFileSetsRootAndPath) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "[agent]\nmodel = \"m\"\n");
  auto r = load_config_file(dir.path() / "cppflue.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->agent.model, "m");
  EXPECT_EQ(r->root, dir.path());
  EXPECT_EQ(r->config_path, dir.path() / "cppflue.toml");
}

TEST(Config, LoadFifoOrDirectoryFailsAtOnce) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir.path() / "fifo.toml").c_str(), 0644), 0);
  auto r = load_config_file(dir.path() / "fifo.toml");  // would block forever with ifstream
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos) << r.error().message;
  EXPECT_FALSE(load_config_file(dir.path()).has_value());
}

TEST(Config, LoadMissingFileNamesIt) {
  TempDir dir;
  auto r = load_config_file(dir.path() / "nope.toml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::config_error);
  EXPECT_NE(r.error().message.find((dir.path() / "nope.toml").string()), std::string::npos);
}

TEST(Config, DiscoverWalksUpParents) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "[agent]\nmax_turns = 7\n");
  std::filesystem::create_directories(dir.path() / "a" / "b" / "c");
  auto r = discover_config({}, dir.path() / "a" / "b" / "c");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->agent.max_turns, 7);
  EXPECT_EQ(r->root, dir.path());
  EXPECT_EQ(r->config_path, dir.path() / "cppflue.toml");

  // The nearest file wins.
  write_file(dir.path() / "a" / "cppflue.toml", "[agent]\nmax_turns = 9\n");
  auto nearer = discover_config({}, dir.path() / "a" / "b" / "c" / "");
  ASSERT_TRUE(nearer.has_value()) << nearer.error().message;
  EXPECT_EQ(nearer->agent.max_turns, 9);
  EXPECT_EQ(nearer->root, dir.path() / "a");
}

TEST(Config, DiscoverErrorsNameTheFoundFile) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "[agent]\nmax_turns = \"x\"\n");
  auto here = discover_config({}, dir.path());
  ASSERT_FALSE(here.has_value());
  EXPECT_EQ(here.error().message.rfind("cppflue.toml:2:13: ", 0), 0u) << here.error().message;
  std::filesystem::create_directories(dir.path() / "sub");
  auto below = discover_config({}, dir.path() / "sub");
  ASSERT_FALSE(below.has_value());
  EXPECT_EQ(below.error().message.rfind((dir.path() / "cppflue.toml").string() + ":2:13: ", 0), 0u)
      << below.error().message;
}

TEST(Config, DiscoverWithoutFileGivesDefaultsAtCwd) {
  TempDir dir;
  auto r = discover_config({}, dir.path());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  // Only meaningful when no cppflue.toml exists above the temp dir, which is the normal case.
  if (r->config_path.empty()) {
    EXPECT_EQ(r->root, dir.path());
    EXPECT_EQ(r->agent.max_turns, 50);
  }
}

TEST(Config, DiscoverExplicitPath) {
  TempDir dir;
  write_file(dir.path() / "conf" / "my.toml", "[server]\nport = 9000\n");
  auto rel = discover_config("conf/my.toml", dir.path());
  ASSERT_TRUE(rel.has_value()) << rel.error().message;
  EXPECT_EQ(rel->server.port, 9000);
  EXPECT_EQ(rel->root, dir.path() / "conf");

  auto missing = discover_config("conf/other.toml", dir.path());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().type, ErrorType::config_error);
  EXPECT_EQ(missing.error().message, "config file not found: conf/other.toml");
  EXPECT_EQ(missing.error().details.at("file"), "conf/other.toml");

  // An explicit path never falls back to discovery, even when a cppflue.toml is present.
  write_file(dir.path() / "cppflue.toml", "");
  EXPECT_FALSE(discover_config(dir.path() / "absent.toml", dir.path()).has_value());
}

TEST(Config, EnvDefaultsApplyOnlyToDefaults) {
  ScopedEnv model("CPPFLUE_MODEL", "anthropic:claude");
  ScopedEnv turns("CPPFLUE_MAX_TURNS", "17");

  Config defaults;
  apply_env_defaults(defaults);
  EXPECT_EQ(defaults.agent.model, "anthropic:claude");
  EXPECT_EQ(defaults.agent.max_turns, 17);

  auto r = parse_config("[agent]\nmodel = \"openai:x\"\nmax_turns = 5\n", "cppflue.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  apply_env_defaults(*r);
  EXPECT_EQ(r->agent.model, "openai:x");
  EXPECT_EQ(r->agent.max_turns, 5);
}

TEST(Config, EnvInvalidMaxTurnsIsIgnored) {
  ScopedEnv model("CPPFLUE_MODEL", nullptr);
  for (const char* bad : {"abc", "12x", "-3", "0", "", "99999999999999999999"}) {
    ScopedEnv turns("CPPFLUE_MAX_TURNS", bad);
    Config c;
    apply_env_defaults(c);
    EXPECT_EQ(c.agent.max_turns, 50) << bad;
    EXPECT_EQ(c.agent.model, "");
  }
}

// CPPFLUE_STATE_DIR moves the state folder (a deployment's volume); unset, it is <root>/.cppflue.
TEST(Config, StateDirFromTheEnvironment) {
  TempDir dir;
  write_file(dir.path() / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n");
  ::unsetenv("CPPFLUE_STATE_DIR");
  auto plain = discover_config({}, dir.path());
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->state_dir(), plain->root / ".cppflue");
  ::setenv("CPPFLUE_STATE_DIR", "/var/lib/agents/./state", 1);
  auto absolute = discover_config({}, dir.path());
  auto loaded = load_config_file(dir.path() / "cppflue.toml");
  ::setenv("CPPFLUE_STATE_DIR", "data/state", 1);
  auto relative = discover_config({}, dir.path());
  ::setenv("CPPFLUE_STATE_DIR", "", 1);
  auto empty = discover_config({}, dir.path());
  // A state folder holding the project (or the agents' workspace) would be theirs to read.
  std::vector<std::string> refused;
  for (const char* holds : {".", "..", "/", "./"}) {
    ::setenv("CPPFLUE_STATE_DIR", holds, 1);
    auto r = discover_config({}, dir.path());
    if (!r && r.error().message.find("holds the project") != std::string::npos) {
      refused.emplace_back(holds);
    }
  }
  ::unsetenv("CPPFLUE_STATE_DIR");
  ASSERT_TRUE(absolute && loaded && relative && empty);
  EXPECT_EQ(absolute->state_dir(), std::filesystem::path("/var/lib/agents/state"));
  EXPECT_EQ(loaded->state_dir(), std::filesystem::path("/var/lib/agents/state"));
  EXPECT_EQ(relative->state_dir(), relative->root / "data/state");
  EXPECT_EQ(empty->state_dir(), empty->root / ".cppflue");
  EXPECT_EQ(refused.size(), 4u);
}

}  // namespace
}  // namespace cppflue
