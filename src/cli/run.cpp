// SPDX-License-Identifier: Apache-2.0
// `cppflue run`: one prompt, streamed to the terminal (or as JSON lines / one JSON object).
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "cli.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/store/store.hpp"
#include "suggest.hpp"

namespace cppflue::cli {

void note_offline_model(const Agent& agent) {
  if (agent.model().rfind("test:", 0) == 0) {
    std::cerr << "cppflue: using the offline test model (" << agent.model()
              << "): its answers are scripted, not from a real model. Set OPENAI_API_KEY (or "
                 "ANTHROPIC_API_KEY, GEMINI_API_KEY, or -m provider:model) to use a real one.\n";
  }
}

namespace {

// A JSON object given on the command line; errors name the flag.
Result<json> object_flag(const std::string& flag, const std::string& text) {
  if (text.empty()) return json(json_object{});
  auto parsed = parse_json(text, flag);
  if (!parsed) return parsed;
  if (!parsed->is_object()) {
    return fail(ErrorType::invalid_input,
                fmt::format("{} must be a JSON object, got {}", flag, kind_name(*parsed)));
  }
  return parsed;
}

// `cppflue run WORD` where WORD is no workflow of this binary: the error, with what to do about
// the compiled workflow src/workflows/WORD.cpp of the project, or the closest workflow, or
// else how to send WORD as a prompt.
int unknown_workflow(const CommonOptions& common, const RunOptions& o, Error error) {
  std::error_code ec;
  auto config = discover_config(common.config, std::filesystem::current_path(ec));
  std::string compiled;
  std::vector<std::string> names = registered_workflows();
  if (config) {
    std::string example = "run " + shell_word(o.workflow);
    if (!o.payload.empty()) example += " --payload " + shell_word(o.payload);
    compiled = compiled_workflow_hint(o.workflow, config->root, example);
    for (auto& name : source_names(config->root, "workflows")) names.push_back(std::move(name));
  }
  if (!compiled.empty()) {
    error.message += compiled;
  } else if (auto near = closest(o.workflow, names)) {
    error.message += fmt::format("; did you mean '{}'?", *near);
  } else {
    error.message += "; " + prompt_hint(program_name(), o.workflow);
  }
  return report_error(error);
}

// A failed workflow run: its id first, then the error (in JSON mode one object with both).
int workflow_failed(const WorkflowRunResult& r) {
  std::cerr << "cppflue: run " << r.run_id << " failed\n";
  if (!json_errors()) return report_error(*r.error);
  std::cout << dump(json_object{{"run_id", r.run_id},
                                {"status", r.status},
                                {"error", error_object(*r.error).at("error")}})
            << std::endl;
  std::cerr << error_prefix() << for_terminal(STDERR_FILENO, r.error->message) << std::endl;
  return 1;
}

int run_workflow_command(const CommonOptions& common, const RunOptions& o) {
  auto payload = object_flag("--payload", o.payload);
  if (!payload) return report_error(payload.error());
  WorkflowRunOptions wo;
  wo.payload = std::move(*payload);
  if (const char* parent = std::getenv("TRACEPARENT"); parent != nullptr) wo.traceparent = parent;
  wo.config_path = common.config;
  if (o.stream_events) {
    wo.on_event = [](const RunEvent& e) {
      json_object line{{"type", e.type}, {"index", e.index}, {"timestamp", e.timestamp}};
      if (e.data.is_object()) {
        for (const auto& kv : e.data.get_object()) line[kv.key()] = kv.value();
      }
      std::cout << dump(line) << '\n' << std::flush;
    };
  }
  WorkflowRunResult r;
  try {
    r = run_workflow(o.workflow, std::move(wo));
  } catch (const Exception& e) {
    const auto known = registered_workflows();
    if (e.type() == ErrorType::not_found &&
        std::find(known.begin(), known.end(), o.workflow) == known.end()) {
      return unknown_workflow(common, o, e.error());
    }
    throw;
  }
  if (r.error) return workflow_failed(r);
  if (o.json || o.stream_events) {
    std::cout << dump(json_object{{"run_id", r.run_id}, {"status", r.status}, {"result", r.result}})
              << std::endl;
  } else {
    std::cout << dump_pretty(r.result) << std::endl;
  }
  return 0;
}

// The text of a prompt run (`-p -` reads it from standard input), or the error for flags that
// do not go together; empty for a skill run.
Result<std::string> prompt_to_run(const RunOptions& o) {
  if (!o.payload.empty()) {
    return fail(ErrorType::invalid_input,
                "--payload is for workflows: cppflue run NAME --payload JSON");
  }
  if (!o.args.empty() && o.skill.empty()) {
    return fail(ErrorType::invalid_input, "--args needs --skill NAME");
  }
  std::string prompt = o.prompt;
  if (!o.skill.empty()) {
    if (!prompt.empty()) {
      return fail(ErrorType::invalid_input, "use either --prompt or --skill, not both");
    }
    return prompt;
  }
  if (prompt == "-") {
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail(ErrorType::invalid_input, "the prompt is empty (pass it with -p/--prompt)");
  }
  return prompt;
}

// Prints a run's events: as JSON lines with --stream, nothing with --json, else the answer's
// text on stdout and a line per command or tool call on stderr.
class EventPrinter {
 public:
  explicit EventPrinter(const RunOptions& o) : o_(o) {}

