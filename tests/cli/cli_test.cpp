// SPDX-License-Identifier: Apache-2.0
// Black-box tests of the real `cppflue` binary: each test runs it as a child process in a fresh
// temporary project directory (with a cppflue.toml written by the test), with the provider keys
// removed from its environment, output captured through pipes and a per-process timeout.
// Real providers are replaced by the scripted fake provider on 127.0.0.1.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

extern char** environ;

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using cppflue::testing::contains;
using cppflue::testing::FakeProvider;
using cppflue::testing::FakeReply;
using cppflue::testing::lines_of;
using cppflue::testing::TempDir;
using cppflue::testing::text_turn;
using cppflue::testing::write_file;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The usage every text turn of the fake provider reports.
constexpr Usage kTurnUsage{.input = 20, .output = 5};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Variables that would make the child talk to a real provider, pick another model, or go
// through a proxy instead of straight to 127.0.0.1.
bool scrubbed(std::string_view name) {
  static const char* const kNames[] = {
      "OPENAI_API_KEY",    "ANTHROPIC_API_KEY",  "GEMINI_API_KEY",
      "GOOGLE_API_KEY",    "OPENROUTER_API_KEY", "GROQ_API_KEY",
      "DEEPSEEK_API_KEY",  "MISTRAL_API_KEY",    "XAI_API_KEY",
      "TOGETHER_API_KEY",  "FIREWORKS_API_KEY",  "CEREBRAS_API_KEY",
      "VLLM_API_KEY",      "OPENAI_BASE_URL",    "ANTHROPIC_BASE_URL",
      "GEMINI_BASE_URL",   "OLLAMA_BASE_URL",    "VLLM_BASE_URL",
      "LMSTUDIO_BASE_URL", "http_proxy",         "https_proxy",
      "HTTP_PROXY",        "HTTPS_PROXY",        "all_proxy",
      "ALL_PROXY",         "no_proxy",           "NO_PROXY"};
  if (name.rfind("CPPFLUE_", 0) == 0) return true;  // CPPFLUE_MODEL, CPPFLUE_LOG, ...
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

struct ProcResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
  std::int64_t elapsed_ms = 0;

  std::string describe() const {
    std::string how = timed_out     ? "timed out"
                      : term_signal ? fmt::format("killed by signal {}", term_signal)
                                    : fmt::format("exit {}", exit_code);
    return fmt::format("[{}]\n--- stdout ---\n{}\n--- stderr ---\n{}", how, out, err);
  }
};

// One running `cppflue` process.
class Child {
 public:
  Child(const std::vector<std::string>& args, const fs::path& cwd,
        const std::map<std::string, std::string>& extra_env = {},
        const std::optional<std::string>& stdin_text = std::nullopt) {
    std::vector<std::string> argv_store{CPPFLUE_BINARY};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) {
      std::string kv(*e);
      std::string name = kv.substr(0, kv.find('='));
      if (!scrubbed(name) && !extra_env.count(name)) env_store.push_back(kv);
    }
    for (const auto& [k, v] : extra_env) env_store.push_back(k + "=" + v);
    std::vector<char*> argv, envp;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string dir = cwd.string();

    int out_pipe[2], err_pipe[2], in_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
        pipe2(in_pipe, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    start_ = Clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      // Child: only async-signal-safe calls until exec.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      signal(SIGINT, SIG_DFL);
      signal(SIGPIPE, SIG_DFL);
      if (stdin_text) {
        dup2(in_pipe[0], 0);
      } else {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
      }
      dup2(out_pipe[1], 1);
      dup2(err_pipe[1], 2);
      if (chdir(dir.c_str()) != 0) _exit(126);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    close(in_pipe[0]);
    if (stdin_text && pid_ > 0) {
      // A child that exits early must not kill this process with SIGPIPE (the child itself
      // gets the default disposition back before exec).
      static const bool sigpipe_ignored = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
      (void)sigpipe_ignored;
      // Small inputs only (they must fit in the pipe buffer); EOF follows.
      ssize_t ignored = write(in_pipe[1], stdin_text->data(), stdin_text->size());
      (void)ignored;
    }
    close(in_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
  }

  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads output until `done(stdout so far)` holds; false on timeout or end of output.
  bool wait_for_stdout(const std::function<bool(const std::string&)>& done, milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (!done(result_.out)) {
      if (Clock::now() >= deadline || (out_fd_ < 0 && err_fd_ < 0)) return false;
      pump(deadline);
    }
    return true;
  }

  void send_signal(int sig) {
    if (pid_ > 0 && !reaped_) kill(pid_, sig);
  }

  // Reads everything and waits for the exit; kills the process after `limit`.
  ProcResult finish(milliseconds limit = milliseconds(15000)) {
    auto deadline = Clock::now() + limit;
    while ((out_fd_ >= 0 || err_fd_ >= 0) && Clock::now() < deadline) pump(deadline);
    int status = 0;
    while (pid_ > 0 && !reaped_) {
      pid_t w = waitpid(pid_, &status, WNOHANG);
      if (w == pid_) {
        reaped_ = true;
        break;
      }
      if (Clock::now() >= deadline) {
        result_.timed_out = true;
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        reaped_ = true;
        break;
      }
      usleep(2000);
    }
    result_.elapsed_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start_).count();
    if (!result_.timed_out) {
      if (WIFEXITED(status)) result_.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) result_.term_signal = WTERMSIG(status);
    }
    return result_;
  }

 private:
  void pump(Clock::time_point deadline) {
    pollfd fds[2];
    int n = 0;
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (n == 0) return;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    int rc = poll(fds, n, static_cast<int>(std::clamp<std::int64_t>(left, 0, 50)));
    if (rc <= 0) return;
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      bool is_out = fds[i].fd == out_fd_;
      if (got > 0) {
        (is_out ? result_.out : result_.err).append(buf, static_cast<std::size_t>(got));
      } else {
        close(fds[i].fd);
        (is_out ? out_fd_ : err_fd_) = -1;
      }
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  Clock::time_point start_;
  ProcResult result_;
};

