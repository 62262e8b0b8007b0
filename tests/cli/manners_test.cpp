// SPDX-License-Identifier: Apache-2.0
// The command line's manners with a new user, against the real `cppflue` binary: unknown
// commands get a suggestion and a pointer to --help, `cppflue help [COMMAND]`, a bare word
// after `run` says how to send a prompt, a compiled agent or workflow this binary does not have
// says how to build and run the application that has it, errors in --json/--stream mode are
// JSON on stdout, and escape sequences appear only on a terminal without NO_COLOR.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../../src/cli/suggest.hpp"
#include "cppflue/core/json.hpp"
#include "support/test_util.hpp"

extern char** environ;

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using cppflue::testing::contains;
using cppflue::testing::TempDir;
using cppflue::testing::write_file;
using Clock = std::chrono::steady_clock;

struct Proc {
  int exit_code = -1;  // -1: killed by a signal or timed out
  int term_signal = 0;
  std::string out;
  std::string err;

  std::string describe() const {
    return "[exit " + std::to_string(exit_code) + ", signal " + std::to_string(term_signal) +
           "]\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
  }
};

// The environment of the child: no provider keys, no CPPFLUE_* settings, no NO_COLOR or TERM
// (the tests set those they need), plus `extra`.
std::vector<std::string> child_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    std::string name = kv.substr(0, kv.find('='));
    bool drop = name.rfind("CPPFLUE_", 0) == 0 || name == "NO_COLOR" || name == "TERM" ||
                (name.size() > 8 && name.compare(name.size() - 8, 8, "_API_KEY") == 0) ||
                extra.count(name) > 0;
    if (!drop) env.push_back(kv);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

