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
// `cppflue::Exception`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/harness/event.hpp"
#include "cppflue/harness/tool.hpp"
#include "cppflue/model/message.hpp"
#include "cppflue/model/model_client.hpp"

namespace cppflue {

class Runtime;
class Store;

struct InitOptions {
  std::string model;    // "provider:model"; empty = config, then env/API keys, then test:demo
  std::string sandbox;  // empty = config ("virtual")
  std::optional<bool> allow_write;
  std::optional<bool> allow_shell;
  std::vector<std::string> allowed_commands;
  std::string harness;         // empty = config ("native")
  std::string thinking_level;  // empty = config
  std::string instructions;    // extra system instructions, before AGENTS.md/CLAUDE.md
  std::vector<ToolDefinition> tools;
  EventCallback on_event;            // every event of every session of this agent
  std::optional<int> max_turns;      // default 50
  std::string config_path;           // explicit cppflue.toml (must exist)
  std::string root;                  // project root when no config path is given (default cwd)
  std::string name = "default";      // agent name recorded on its sessions
  std::optional<RetryPolicy> retry;  // model retry policy (tests shorten the delays)
  std::shared_ptr<Runtime> runtime;  // default: the process-wide runtime
  std::shared_ptr<Store> store;      // default: SQLite at <root>/.cppflue/state.db
};

struct PromptOptions {
  std::string model;                  // overrides the agent's model for this call
  std::string thinking_level;         // overrides the agent's thinking level
  std::vector<ToolDefinition> tools;  // extra tools for this call only
  std::vector<Image> images;
  EventCallback on_event;  // events of this call only
};

struct PromptResult {
  std::string text;
  Usage usage;  // summed over every model call of the operation
  std::string model;
  std::string session_id;
  json metadata = json_object{};  // {"operation_id", "turns", "finish_reason"}
};
json to_json(const PromptResult& r);

class SessionImpl;
class AgentImpl;

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

  // Cancels the running operation (model request, tools); returns false when idle.
  bool abort();
  bool busy() const;

  // The stored conversation.
  std::vector<Message> history() const;

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
  std::shared_ptr<Store> store() const;
  std::vector<std::string> tool_names() const;
  std::string system_prompt() const;

 private:
  friend Agent init(InitOptions);
  explicit Agent(std::shared_ptr<AgentImpl> impl);
  std::shared_ptr<AgentImpl> impl_;
};

// Builds an agent from `cppflue.toml` + `options`. Throws `Exception` on bad configuration
// (unknown provider, tool name clashes, unknown harness, unreadable store, ...).
Agent init(InitOptions options = {});

}  // namespace cppflue