class CliTest : public ::testing::Test {
 protected:
  ProcResult run(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {},
                 milliseconds limit = milliseconds(15000),
                 const std::optional<std::string>& stdin_text = std::nullopt) {
    Child child(args, dir_.path(), env, stdin_text);
    return child.finish(limit);
  }

  void write_config(const std::string& toml) { write_file(dir_.path() / "cppflue.toml", toml); }

  // A project whose `mine` provider is the fake (OpenAI Chat Completions).
  void use_fake_provider(const std::string& extra = "") {
    write_config(fmt::format(R"([providers.mine]
api = "openai-chat"
base_url = "{}/v1"
api_key_env = "CPPFLUE_TEST_MINE_KEY"
headers = {{ "X-Team" = "alpha", "X-Trace" = "t-1" }}
{})",
                             fake_.base_url(), extra));
  }
  std::map<std::string, std::string> fake_env() const {
    return {{"CPPFLUE_TEST_MINE_KEY", "secret-from-env"}};
  }

  static json parse_or_fail(const std::string& text) {
    auto j = parse_json(text);
    EXPECT_TRUE(j.has_value()) << "not JSON: " << text;
    return j ? *j : json(nullptr);
  }

  // Messages of a recorded Chat Completions request as (role, content text) pairs.
  static std::vector<std::pair<std::string, std::string>> chat_messages(const json& body) {
    std::vector<std::pair<std::string, std::string>> out;
    const json* msgs = find(body, "messages");
    if (!msgs || !msgs->is_array()) return out;
    for (const auto& m : msgs->get_array()) {
      std::string content;
      if (const json* c = find(m, "content")) {
        if (c->is_string()) {
          content = std::string(c->get_string());
        } else if (c->is_array()) {
          for (const auto& part : c->get_array()) content += get_string_or(part, "text", "");
        }
      }
      out.emplace_back(get_string_or(m, "role", ""), content);
    }
    return out;
  }

  TempDir dir_;
  FakeProvider fake_;
};

// ---- version and help ----

TEST_F(CliTest, VersionPrintsTheVersion) {
  auto r = run({"--version"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(trim(r.out), "cppflue 0.1.0") << r.describe();
}

// libcurl is opened at the first HTTP request, not linked: a command that sends none never
// loads it, and a library that is not libcurl is an error naming it and the package, not a crash.
TEST_F(CliTest, LibcurlIsLoadedOnlyForRequestsAndAWrongOneIsReported) {
  auto fake = cppflue::testing::unusable_library_dir(dir_.path(), "libcurl.so.4");
  if (fake.empty()) GTEST_SKIP() << "no libz.so.1 to stand in for libcurl";
  auto env = fake_env();
  env["LD_LIBRARY_PATH"] = fake.string();
  // No request: works, whatever libcurl.so.4 is.
  auto offline = run({"run", "-m", "test:echo", "-p", "hi"}, env);
  EXPECT_EQ(offline.exit_code, 0) << offline.describe();
  use_fake_provider();
  auto r = run({"run", "-m", "mine:m", "-p", "hi"}, env);
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "libcurl.so.4 is not a usable libcurl")) << r.describe();
  EXPECT_TRUE(contains(r.err, "libcurl4")) << r.describe();
}

TEST_F(CliTest, HelpExitsZeroEverywhere) {
  auto top = run({"--help"});
  ASSERT_EQ(top.exit_code, 0) << top.describe();
  for (const char* cmd :
       {"run", "chat", "sessions", "doctor", "serve", "dev", "routes", "invoke", "logs"}) {
    EXPECT_TRUE(contains(top.out, cmd)) << cmd << " missing from --help:\n" << top.out;
  }
  auto run_help = run({"run", "--help"});
  ASSERT_EQ(run_help.exit_code, 0) << run_help.describe();
  EXPECT_TRUE(contains(run_help.out, "--prompt")) << run_help.out;
  EXPECT_TRUE(contains(run_help.out, "--stream")) << run_help.out;
  EXPECT_TRUE(contains(run_help.out, "130")) << "exit codes are documented: " << run_help.out;
  for (const char* cmd :
       {"chat", "sessions", "doctor", "serve", "dev", "routes", "invoke", "logs"}) {
    auto h = run({cmd, "--help"});
    EXPECT_EQ(h.exit_code, 0) << cmd << h.describe();
  }
}

TEST_F(CliTest, UsageErrorsFailWithAMessageOnStderr) {
  // Errors exit 1, usage errors included (docs/reference/cli.md).
  auto none = run({});
  EXPECT_EQ(none.exit_code, 1) << none.describe();
  EXPECT_FALSE(none.err.empty()) << none.describe();

  auto no_prompt = run({"run"});
  EXPECT_EQ(no_prompt.exit_code, 1) << no_prompt.describe();
  EXPECT_TRUE(contains(no_prompt.err, "prompt")) << no_prompt.describe();

  auto bogus = run({"run", "-p", "x", "--no-such-flag"});
  EXPECT_EQ(bogus.exit_code, 1) << bogus.describe();
  EXPECT_TRUE(contains(bogus.err, "no-such-flag")) << bogus.describe();

  auto empty = run({"run", "-p", "   "});
  EXPECT_EQ(empty.exit_code, 1) << empty.describe();
  EXPECT_TRUE(contains(empty.err, "cppflue: error:")) << empty.describe();
  EXPECT_TRUE(empty.out.empty()) << empty.describe();
}

