// SPDX-License-Identifier: Apache-2.0
// `cppflue run`: one prompt, streamed to the terminal (or as JSON lines / one JSON object).
#include <iostream>
#include <iterator>

#include "cli.hpp"

namespace cppflue::cli {

namespace {
void note_offline_model(const Agent& agent) {
  if (agent.model().rfind("test:", 0) == 0) {
    std::cerr << "cppflue: using the offline test model (" << agent.model()
              << "): its answers are scripted, not from a real model. Set OPENAI_API_KEY (or "
                 "ANTHROPIC_API_KEY, GEMINI_API_KEY, or -m provider:model) to use a real one.\n";
  }
}
}  // namespace

int run_command(const CommonOptions& common, const RunOptions& o) {
  std::string prompt = o.prompt;
  if (prompt == "-") {
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    return report_error("the prompt is empty (pass it with -p/--prompt)");
  }
  install_interrupt_watcher();

  InitOptions init;
  init.config_path = common.config;
  init.model = o.model;
  init.sandbox = o.sandbox;
  if (o.allow_write) init.allow_write = true;
  if (o.allow_shell) init.allow_shell = true;
  Agent agent = cppflue::init(std::move(init));
  note_offline_model(agent);
  Session session = agent.session(o.session);
  set_interrupt_handler([session]() mutable { session.abort(); });

  bool at_line_start = true;
  bool text_seen = false;
  auto on_event = [&](const Event& e) {
    if (o.stream_events) {
      std::cout << dump(to_json(e)) << '\n' << std::flush;
      return;
    }
    if (o.json) return;
    if (e.type == "text_delta") {
      std::string_view text = e.data.at("text").as_string();
      if (text.empty()) return;
      std::cout << text << std::flush;
      at_line_start = text.back() == '\n';
      text_seen = true;
    } else if (e.type == "turn_request" && text_seen && !at_line_start) {
      std::cout << '\n';
      at_line_start = true;
    } else if ((e.type == "command_start" || e.type == "tool_start") && !at_line_start) {
      std::cout << '\n' << std::flush;  // keep tool lines (stderr) off the answer's line
      at_line_start = true;
    }
    if (e.type == "command_start") {
      std::string line(e.data.at("command").as_string());
      for (const auto& a : e.data.at("args").as_array()) {
        line += ' ';
        line += std::string_view(a.as_string());
      }
      std::cerr << "  $ " << line << '\n';
    } else if (e.type == "tool_start") {
      std::cerr << "  -> " << std::string_view(e.data.at("toolName").as_string()) << ' '
                << dump(e.data.at("args")) << '\n';
    } else if (e.type == "tool_end" && e.data.at("isError").as_bool()) {
      std::cerr << "  -> " << std::string_view(e.data.at("toolName").as_string())
                << " failed: " << std::string_view(e.data.at("result").as_string()) << '\n';
    }
  };

  PromptResult result;
  PromptOptions prompt_options;
  prompt_options.secrets = o.secrets;
  try {
    result = session.stream(prompt, on_event, std::move(prompt_options));
  } catch (const Exception& e) {
    if (!at_line_start) std::cout << std::endl;
    if (e.type() == ErrorType::cancelled) {
      std::cerr << "cppflue: aborted\n";
      return 130;
    }
    return report_error(e.what());
  }
  if (o.json) {
    std::cout << dump(json_object{{"text", result.text},
                                  {"usage", to_json(result.usage)},
                                  {"model", result.model},
                                  {"session_id", result.session_id}})
              << std::endl;
  } else if (!o.stream_events && !at_line_start) {
    std::cout << std::endl;
  }
  return 0;
}

}  // namespace cppflue::cli