  bool at_line_start() const { return at_line_start_; }

  void print(const Event& e) {
    if (o_.stream_events) {
      std::cout << dump(to_json(e)) << '\n' << std::flush;
      return;
    }
    if (o_.json) return;
    auto payload = decode_event(e.type, e.data);
    if (!payload) return;
    std::visit([this](const auto& p) { print(p); }, *payload);
  }

 private:
  void print(const events::TextDelta& d) {
    std::string text = out_is_terminal_ ? filter_.feed(d.text) : d.text;
    if (text.empty()) return;
    std::cout << text << std::flush;
    at_line_start_ = text.back() == '\n';
    text_seen_ = true;
  }
  void print(const events::TurnRequest&) {
    if (text_seen_) end_line();
  }
  void print(const events::CommandStart& c) {
    end_line();
    std::string line = c.command;
    for (const auto& a : c.args) line += ' ' + a;
    std::cerr << "  $ " << for_terminal(STDERR_FILENO, line) << '\n';
  }
  void print(const events::ToolStart& t) {
    end_line();
    std::cerr << "  -> " << for_terminal(STDERR_FILENO, t.toolName + ' ' + dump(t.args)) << '\n';
  }
  void print(const events::ToolEnd& t) {
    if (t.isError) {
      std::cerr << "  -> " << for_terminal(STDERR_FILENO, t.toolName + " failed: " + t.result)
                << '\n';
    }
  }
  template <class Other>
  void print(const Other&) {}

  // Keeps tool lines (stderr) off the answer's line.
  void end_line() {
    if (at_line_start_) return;
    std::cout << '\n' << std::flush;
    at_line_start_ = true;
  }

  const RunOptions& o_;
  const bool out_is_terminal_ = isatty(STDOUT_FILENO) == 1;
  TerminalFilter filter_;  // the answer's text, when it goes to a terminal
  bool at_line_start_ = true;
  bool text_seen_ = false;
};

// A skill's JSON result (a skill without an output schema gives its text as a JSON string).
void print_skill_result(const PromptResult& result, bool as_json) {
  json out = result.result.is_null() ? json(result.text) : result.result;
  if (as_json) {
    std::cout << dump(json_object{{"result", out},
                                  {"text", result.text},
                                  {"usage", to_json(result.usage)},
                                  {"model", result.model},
                                  {"session_id", result.session_id}})
              << std::endl;
  } else {
    std::cout << dump_pretty(out) << std::endl;
  }
}

// Runs the skill or the prompt on `session`; the exit status.
int run_on_session(Session& session, const RunOptions& o, const std::string& prompt,
                   const json& skill_args) {
  EventPrinter printer(o);
  auto on_event = [&printer](const Event& e) { printer.print(e); };
  PromptResult result;
  PromptOptions prompt_options;
  prompt_options.secrets = o.secrets;
  // A caller's trace (a CI job, a script) passed in the environment, as OpenTelemetry's
  // environment-variable carriers name it.
  if (const char* parent = std::getenv("TRACEPARENT"); parent != nullptr) {
    prompt_options.traceparent = parent;
  }
  try {
    if (!o.skill.empty()) {
      prompt_options.on_event = on_event;
      result = session.skill(o.skill, skill_args, std::move(prompt_options));
      if (!o.stream_events && !printer.at_line_start()) std::cout << std::endl;
      print_skill_result(result, o.json);
      return 0;
    }
    result = session.stream(prompt, on_event, std::move(prompt_options));
  } catch (const Exception& e) {
    if (!printer.at_line_start()) std::cout << std::endl;
    if (e.type() == ErrorType::cancelled) {
      if (json_errors()) std::cout << dump(error_object(e.error())) << std::endl;
      std::cerr << "cppflue: aborted\n";
      return 130;
    }
    return report_error(e.error());
  }
  if (o.json) {
    std::cout << dump(json_object{{"text", result.text},
                                  {"usage", to_json(result.usage)},
                                  {"model", result.model},
                                  {"session_id", result.session_id}})
              << std::endl;
  } else if (!o.stream_events && !printer.at_line_start()) {
    std::cout << std::endl;
  }
  return 0;
}

}  // namespace

int run_command(const CommonOptions& common, const RunOptions& o) {
  if (!o.workflow.empty()) {
    if (!o.prompt.empty() || !o.skill.empty() || !o.agent.empty()) {
      return report_error("a workflow run takes --payload, not --prompt, --skill or --agent");
    }
    return run_workflow_command(common, o);
  }
  auto prompt = prompt_to_run(o);
  if (!prompt) return report_error(prompt.error());
  auto skill_args = object_flag("--args", o.args);
  if (!skill_args) return report_error(skill_args.error());
  install_interrupt_watcher();

  auto choice = choose_session(common, o);
  if (!choice) return report_error(choice.error());
  auto agent = make_agent(common, o, choice->id);
  if (!agent) return report_error(agent.error());
  note_offline_model(*agent);
  Session session = agent->session(choice->id);
  if (auto note = describe_session_choice(*choice, agent->name()); !note.empty()) {
    std::cerr << "cppflue: " << note << '\n';
  }
  set_interrupt_handler([session]() mutable { session.abort(); });
  return run_on_session(session, o, *prompt, *skill_args);
}

}  // namespace cppflue::cli