// ---- run with the offline model ----

TEST_F(CliTest, RunWithoutKeysUsesTheOfflineModel) {
  auto r = run({"run", "-p", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "[offline test model]")) << r.describe();
  EXPECT_TRUE(contains(r.out, "hi")) << r.describe();
  EXPECT_TRUE(contains(r.err, "offline test model")) << "the user is told: " << r.describe();
  EXPECT_TRUE(fs::exists(dir_.path() / ".cppflue" / "state.db"))
      << "the session store lives in the project";
}

TEST_F(CliTest, RunReadsThePromptFromStdinWithDash) {
  // stdin is /dev/null here: an empty prompt is an error, not a hang.
  auto r = run({"run", "-p", "-"}, {}, milliseconds(5000));
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
}

TEST_F(CliTest, RunReadsThePromptFromStdin) {
  auto r = run({"run", "-m", "test:echo", "-p", "-"}, {}, milliseconds(15000),
               std::string("piped prompt"));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "You said: piped prompt")) << r.describe();
}

TEST_F(CliTest, JsonPrintsExactlyOneObject) {
  auto r = run({"run", "--json", "-s", "js", "-m", "test:echo", "-p", "json please"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  json j = parse_or_fail(trim(r.out));
  ASSERT_TRUE(j.is_object()) << r.describe();
  const auto& o = j.get_object();
  EXPECT_EQ(o.size(), 4u) << r.out;
  for (const char* key : {"text", "usage", "model", "session_id"}) {
    EXPECT_TRUE(o.contains(key)) << key << " missing: " << r.out;
  }
  EXPECT_EQ(get_string_or(j, "text", ""), "[offline test model] You said: json please");
  EXPECT_EQ(get_string_or(j, "session_id", ""), "js");
  EXPECT_TRUE(contains(get_string_or(j, "model", ""), "test")) << r.out;
  ASSERT_TRUE(o.at("usage").is_object());
  EXPECT_GT(get_int(o.at("usage"), "output").value_or(0), 0) << r.out;
}

TEST_F(CliTest, StreamPrintsOneEventPerLine) {
  auto r = run({"run", "--stream", "-s", "streamed", "-m", "test:echo", "-p", "stream me"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 3u) << r.describe();
  std::vector<std::string> types;
  std::string text;
  for (const auto& line : lines) {
    json e = parse_or_fail(line);
    ASSERT_TRUE(e.is_object()) << line;
    auto type = get_string(e, "type");
    ASSERT_TRUE(type.has_value()) << "no type: " << line;
    EXPECT_EQ(get_string_or(e, "session_id", ""), "streamed") << line;
    EXPECT_TRUE(get_string(e, "timestamp").has_value()) << line;
    types.push_back(*type);
    if (*type == "text_delta") text += get_string_or(e, "text", "");
  }
  EXPECT_EQ(types.front(), "operation_start");
  EXPECT_EQ(types.back(), "operation");
  EXPECT_NE(std::find(types.begin(), types.end(), "turn"), types.end());
  EXPECT_EQ(text, "[offline test model] You said: stream me");
  json last = parse_or_fail(lines.back());
  EXPECT_EQ(get_bool(last, "is_error"), false);
}

// ---- errors ----

TEST_F(CliTest, UnknownProviderListsTheKnownOnes) {
  auto r = run({"run", "-m", "nope:x", "-p", "hi"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  std::string err = trim(r.err);
  EXPECT_EQ(err.rfind("cppflue: error:", 0), 0u) << r.describe();
  EXPECT_FALSE(contains(err, "\n")) << "one line: " << r.describe();
  for (const char* p : {"nope", "openai", "anthropic", "google", "ollama", "test"}) {
    EXPECT_TRUE(contains(err, p)) << p << " missing: " << r.describe();
  }
  EXPECT_TRUE(r.out.empty()) << r.describe();

  // With --json the error is one JSON object on stdout (and the line on stderr stays).
  auto as_json = run({"run", "--json", "-m", "nope:x", "-p", "hi"});
  EXPECT_EQ(as_json.exit_code, 1) << as_json.describe();
  ASSERT_EQ(lines_of(as_json.out).size(), 1u) << as_json.describe();
  json error = parse_or_fail(trim(as_json.out));
  const json* inner = find(error, "error");
  ASSERT_TRUE(inner != nullptr && inner->is_object()) << as_json.describe();
  EXPECT_EQ(get_string_or(*inner, "type", ""), "invalid_input") << as_json.describe();
  EXPECT_TRUE(contains(get_string_or(*inner, "message", ""), "unknown provider 'nope'"))
      << as_json.describe();
  EXPECT_TRUE(contains(as_json.err, "nope")) << as_json.describe();
}

TEST_F(CliTest, MissingKeyForAConfiguredProviderIsAnError) {
  auto r = run({"run", "-m", "openai:gpt-5.5", "-p", "hi"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "OPENAI_API_KEY")) << r.describe();
}

struct BadConfig {
  const char* name;
  const char* toml;
  std::vector<const char*> mentions;  // besides the file name
};

TEST_F(CliTest, BadConfigIsAOneLineErrorNamingFileAndKey) {
  const BadConfig cases[] = {
      {"unknown key", "[agent]\nmodle = \"test:demo\"\n", {"modle"}},
      {"unknown table", "[agnet]\nmodel = \"test:demo\"\n", {"agnet"}},
      {"wrong type", "[agent]\nmax_turns = \"ten\"\n", {"max_turns"}},
      {"wrong type in provider", "[providers.mine]\nbase_url = 5\n", {"base_url"}},
      {"syntax error", "[agent]\nmodel = \"test:demo\nharness = \"native\"\n", {"2"}},
      {"unclosed table", "[agent\nmodel = \"x\"\n", {"1"}},
  };
  for (const auto& c : cases) {
    write_config(c.toml);
    for (std::vector<std::string> args : {std::vector<std::string>{"run", "-p", "hi"},
                                          std::vector<std::string>{"sessions", "list"}}) {
      auto r = run(args);
      EXPECT_EQ(r.exit_code, 1) << c.name << " / " << args[0] << r.describe();
      std::string err = trim(r.err);
      EXPECT_EQ(err.rfind("cppflue: error:", 0), 0u) << c.name << r.describe();
      EXPECT_FALSE(contains(err, "\n")) << c.name << ": one line please" << r.describe();
      EXPECT_TRUE(contains(err, "cppflue.toml")) << c.name << r.describe();
      for (const char* m : c.mentions) {
        EXPECT_TRUE(contains(err, m)) << c.name << ": '" << m << "' missing" << r.describe();
      }
    }
  }
}

TEST_F(CliTest, ExplicitConfigThatDoesNotExistIsAnError) {
  auto r = run({"run", "--config", "missing.toml", "-p", "hi"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "missing.toml")) << r.describe();
}

// ---- a custom provider ----

TEST_F(CliTest, CustomProviderReceivesAuthAndCustomHeaders) {
  use_fake_provider();
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("Hello from the fake provider.", kTurnUsage),
                     true);
  auto r = run({"run", "-m", "mine:my-model", "-p", "hello there"}, fake_env());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(trim(r.out), "Hello from the fake provider.") << r.describe();
  EXPECT_FALSE(contains(r.err, "offline")) << r.describe();

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& req = reqs[0];
  EXPECT_EQ(req.target, "/v1/chat/completions");
  EXPECT_EQ(req.header("authorization"), "Bearer secret-from-env");
  EXPECT_EQ(req.header("x-team"), "alpha");
  EXPECT_EQ(req.header("x-trace"), "t-1");
  EXPECT_EQ(get_string_or(req.json_body, "model", ""), "my-model");
  EXPECT_EQ(get_bool(req.json_body, "stream"), true) << "run calls the provider streaming";
  auto msgs = chat_messages(req.json_body);
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(msgs.back(), (std::pair<std::string, std::string>{"user", "hello there"}));
}

TEST_F(CliTest, ModelFromTheConfigFileIsUsed) {
  use_fake_provider("\n[agent]\nmodel = \"mine:configured\"\n");
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("configured answer", kTurnUsage), true);
  auto r = run({"run", "-p", "hi"}, fake_env());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "configured answer")) << r.describe();
  ASSERT_EQ(fake_.request_count(), 1u);
  EXPECT_EQ(get_string_or(fake_.requests()[0].json_body, "model", ""), "configured");
}

TEST_F(CliTest, ProviderErrorIsReportedWithItsStatusAndMessage) {
  use_fake_provider();
  fake_.enqueue_error(WireApi::openai_chat, 400, "unsupported parameter: temperature");
  auto r = run({"run", "-m", "mine:m", "-p", "hi"}, fake_env());
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "400")) << r.describe();
  EXPECT_TRUE(contains(r.err, "unsupported parameter: temperature")) << r.describe();
  EXPECT_EQ(fake_.request_count(), 1u) << "a 400 is not retried";
}

