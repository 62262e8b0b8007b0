// SPDX-License-Identifier: Apache-2.0
// `cppflue chat` in a real terminal, driven through tmux (keys, a bracketed paste, Ctrl-C,
// Ctrl-D) against the fake provider; and chat's slash commands and -c/-s choices without one.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../../src/cli/chat_output.hpp"
#include "../../src/cli/cli.hpp"
#include "cppflue/core/json.hpp"
#include "support/fake_provider.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

namespace cppflue {
namespace {

using namespace std::chrono_literals;
using testing::contains;
using testing::FakeProvider;
using testing::shell_quote;
using testing::TempDir;
using testing::text_turn;
using testing::unusable_library_dir;
using testing::write_file;

// The output of `command` run by /bin/sh (stderr included), and its exit status.
std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(("( " + command + " ) 2>&1").c_str(), "r");
  if (!pipe) return {-1, ""};
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The user messages of a recorded Chat Completions request, in order.
std::vector<std::string> user_messages(const json& body) {
  std::vector<std::string> out;
  const json* msgs = find(body, "messages");
  if (!msgs || !msgs->is_array()) return out;
  for (const auto& m : msgs->get_array()) {
    if (get_string_or(m, "role", "") != "user") continue;
    const json* c = find(m, "content");
    std::string text;
    if (c && c->is_string()) text = std::string(c->get_string());
    if (c && c->is_array()) {
      for (const auto& part : c->get_array()) text += get_string_or(part, "text", "");
    }
    out.push_back(text);
  }
  return out;
}

class ChatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_.path() / "cppflue.toml",
               fmt::format("[providers.mine]\napi = \"openai-chat\"\nbase_url = \"{}/v1\"\n"
                           "api_key_env = \"CPPFLUE_TEST_MINE_KEY\"\n"
                           "[sandbox]\nisolation = \"none\"\n",
                           fake_.base_url()));
    write_file(dir_.path() / ".agents/agents/helper.md",
               "---\ndescription: Helps\n---\nYou help.\n");
  }

  std::string binary() const { return CPPFLUE_BINARY; }

  std::size_t requests() const { return fake_.request_count(); }
  std::vector<std::string> last_user_messages() const {
    auto reqs = fake_.requests();
    return reqs.empty() ? std::vector<std::string>{} : user_messages(reqs.back().json_body);
  }

  // Waits up to `limit` for `done`; false on time-out.
  static bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return done();
  }

  TempDir dir_;
  FakeProvider fake_;
};

// A tmux server of its own (its own socket), with one 120x40 window running a command.
class Tmux {
 public:
  Tmux(const std::filesystem::path& cwd, const std::string& command)
      : socket_(fmt::format("cppflue-chat-test-{}-{}", ::getpid(), counter_++)) {
    auto [code, out] =
        shell(fmt::format("{} new-session -d -s chat -x 120 -y 40 -c {} {} && {} set-option -t "
                          "chat remain-on-exit on",
                          tmux(), shell_quote(cwd.string()),
                          shell_quote(command + "; echo \"[exit status $?]\""), tmux()));
    started_ = code == 0;
    start_output_ = out;
  }
  ~Tmux() { shell(tmux() + " kill-server"); }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  bool started() const { return started_; }
  const std::string& start_output() const { return start_output_; }

  // Keys as tmux names them ("Enter", "C-c"), or literal text with `literal`.
  void keys(const std::string& keys, bool literal = false) {
    shell(
        fmt::format("{} send-keys -t chat {} {}", tmux(), literal ? "-l" : "", shell_quote(keys)));
  }
  // Pastes `text` the way a terminal does: bracketed when the program asked for it.
  void paste(const TempDir& dir, const std::string& text) {
    auto file = dir.path() / "paste.txt";
    write_file(file, text);
    shell(fmt::format("{} load-buffer -b p {} && {} paste-buffer -p -d -b p -t chat", tmux(),
                      shell_quote(file.string()), tmux()));
  }
  std::string screen() { return shell(tmux() + " capture-pane -p -t chat -S -200").second; }
  bool wait_for_screen(const std::string& text, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (contains(screen(), text)) return true;
      std::this_thread::sleep_for(50ms);
    }
    return contains(screen(), text);
  }
  // Whether the program has ended with status 0 (the command line given to the constructor
  // should come from `exits_with_status`).
  bool ended_well() { return contains(screen(), "[exit status 0]"); }
  std::string title() {
    return shell(tmux() + " display-message -p -t chat '#{pane_title}'").second;
  }

 private:
  std::string tmux() const { return "tmux -f /dev/null -L " + socket_; }
  static inline int counter_ = 0;
  std::string socket_;
  bool started_ = false;
  std::string start_output_;
};

