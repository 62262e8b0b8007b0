// SPDX-License-Identifier: Apache-2.0
// `cppflue run`: one prompt, streamed to the terminal (or as JSON lines / one JSON object).
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include "cli.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/store/store.hpp"

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

int run_workflow_command(const CommonOptions& common, const RunOptions& o) {
  auto payload = object_flag("--payload", o.payload);
  if (!payload) return report_error(payload.error().message);
  WorkflowRunOptions wo;
  wo.payload = std::move(*payload);
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
  auto r = run_workflow(o.workflow, std::move(wo));
  if (r.error) {
    std::cerr << "cppflue: run " << r.run_id << " failed\n";
    return report_error(r.error->message);
  }
  if (o.json || o.stream_events) {
    std::cout << dump(json_object{{"run_id", r.run_id}, {"status", r.status}, {"result", r.result}})
              << std::endl;
  } else {
    std::cout << dump_pretty(r.result) << std::endl;
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
  if (!o.payload.empty())
    return report_error("--payload is for workflows: cppflue run NAME --payload JSON");
  if (!o.args.empty() && o.skill.empty()) return report_error("--args needs --skill NAME");
  std::string prompt = o.prompt;
  if (!o.skill.empty()) {
    if (!prompt.empty()) return report_error("use either --prompt or --skill, not both");
  } else {
    if (prompt == "-") {
      prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
      return report_error("the prompt is empty (pass it with -p/--prompt)");
    }
  }
  auto skill_args = object_flag("--args", o.args);
  if (!skill_args) return report_error(skill_args.error().message);
  install_interrupt_watcher();

  auto apply_flags = [&](InitOptions& init) {
    if (!o.model.empty()) init.model = o.model;
    if (!o.sandbox.empty()) init.sandbox = o.sandbox;
    if (o.allow_write) init.allow_write = true;
    if (o.allow_shell) init.allow_shell = true;
  };
  std::optional<Agent> made;
  if (!o.agent.empty()) {
    auto config = discover_config(common.config, std::filesystem::current_path());
    if (!config) return report_error(config.error().message);
    auto factory = find_agent(o.agent, config->root);
    if (!factory) return report_error(factory.error().message);
    InitOptions defaults;
    defaults.config_path = common.config;
    defaults.root = config->root.string();
    defaults.name = o.agent;
    made = factory->instantiate(AgentContext{o.session, {}, nullptr}, defaults, apply_flags);
  } else {
    InitOptions init;
    init.config_path = common.config;
    apply_flags(init);
    made = cppflue::init(std::move(init));
  }
  Agent& agent = *made;
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
    if (!o.skill.empty()) {
      prompt_options.on_event = on_event;
      result = session.skill(o.skill, *skill_args, std::move(prompt_options));
      if (!o.stream_events && !at_line_start) std::cout << std::endl;
      // The JSON result (a skill without an output schema gives its text as a JSON string).
      json out = result.result.is_null() ? json(result.text) : result.result;
      if (o.json) {
        std::cout << dump(json_object{{"result", out},
                                      {"text", result.text},
                                      {"usage", to_json(result.usage)},
                                      {"model", result.model},
                                      {"session_id", result.session_id}})
                  << std::endl;
      } else {
        std::cout << dump_pretty(out) << std::endl;
      }
      return 0;
    }
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
