// SPDX-License-Identifier: Apache-2.0
// The built-in tools (docs/concepts/sandbox.md) over an operation's sandbox. Tool functions run on
// the blocking pool; `bash` drives its command on the runtime and waits for it there.
#include "builtin_tools.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "cppflue/core/json.hpp"
#include "cppflue/sandbox/search.hpp"
#include "telemetry.hpp"

namespace asio = boost::asio;

namespace cppflue::detail {

// ---- names ----

const std::vector<std::string>& builtin_tool_names() {
  static const std::vector<std::string> names = {
      "activate_skill", "bash", "edit", "exists", "final_result", "glob", "grep",
      "mkdir",          "read", "rm",   "stat",   "task",         "write"};
  return names;
}

bool is_builtin_tool_name(std::string_view name) {
  const auto& n = builtin_tool_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

namespace {

json string_prop(std::string_view description) {
  return json_object{{"type", "string"}, {"description", description}};
}

json schema(json_object properties, json_array required) {
  return json_object{{"type", "object"},
                     {"properties", std::move(properties)},
                     {"required", std::move(required)},
                     {"additionalProperties", false}};
}

[[noreturn]] void throw_error(Error e) {
  throw Exception(std::move(e));
}

std::string value_or_throw_text(Result<std::string> r) {
  if (!r) throw_error(std::move(r.error()));
  return std::move(*r);
}

const Workspace& workspace_of(const ToolScope& s) {
  const Workspace* ws = s.sandbox ? s.sandbox->workspace() : nullptr;
  if (ws == nullptr) {
    throw_error(make_error(ErrorType::policy, "this agent's sandbox has no files",
                           json_object{{"rule", "sandbox"}}));
  }
  return *ws;
}

Result<std::string> optional_string(const json& args, std::string_view tool, std::string_view key) {
  const json* v = find(args, key);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) {
    return fail(ErrorType::invalid_input,
                fmt::format("{}: '{}' must be a string, got {}", tool, key, kind_name(*v)));
  }
  return std::string(v->get_string());
}

Result<bool> optional_bool(const json& args, std::string_view tool, std::string_view key) {
  const json* v = find(args, key);
  if (v == nullptr || v->is_null()) return false;
  if (!v->is_bool()) {
    return fail(ErrorType::invalid_input,
                fmt::format("{}: '{}' must be a boolean, got {}", tool, key, kind_name(*v)));
  }
  return v->get_bool();
}

std::string run_grep(const ToolScope& s, const json& args, ToolContext& ctx) {
  const Workspace& ws = workspace_of(s);
  GrepOptions o;
  const json* pattern = find(args, "pattern");
  if (pattern == nullptr || !pattern->is_string()) {
    throw_error(make_error(ErrorType::invalid_input, "grep: 'pattern' must be a string"));
  }
  o.pattern = std::string(pattern->get_string());
  o.path = value_or_throw_text(optional_string(args, "grep", "path"));
  o.include = value_or_throw_text(optional_string(args, "grep", "include"));
  auto ic = optional_bool(args, "grep", "ignore_case");
  if (!ic) throw_error(std::move(ic.error()));
  o.ignore_case = *ic;
  o.cancel = ctx.cancel;  // abort() stops the search at the next line
  auto r = grep_files(ws, o);
  if (!r) throw_error(std::move(r.error()));
  if (r->lines.empty()) return fmt::format("No matches for /{}/.", o.pattern);
  std::string out = fmt::format("{}", fmt::join(r->lines, "\n"));
  if (r->truncated) {
    out +=
        fmt::format("\n[more than {} matches: narrow the pattern, path or include]", o.max_matches);
  }
  return out;
}

std::string run_glob(const ToolScope& s, const json& args, ToolContext& ctx) {
  const Workspace& ws = workspace_of(s);
  const json* pattern = find(args, "pattern");
  if (pattern == nullptr || !pattern->is_string()) {
    throw_error(make_error(ErrorType::invalid_input, "glob: 'pattern' must be a string"));
  }
  auto r = glob_files(ws, std::string_view(pattern->get_string()), 1000, std::chrono::seconds(30),
                      ctx.cancel);
  if (!r) throw_error(std::move(r.error()));
  if (r->paths.empty()) {
    return fmt::format("No paths match '{}'.", std::string_view(pattern->get_string()));
  }
  std::string out;
  for (const auto& p : r->paths) {
    if (!out.empty()) out += '\n';
    out += printable_path(p);
  }
  if (r->truncated) out += "\n[more than 1000 paths: use a narrower pattern]";
  return out;
}

json run_bash(const ToolScope& s, const json& args, ToolContext& ctx) {
  const json* command = find(args, "command");
  if (command == nullptr || !command->is_string()) {
    throw_error(make_error(ErrorType::invalid_input, "bash: 'command' must be a string"));
  }
  ShellCommand c;
  c.command = std::string(command->get_string());
  c.cwd = value_or_throw_text(optional_string(args, "bash", "cwd"));
  if (const json* t = find(args, "timeout"); t != nullptr && !t->is_null()) {
    auto secs = t->is_int64()    ? t->get_int64()
                : t->is_uint64() ? static_cast<std::int64_t>(t->get_uint64())
                : t->is_double() ? static_cast<std::int64_t>(t->get_double())
                                 : -1;
    if (secs < 1 || secs > 3600) {
      throw_error(make_error(ErrorType::invalid_input,
                             "bash: 'timeout' must be a number of seconds between 1 and 3600"));
    }
    c.timeout = std::chrono::seconds(secs);
  }
  if (const json* env = find(args, "env"); env != nullptr && !env->is_null()) {
    if (!env->is_object()) {
      throw_error(make_error(ErrorType::invalid_input, "bash: 'env' must be an object of strings"));
    }
    for (const auto& kv : env->get_object()) {
      if (!kv.value().is_string()) {
        throw_error(
            make_error(ErrorType::invalid_input,
                       fmt::format("bash: env '{}' must be a string", std::string_view(kv.key()))));
      }
      c.env[std::string(kv.key())] = std::string(kv.value().get_string());
    }
    // The model's variables reach only the command inside the sandbox, never a host process:
    // loader, start-up and option variables are refused.
    if (auto r = check_model_env(c.env, s.shell_policy); !r) throw_error(std::move(r.error()));
  }
  auto fut = asio::co_spawn(s.executor, run_shell(s, std::move(c), {}, ctx.cancel, ctx.traceparent),
                            asio::use_future);
  auto r = fut.get();
  if (!r) throw_error(std::move(r.error()));
  return shell_result_json(*r);
}

// `execute_command` under the tool call's (or the shell operation's) span; the whole
// command line only when content capture is on, redacted.
trace::Span command_span(const std::string& traceparent, const std::string& word,
                         const Redactor* redactor, const std::string& line) {
  if (!trace::Tracer::get().recording()) return {};
  auto parent = trace::parse_traceparent(traceparent);
  trace::Span span =
      trace::Span::start("execute_command", trace::SpanKind::internal, parent ? &*parent : nullptr);
  // The model wrote the command: its name is redacted and bounded like any content.
  std::string name = redactor != nullptr && !redactor->empty() ? redactor->apply(word) : word;
  span.set("cppflue.command.name", name.substr(0, 256));
  if (telemetry::capture(span)) {
    span.set("process.command_line", telemetry::content(line, redactor));
  }
  return span;
}

std::string cap_note(std::string text, bool cut) {
  if (cut) {
    text +=
        "\n[output truncated (2000 lines / 50 KiB per stream): run a narrower command, or "
        "redirect the output to a file and read it in sections]";
  }
  return text;
}

}  // namespace

json shell_result_json(const SubprocessResult& r) {
  // One JSON form for shell results: the public ShellResult's.
  return to_json(ShellResult{r.stdout_text, r.stderr_text, r.exit_code, r.truncated, r.timed_out});
}

asio::awaitable<Result<SubprocessResult>> run_shell(const ToolScope& s, ShellCommand command,
                                                    std::vector<std::string> call_grants,
                                                    CancelToken cancel, std::string traceparent) {
  if (!s.sandbox || !s.sandbox->has_shell()) {
    co_return fail(ErrorType::policy,
                   fmt::format("the '{}' sandbox cannot run shell commands",
                               s.sandbox ? s.sandbox->name() : std::string("none")),
                   json_object{{"rule", "sandbox"}});
  }
  std::vector<std::string> grants = s.grants;
  grants.insert(grants.end(), call_grants.begin(), call_grants.end());
  auto parsed = check_command(command.command, s.shell_policy, grants);
  if (!parsed) co_return fail(std::move(parsed.error()));
  for (const auto& [k, v] : s.secret_env) command.env[k] = v;

  std::string word;
  std::vector<std::string> args;
  if (!parsed->commands.empty() && !parsed->commands.front().words.empty()) {
    const auto& words = parsed->commands.front().words;
    word = words.front();
    args.assign(words.begin() + 1, words.end());
  }
  trace::Span span = command_span(traceparent, word, s.redactor.get(), command.command);
  if (s.emit) s.emit(events::CommandStart{word, std::move(args)});
  auto result = co_await s.sandbox->run(std::move(command), std::move(cancel));
  if (!result) {
    if (s.emit) s.emit(events::CommandEnd{word, -1});
    telemetry::fail(span, result.error(), s.redactor.get());
    co_return result;
  }
  span.set("process.exit.code", std::int64_t{result->exit_code});
  if (result->timed_out) span.set_error("timeout", "the command timed out and was killed");
  if (s.redactor) {
    result->stdout_text = s.redactor->apply(result->stdout_text);
    result->stderr_text = s.redactor->apply(result->stderr_text);
  }
  result->stdout_text =
      cap_note(std::move(result->stdout_text), result->truncated && !result->stdout_text.empty());
  if (result->timed_out) {
    if (!result->stderr_text.empty() && result->stderr_text.back() != '\n') {
      result->stderr_text += '\n';
    }
    result->stderr_text += "[command timed out and was killed (exit code 124)]";
  }
  if (s.emit) s.emit(events::CommandEnd{word, result->exit_code});
  co_return result;
}

std::string env_var_name(std::string_view name) {
  std::string v;
  for (char ch : name) {
    v += std::isalnum(static_cast<unsigned char>(ch))
             ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch)))
             : '_';
  }
  if (v.empty() || std::isdigit(static_cast<unsigned char>(v[0]))) v = "_" + v;
  return v;
}

