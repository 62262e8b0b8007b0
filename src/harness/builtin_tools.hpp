// SPDX-License-Identifier: Apache-2.0
// Private to the harness: the built-in tools (docs/concepts/sandbox.md) bound to one operation's
// sandbox, policy, command grants and secrets, plus the redaction of granted secret values.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/redact.hpp"
#include "cppflue/harness/agent.hpp"
#include "cppflue/harness/event.hpp"
#include "cppflue/harness/tool.hpp"
#include "cppflue/sandbox/file_tools.hpp"
#include "cppflue/sandbox/sandbox.hpp"
#include "cppflue/sandbox/shell_policy.hpp"

namespace cppflue::detail {

// Secret redaction (cppflue/core/redact.hpp).
using Redactor = ::cppflue::Redactor;

// What one operation's built-in tools (and `session.shell`) work with.
struct ToolScope {
  std::shared_ptr<Sandbox> sandbox;
  FileToolPolicy file_policy;
  ShellPolicy shell_policy;
  std::vector<std::string> grants;                // agent-wide + this call's `commands`
  std::map<std::string, std::string> secret_env;  // granted secrets, as variables
  std::shared_ptr<const Redactor> redactor;
  std::function<void(const EventPayload&)> emit;  // command events
  std::shared_ptr<std::mutex> write_mutex;        // serialises the session's mutating file tools
  // Skills whose supporting files `read` serves at /.skills/<name>/<file>.
  std::shared_ptr<const SkillSet> skills;
  boost::asio::any_io_executor executor;  // where shell commands are driven
};

bool is_builtin_tool_name(std::string_view name);
// A name as an environment variable: upper case, other characters '_', not starting with a
// digit ("github" → "GITHUB", "api-key" → "API_KEY").
std::string env_var_name(std::string_view name);
// All reserved names, sorted, for error messages.
const std::vector<std::string>& builtin_tool_names();

// The tools the sandbox supports: file tools, grep and glob with a workspace, bash with a
// shell.
std::vector<ToolDefinition> make_builtin_tools(std::shared_ptr<const ToolScope> scope);

// Policy check, command_start/command_end, run, redaction. Used by the bash tool and
// session.shell. `timeout` 0 = the sandbox default.
boost::asio::awaitable<Result<SubprocessResult>> run_shell(const ToolScope& scope,
                                                           ShellCommand command,
                                                           std::vector<std::string> call_grants,
                                                           CancelToken cancel,
                                                           std::string traceparent = {});

// A `Command` as a tool bound to one operation's scope (see agent.hpp). Shell commands run
// through run_shell with the policy lifted for that command line only.
ToolDefinition make_command_tool(const Command& command, std::shared_ptr<const ToolScope> scope);
// Name, exactly one of command/callable, schema shape, timeout.
Result<void> check_command_definition(const Command& command);

// {"stdout","stderr","exit_code","truncated"} (+ "timed_out" when it did).
json shell_result_json(const SubprocessResult& r);

}  // namespace cppflue::detail