TEST_F(CliTest, SecondProcessSeesTheFirstExchangeAsStructuredMessages) {
  use_fake_provider();
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("First answer.", kTurnUsage), true);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("Second answer.", kTurnUsage), true);
  auto first = run({"run", "-s", "S", "-m", "mine:m", "-p", "first"}, fake_env());
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  auto second = run({"run", "-s", "S", "-m", "mine:m", "-p", "second"}, fake_env());
  ASSERT_EQ(second.exit_code, 0) << second.describe();
  EXPECT_TRUE(contains(second.out, "Second answer.")) << second.describe();

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto msgs = chat_messages(reqs[1].json_body);
  std::vector<std::pair<std::string, std::string>> convo;
  for (const auto& m : msgs) {
    if (m.first != "system") convo.push_back(m);
  }
  std::vector<std::pair<std::string, std::string>> expected{
      {"user", "first"}, {"assistant", "First answer."}, {"user", "second"}};
  EXPECT_EQ(convo, expected) << reqs[1].body;

  // Another session does not see that history.
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("Other.", kTurnUsage), true);
  auto other = run({"run", "-s", "T", "-m", "mine:m", "-p", "alone"}, fake_env());
  ASSERT_EQ(other.exit_code, 0) << other.describe();
  auto other_msgs = chat_messages(fake_.requests().back().json_body);
  for (const auto& m : other_msgs) EXPECT_NE(m.second, "first") << "history leaked across sessions";
}