#define REQUIRE_TMUX()                                                        \
  do {                                                                        \
    if (shell("command -v tmux").first != 0) {                                \
      GTEST_SKIP() << "tmux is not installed (scripts/setup.sh installs it)"; \
    }                                                                         \
  } while (0)

TEST_F(ChatTest, InATerminalPasteIsOneMessageCtrlCClearsTheLineAndSlashCommandsStayLocal) {
  REQUIRE_TMUX();
  for (int i = 0; i < 3; ++i) {
    fake_.enqueue_turn(WireApi::openai_chat, text_turn("answer " + std::to_string(i)), true);
  }
  Tmux tmux(dir_.path(), fmt::format("env CPPFLUE_TEST_MINE_KEY=k TERM=xterm-256color {} chat -m "
                                     "mine:m -s term",
                                     shell_quote(binary())));
  ASSERT_TRUE(tmux.started()) << tmux.start_output();
  ASSERT_TRUE(tmux.wait_for_screen("you>")) << tmux.screen();

  // Ctrl-C forgets a half-typed line.
  tmux.keys("half typed", true);
  ASSERT_TRUE(tmux.wait_for_screen("half typed")) << tmux.screen();
  tmux.keys("C-c");
  ASSERT_TRUE(tmux.wait_for_screen("^C")) << tmux.screen();
  tmux.keys("hello", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 1; })) << tmux.screen();
  EXPECT_EQ(last_user_messages(), std::vector<std::string>{"hello"}) << tmux.screen();
  ASSERT_TRUE(tmux.wait_for_screen("answer 0")) << tmux.screen();
  ASSERT_TRUE(tmux.wait_for_screen(" in · "))
      << "a usage line follows the answer: " << tmux.screen();

  // A pasted block of three lines is one message, and text typed after it joins it.
  tmux.paste(dir_, "line one\nline two\nline three\n");
  ASSERT_TRUE(tmux.wait_for_screen("[pasted text #1: 3 lines]")) << tmux.screen();
  tmux.keys(" (end)", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 2; })) << tmux.screen();
  auto users = last_user_messages();
  ASSERT_EQ(users.size(), 2u) << tmux.screen();
  EXPECT_EQ(users[1], "line one\nline two\nline three (end)");

  // Slash commands are answered here and never reach the model.
  tmux.keys("/help", true);
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for_screen("Commands (never sent to the model)")) << tmux.screen();
  tmux.keys("/sesions", true);
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for_screen("did you mean /sessions?")) << tmux.screen();
  tmux.keys("after help", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 3; })) << tmux.screen();
  users = last_user_messages();
  ASSERT_EQ(users.size(), 3u) << tmux.screen();
  EXPECT_EQ(users[2], "after help");
  for (const auto& u : users) EXPECT_FALSE(contains(u, "/help")) << u;
  ASSERT_TRUE(tmux.wait_for_screen("answer 2")) << tmux.screen();

  // Ctrl-D on an empty line ends the chat, with status 0.
  tmux.keys("C-d");
  ASSERT_TRUE(wait_until([&] { return tmux.ended_well(); })) << tmux.screen();
  EXPECT_EQ(requests(), 3u);
}

