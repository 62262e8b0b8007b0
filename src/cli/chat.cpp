// SPDX-License-Identifier: Apache-2.0
// `cppflue chat`: a REPL on one agent and session. On a terminal: a line editor (line_editor.hpp),
// a spinner until the answer starts, compact tool lines and a usage line; slash commands are
// handled here and never reach the model. Without a terminal each input line is one message.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>

#include "chat_output.hpp"
#include "cli.hpp"
#include "cppflue/store/store.hpp"
#include "line_editor.hpp"
#include "suggest.hpp"

namespace cppflue::cli {

namespace {

constexpr const char* kBold = "\033[1m";
constexpr const char* kDim = "\033[2m";
constexpr const char* kCyan = "\033[36m";
constexpr const char* kReset = "\033[0m";

struct SlashCommand {
  const char* name;
  const char* args;
  const char* help;
};

constexpr SlashCommand kCommands[] = {
    {"help", "", "this list"},
    {"new", "", "start a new session"},
    {"session", "[ID]", "show the session, or switch to session ID (created if new)"},
    {"sessions", "", "list this agent's sessions"},
    {"model", "[NAME]", "show the model, or switch to provider:model"},
    {"tools", "", "list the tools offered to the model"},
    {"compact", "", "summarise the older part of the conversation now"},
    {"exit", "", "quit (also /quit, or Ctrl-D on an empty line)"},
};

class Chat {
 public:
  Chat(const CommonOptions& common, RunOptions opts, Agent agent, Session session, bool tty)
      : common_(common),
        opts_(std::move(opts)),
        agent_(std::move(agent)),
        session_(std::move(session)),
        tty_(tty),
        styled_out_(styled(STDOUT_FILENO)),
        styled_err_(styled(STDERR_FILENO)) {}

  int loop();

 private:
  std::optional<std::string> read_entry();
  // On a terminal: makes the line editor, or says why there is none (plain lines then).
  void open_editor();
  // An entry without the editor: one line from a pipe; on a terminal, with a prompt, lines
  // ending with a backslash continued.
  std::optional<std::string> read_plain(const std::string& prompt);
  // A slash command: handled here; false once the chat should end.
  bool command(const std::string& entry);
  void answer(const std::string& text);
  void install_abort_handler();

  void help();
  void switch_session(const std::string& id, const char* what);
  void list_sessions();
  void switch_model(const std::string& model);
  void list_tools();
  void compact();

  void note(const std::string& text) const {
    const std::string safe = for_terminal(STDERR_FILENO, text);
    std::cerr << (styled_err_ ? kDim + safe + kReset : safe) << '\n';
  }

