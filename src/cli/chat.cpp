// SPDX-License-Identifier: Apache-2.0
// `cppflue chat`: a line-editing REPL (libedit) on one session, answers streamed.
#include <editline/readline.h>
#include <unistd.h>

#include <iostream>

#include "cli.hpp"

namespace cppflue::cli {

int chat_command(const CommonOptions& common, const std::string& session_id,
                 const std::string& model) {
  install_interrupt_watcher();
  InitOptions init;
  init.config_path = common.config;
  init.model = model;
  Agent agent = cppflue::init(std::move(init));
  Session session = agent.session(session_id);
  bool tty = isatty(STDIN_FILENO);
  if (tty) {
    std::cout << "cppflue chat — session '" << session.id() << "', model " << agent.model()
              << ". Type /exit (or Ctrl-D) to quit; Ctrl-C stops an answer.\n";
  }
  set_interrupt_handler([session]() mutable {
    if (!session.abort()) std::cerr << "\n(type /exit or press Ctrl-D to quit)\n";
  });
  for (;;) {
    char* raw = readline(tty ? "you> " : "");
    if (!raw) break;
    std::string line(raw);
    free(raw);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line == "/exit" || line == "/quit") break;
    add_history(line.c_str());
    bool at_line_start = true;
    try {
      session.stream(line, [&](const Event& e) {
        if (auto delta = event_as<events::TextDelta>(e)) {
          if (delta->text.empty()) return;
          std::cout << delta->text << std::flush;
          at_line_start = delta->text.back() == '\n';
        } else if (auto tool = event_as<events::ToolStart>(e)) {
          if (!at_line_start) std::cout << '\n';
          at_line_start = true;
          std::cerr << "  -> " << tool->toolName << ' ' << dump(tool->args) << '\n';
        }
      });
      if (!at_line_start) std::cout << '\n';
    } catch (const Exception& e) {
      if (!at_line_start) std::cout << '\n';
      if (e.type() == ErrorType::cancelled) {
        std::cerr << "(answer stopped)\n";
      } else {
        std::cerr << error_prefix() << e.what() << '\n';
      }
    }
  }
  return 0;
}

}  // namespace cppflue::cli