// libedit is opened by the first line editor, not linked. On a terminal where it cannot be used,
// the chat says why (library, package) and reads plain lines instead of failing.
TEST_F(ChatTest, InATerminalWithoutAUsableLibeditTheChatReadsPlainLines) {
  REQUIRE_TMUX();
  auto fake = unusable_library_dir(dir_.path(), "libedit.so.2");
  if (fake.empty()) GTEST_SKIP() << "no libz.so.1 to stand in for libedit";
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("plain answer"), true);
  Tmux tmux(dir_.path(), fmt::format("env CPPFLUE_TEST_MINE_KEY=k TERM=xterm-256color "
                                     "LD_LIBRARY_PATH={} {} chat -m mine:m -s plain",
                                     shell_quote(fake.string()), shell_quote(binary())));
  ASSERT_TRUE(tmux.started()) << tmux.start_output();
  ASSERT_TRUE(tmux.wait_for_screen("no line editing, plain lines instead")) << tmux.screen();
  EXPECT_TRUE(contains(tmux.screen(), "libedit.so.2 is not a usable libedit")) << tmux.screen();
  EXPECT_TRUE(contains(tmux.screen(), "--reinstall libedit2")) << tmux.screen();  // wrapped
  ASSERT_TRUE(tmux.wait_for_screen("you>")) << tmux.screen();
  // A line ending with a backslash continues, as with the editor.
  tmux.keys("hello \\", true);
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for_screen("...>")) << tmux.screen();
  tmux.keys("plain", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 1; })) << tmux.screen();
  EXPECT_EQ(last_user_messages(), std::vector<std::string>{"hello \nplain"}) << tmux.screen();
  ASSERT_TRUE(tmux.wait_for_screen("plain answer")) << tmux.screen();
  tmux.keys("C-d");
  ASSERT_TRUE(wait_until([&] { return tmux.ended_well(); })) << tmux.screen();
}

TEST_F(ChatTest, InATerminalCtrlCForgetsNonAsciiLinesAndWholeEntries) {
  REQUIRE_TMUX();
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("first"), true);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("second"), true);
  Tmux tmux(dir_.path(), fmt::format("env CPPFLUE_TEST_MINE_KEY=k LANG=C.UTF-8 TERM=xterm {} "
                                     "chat -m mine:m",
                                     shell_quote(binary())));
  ASSERT_TRUE(tmux.started()) << tmux.start_output();
  ASSERT_TRUE(tmux.wait_for_screen("you>")) << tmux.screen();
  // Characters, not bytes: a line with é and 中 is cleared whole.
  tmux.keys("h\u00e9llo \u4e2d\u6587", true);
  ASSERT_TRUE(tmux.wait_for_screen("h\u00e9llo")) << tmux.screen();
  tmux.keys("C-c");
  ASSERT_TRUE(tmux.wait_for_screen("^C")) << tmux.screen();
  tmux.keys("plain", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 1; })) << tmux.screen();
  EXPECT_EQ(last_user_messages(), std::vector<std::string>{"plain"}) << tmux.screen();
  ASSERT_TRUE(tmux.wait_for_screen("first")) << tmux.screen();

  // A line ended with \ goes on; Ctrl-C on the next line forgets the whole entry.
  tmux.keys("one \\", true);
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for_screen("...>")) << tmux.screen();
  tmux.keys("two", true);
  tmux.keys("C-c");
  tmux.keys("three \\", true);
  tmux.keys("Enter");
  tmux.keys("four", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 2; })) << tmux.screen();
  auto users = last_user_messages();
  ASSERT_EQ(users.size(), 2u) << tmux.screen();
  EXPECT_EQ(users[1], "three \nfour") << tmux.screen();
  tmux.keys("C-d");
  ASSERT_TRUE(wait_until([&] { return tmux.ended_well(); })) << tmux.screen();
}

TEST_F(ChatTest, InATerminalCtrlZStopsTheChatAndFgResumesIt) {
  REQUIRE_TMUX();
  if (shell("command -v bash").first != 0) GTEST_SKIP() << "bash is needed for job control";
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("back again"), true);
  // An interactive shell, so that there is job control to stop and resume the chat.
  Tmux tmux(dir_.path(),
            "env -i PATH=/usr/bin:/bin TERM=xterm HOME=/tmp bash --norc --noprofile -i");
  ASSERT_TRUE(tmux.started()) << tmux.start_output();
  tmux.keys(fmt::format("CPPFLUE_TEST_MINE_KEY=k {} chat -m mine:m", shell_quote(binary())), true);
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for_screen("you>")) << tmux.screen();
  tmux.keys("half", true);
  tmux.keys("C-z");
  ASSERT_TRUE(tmux.wait_for_screen("Stopped"))
      << "the shell took the terminal back: " << tmux.screen();
  tmux.keys("fg", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] {
    auto screen = tmux.screen();
    return screen.rfind("you> half") != std::string::npos &&
           screen.rfind("you> half") > screen.rfind("Stopped");
  })) << "the line is shown again after fg: "
      << tmux.screen();
  tmux.keys(" done", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 1; })) << tmux.screen();
  EXPECT_EQ(last_user_messages(), std::vector<std::string>{"half done"}) << tmux.screen();
  ASSERT_TRUE(tmux.wait_for_screen("back again")) << tmux.screen();
  tmux.keys("C-d");
}