  const CommonOptions& common_;
  RunOptions opts_;
  Agent agent_;
  Session session_;
  const bool tty_;
  const bool styled_out_;
  const bool styled_err_;
  std::optional<LineEditor> editor_;
  bool plain_terminal_ = false;  // a terminal, but libedit could not be used: plain lines
};

// "/model x" → {"model", "x"}; nullopt when `entry` is no command: it does not start with '/',
// its first word holds another '/' (a path), or it starts with "//" (a message that starts
// with '/', sent without the first one).
std::optional<std::pair<std::string, std::string>> parse_command(const std::string& entry) {
  if (entry.empty() || entry[0] != '/' || entry.rfind("//", 0) == 0) return std::nullopt;
  auto space = entry.find_first_of(" \t");
  std::string name = entry.substr(1, space == std::string::npos ? std::string::npos : space - 1);
  if (name.find('/') != std::string::npos || name.find('\n') != std::string::npos) {
    return std::nullopt;
  }
  std::string rest;
  if (space != std::string::npos) {
    auto from = entry.find_first_not_of(" \t", space);
    if (from != std::string::npos) rest = entry.substr(from);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.pop_back();
  }
  return std::make_pair(name, rest);
}

void Chat::open_editor() {
  std::string why = LineEditor::unavailable();
  if (why.empty()) {
    try {
      editor_.emplace();
      return;
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  plain_terminal_ = true;
  note("no line editing, plain lines instead (a pasted block is sent line by line): " + why);
}

std::optional<std::string> Chat::read_plain(const std::string& prompt) {
  std::string entry;
  for (;;) {
    if (plain_terminal_) std::cout << (entry.empty() ? prompt : "...> ") << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) {
      return entry.empty() ? std::nullopt : std::optional<std::string>(entry);
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // On a terminal, as with the editor, a line that ends with a backslash continues.
    if (plain_terminal_ && !line.empty() && line.back() == '\\') {
      line.pop_back();
      entry += line + '\n';
      continue;
    }
    return entry + line;
  }
}

std::optional<std::string> Chat::read_entry() {
  if (tty_ && !editor_ && !plain_terminal_) open_editor();
  std::string prompt = styled_out_ ? fmt::format("{}{}you>{} ", kBold, kCyan, kReset) : "you> ";
  if (!editor_) return read_plain(prompt);
  std::string entry;
  for (;;) {
    auto part = entry.empty() ? editor_->read(prompt) : editor_->read("...> ", prompt);
    // Ctrl-C on a continuation line forgets the whole entry.
    if (editor_->interrupted()) entry.clear();
    if (!part) return entry.empty() ? std::nullopt : std::optional<std::string>(entry);
    // A line that ends with a backslash continues on the next one.
    if (!part->empty() && part->back() == '\\') {
      part->pop_back();
      entry += *part + '\n';
      continue;
    }
    entry += *part;
    editor_->remember(entry);
    return entry;
  }
}

int Chat::loop() {
  if (tty_) {
    std::cout << fmt::format(
        "cppflue chat: agent {}, model {}, session {}.\n"
        "Enter sends; a pasted block is one message; end a line with \\ for another line. "
        "/help lists the commands; Ctrl-C clears the line or stops the answer, Ctrl-D quits.\n",
        agent_.name(), agent_.model(), session_.id());
  }
  install_abort_handler();
  while (auto entry = read_entry()) {
    if (entry->find_first_not_of(" \t\n") == std::string::npos) continue;
    if (parse_command(*entry)) {
      if (!command(*entry)) break;
      continue;
    }
    answer(entry->rfind("//", 0) == 0 ? entry->substr(1) : *entry);
  }
  if (tty_) std::cout << '\n';
  return 0;
}

void Chat::install_abort_handler() {
  // With the editor, SIGINT arrives only while an answer runs (it reads Ctrl-C as a key); in
  // plain lines it may come while idle too, where abort() does nothing.
  set_interrupt_handler([session = session_]() mutable { session.abort(); });
}

bool Chat::command(const std::string& entry) {
  auto [name, arg] = *parse_command(entry);
  if (name == "exit" || name == "quit") return false;
  if (name == "help") {
    help();
  } else if (name == "new") {
    switch_session(new_session_id(), "new session");
  } else if (name == "session") {
    if (arg.empty()) {
      note(fmt::format("session {} (agent {}, model {})", session_.id(), agent_.name(),
                       agent_.model()));
    } else {
      switch_session(arg, "session");
    }
  } else if (name == "sessions") {
    list_sessions();
  } else if (name == "model") {
    if (arg.empty()) {
      note("model " + agent_.model());
    } else {
      switch_model(arg);
    }
  } else if (name == "tools") {
    list_tools();
  } else if (name == "compact") {
    compact();
  } else {
    std::vector<std::string> names;
    for (const auto& c : kCommands) names.emplace_back(c.name);
    std::string hint;
    if (auto near = closest(name, names)) hint = fmt::format("did you mean /{}? ", *near);
    std::cerr << error_prefix()
              << fmt::format(
                     "unknown command /{} ({}/help lists them; begin a message with // "
                     "to send one that starts with /)",
                     name, hint)
              << '\n';
  }
  return true;
}

void Chat::help() {
  std::string out = "Commands (never sent to the model):\n";
  for (const auto& c : kCommands) {
    std::string usage = std::string("/") + c.name + (*c.args ? std::string(" ") + c.args : "");
    out += fmt::format("  {:<16} {}\n", usage, c.help);
  }
  out +=
      "Enter sends the message. A pasted block of several lines is one message; end a line with "
      "\\ to type another line. A message that starts with / begins with //.\n"
      "Ctrl-C clears the line, or stops the answer; Ctrl-D on an empty line quits; Ctrl-Z stops "
      "(fg resumes).";
  std::cout << out << '\n';
}

void Chat::switch_session(const std::string& id, const char* what) {
  try {
    Session next = agent_.session(id);
    session_ = std::move(next);
    install_abort_handler();
    auto count = session_.history().size();
    note(fmt::format("{} {} ({} message{})", what, session_.id(), count, count == 1 ? "" : "s"));
  } catch (const Exception& e) {
    std::cerr << error_prefix() << for_terminal(STDERR_FILENO, e.what()) << '\n';
  }
}

void Chat::list_sessions() {
  auto store = agent_.store();
  if (!store) {
    note("this agent has no store: its sessions are not kept");
    return;
  }
  auto list = store->list_sessions();
  if (!list) {
    std::cerr << error_prefix() << for_terminal(STDERR_FILENO, list.error().message) << '\n';
    return;
  }
  std::vector<const SessionRecord*> mine;
  for (const auto& r : *list) {
    if (command_line_session(r, agent_.name())) mine.push_back(&r);
  }
  std::sort(mine.begin(), mine.end(), [](const SessionRecord* a, const SessionRecord* b) {
    return a->updated_at < b->updated_at;
  });
  std::cout << fmt::format("  {:<32} {:>8}  {}\n", "SESSION", "ENTRIES", "UPDATED");
  for (const auto* r : mine) {
    std::cout << fmt::format("{} {:<32} {:>8}  {}\n", r->id == session_.id() ? '*' : ' ',
                             for_terminal(STDOUT_FILENO, r->id), r->entry_count, r->updated_at);
  }
  if (mine.empty())
    note("(no stored session yet: the current one is stored with its first message)");
}

void Chat::switch_model(const std::string& model) {
  RunOptions next = opts_;
  next.model = model;
  try {
    auto agent = make_agent(common_, next, session_.id(), true);
    if (!agent) throw Exception(agent.error());
    Session session = agent->session(session_.id());
    opts_ = std::move(next);
    agent_ = std::move(*agent);
    session_ = std::move(session);
    install_abort_handler();
    note("model " + agent_.model());
    note_offline_model(agent_);
  } catch (const Exception& e) {
    std::cerr << error_prefix() << for_terminal(STDERR_FILENO, e.what()) << " (still on "
              << agent_.model() << ")\n";
  }
}

void Chat::list_tools() {
  auto names = agent_.tool_names();
  if (names.empty()) {
    note("no tools are offered to the model (--sandbox none, and no tools of its own)");
    return;
  }
  std::string line;
  for (const auto& n : names) line += (line.empty() ? "" : ", ") + n;
  std::cout << "tools: " << for_terminal(STDOUT_FILENO, line) << '\n';
  if (std::find(names.begin(), names.end(), "bash") == names.end()) {
    note("(no bash: start chat with --allow-shell; file writes need --allow-write)");
  }
}

void Chat::compact() {
  try {
    auto r = session_.compact();
    if (r.compacted) {
      note(fmt::format("compacted: {} messages now {}", r.messages_before, r.messages_after));
    } else {
      note("nothing to compact (" + r.reason + ")");
    }
  } catch (const Exception& e) {
    std::cerr << error_prefix() << for_terminal(STDERR_FILENO, e.what()) << '\n';
  }
}

void Chat::answer(const std::string& text) {
  Spinner spinner(tty_ && styled_err_);
  AnswerPrinter printer(spinner, styled_err_, terminal_width());
  PromptOptions options;
  options.secrets = opts_.secrets;
  const auto started = std::chrono::steady_clock::now();
  spinner.start("thinking");
  try {
    auto result = session_.stream(
        text, [&printer](const Event& e) { printer.print(e); }, std::move(options));
    spinner.stop();
    printer.end_line();
    if (tty_) note("  " + usage_line(result.usage, std::chrono::steady_clock::now() - started));
  } catch (const Exception& e) {
    spinner.stop();
    printer.end_line();
    if (e.type() == ErrorType::cancelled) {
      note("(answer stopped)");
    } else {
      std::cerr << error_prefix() << for_terminal(STDERR_FILENO, e.what()) << '\n';
    }
  }
}

}  // namespace

int chat_command(const CommonOptions& common, const RunOptions& opts) {
  install_interrupt_watcher();
  const bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (tty) use_terminal_locale();
  auto choice = choose_session(common, opts);
  if (!choice) return report_error(choice.error());
  auto agent = make_agent(common, opts, choice->id, true);
  if (!agent) return report_error(agent.error());
  note_offline_model(*agent);
  Session session = agent->session(choice->id);
  if (auto note = describe_session_choice(*choice, agent->name());
      !note.empty() && (!tty || choice->kind != SessionChoice::Kind::fresh)) {
    std::cerr << "cppflue: " << for_terminal(STDERR_FILENO, note) << '\n';
  }
  Chat chat(common, opts, std::move(*agent), std::move(session), tty);
  return chat.loop();
}

}  // namespace cppflue::cli