// ---- a scripted tool-using run ----

TEST_F(CliTest, ScriptedToolCallToAMissingToolIsAnErrorResultAndTheRunSucceeds) {
  auto script = dir_.path() / "tool-script.json";
  write_file(script, R"({"turns": [
    {"text": "Calling a tool.", "tool_calls": [{"name": "no_such_tool", "arguments": {"x": 1}}]},
    {"text": "The tool said: {{tool_result}}"}
  ]})");
  auto r = run({"run", "-s", "tools", "-m", "test:" + script.string(), "-p", "go"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "Calling a tool.")) << r.describe();
  EXPECT_TRUE(contains(r.out, "The tool said:")) << r.describe();
  EXPECT_TRUE(contains(r.out, "no_such_tool"))
      << "the model saw the error result: " << r.describe();
  EXPECT_TRUE(contains(r.err, "no_such_tool")) << r.describe();

  auto show = run({"sessions", "show", "tools", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.describe();
  json j = parse_or_fail(trim(show.out));
  const json* entries = find(j, "entries");
  ASSERT_TRUE(entries && entries->is_array()) << show.out;
  bool saw_error_result = false;
  std::vector<std::string> roles;
  for (const auto& e : entries->get_array()) {
    roles.push_back(get_string_or(e, "role", get_string_or(e, "kind", "")));
    const json* content = find(e, "content");
    if (content && get_string_or(*content, "role", "") == "tool") {
      EXPECT_EQ(get_string_or(*content, "tool_name", ""), "no_such_tool") << dump(*content);
      saw_error_result = get_bool(*content, "is_error") == true;
    }
  }
  EXPECT_TRUE(saw_error_result) << "an is_error tool result is stored: " << show.out;
  EXPECT_EQ(roles, (std::vector<std::string>{"user", "assistant", "tool", "assistant"}))
      << show.out;
}

TEST_F(CliTest, BrokenScriptFileIsAnError) {
  auto script = dir_.path() / "broken.json";
  write_file(script, R"({"turns": [{"text": "x", "unexpected": 1}]})");
  auto r = run({"run", "-m", "test:" + script.string(), "-p", "go"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "unexpected")) << r.describe();
}

// ---- sessions ----

TEST_F(CliTest, SessionsListShowRm) {
  auto empty = run({"sessions", "list"});
  ASSERT_EQ(empty.exit_code, 0) << empty.describe();
  EXPECT_TRUE(contains(empty.out, "no sessions")) << empty.describe();
  auto empty_json = run({"sessions", "list", "--json"});
  ASSERT_EQ(empty_json.exit_code, 0) << empty_json.describe();
  EXPECT_EQ(trim(empty_json.out), "[]");

  auto missing_before = run({"sessions", "show", "mysess"});
  EXPECT_EQ(missing_before.exit_code, 1) << missing_before.describe();

  ASSERT_EQ(run({"run", "-s", "mysess", "-m", "test:echo", "-p", "remember me"}).exit_code, 0);
  ASSERT_EQ(run({"run", "-s", "other", "-m", "test:echo", "-p", "x"}).exit_code, 0);

  auto list = run({"sessions", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.describe();
  EXPECT_TRUE(contains(list.out, "mysess")) << list.describe();
  EXPECT_TRUE(contains(list.out, "other")) << list.describe();

  auto list_json = run({"sessions", "list", "--json"});
  ASSERT_EQ(list_json.exit_code, 0) << list_json.describe();
  json arr = parse_or_fail(trim(list_json.out));
  ASSERT_TRUE(arr.is_array()) << list_json.out;
  EXPECT_EQ(arr.get_array().size(), 2u) << list_json.out;

  auto show = run({"sessions", "show", "mysess"});
  ASSERT_EQ(show.exit_code, 0) << show.describe();
  EXPECT_TRUE(contains(show.out, "user: remember me")) << show.describe();
  EXPECT_TRUE(contains(show.out, "assistant: [offline test model] You said: remember me"))
      << show.describe();

  // Pages: --limit N entries after --after SEQ; the last line says where the next one starts.
  ASSERT_EQ(run({"run", "-s", "mysess", "-m", "test:echo", "-p", "second"}).exit_code, 0);
  auto page = run({"sessions", "show", "mysess", "--limit", "2"});
  ASSERT_EQ(page.exit_code, 0) << page.describe();
  EXPECT_TRUE(contains(page.out, "   1  user: remember me")) << page.describe();
  EXPECT_FALSE(contains(page.out, "   3  ")) << page.describe();
  EXPECT_TRUE(contains(page.out, "more: cppflue sessions show mysess --after 2"))
      << page.describe();
  EXPECT_FALSE(contains(page.out, "total:")) << page.describe();
  auto last = run({"sessions", "show", "mysess", "--after", "2", "--limit", "2"});
  ASSERT_EQ(last.exit_code, 0) << last.describe();
  EXPECT_TRUE(contains(last.out, "   3  user: second")) << last.describe();
  EXPECT_FALSE(contains(last.out, "more:")) << last.describe();
  auto page_json = run({"sessions", "show", "mysess", "--json", "--limit", "3"});
  ASSERT_EQ(page_json.exit_code, 0) << page_json.describe();
  json pj = parse_or_fail(trim(page_json.out));
  ASSERT_TRUE(pj.is_object()) << page_json.out;
  EXPECT_EQ(pj.at("entries").as_array().size(), 3u);
  EXPECT_EQ(pj.at("next_after"), 3);
  EXPECT_FALSE(pj.as_object().contains("turns")) << "totals are for the whole history";
  auto whole_json = run({"sessions", "show", "mysess", "--json"});
  json wj = parse_or_fail(trim(whole_json.out));
  ASSERT_TRUE(wj.is_object()) << whole_json.out;
  EXPECT_EQ(wj.at("entries").as_array().size(), 4u);
  EXPECT_EQ(wj.at("turns"), 2);
  EXPECT_FALSE(wj.as_object().contains("next_after"));
  for (const char* bad : {"-1", "x"}) {
    auto r = run({"sessions", "show", "mysess", "--after", bad});
    EXPECT_NE(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "--after")) << r.describe();
  }

  auto no_id = run({"sessions", "show"});
  EXPECT_EQ(no_id.exit_code, 1) << no_id.describe();
  EXPECT_TRUE(contains(no_id.err, "session id")) << no_id.describe();

  auto bad_action = run({"sessions", "frobnicate"});
  EXPECT_NE(bad_action.exit_code, 0) << bad_action.describe();

  auto rm = run({"sessions", "rm", "mysess"});
  ASSERT_EQ(rm.exit_code, 0) << rm.describe();
  auto gone = run({"sessions", "show", "mysess"});
  EXPECT_EQ(gone.exit_code, 1) << gone.describe();
  EXPECT_TRUE(contains(gone.err, "mysess")) << gone.describe();
  auto rm_again = run({"sessions", "rm", "mysess"});
  EXPECT_EQ(rm_again.exit_code, 1) << rm_again.describe();
  auto still = run({"sessions", "show", "other"});
  EXPECT_EQ(still.exit_code, 0) << "rm deleted only its session: " << still.describe();
}

// ---- chat ----

TEST_F(CliTest, ChatAnswersEachLineUntilExit) {
  auto r = run({"chat", "-s", "talk", "-m", "test:echo"}, {}, milliseconds(15000),
               std::string("first line\n\n   \nsecond line\n/exit\nnever sent\n"));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "You said: first line")) << r.describe();
  EXPECT_TRUE(contains(r.out, "You said: second line")) << r.describe();
  EXPECT_FALSE(contains(r.out, "never sent")) << "/exit stops the chat: " << r.describe();

  auto show = run({"sessions", "show", "talk", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.describe();
  json j = parse_or_fail(trim(show.out));
  const json* entries = find(j, "entries");
  ASSERT_TRUE(entries && entries->is_array()) << show.out;
  EXPECT_EQ(entries->get_array().size(), 4u) << "blank lines are not prompts: " << show.out;
}

TEST_F(CliTest, ChatEndsAtEndOfInput) {
  auto r = run({"chat", "-m", "test:echo"}, {}, milliseconds(15000), std::string("only line\n"));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "You said: only line")) << r.describe();
}