TEST_F(ChatTest, InATerminalChatsWithAMarkdownAgentAndItsShell) {
  REQUIRE_TMUX();
  fake_.enqueue_turn(WireApi::openai_chat,
                     testing::calls_turn({testing::tool_call(
                         "c1", "bash", json_object{{"command", "echo from-the-shell"}})}),
                     true);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("the shell said hello"), true);
  Tmux tmux(dir_.path(), fmt::format("env CPPFLUE_TEST_MINE_KEY=k TERM=xterm {} chat -a helper "
                                     "--allow-shell -m mine:m",
                                     shell_quote(binary())));
  ASSERT_TRUE(tmux.started()) << tmux.start_output();
  ASSERT_TRUE(tmux.wait_for_screen("you>")) << tmux.screen();
  EXPECT_TRUE(contains(tmux.screen(), "agent helper")) << tmux.screen();
  tmux.keys("/tools", true);
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for_screen("tools: ")) << tmux.screen();
  EXPECT_TRUE(contains(tmux.screen(), "bash")) << tmux.screen();

  tmux.keys("run it", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return requests() == 2; })) << tmux.screen();
  ASSERT_TRUE(tmux.wait_for_screen("the shell said hello")) << tmux.screen();
  EXPECT_TRUE(contains(tmux.screen(), "-> bash: echo from-the-shell")) << tmux.screen();
  auto body = dump(fake_.requests().back().json_body);
  EXPECT_TRUE(contains(body, R"(\"stdout\":\"from-the-shell)")) << "the command ran: " << body;
  tmux.keys("/exit", true);
  tmux.keys("Enter");
  ASSERT_TRUE(wait_until([&] { return tmux.ended_well(); })) << tmux.screen();
}

// ---- without a terminal ----

struct Piped {
  int code = -1;
  std::string out;
  std::string err;
};

// `cppflue args...` in the project with `input` on its standard input (not a terminal).
Piped run_piped(const TempDir& dir, const std::vector<std::string>& args,
                const std::string& input) {
  write_file(dir.path() / "input.txt", input);
  std::string command = "cd " + shell_quote(dir.path().string()) +
                        " && env CPPFLUE_TEST_MINE_KEY=k " + shell_quote(CPPFLUE_BINARY);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " <input.txt >out.txt 2>err.txt";
  Piped r;
  r.code = shell(command).first;
  r.out = testing::read_file(dir.path() / "out.txt");
  r.err = testing::read_file(dir.path() / "err.txt");
  return r;
}

TEST_F(ChatTest, SlashCommandsAreHandledLocallyWhenInputIsPiped) {
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("first answer"), true);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("second answer"), true);
  auto r = run_piped(dir_, {"chat", "-m", "mine:m", "-s", "piped"},
                     "/help\n/tools\n/session\n/nosuch\n//etc is a folder\n/tmp/x is a path\n"
                     "/model\n/exit\nnever sent\n");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "Commands (never sent to the model)")) << r.out;
  EXPECT_TRUE(contains(r.out, "tools: read, stat, exists, grep, glob")) << r.out;
  EXPECT_FALSE(contains(r.out, "bash")) << "no shell without --allow-shell: " << r.out;
  EXPECT_TRUE(contains(r.err, "session piped (agent default, model mine:m)")) << r.err;
  EXPECT_TRUE(contains(r.err, "unknown command /nosuch")) << r.err;
  EXPECT_TRUE(contains(r.err, "model mine:m")) << r.err;
  ASSERT_EQ(requests(), 2u) << "only the two messages reach the model: " << r.out << r.err;
  auto reqs = fake_.requests();
  EXPECT_EQ(user_messages(reqs[0].json_body), std::vector<std::string>{"/etc is a folder"});
  EXPECT_EQ(user_messages(reqs[1].json_body),
            (std::vector<std::string>{"/etc is a folder", "/tmp/x is a path"}));
  EXPECT_FALSE(contains(r.out, "do not send this")) << r.out;
}

