// SPDX-License-Identifier: Apache-2.0
// A session's sandbox (made on first use; a task's is its share of the parent's), the system
// prompt that describes it and the agent's policy, and Session's file methods on its
// workspace.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "session_internal.hpp"

namespace fs = std::filesystem;

namespace cppflue {

std::string AgentImpl::policy_facts() const {
  std::string t = "\n\nPolicy: ";
  t += file_policy.allow_write ? "writing files is allowed. "
                               : "writing files is disabled (allow_write is off). ";
  if (!shell_policy.allow_shell) {
    t += "Shell commands are disabled (allow_shell is off).";
  } else {
    t += "Shell commands are allowed";
    if (!shell_policy.allowed_commands.empty()) {
      t +=
          fmt::format(" (only these commands: {})", fmt::join(shell_policy.allowed_commands, ", "));
    }
    t += shell_policy.allow_compound_commands
             ? "."
             : "; one simple command per call (no ;, &&, |, redirections or substitutions).";
  }
  return t;
}

Result<std::shared_ptr<Sandbox>> SessionImpl::get_sandbox() {
  std::lock_guard lock(sandbox_mu);
  if (sandbox) return sandbox;
  if (inherited_sandbox) {
    sandbox = inherited_sandbox;
    session_prompt = agent->system_prompt + "\n\n" + sandbox->describe() + agent->policy_facts();
    return sandbox;
  }
  SandboxContext ctx{&agent->config, id,
                     agent->shell_policy.allow_shell || !agent->command_tools.empty()};
  auto sb = create_sandbox(agent->sandbox_spec, ctx);
  if (!sb) return sb;
  sandbox = *sb;
  session_prompt = agent->system_prompt + workspace_instructions(*sandbox) + "\n\n" +
                   sandbox->describe() + agent->policy_facts();
  return sandbox;
}

std::string SessionImpl::workspace_instructions(const Sandbox& sb) const {
  const Workspace* ws = sb.workspace();
  if (ws == nullptr) return {};
  std::error_code ec;
  if (fs::equivalent(ws->root(), agent->config.root, ec)) return {};
  std::string text;
  for (const char* file : {"AGENTS.md", "CLAUDE.md"}) {
    auto content = ws->read_file(file, 256 * 1024);
    if (!content || content->empty()) continue;
    text += fmt::format("\n\nInstructions from the workspace's {}:\n{}", file, *content);
  }
  return text;
}

std::string SessionImpl::system_prompt() {
  std::lock_guard lock(sandbox_mu);
  return session_prompt.empty() ? agent->system_prompt : session_prompt;
}

const Workspace& SessionImpl::workspace_or_throw() {
  auto sb = get_sandbox();
  if (!sb) throw Exception(sb.error());
  const Workspace* ws = (*sb)->workspace();
  if (ws == nullptr) {
    throw Exception(make_error(ErrorType::policy,
                               fmt::format("the '{}' sandbox has no files", (*sb)->name()),
                               json_object{{"rule", "sandbox"}}));
  }
  return *ws;
}

void SessionImpl::require_write(std::string_view what) const {
  if (!agent->file_policy.allow_write) {
    throw Exception(make_error(
        ErrorType::policy,
        fmt::format("{}: writing files is not allowed for this agent (allow_write is off)", what),
        json_object{{"rule", "allow_write"}}));
  }
}

namespace {

// Replaces invalid UTF-8 sequences with U+FFFD.
std::string repair_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len > 1) {
      unsigned cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(in[i + k]) & 0x3F);
      ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) &&
           !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string Session::read_file(const std::string& path) const {
  return repair_utf8(value_or_throw(impl_->workspace_or_throw().read_file(path)));
}
std::string Session::read_bytes(const std::string& path) const {
  return value_or_throw(impl_->workspace_or_throw().read_file(path));
}
void Session::write_file(const std::string& path, std::string_view text) {
  impl_->require_write("write_file");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  value_or_throw(ws.write_file(path, text, true));
}
void Session::write_bytes(const std::string& path, std::string_view bytes) {
  impl_->require_write("write_bytes");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  value_or_throw(ws.write_file(path, bytes, true));
}
FileInfo Session::stat(const std::string& path) const {
  return value_or_throw(impl_->workspace_or_throw().stat(path));
}
std::vector<DirEntry> Session::readdir(const std::string& path) const {
  return value_or_throw(impl_->workspace_or_throw().list_dir(path));
}
bool Session::exists(const std::string& path) const {
  return value_or_throw(impl_->workspace_or_throw().exists(path));
}
void Session::mkdir(const std::string& path, bool recursive) {
  impl_->require_write("mkdir");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  value_or_throw(ws.mkdir(path, recursive));
}
void Session::rm(const std::string& path, bool recursive, bool force) {
  impl_->require_write("rm");
  const Workspace& ws = impl_->workspace_or_throw();
  std::lock_guard lock(*impl_->write_mutex);
  value_or_throw(ws.remove(path, recursive, force));
}
std::string Session::workspace_path() const {
  auto sb = impl_->get_sandbox();
  if (!sb) throw Exception(sb.error());
  const Workspace* ws = (*sb)->workspace();
  return ws ? ws->root().string() : std::string();
}

}  // namespace cppflue
