// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/agent.hpp — agents and sessions: the main API.
//
//   auto agent = cppflue::init({.model = "openai:gpt-5.5"});
//   auto session = agent.session("fix-123");
//   auto reply = session.prompt("Summarise the open issues");
//   for (const cppflue::Event& ev : session.stream("And now in French")) { ... }
//
// `init` reads `cppflue.toml` (options given here win), loads AGENTS.md/CLAUDE.md, opens the
// SQLite store and returns an `Agent`. `agent.session(id)` opens or creates a persistent
// session whose structured history (user text, assistant text and tool calls, tool results)
// is stored durably and sent to the model on every turn. One operation runs at a time per
// session; a second one fails with `session_busy`. Synchronous methods may be called from any
// thread that is not a runtime thread; the `async_*` twins are Asio awaitables. Failures throw
// `cppflue::Exception`. The options and results (InitOptions, PromptOptions, PromptResult, ...)
// are in options.hpp, included here.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/core/redact.hpp"
#include "cppflue/harness/event.hpp"
#include "cppflue/harness/options.hpp"
#include "cppflue/model/message.hpp"
#include "cppflue/sandbox/workspace.hpp"
#include "cppflue/schema/reflect.hpp"
#include "cppflue/schema/validator.hpp"

namespace cppflue {

class SessionImpl;
class AgentImpl;
class Agent;

// Builds an agent from `cppflue.toml` + `options`. Throws `Exception` on bad configuration
// (unknown provider, tool name clashes, unknown harness, unreadable store, ...).
Agent init(InitOptions options = {});

// A pull-style stream of events; iteration blocks for the next event and ends after
// `operation`. If the operation failed or was aborted, reaching the end throws.
// Destroying the stream before the end aborts the operation.
class EventStream {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Event;
    using difference_type = std::ptrdiff_t;
    using pointer = const Event*;
    using reference = const Event&;
    iterator() = default;
    const Event& operator*() const { return current_; }
    const Event* operator->() const { return &current_; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return done_; }

   private:
    friend class EventStream;
    EventStream* owner_ = nullptr;
    Event current_;
    bool done_ = true;
  };

  EventStream(EventStream&&) noexcept;
  EventStream& operator=(EventStream&&) noexcept;
  ~EventStream();

  iterator begin();
  std::default_sentinel_t end() { return {}; }
  // Waits for the operation to finish; throws `Exception` if it failed.
  PromptResult result();
  void abort();

  struct State;