TEST_F(CliTest, ChatWithAnUnknownProviderFails) {
  auto r = run({"chat", "-m", "nope:x"}, {}, milliseconds(15000), std::string("hi\n"));
  EXPECT_EQ(r.exit_code, 1) << "an unknown provider fails before the loop: " << r.describe();
  EXPECT_TRUE(contains(r.err, "nope")) << r.describe();
}

// ---- doctor ----

TEST_F(CliTest, DoctorReportsTheStorePath) {
  auto r = run({"doctor"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  auto db = (dir_.path() / ".cppflue" / "state.db").string();
  EXPECT_TRUE(contains(r.out, db)) << r.describe();
  EXPECT_TRUE(contains(r.out, "0.1.0")) << r.describe();
  EXPECT_TRUE(contains(r.out, "test:demo")) << "no key → the offline model: " << r.describe();

  auto j = run({"doctor", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.describe();
  json report = parse_or_fail(trim(j.out));
  EXPECT_EQ(get_bool(report, "ok"), true) << j.out;
  const json* store = find(report, "store");
  ASSERT_NE(store, nullptr) << j.out;
  EXPECT_EQ(get_string_or(*store, "path", ""), db);
}

TEST_F(CliTest, DoctorShowsAConfiguredProvider) {
  use_fake_provider("\n[agent]\nmodel = \"mine:m\"\n");
  auto r = run({"doctor"}, fake_env());
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "mine:m")) << r.describe();
  EXPECT_TRUE(contains(r.out, fake_.base_url())) << r.describe();
  EXPECT_TRUE(contains(r.out, (dir_.path() / "cppflue.toml").string())) << r.describe();
  EXPECT_EQ(fake_.request_count(), 0u) << "doctor must not call the provider";
}

TEST_F(CliTest, DoctorFailsOnABadConfigOrModel) {
  write_config("[agent]\nmodel = \"nope:x\"\n");
  auto bad_model = run({"doctor"});
  EXPECT_EQ(bad_model.exit_code, 1) << bad_model.describe();
  EXPECT_TRUE(contains(bad_model.out + bad_model.err, "nope")) << bad_model.describe();

  write_config("[agent]\nmodle = 1\n");
  auto bad_config = run({"doctor", "--json"});
  EXPECT_EQ(bad_config.exit_code, 1) << bad_config.describe();
  json report = parse_or_fail(trim(bad_config.out));
  EXPECT_EQ(get_bool(report, "ok"), false) << bad_config.out;
}

TEST_F(CliTest, SessionsShowMarksPromptsThatFailedAndTheyAreNotSentAgain) {
  use_fake_provider();
  fake_.enqueue_error(WireApi::openai_chat, 400, "unsupported parameter: temperature");
  auto failed = run({"run", "-s", "F", "-m", "mine:m", "-p", "doomed prompt"}, fake_env());
  EXPECT_NE(failed.exit_code, 0) << failed.describe();
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("Fine.", kTurnUsage), true);
  auto ok = run({"run", "-s", "F", "-m", "mine:m", "-p", "good prompt"}, fake_env());
  ASSERT_EQ(ok.exit_code, 0) << ok.describe();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& m : chat_messages(reqs[1].json_body)) {
    EXPECT_NE(m.second, "doomed prompt") << reqs[1].body;
  }
  auto show = run({"sessions", "show", "F"});
  ASSERT_EQ(show.exit_code, 0) << show.describe();
  EXPECT_TRUE(contains(show.out, "user: doomed prompt  [failed: not sent again]")) << show.out;
  EXPECT_TRUE(contains(show.out, "\"event\":\"failed\"")) << show.out;
  EXPECT_FALSE(contains(show.out, "user: good prompt  [failed")) << show.out;
}