TEST_F(ChatTest, NewSessionsModelSwitchAndSessionList) {
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("one"), true);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("two"), true);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("three"), true);
  auto r = run_piped(dir_, {"chat", "-m", "mine:m", "-s", "first"},
                     "hi\n/model mine:bigger\nagain\n/new\nfresh\n/sessions\n/model nope:x\n"
                     "/session first\n");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_EQ(requests(), 3u) << r.out << r.err;
  auto reqs = fake_.requests();
  EXPECT_EQ(get_string_or(reqs[0].json_body, "model", ""), "m");
  EXPECT_EQ(get_string_or(reqs[1].json_body, "model", ""), "bigger") << "/model switched";
  EXPECT_EQ(user_messages(reqs[1].json_body), (std::vector<std::string>{"hi", "again"}))
      << "the conversation went on under the new model";
  EXPECT_EQ(user_messages(reqs[2].json_body), std::vector<std::string>{"fresh"})
      << "/new started an empty session";
  EXPECT_TRUE(contains(r.err, "new session ")) << r.err;
  EXPECT_TRUE(contains(r.out, "* ")) << "/sessions marks the current one: " << r.out;
  EXPECT_TRUE(contains(r.out, " first ")) << r.out;
  EXPECT_TRUE(contains(r.err, "nope")) << r.err;
  EXPECT_TRUE(contains(r.err, "still on mine:bigger")) << r.err;
  EXPECT_TRUE(contains(r.err, "session first (4 messages)")) << r.err;
}

TEST_F(ChatTest, StartsANewSessionUnlessToldToContinue) {
  for (const char* text : {"a", "b", "c"}) {
    fake_.enqueue_turn(WireApi::openai_chat, text_turn(text), true);
  }
  auto first = run_piped(dir_, {"chat", "-m", "mine:m"}, "one\n");
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_TRUE(contains(first.err, "new session ")) << first.err;
  auto second = run_piped(dir_, {"chat", "-m", "mine:m"}, "two\n");
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(last_user_messages(), std::vector<std::string>{"two"}) << "a new session";
  auto third = run_piped(dir_, {"chat", "-c", "-m", "mine:m"}, "three\n");
  ASSERT_EQ(third.code, 0) << third.err;
  EXPECT_TRUE(contains(third.err, "continuing session ")) << third.err;
  EXPECT_EQ(last_user_messages(), (std::vector<std::string>{"two", "three"}))
      << "-c continued the most recent session";
  auto both = run_piped(dir_, {"chat", "-c", "-s", "x"}, "");
  EXPECT_NE(both.code, 0);
  EXPECT_TRUE(contains(both.err, "--continue")) << both.err;
}

TEST_F(ChatTest, RunStartsANewSessionEachTimeAndContinuesWithC) {
  for (const char* text : {"a", "b", "c", "d", "e", "f", "g"}) {
    fake_.enqueue_turn(WireApi::openai_chat, text_turn(text), true);
  }
  auto first = run_piped(dir_, {"run", "-m", "mine:m", "-p", "one"}, "");
  ASSERT_EQ(first.code, 0) << first.err;
  auto at = first.err.find("new session ");
  ASSERT_NE(at, std::string::npos) << "the new session's id is printed: " << first.err;
  std::string id = first.err.substr(at + 12, first.err.find(' ', at + 12) - at - 12);
  EXPECT_EQ(id.size(), std::string("20261206-132415-3f9a0c").size()) << first.err;

  auto second = run_piped(dir_, {"run", "-m", "mine:m", "-p", "two"}, "");
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(last_user_messages(), std::vector<std::string>{"two"}) << "not appended to 'one'";

  auto third = run_piped(dir_, {"run", "--continue", "-m", "mine:m", "-p", "three"}, "");
  ASSERT_EQ(third.code, 0) << third.err;
  EXPECT_EQ(last_user_messages(), (std::vector<std::string>{"two", "three"}));
  EXPECT_TRUE(contains(third.err, "continuing session ")) << third.err;

  auto fourth = run_piped(dir_, {"run", "--json", "-s", id, "-m", "mine:m", "-p", "four"}, "");
  ASSERT_EQ(fourth.code, 0) << fourth.err;
  EXPECT_EQ(last_user_messages(), (std::vector<std::string>{"one", "four"}));
  EXPECT_TRUE(contains(fourth.out, "\"session_id\":\"" + id + "\"")) << fourth.out;
  EXPECT_FALSE(contains(fourth.err, "session")) << "-s ID prints nothing more: " << fourth.err;

  // The server's sessions (INSTANCE:SESSION, named by HTTP clients) are not continued.
  auto served = run_piped(dir_, {"run", "-s", "inst:sess", "-m", "mine:m", "-p", "from http"}, "");
  ASSERT_EQ(served.code, 0) << served.err;
  auto again = run_piped(dir_, {"run", "-c", "-m", "mine:m", "-p", "again"}, "");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(last_user_messages(), (std::vector<std::string>{"one", "four", "again"}))
      << "continued " << id << ", the latest CLI session: " << again.err;

  // Another agent's sessions are not continued.
  auto other = run_piped(dir_, {"run", "-c", "-a", "helper", "-m", "mine:m", "-p", "x"}, "");
  EXPECT_TRUE(contains(other.err, "no earlier session of agent 'helper'")) << other.err;
}