Result<void> check_command_definition(const Command& c) {
  if (c.command.empty() == !c.callable) {
    return fail(
        ErrorType::invalid_input,
        fmt::format("command '{}' needs exactly one of `command` (a shell command line) and "
                    "`callable` (a function)",
                    c.name));
  }
  if (!c.schema.is_null() && !c.schema.is_object()) {
    return fail(ErrorType::invalid_input,
                fmt::format("command '{}': schema must be a JSON Schema object, got {}", c.name,
                            kind_name(c.schema)));
  }
  if (c.timeout.count() < 1) {
    return fail(ErrorType::invalid_input,
                fmt::format("command '{}': timeout must be at least 1 second", c.name));
  }
  if (!c.command.empty() && c.schema.is_object()) {
    if (const json* props = find(c.schema, "properties"); props && props->is_object()) {
      for (const auto& kv : props->get_object()) {
        std::string var = env_var_name(kv.key());
        if (is_denied_env_name(var)) {
          return fail(ErrorType::invalid_input,
                      fmt::format("command '{}': argument '{}' would set the environment variable "
                                  "{}, which changes what programs load or run; rename it",
                                  c.name, std::string_view(kv.key()), var));
        }
      }
    }
  }
  return {};
}

namespace {

json run_command_line(const ToolScope& base, const Command& c, const json& args, ToolContext& ctx) {
  if (!base.sandbox || !base.sandbox->has_shell()) {
    throw_error(
        make_error(ErrorType::policy,
                   fmt::format("command '{}': this agent's sandbox cannot run commands", c.name)));
  }
  // The developer wrote this command line: no allow_shell / allowlist / compound checks.
  ToolScope s = base;
  s.shell_policy.allow_shell = true;
  s.shell_policy.allow_compound_commands = true;
  s.shell_policy.allowed_commands.clear();
  ShellCommand sc;
  sc.command = c.command;
  sc.cwd = c.cwd;
  sc.timeout = c.timeout;
  sc.env = c.env;
  // Arguments become variables named after the properties the developer declared, never after
  // whatever keys the model sends.
  if (args.is_object()) {
    const json* props = c.schema.is_object() ? find(c.schema, "properties") : nullptr;
    for (const auto& kv : args.get_object()) {
      if (props == nullptr || !props->is_object() || !props->get_object().contains(kv.key())) {
        throw_error(
            make_error(ErrorType::invalid_input,
                       fmt::format("command '{}': unknown argument '{}' (the tool declares {})",
                                   c.name, std::string_view(kv.key()),
                                   props && props->is_object() && !props->get_object().empty()
                                       ? "other arguments"
                                       : "no arguments"),
                       json_object{{"argument", kv.key()}}));
      }
      sc.env[env_var_name(kv.key())] =
          kv.value().is_string() ? std::string(kv.value().get_string()) : dump(kv.value());
    }
  }
  auto fut = asio::co_spawn(
      s.executor, run_shell(s, std::move(sc), {}, ctx.cancel, ctx.traceparent), asio::use_future);
  auto r = fut.get();
  if (!r) throw_error(std::move(r.error()));
  return shell_result_json(*r);
}

}  // namespace