TEST_F(CliTest, TheProjectsDotEnvIsLoadedAndTheEnvironmentWins) {
  use_fake_provider();
  write_file(dir_.path() / ".env", "# keys\nCPPFLUE_TEST_MINE_KEY=\"key-from-dotenv\"\n");
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("One.", kTurnUsage), true);
  auto from_file = run({"run", "-m", "mine:m", "-p", "hi"});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.describe();
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("Two.", kTurnUsage), true);
  auto from_env = run({"run", "-m", "mine:m", "-p", "hi"}, fake_env());
  ASSERT_EQ(from_env.exit_code, 0) << from_env.describe();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("Authorization").value_or(""), "Bearer key-from-dotenv");
  EXPECT_EQ(reqs[1].header("Authorization").value_or(""), "Bearer secret-from-env");

  write_file(dir_.path() / ".env", "GOOD=1\nthis is not an assignment\n");
  auto broken = run({"run", "-m", "mine:m", "-p", "hi"}, fake_env());
  EXPECT_EQ(broken.exit_code, 1) << broken.describe();
  EXPECT_TRUE(contains(broken.err, ".env:2: expected KEY=VALUE")) << broken.describe();
}

// ---- Ctrl-C ----

TEST_F(CliTest, CtrlCAbortsWithExitCode130AndKeepsHistoryConsistent) {
  use_fake_provider();
  // The first chunk carries the start of the answer; the rest comes 2 s apart.
  auto events = testing::response_sse(
      WireApi::openai_chat, text_turn("Streaming slowly, word after word, forever.", kTurnUsage));
  ASSERT_GE(events.size(), 4u);
  FakeReply slow;
  slow.content_type = "text/event-stream";
  slow.chunks.push_back(events[0] + events[1]);
  slow.chunks.insert(slow.chunks.end(), events.begin() + 2, events.end());
  slow.chunk_delay_ms = 2000;
  fake_.enqueue(slow);

  Child child({"run", "-s", "S", "-m", "mine:m", "-p", "tell me a story"}, dir_.path(), fake_env());
  bool got_output = child.wait_for_stdout([](const std::string& out) { return !out.empty(); },
                                          milliseconds(5000));
  EXPECT_TRUE(got_output) << "no streamed text before the interrupt";
  if (!got_output) std::this_thread::sleep_for(milliseconds(500));
  auto t0 = Clock::now();
  child.send_signal(SIGINT);
  auto r = child.finish(milliseconds(5000));
  auto after_signal = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 130) << r.describe();
  EXPECT_LT(after_signal, 2000) << r.describe();
  EXPECT_TRUE(contains(r.err, "aborted")) << r.describe();
  EXPECT_EQ(fake_.request_count(), 1u) << "an abort is not retried";

  // The stored history: the prompt, then the interruption marked.
  auto show = run({"sessions", "show", "S", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.describe();
  json j = parse_or_fail(trim(show.out));
  const json* entries = find(j, "entries");
  ASSERT_TRUE(entries && entries->is_array() && !entries->get_array().empty()) << show.out;
  const auto& list = entries->get_array();
  EXPECT_EQ(get_string_or(list.front(), "role", ""), "user") << show.out;
  EXPECT_TRUE(contains(dump(list.front()), "tell me a story")) << show.out;
  const json& last = list.back();
  EXPECT_EQ(get_string_or(last, "kind", ""), "marker") << show.out;
  EXPECT_TRUE(contains(dump(last), "interrupted")) << show.out;
  EXPECT_TRUE(contains(dump(last), "Stream")) << "the partial text is kept: " << show.out;

  auto show_text = run({"sessions", "show", "S"});
  EXPECT_EQ(show_text.exit_code, 0) << show_text.describe();

  // The session is usable afterwards: the next prompt carries the earlier user message.
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("Resumed.", kTurnUsage), true);
  auto next = run({"run", "-s", "S", "-m", "mine:m", "-p", "continue"}, fake_env());
  ASSERT_EQ(next.exit_code, 0) << next.describe();
  EXPECT_TRUE(contains(next.out, "Resumed.")) << next.describe();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto msgs = chat_messages(reqs[1].json_body);
  bool has_story = false;
  for (const auto& m : msgs) has_story = has_story || m.second == "tell me a story";
  EXPECT_TRUE(has_story) << reqs[1].body;
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(msgs.back(), (std::pair<std::string, std::string>{"user", "continue"}));
}