// ---- what reaches the terminal ----

TEST(TerminalSafe, DropsEveryEscapeAndControlAModelCouldUse) {
  using cli::terminal_safe;
  EXPECT_EQ(terminal_safe("plain text, tabs\tand\nnewlines; ünïcödé ✓"),
            "plain text, tabs\tand\nnewlines; ünïcödé ✓");
  EXPECT_EQ(terminal_safe("\033[2J\033[1;1Hcleared"), "cleared") << "CSI: clear screen, move";
  EXPECT_EQ(terminal_safe("a\033[31mred\033[0mb"), "aredb");
  EXPECT_EQ(terminal_safe("x\033]52;c;ZXZpbA==\ay"), "xy") << "OSC 52 writes the clipboard";
  EXPECT_EQ(terminal_safe("x\033]0;title\033\\y"), "xy") << "OSC ended by ST";
  EXPECT_EQ(terminal_safe("x\033]8;;http://evil\033\\link\033]8;;\033\\y"), "xlinky");
  EXPECT_EQ(terminal_safe("x\033Pdcs\033\\y"), "xy");
  EXPECT_EQ(terminal_safe("x\033cy"), "xy") << "ESC c resets the terminal";
  EXPECT_EQ(terminal_safe("safe\rEVIL"), "safeEVIL") << "no carriage return to overwrite";
  EXPECT_EQ(terminal_safe("bell\a back\b del\x7f nul"), "bell back del nul");
  EXPECT_EQ(terminal_safe("c1 \xC2\x9B"
                          "2J csi"),
            "c1 2J csi")
      << "U+009B is CSI";
  EXPECT_EQ(terminal_safe("cut at the end\033"), "cut at the end");
  EXPECT_EQ(terminal_safe("cut\033[12"), "cut");
  EXPECT_EQ(terminal_safe("cut\033]0;never ended"), "cut");
  EXPECT_EQ(terminal_safe(std::string("nul\0inside", 11)), "nulinside");

  // Streamed: a sequence split between pieces is still dropped whole.
  cli::TerminalFilter filter;
  std::string out;
  for (const char* piece :
       {"before\033", "]0;PWNED", "-TITLE\a\033[", "2Jafter \xC2", "\x9B", "1m ok \xC2", "\xA9"}) {
    out += filter.feed(piece);
  }
  EXPECT_EQ(out, "beforeafter 1m ok \xC2\xA9");
}

// The output is valid UTF-8 without ESC, C0 controls but \n and \t, DEL or C1 controls.
void expect_terminal_safe(const std::string& out) {
  for (std::size_t i = 0; i < out.size();) {
    const auto c = static_cast<unsigned char>(out[i]);
    std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    ASSERT_NE(n, 0u) << "a stray byte at " << i << " of " << out;
    ASSERT_LE(i + n, out.size()) << "a cut character at the end of " << out;
    if (n == 1) {
      EXPECT_TRUE(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F)) << int(c) << " in " << out;
    }
    if (n == 2) {
      EXPECT_FALSE(c == 0xC2 && static_cast<unsigned char>(out[i + 1]) <= 0x9F)
          << "a C1 control in " << out;
    }
    for (std::size_t k = 1; k < n; ++k) {
      const auto cont = static_cast<unsigned char>(out[i + k]);
      ASSERT_TRUE(cont >= 0x80 && cont <= 0xBF) << "a bad continuation in " << out;
    }
    i += n;
  }
}