ToolDefinition make_command_tool(const Command& c, std::shared_ptr<const ToolScope> scope) {
  ToolDefinition t;
  t.name = c.name;
  t.description = !c.description.empty() ? c.description
                  : !c.command.empty()   ? "Run `" + c.command + "`."
                                         : "Run " + c.name + ".";
  // No schema: a shell command takes no arguments; a function takes whatever object it is given.
  t.parameters = c.schema.is_object() ? c.schema
                 : c.callable         ? json(json_object{{"type", "object"}})
                                      : json(json_object{{"type", "object"},
                                                 {"properties", json_object{}},
                                                 {"additionalProperties", false}});
  if (c.callable) {
    t.execute = c.callable;
  } else {
    t.execute = [scope = std::move(scope), c](const json& args, ToolContext& ctx) -> json {
      return run_command_line(*scope, c, args, ctx);
    };
  }
  return t;
}

namespace {

// `read`: a workspace file, or a supporting file of a SKILL.md skill at /.skills/<name>/<file>.
ToolDefinition read_tool(std::shared_ptr<const ToolScope> scope) {
  return ToolDefinition{
      "read", std::string(file_tool_description("read")), file_tool_parameters("read"),
      [scope = std::move(scope)](const json& args, ToolContext&) -> json {
        // Supporting files of SKILL.md skills live outside the workspace, at /.skills/.
        constexpr std::string_view kSkills = "/.skills/";
        if (auto path = get_string(args, "path");
            path && scope->skills && path->rfind(kSkills, 0) == 0) {
          std::string_view rest = std::string_view(*path).substr(kSkills.size());
          auto slash = rest.find('/');
          std::string name(rest.substr(0, slash));
          auto it = scope->skills->find(name);
          if (it == scope->skills->end() || slash == std::string_view::npos) {
            throw_error(
                make_error(ErrorType::not_found, fmt::format("read: no skill file {}", *path)));
          }
          return json(value_or_throw_text(read_skill_resource(it->second, rest.substr(slash + 1))));
        }
        return json(value_or_throw_text(tool_read(workspace_of(*scope), args)));
      }};
}

// `grep`: file contents matching a PCRE pattern.
ToolDefinition grep_tool(std::shared_ptr<const ToolScope> scope) {
  return ToolDefinition{
      "grep",
      "Search file contents with a PCRE regular expression. Returns path:line:text lines, "
      "sorted, at most 100; skips .git, .gitignore'd and binary files.",
      schema({{"pattern", string_prop("PCRE regular expression")},
              {"path", string_prop("File or directory to search (default: the workspace)")},
              {"include", string_prop("Glob the file names must match, e.g. *.cpp")},
              {"ignore_case",
               json_object{{"type", "boolean"}, {"description", "Case-insensitive matching"}}}},
             {"pattern"}),
      [scope = std::move(scope)](const json& args, ToolContext& ctx) -> json {
        return json(run_grep(*scope, args, ctx));
      }};
}

// `glob`: workspace paths matching a glob pattern.
ToolDefinition glob_tool(std::shared_ptr<const ToolScope> scope) {
  return ToolDefinition{
      "glob", "List workspace paths matching a glob pattern (** spans directories), sorted.",
      schema({{"pattern", string_prop("Glob pattern, e.g. src/**/*.cpp")}}, {"pattern"}),
      [scope = std::move(scope)](const json& args, ToolContext& ctx) -> json {
        return json(run_glob(*scope, args, ctx));
      }};
}

// `bash`: a shell command in the workspace, under the shell policy.
ToolDefinition bash_tool(std::shared_ptr<const ToolScope> scope) {
  return ToolDefinition{
      "bash",
      "Run a shell command (/bin/sh -c) in the workspace. Returns stdout, stderr, exit_code "
      "and truncated (each stream keeps 2000 lines / 50 KiB). A timeout gives exit code 124.",
      schema({{"command", string_prop("The command line")},
              {"timeout", json_object{{"type", "integer"},
                                      {"minimum", 1},
                                      {"maximum", 3600},
                                      {"description", "Seconds before the command is killed"}}},
              {"cwd", string_prop("Working directory inside the workspace")},
              {"env", json_object{{"type", "object"},
                                  {"additionalProperties", json_object{{"type", "string"}}},
                                  {"description", "Extra environment variables"}}}},
             {"command"}),
      [scope = std::move(scope)](const json& args, ToolContext& ctx) -> json {
        return run_bash(*scope, args, ctx);
      }};
}

}  // namespace