 private:
  friend class Session;
  explicit EventStream(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

class Session {
 public:
  const std::string& id() const;

  PromptResult prompt(std::string text, PromptOptions options = {});
  // The answer as a `T` described with CPPFLUE_STRUCT (its JSON Schema is generated).
  template <class T>
  T prompt(std::string text, PromptOptions options = {});
  // Awaitable twins. (Overloads rather than default arguments: GCC 12 destroys default-argument
  // temporaries of a call inside co_await twice.)
  boost::asio::awaitable<PromptResult> async_prompt(std::string text);
  boost::asio::awaitable<PromptResult> async_prompt(std::string text, PromptOptions options);

  // Like prompt, but the model answer is streamed: text_delta/thinking_delta events arrive as
  // the provider sends them.
  EventStream stream(std::string text, PromptOptions options = {});
  PromptResult stream(std::string text, EventCallback on_event, PromptOptions options = {});
  boost::asio::awaitable<PromptResult> async_stream(std::string text, EventCallback on_event);
  boost::asio::awaitable<PromptResult> async_stream(std::string text, EventCallback on_event,
                                                    PromptOptions options);

  // Runs `prompt` in a child session `<id>:task:<n>` with its own stored history, sharing this
  // session's sandbox (scoped to options.cwd), as an operation of this session (events
  // task_start / task_end). Depth is limited by max_task_depth.
  PromptResult task(std::string prompt, TaskOptions options = {});
  boost::asio::awaitable<PromptResult> async_task(std::string prompt, TaskOptions options);

  // Summarises the older part of the conversation now (docs/concepts/compaction.md); the model then
  // sees the summary plus the recent entries. All entries stay in the store.
  CompactResult compact();
  boost::asio::awaitable<CompactResult> async_compact();

  // Runs a skill (docs/concepts/skills-and-roles.md): `args` are validated against its input_schema
  // first (an error names the JSON path, and nothing is sent), the prompt is its instructions + the
  // arguments + the result schema; with an output_schema (or skill<T>) the result is validated as
  // for typed prompts. `name` may be a path under .agents/skills ("group/triage.md").
  PromptResult skill(std::string name, json args = json_object{}, PromptOptions options = {});
  template <class T>
  T skill(std::string name, json args = json_object{}, PromptOptions options = {});
  boost::asio::awaitable<PromptResult> async_skill(std::string name, json args,
                                                   PromptOptions options);

  // Cancels the running operation (model request, tools); returns false when idle.
  bool abort();
  bool busy() const;

  // The stored conversation.
  std::vector<Message> history() const;

  // Runs a shell command in the session's sandbox, as an operation of its own (events
  // operation_start, command_start, command_end, idle, operation). Subject to allow_shell and
  // the command policy; throws on denial, on an unavailable jail and on bad options. A
  // non-zero exit is a result, not an error.
  ShellResult shell(std::string command, ShellOptions options = {});
  boost::asio::awaitable<ShellResult> async_shell(std::string command);
  boost::asio::awaitable<ShellResult> async_shell(std::string command, ShellOptions options);

  // The session's workspace (paths as for the file tools; escapes throw with rule
  // path_escape). Writes need allow_write. The "none" sandbox has no files: every call throws.
  std::string read_file(const std::string& path) const;   // UTF-8 text (invalid → U+FFFD)
  std::string read_bytes(const std::string& path) const;  // exact bytes
  void write_file(const std::string& path, std::string_view text);
  void write_bytes(const std::string& path, std::string_view bytes);
  FileInfo stat(const std::string& path) const;
  std::vector<DirEntry> readdir(const std::string& path) const;
  bool exists(const std::string& path) const;
  void mkdir(const std::string& path, bool recursive = true);
  void rm(const std::string& path, bool recursive = false, bool force = false);
  // The workspace directory on this machine (empty for the "none" sandbox).
  std::string workspace_path() const;

 private:
  friend class Agent;
  explicit Session(std::shared_ptr<SessionImpl> impl);
  std::shared_ptr<SessionImpl> impl_;
};

class Agent {
 public:
  // Opens (or creates) a session. The same id returns the same live session.
  Session session(std::string id = "default");
  const std::string& model() const;
  // The name recorded on its sessions (InitOptions::name; "default" when none was given).
  const std::string& name() const;
  std::shared_ptr<Store> store() const;
  // The tools offered to the model, as an operation of this agent offers them: built-ins its
  // sandbox and policy allow (no write/edit/mkdir/rm without allow_write, no bash without
  // allow_shell), task, activate_skill, its own and its command tools, narrowed to its tool
  // list when it has one.
  std::vector<std::string> tool_names() const;
  std::string system_prompt() const;
  // The skills this agent offers (catalogue order), and its roles.
  std::vector<std::string> skill_names() const;
  std::vector<std::string> role_names() const;
  // session("default").shell(...).
  ShellResult shell(std::string command, ShellOptions options = {});

 private:
  friend Agent init(InitOptions);
  explicit Agent(std::shared_ptr<AgentImpl> impl);
  std::shared_ptr<AgentImpl> impl_;
};

namespace detail {
template <class T>
void request_result(PromptOptions& options) {
  options.result_schema = schema_of<T>();
  options.result_check = [](const json& value) {
    T out{};
    return convert(value, out);
  };
}
template <class T>
T result_as(const PromptResult& r) {
  T out{};
  auto errors = convert(r.result, out);
  if (!errors.empty()) throw Exception(path_errors_to_error(errors));
  return out;
}
}  // namespace detail

template <class T>
T Session::prompt(std::string text, PromptOptions options) {
  detail::request_result<T>(options);
  return detail::result_as<T>(prompt(std::move(text), std::move(options)));
}

template <class T>
T Session::skill(std::string name, json args, PromptOptions options) {
  detail::request_result<T>(options);
  return detail::result_as<T>(skill(std::move(name), std::move(args), std::move(options)));
}

struct Config;

// A redactor of every secret `cfg` and `code_secrets` name ([secrets] values, env ones
// resolved) and of every provider API key: what agents redact from all tool output, history and
// events, and what `cppflue sessions scrub --all` removes from a store.
std::shared_ptr<const Redactor> known_secrets_redactor(
    const Config& cfg, const std::map<std::string, std::string>& code_secrets = {});

}  // namespace cppflue