TEST_F(CliTest, CtrlCDuringAnOfflineDelayAlsoExits130) {
  auto script = dir_.path() / "slow.json";
  write_file(script, R"({"turns": [{"text": "too slow", "delay_ms": 5000}]})");
  Child child({"run", "--stream", "-m", "test:" + script.string(), "-p", "wait"}, dir_.path());
  // --stream prints operation_start at once, so we know the operation is running.
  bool started = child.wait_for_stdout(
      [](const std::string& out) { return contains(out, "turn_request"); }, milliseconds(5000));
  EXPECT_TRUE(started);
  auto t0 = Clock::now();
  child.send_signal(SIGINT);
  auto r = child.finish(milliseconds(5000));
  auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 130) << r.describe();
  EXPECT_LT(ms, 2000) << r.describe();
  // The events, then (as for every error with --stream) the error as the last line.
  auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  json last_event = parse_or_fail(lines[lines.size() - 2]);
  EXPECT_EQ(get_string_or(last_event, "type", ""), "operation") << r.out;
  EXPECT_EQ(get_bool(last_event, "is_error"), true) << r.out;
  json error = parse_or_fail(lines.back());
  const json* inner = find(error, "error");
  ASSERT_TRUE(inner != nullptr && inner->is_object()) << r.out;
  EXPECT_EQ(get_string_or(*inner, "type", ""), "aborted") << r.out;
}

}  // namespace
}  // namespace cppflue

namespace cppflue {
namespace {

TEST_F(CliTest, RunRefusesAnUnknownSecretAndDoctorShowsTheIsolation) {
  auto r = run({"run", "--secret", "nope", "-p", "hi"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "unknown secret nope")) << r.describe();
  auto d = run({"doctor"});
  EXPECT_TRUE(contains(d.out, "isolation")) << d.describe();
  EXPECT_TRUE(contains(d.out, jail_status().available ? "jail (bubblewrap" : "refused"))
      << d.describe();
  auto j = run({"doctor", "--json"});
  auto v = parse_json(j.out);
  ASSERT_TRUE(v) << j.describe();
  EXPECT_EQ(v->at("sandbox").at("configured").as_string(), "virtual");
}

}  // namespace
}  // namespace cppflue

// ---- agents, skills, workflows ----

namespace cppflue {
namespace {
TEST_F(CliTest, MarkdownAgentRunsWithItsFrontmatterPolicies) {
  write_file(dir_.path() / "cppflue.toml", "[sandbox]\nworkspace = \".\"\nisolation = \"none\"\n");
  write_file(dir_.path() / "notes.txt", "secret notes\n");
  write_file(dir_.path() / ".agents/agents/lister.md",
             "---\ndescription: Lists files\nallow_shell: true\nallowed_commands: [ls]\n---\n"
             "You list files.\n");
  auto script = dir_.path() / "shell-script.json";
  write_file(script, R"({"turns": [
    {"text": "Running.", "tool_calls": [{"name": "bash", "arguments": {"command": "ls"}},
                                        {"name": "bash", "arguments": {"command": "cat notes.txt"}}]},
    {"text": "Results: {{tool_result}}"}
  ]})");
  auto r = run({"run", "--agent", "lister", "-m", "test:" + script.string(), "-p", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "notes.txt")) << "ls is allowed: " << r.describe();
  EXPECT_FALSE(contains(r.out, "secret notes")) << "cat is not: " << r.describe();
  EXPECT_TRUE(contains(r.out, "allowed_commands")) << r.describe();

  // The default agent has no shell at all.
  auto plain = run({"run", "-m", "test:" + script.string(), "-p", "list"});
  ASSERT_EQ(plain.exit_code, 0) << plain.describe();
  EXPECT_TRUE(contains(plain.out, "allow_shell")) << plain.describe();

  auto unknown = run({"run", "--agent", "ghost", "-p", "x"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(contains(unknown.err, "unknown agent 'ghost' (available: lister)"))
      << unknown.describe();
}

TEST_F(CliTest, SkillPrintsItsJsonResultAndBadArgsFail) {
  write_file(dir_.path() / ".agents/skills/pick.md",
             "---\ndescription: Pick a number\ninput_schema:\n  type: object\n  properties:\n"
             "    max: {type: integer}\n  required: [max]\noutput_schema:\n  type: object\n"
             "  properties:\n    n: {type: integer}\n  required: [n]\n---\nPick one.\n");
  auto script = dir_.path() / "pick.json";
  write_file(script,
             R"({"turns": [{"text": "---RESULT_START---\n{\"n\": 4}\n---RESULT_END---"}]})");
  auto r =
      run({"run", "--skill", "pick", "--args", R"({"max": 10})", "-m", "test:" + script.string()});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  json j = parse_or_fail(trim(r.out));
  EXPECT_EQ(j, (json_object{{"n", 4}})) << r.out;

  auto bad = run({"run", "--skill", "pick", "--args", R"({"max": "ten"})"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(contains(bad.err, "/max: expected integer, got string")) << bad.describe();
  auto not_json = run({"run", "--skill", "pick", "--args", "{oops"});
  EXPECT_EQ(not_json.exit_code, 1);
  EXPECT_TRUE(contains(not_json.err, "--args")) << not_json.describe();
  auto wf = run({"run", "nightly", "--payload", "{}"});
  EXPECT_EQ(wf.exit_code, 1);
  EXPECT_TRUE(contains(wf.err, "unknown workflow 'nightly'")) << wf.describe();
}
}  // namespace
}  // namespace cppflue