std::vector<ToolDefinition> make_builtin_tools(std::shared_ptr<const ToolScope> scope) {
  std::vector<ToolDefinition> tools;
  if (!scope->sandbox) return tools;
  if (scope->sandbox->workspace() != nullptr) {
    using ReadOnly = Result<std::string> (*)(const Workspace&, const json&);
    using Mutating = Result<std::string> (*)(const Workspace&, const FileToolPolicy&, const json&);
    auto add_read = [&](const std::string& name, ReadOnly fn) {
      tools.push_back(
          ToolDefinition{name, std::string(file_tool_description(name)), file_tool_parameters(name),
                         [scope, fn](const json& args, ToolContext&) -> json {
                           return json(value_or_throw_text(fn(workspace_of(*scope), args)));
                         }});
    };
    auto add_write = [&](const std::string& name, Mutating fn) {
      tools.push_back(ToolDefinition{
          name, std::string(file_tool_description(name)), file_tool_parameters(name),
          [scope, fn](const json& args, ToolContext&) -> json {
            std::lock_guard lock(*scope->write_mutex);
            return json(value_or_throw_text(fn(workspace_of(*scope), scope->file_policy, args)));
          }});
    };
    // Tools the policy refuses outright are not offered: the model would only learn of the
    // refusal by calling them. (The file functions still refuse on their own.)
    const bool writes = scope->file_policy.allow_write;
    tools.push_back(read_tool(scope));
    if (writes) add_write("write", tool_write);
    if (writes) add_write("edit", tool_edit);
    add_read("stat", tool_stat);
    add_read("exists", tool_exists);
    if (writes) add_write("mkdir", tool_mkdir);
    if (writes) add_write("rm", tool_rm);
    tools.push_back(grep_tool(scope));
    tools.push_back(glob_tool(scope));
  }
  if (scope->sandbox->has_shell() && scope->shell_policy.allow_shell) {
    tools.push_back(bash_tool(scope));
  }
  return tools;
}

}  // namespace cppflue::detail