// Runs `cppflue args...` in `cwd` with stdin from /dev/null and stdout on a pipe; stderr on a
// pipe, or on a pseudo-terminal when `stderr_tty`. Killed after 20 s.
Proc run_cppflue(const std::vector<std::string>& args, const fs::path& cwd,
                 const std::map<std::string, std::string>& extra_env = {},
                 bool stderr_tty = false) {
  std::vector<std::string> argv_store{CPPFLUE_BINARY};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<std::string> env_store = child_env(extra_env);
  std::vector<char*> argv, envp;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string dir = cwd.string();

  Proc p;
  int out_pipe[2], err_fd[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return p;
  if (stderr_tty ? openpty(&err_fd[0], &err_fd[1], nullptr, nullptr, nullptr) != 0
                 : pipe2(err_fd, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "cannot make stderr's " << (stderr_tty ? "pty" : "pipe");
    return p;
  }
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_fd[1], 2);
    if (chdir(dir.c_str()) != 0) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_fd[1]);
  int fds[2] = {out_pipe[0], err_fd[0]};
  std::string* sinks[2] = {&p.out, &p.err};
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while ((fds[0] >= 0 || fds[1] >= 0) && Clock::now() < deadline) {
    pollfd pfd[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    if (poll(pfd, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t got = read(fds[i], buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else {  // EOF, or EIO from a pty whose other side closed
        close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  if (fds[0] >= 0 || fds[1] >= 0) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) p.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) p.term_signal = WTERMSIG(status);
  return p;
}

// The one JSON object of `out`'s last line, as {"error":{...}}'s inner object; null if not.
json error_of(const std::string& out) {
  std::string line = out;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  line = line.substr(line.rfind('\n') == std::string::npos ? 0 : line.rfind('\n') + 1);
  auto parsed = parse_json(line);
  if (!parsed) return nullptr;
  const json* inner = find(*parsed, "error");
  return inner != nullptr && inner->is_object() ? *inner : json(nullptr);
}

class CliManners : public ::testing::Test {
 protected:
  Proc run(const std::vector<std::string>& args,
           const std::map<std::string, std::string>& env = {}) {
    return run_cppflue(args, dir_.path(), env);
  }

  // `cppflue init demo` in the test's directory; the project's path.
  fs::path scaffold() {
    auto r = run({"init", "demo"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return dir_.path() / "demo";
  }

  TempDir dir_;
};

// ---- unknown commands ----

TEST_F(CliManners, UnknownCommandSuggestsTheClosestOneAndPointsToHelp) {
  auto r = run({"runn"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err,
            "cppflue: error: unknown command 'runn'; did you mean 'run'? (`cppflue --help` "
            "lists the commands)\n")
      << r.describe();
  EXPECT_TRUE(r.out.empty()) << r.describe();
  for (auto [typo, command] :
       std::vector<std::pair<std::string, std::string>>{{"sesions", "sessions"},
                                                        {"doctr", "doctor"},
                                                        {"Run", "run"},
                                                        {"serv", "serve"},
                                                        {"hlep", "help"},
                                                        {"rotues", "routes"},
                                                        {"ini", "init"}}) {
    auto t = run({typo});
    EXPECT_EQ(t.exit_code, 1) << typo << t.describe();
    EXPECT_TRUE(contains(t.err, "unknown command '" + typo + "'; did you mean '" + command + "'?"))
        << typo << t.describe();
  }
  // The program's --config before the command is skipped over.
  auto after_config = run({"--config", "x.toml", "runn"});
  EXPECT_TRUE(contains(after_config.err, "did you mean 'run'?")) << after_config.describe();
}

TEST_F(CliManners, UnknownCommandWithoutACloseOneSaysHowToSendAPrompt) {
  auto r = run({"hello"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err,
            "cppflue: error: unknown command 'hello' (`cppflue --help` lists the commands); to "
            "send a prompt use cppflue run -p \"hello\"\n")
      << r.describe();
  auto quoted = run({"say \"hi\" for $5"});
  EXPECT_TRUE(
      contains(quoted.err, "to send a prompt use cppflue run -p \"say \\\"hi\\\" for \\$5\""))
      << quoted.describe();
}

TEST_F(CliManners, UnknownSkillCommandPointsToSkillHelp) {
  auto r = run({"skill", "list"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err,
            "cppflue: error: unknown command 'skill list' (`cppflue skill --help` lists the "
            "commands)\n")
      << r.describe();
  auto typo = run({"skill", "nwe", "x"});
  EXPECT_EQ(typo.exit_code, 1) << typo.describe();
  EXPECT_TRUE(contains(typo.err, "unknown command 'skill nwe'; did you mean 'skill new'?"))
      << typo.describe();
}

// ---- help ----

TEST_F(CliManners, HelpPrintsWhatDashDashHelpPrints) {
  auto top = run({"--help"});
  auto help = run({"help"});
  EXPECT_EQ(help.exit_code, 0) << help.describe();
  EXPECT_EQ(help.out, top.out);
  EXPECT_TRUE(contains(help.out, "help")) << "help is listed: " << help.out;
  for (std::vector<std::string> command : {std::vector<std::string>{"run"},
                                           {"chat"},
                                           {"sessions"},
                                           {"init"},
                                           {"skill"},
                                           {"skill", "new"},
                                           {"serve"},
                                           {"dev"},
                                           {"routes"},
                                           {"invoke"},
                                           {"logs"},
                                           {"doctor"},
                                           {"help"}}) {
    std::vector<std::string> with_flag = command;
    with_flag.push_back("--help");
    std::vector<std::string> with_help = command;
    with_help.insert(with_help.begin(), "help");
    auto expected = run(with_flag);
    auto got = run(with_help);
    EXPECT_EQ(got.exit_code, 0) << got.describe();
    EXPECT_FALSE(got.out.empty()) << got.describe();
    EXPECT_EQ(got.out, expected.out) << with_help[1];
  }
}

TEST_F(CliManners, HelpOfAnUnknownCommandIsAnError) {
  auto r = run({"help", "runn"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err,
            "cppflue: error: unknown command 'runn'; did you mean 'run'? (`cppflue --help` "
            "lists the commands)\n")
      << r.describe();
  EXPECT_TRUE(r.out.empty()) << r.describe();
  auto nested = run({"help", "skill", "nw"});
  EXPECT_EQ(nested.exit_code, 1) << nested.describe();
  EXPECT_TRUE(contains(nested.err, "unknown command 'skill nw'; did you mean 'skill new'?"))
      << nested.describe();
  auto too_deep = run({"help", "run", "extra"});
  EXPECT_EQ(too_deep.exit_code, 1) << too_deep.describe();
  EXPECT_EQ(too_deep.err,
            "cppflue: error: unknown command 'run extra': 'run' has no commands (see cppflue run "
            "--help)\n")
      << too_deep.describe();
}

// ---- run WORD, --agent NAME ----

TEST_F(CliManners, RunWithAWordThatIsNoWorkflowSaysHowToSendAPrompt) {
  auto r = run({"run", "hello"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err,
            "cppflue: error: unknown workflow 'hello' (available: none); to send a prompt use "
            "cppflue run -p \"hello\"\n")
      << r.describe();
  EXPECT_TRUE(r.out.empty()) << r.describe();
}

TEST_F(CliManners, CompiledAgentOfTheProjectSaysHowToBuildAndRunItsApplication) {
  fs::path demo = scaffold();
  auto r = run_cppflue({"run", "--agent", "assistant", "-p", "hi"}, demo);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err,
            "cppflue: error: unknown agent 'assistant' (available: helper)\n"
            "'assistant' is a compiled agent (src/agents/assistant.cpp): compiled agents run "
            "from their application's own binary, not from cppflue. Build the application and "
            "run the agent with it:\n"
            "  cmake -S . -B build -G Ninja\n"
            "  cmake --build build\n"
            "  ./build/demo run --agent assistant -p \"hi\"\n")
      << r.describe();

  // From elsewhere (--config), the commands start in the project; a configured build directory
  // is not configured again.
  fs::create_directories(demo / "build");
  write_file(demo / "build" / "CMakeCache.txt", "");
  auto outside = run({"run", "--config", "demo/cppflue.toml", "--agent", "assistant", "-p", "hi"});
  EXPECT_EQ(outside.exit_code, 1) << outside.describe();
  EXPECT_TRUE(contains(outside.err, "run the agent with it:\n  cd " + demo.string() +
                                        "\n  cmake --build build\n  ./build/demo run --agent "
                                        "assistant -p \"hi\"\n"))
      << outside.describe();

  auto typo = run_cppflue({"run", "--agent", "helpr", "-p", "hi"}, demo);
  EXPECT_EQ(typo.err,
            "cppflue: error: unknown agent 'helpr' (available: helper); did you mean 'helper'?\n")
      << typo.describe();

  auto invoke = run_cppflue({"invoke", "assistant", "--payload", R"({"message":"hi"})"}, demo);
  EXPECT_EQ(invoke.exit_code, 1) << invoke.describe();
  EXPECT_TRUE(contains(invoke.err, "'assistant' is a compiled agent (src/agents/assistant.cpp)"))
      << invoke.describe();
  EXPECT_TRUE(contains(invoke.err,
                       "\n  ./build/demo invoke assistant --payload "
                       "'{\"message\":\"hi\"}'\n"))
      << invoke.describe();
}

TEST_F(CliManners, CompiledWorkflowOfTheProjectSaysHowToBuildAndRunItsApplication) {
  fs::path demo = scaffold();
  auto r = run_cppflue({"run", "summarize", "--payload", R"({"text":"x"})"}, demo);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err,
            "cppflue: error: unknown workflow 'summarize' (available: none)\n"
            "'summarize' is a compiled workflow (src/workflows/summarize.cpp): compiled "
            "workflows run from their application's own binary, not from cppflue. Build the "
            "application and run the workflow with it:\n"
            "  cmake -S . -B build -G Ninja\n"
            "  cmake --build build\n"
            "  ./build/demo run summarize --payload '{\"text\":\"x\"}'\n")
      << r.describe();
  auto typo = run_cppflue({"run", "summarise"}, demo);
  EXPECT_EQ(typo.err,
            "cppflue: error: unknown workflow 'summarise' (available: none); did you mean "
            "'summarize'?\n")
      << typo.describe();
}

TEST_F(CliManners, UnknownAgentOutsideAnApplicationExplainsCompiledAgents) {
  auto r = run({"run", "--agent", "assistant", "-p", "hi"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err,
                       "cppflue: error: unknown agent 'assistant' (available: none)\n"
                       "A compiled agent (src/agents/assistant.cpp of an application "
                       "made by `cppflue init`) runs from that application's own binary: "
                       "build it in the application's directory with `cmake -S . -B "
                       "build -G Ninja && cmake --build build`, then `./build/<app> run "
                       "--agent assistant -p \"hi\"`. A Markdown agent is "
                       ".agents/agents/assistant.md.\n"))
      << r.describe();
}

// ---- JSON mode ----

TEST_F(CliManners, ErrorsInJsonModeAreOneJsonObjectOnStdout) {
  struct Case {
    std::vector<std::string> args;
    std::string type;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {{"run", "hello", "--json"}, "not_found", "unknown workflow 'hello'"},
      {{"run", "hello", "--stream"}, "not_found", "to send a prompt use cppflue run -p"},
      {{"run", "-p", "  ", "--json"}, "invalid_input", "the prompt is empty"},
      {{"run", "-p", "hi", "--stream", "-m", "nope:x"}, "invalid_input", "unknown provider"},
      {{"run", "--json", "--agent", "nobody", "-p", "hi"}, "not_found", "unknown agent 'nobody'"},
      {{"run", "--json", "--no-such-flag"}, "invalid_input", "--no-such-flag"},
      {{"runn", "--json"}, "invalid_input", "did you mean 'run'?"},
      {{"sessions", "show", "nope", "--json"}, "not_found", "session 'nope' not found"},
  };
  for (const auto& c : cases) {
    auto r = run(c.args);
    std::string what = c.args[0] + " " + c.args[1] + " ...";
    EXPECT_EQ(r.exit_code, 1) << what << r.describe();
    ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << what << r.describe();
    json error = error_of(r.out);
    ASSERT_TRUE(error.is_object()) << what << r.describe();
    EXPECT_EQ(get_string_or(error, "type", ""), c.type) << what << r.describe();
    EXPECT_TRUE(contains(get_string_or(error, "message", ""), c.message_part))
        << what << r.describe();
    EXPECT_FALSE(r.err.empty()) << "the line on stderr stays: " << what << r.describe();
  }
  // Without --json the same errors leave stdout empty.
  auto plain = run({"run", "hello"});
  EXPECT_TRUE(plain.out.empty()) << plain.describe();
}

// ---- styling ----

TEST_F(CliManners, NoEscapeSequencesWithoutATerminalOrWithNoColor) {
  for (std::vector<std::string> args : {std::vector<std::string>{"runn"},
                                        {"run", "hello"},
                                        {"--help"},
                                        {"help", "run"},
                                        {"run", "-m", "test:echo", "-p", "hi"},
                                        {"doctor"},
                                        {"sessions"}}) {
    auto r = run(args, {{"TERM", "xterm-256color"}});
    EXPECT_FALSE(contains(r.out, "\x1b")) << args[0] << r.describe();
    EXPECT_FALSE(contains(r.err, "\x1b")) << args[0] << r.describe();
  }
  const std::string red = "cppflue: \x1b[1;31merror:\x1b[0m unknown command 'runn'";
  auto tty = run_cppflue({"runn"}, dir_.path(), {{"TERM", "xterm-256color"}}, true);
  EXPECT_EQ(tty.exit_code, 1) << tty.describe();
  EXPECT_TRUE(contains(tty.err, red)) << "styled on a terminal: " << tty.describe();
  auto empty_no_color =
      run_cppflue({"runn"}, dir_.path(), {{"TERM", "xterm"}, {"NO_COLOR", ""}}, true);
  EXPECT_TRUE(contains(empty_no_color.err, red)) << "an empty NO_COLOR is unset";
  for (std::map<std::string, std::string> env :
       {std::map<std::string, std::string>{{"TERM", "xterm"}, {"NO_COLOR", "1"}},
        {{"TERM", "dumb"}}}) {
    auto plain = run_cppflue({"runn"}, dir_.path(), env, true);
    EXPECT_EQ(plain.exit_code, 1) << plain.describe();
    EXPECT_TRUE(contains(plain.err, "cppflue: error: unknown command 'runn'")) << plain.describe();
    EXPECT_FALSE(contains(plain.err, "\x1b")) << plain.describe();
  }
}

// ---- bad input ----

TEST_F(CliManners, BadInputNeverCrashes) {
  const std::vector<std::vector<std::string>> inputs = {
      {""},
      {"", "--json"},
      {"-"},
      {"--"},
      {"--config"},
      {"--config", "nope.toml"},
      {"skill"},
      {"help", ""},
      {"help", "help", "help"},
      {"help", "--json"},
      {"run", ""},
      {"run", "", "--json"},
      {"run", "-p", "", "--stream"},
      {"run", "--agent", "", "-p", "hi"},
      {"run", "--agent", "../../etc/passwd", "-p", "hi"},
      {"run", "\xff\xfe", "--json"},
      {"\xff\xfe", "--json"},
      {std::string(100000, 'x')},
      {"run", std::string(100000, 'y'), "--json"},
      {"invoke", "", "--payload", "{}"},
  };
  for (const auto& args : inputs) {
    auto r = run(args);
    std::string what = args[0].substr(0, 20) + (args.size() > 1 ? " " + args[1].substr(0, 20) : "");
    EXPECT_EQ(r.term_signal, 0) << what << r.describe();
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << what << r.describe();
  }
}

// ---- the suggestion itself ----

TEST(CliSuggest, EditDistanceAndClosest) {
  EXPECT_EQ(cli::edit_distance("run", "run"), 0u);
  EXPECT_EQ(cli::edit_distance("runn", "run"), 1u);
  EXPECT_EQ(cli::edit_distance("hlep", "help"), 1u);  // a transposition is one edit
  EXPECT_EQ(cli::edit_distance("RUN", "run"), 0u);
  EXPECT_EQ(cli::edit_distance("", "abc"), 3u);
  EXPECT_EQ(cli::edit_distance("kitten", "sitting"), 3u);
  const std::vector<std::string> commands = {"run", "chat", "sessions", "serve", "help"};
  EXPECT_EQ(cli::closest("runn", commands), "run");
  EXPECT_EQ(cli::closest("sess", commands), "sessions");  // a prefix of 3+ characters
  EXPECT_EQ(cli::closest("hello", commands), std::nullopt);
  EXPECT_EQ(cli::closest("run", commands), std::nullopt);  // not a typo
  EXPECT_EQ(cli::closest("", commands), std::nullopt);
  EXPECT_EQ(cli::closest("xyz", {}), std::nullopt);
  EXPECT_EQ(cli::double_quoted(R"(a "b" $c `d` \e)"), R"("a \"b\" \$c \`d\` \\e")");
  EXPECT_EQ(cli::shell_word("{\"a\":1}"), "'{\"a\":1}'");
  EXPECT_EQ(cli::shell_word("it's"), "'it'\\''s'");
  EXPECT_EQ(cli::shell_word("plain-word"), "plain-word");
}

}  // namespace
}  // namespace cppflue