TEST(TerminalSafe, InvalidUtf8NeverSmugglesAControl) {
  using cli::terminal_safe;
  // Each of these once came out as C2 9B (a one-byte CSI) or a raw 8-bit control.
  for (std::string bad :
       {std::string("\xC2\x7F\x9B"
                    "2J"),
        std::string("\xC2\x01\x9B"
                    "2J"),
        std::string("\xC2\x1B"
                    "A\x9B"
                    "2J"),
        std::string("\xC2\x1B[m\x9B"
                    "2J"),
        std::string("\x9B"
                    "2J"),
        std::string("\x85\x8D\x90\x9D\x9E\x9F"), std::string("\xE0\x80\x9B"),
        std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80"), std::string("\xC0\x9B"),
        std::string("\xFF\xFE"), std::string("\x1B\xC3\xA9")}) {
    SCOPED_TRACE(bad);
    expect_terminal_safe(terminal_safe(bad));
    // Fed one byte at a time, as a stream could cut it.
    cli::TerminalFilter filter;
    std::string streamed;
    for (char c : bad) streamed += filter.feed(std::string_view(&c, 1));
    streamed += filter.finish();
    expect_terminal_safe(streamed);
    EXPECT_EQ(streamed, terminal_safe(bad));
  }
  EXPECT_EQ(terminal_safe("\x1B\xC3\xA9t\xC3\xA9"), "\xC3\xA9t\xC3\xA9")
      << "ESC before a character does not eat half of it";
  EXPECT_EQ(terminal_safe("\xE2\x9B\x94 stop, \xF0\x9F\x98\x80 ok, \xE4\xB8\xAD"),
            "\xE2\x9B\x94 stop, \xF0\x9F\x98\x80 ok, \xE4\xB8\xAD")
      << "valid characters whose bytes include 0x9B or 0x9F stay";
  EXPECT_EQ(terminal_safe("a\x1B]0;never closed\nb"), "a\nb")
      << "an unclosed string ends at the line break";
}

TEST(TerminalSafe, ToolLinesAreCompactAndCut) {
  EXPECT_EQ(cli::tool_call_line("bash", json_object{{"command", "ls -la"}}, 80),
            "  -> bash: ls -la");
  EXPECT_EQ(cli::tool_call_line("glob", json_object{}, 80), "  -> glob");
  EXPECT_EQ(cli::tool_call_line("bash", json_object{{"command", "echo a\necho b"}}, 80),
            "  -> bash: echo a …");
  auto many = cli::tool_call_line("read", json_object{{"path", "a"}, {"limit", 2}}, 80);
  EXPECT_EQ(many, R"(  -> read: {"path":"a","limit":2})");
  auto cut = cli::tool_call_line("bash", json_object{{"command", std::string(200, 'x')}}, 40);
  EXPECT_EQ(cut.size(), 39u + std::string("…").size()) << cut;
  auto utf8 = cli::tool_call_line("bash", json_object{{"command", "ééééééééééééééééééééé"}}, 20);
  EXPECT_EQ(utf8.find('\xC3', utf8.size() - std::string("…").size() - 1), std::string::npos)
      << "not cut inside a character: " << utf8;
}

TEST_F(ChatTest, AModelCannotDriveTheTerminalButPipesGetTheExactBytes) {
  REQUIRE_TMUX();
  const std::string evil = "before\033]0;PWNED-TITLE\a\033[2Jafter";
  fake_.enqueue_turn(WireApi::openai_chat, text_turn(evil), true);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn(evil), true);
  Tmux tmux(dir_.path(), fmt::format("env CPPFLUE_TEST_MINE_KEY=k TERM=xterm {} chat -m mine:m",
                                     shell_quote(binary())));
  ASSERT_TRUE(tmux.started()) << tmux.start_output();
  ASSERT_TRUE(tmux.wait_for_screen("you>")) << tmux.screen();
  tmux.keys("hi", true);
  tmux.keys("Enter");
  ASSERT_TRUE(tmux.wait_for_screen("beforeafter")) << tmux.screen();
  EXPECT_TRUE(contains(tmux.screen(), "cppflue chat: agent"))
      << "the screen was not cleared: " << tmux.screen();
  EXPECT_FALSE(contains(tmux.title(), "PWNED")) << tmux.title();
  tmux.keys("/exit", true);
  tmux.keys("Enter");

  auto piped = run_piped(dir_, {"run", "-m", "mine:m", "-p", "hi"}, "");
  ASSERT_EQ(piped.code, 0) << piped.err;
  EXPECT_TRUE(contains(piped.out, evil)) << "a file gets what the model said";
}

}  // namespace
}  // namespace cppflue
