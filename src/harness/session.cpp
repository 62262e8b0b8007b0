// SPDX-License-Identifier: Apache-2.0
// The public facade of agent.hpp: Agent, Session (each operation runs as a coroutine on the
// session's strand; the synchronous forms wait for it) and EventStream. Session's file methods
// are in session_workspace.cpp, init() in agent_init.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <deque>

#include "cppflue/core/runtime.hpp"
#include "session_internal.hpp"

namespace asio = boost::asio;

namespace cppflue {

std::string join_or_none(const std::vector<std::string>& names) {
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

namespace {

void ensure_not_runtime_thread(const SessionImpl& s) {
  if (s.agent->runtime->in_io_thread()) {
    throw Exception(make_error(ErrorType::internal,
                               "synchronous session call from a CppFlue runtime thread would "
                               "deadlock; use the async_* variant"));
  }
}

// Runs `op` on the session's strand and waits for it (the caller is not a runtime thread).
template <class T>
T wait_on_strand(SessionImpl& s, asio::awaitable<Result<T>> op) {
  auto fut = asio::co_spawn(s.strand, std::move(op), asio::use_future);
  return value_or_throw(fut.get());
}

}  // namespace

// ---- EventStream ---------------------------------------------------------------------------

struct EventStream::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> queue;
  bool done = false;
  std::optional<Result<PromptResult>> result;
  std::weak_ptr<SessionImpl> session;
  std::string operation_id;
};

EventStream::EventStream(std::shared_ptr<State> state) : state_(std::move(state)) {}
EventStream::EventStream(EventStream&&) noexcept = default;
EventStream& EventStream::operator=(EventStream&&) noexcept = default;

EventStream::~EventStream() {
  if (!state_) return;
  std::unique_lock lock(state_->mu);
  if (!state_->done) {
    lock.unlock();
    abort();
    lock.lock();
    state_->cv.wait(lock, [&] { return state_->done; });
  }
}

EventStream::iterator EventStream::begin() {
  iterator it;
  it.owner_ = this;
  it.done_ = false;
  ++it;
  return it;
}

EventStream::iterator& EventStream::iterator::operator++() {
  auto& st = *owner_->state_;
  std::unique_lock lock(st.mu);
  st.cv.wait(lock, [&] { return !st.queue.empty() || st.done; });
  if (!st.queue.empty()) {
    current_ = std::move(st.queue.front());
    st.queue.pop_front();
    return *this;
  }
  done_ = true;
  if (st.result && !*st.result) throw Exception(st.result->error());
  return *this;
}

PromptResult EventStream::result() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  if (!*state_->result) throw Exception(state_->result->error());
  return **state_->result;
}

void EventStream::abort() {
  if (auto s = state_->session.lock()) s->abort();
}

// ---- Session -------------------------------------------------------------------------------

Session::Session(std::shared_ptr<SessionImpl> impl) : impl_(std::move(impl)) {}
const std::string& Session::id() const {
  return impl_->id;
}
bool Session::busy() const {
  return impl_->busy.load();
}
bool Session::abort() {
  return impl_->abort();
}

std::vector<Message> Session::history() const {
  std::lock_guard lock(impl_->mu);
  return impl_->history;
}

PromptResult Session::prompt(std::string text, PromptOptions options) {
  ensure_not_runtime_thread(*impl_);
  OperationSpec spec{"prompt", std::move(text), std::move(options), false, nullptr};
  return wait_on_strand(*impl_, impl_->run(std::move(spec)));
}

asio::awaitable<PromptResult> Session::async_prompt(std::string text) {
  return async_prompt(std::move(text), PromptOptions{});
}

asio::awaitable<PromptResult> Session::async_prompt(std::string text, PromptOptions options) {
  OperationSpec spec{"prompt", std::move(text), std::move(options), false, nullptr};
  auto r = co_await asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

PromptResult Session::stream(std::string text, EventCallback on_event, PromptOptions options) {
  ensure_not_runtime_thread(*impl_);
  OperationSpec spec{"stream", std::move(text), std::move(options), true, std::move(on_event)};
  return wait_on_strand(*impl_, impl_->run(std::move(spec)));
}

asio::awaitable<PromptResult> Session::async_stream(std::string text, EventCallback on_event) {
  return async_stream(std::move(text), std::move(on_event), PromptOptions{});
}

asio::awaitable<PromptResult> Session::async_stream(std::string text, EventCallback on_event,
                                                    PromptOptions options) {
  OperationSpec spec{"stream", std::move(text), std::move(options), true, std::move(on_event)};
  auto r = co_await asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

EventStream Session::stream(std::string text, PromptOptions options) {
  auto state = std::make_shared<EventStream::State>();
  state->session = impl_;
  OperationSpec spec{"stream", std::move(text), std::move(options), true, [state](const Event& e) {
                       std::lock_guard lock(state->mu);
                       state->queue.push_back(e);
                       state->cv.notify_all();
                     }};
  asio::co_spawn(impl_->strand, impl_->run(std::move(spec)),
                 [state](const std::exception_ptr& ep, Result<PromptResult> r) {
                   std::lock_guard lock(state->mu);
                   if (ep) {
                     try {
                       std::rethrow_exception(ep);
                     } catch (const std::exception& e) {
                       r = fail(ErrorType::internal, e.what());
                     }
                   }
                   state->result = std::move(r);
                   state->done = true;
                   state->cv.notify_all();
                 });
  return EventStream(std::move(state));
}

// `name` by value like the rest of the public API (agent.hpp): skill<T> moves it in, and
// async_skill, a coroutine, must own it; skill_operation only reads it.
// NOLINTNEXTLINE(performance-unnecessary-value-param): a by-value sink of the public API, see above
PromptResult Session::skill(std::string name, json args, PromptOptions options) {
  ensure_not_runtime_thread(*impl_);
  OperationSpec spec = impl_->skill_operation(name, std::move(args), std::move(options));
  return wait_on_strand(*impl_, impl_->run(std::move(spec)));
}

asio::awaitable<PromptResult> Session::async_skill(std::string name, json args,
                                                   PromptOptions options) {
  OperationSpec spec = impl_->skill_operation(name, std::move(args), std::move(options));
  auto op = impl_->run(std::move(spec));
  auto r = co_await asio::co_spawn(impl_->strand, std::move(op), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

PromptResult Session::task(std::string prompt, TaskOptions options) {
  ensure_not_runtime_thread(*impl_);
  SessionImpl::TaskSpec spec{std::move(prompt), std::move(options)};
  return wait_on_strand(*impl_, impl_->run_task_op(std::move(spec)));
}

asio::awaitable<PromptResult> Session::async_task(std::string prompt, TaskOptions options) {
  SessionImpl::TaskSpec spec{std::move(prompt), std::move(options)};
  auto op = impl_->run_task_op(std::move(spec));
  auto r = co_await asio::co_spawn(impl_->strand, std::move(op), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

CompactResult Session::compact() {
  ensure_not_runtime_thread(*impl_);
  return wait_on_strand(*impl_, impl_->run_compact_op());
}

asio::awaitable<CompactResult> Session::async_compact() {
  auto op = impl_->run_compact_op();
  auto r = co_await asio::co_spawn(impl_->strand, std::move(op), asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

ShellResult Session::shell(std::string command, ShellOptions options) {
  ensure_not_runtime_thread(*impl_);
  return wait_on_strand(*impl_, impl_->run_shell_op(std::move(command), std::move(options)));
}

asio::awaitable<ShellResult> Session::async_shell(std::string command) {
  return async_shell(std::move(command), ShellOptions{});
}

asio::awaitable<ShellResult> Session::async_shell(std::string command, ShellOptions options) {
  auto r = co_await asio::co_spawn(impl_->strand,
                                   impl_->run_shell_op(std::move(command), std::move(options)),
                                   asio::use_awaitable);
  co_return value_or_throw(std::move(r));
}

// ---- Agent ---------------------------------------------------------------------------------

Agent::Agent(std::shared_ptr<AgentImpl> impl) : impl_(std::move(impl)) {}
const std::string& Agent::model() const {
  return impl_->model;
}
const std::string& Agent::name() const {
  return impl_->name;
}
std::shared_ptr<Store> Agent::store() const {
  return impl_->store;
}
std::string Agent::system_prompt() const {
  return impl_->system_prompt;
}

std::vector<std::string> Agent::tool_names() const {
  std::vector<std::string> names;
  if (impl_->sandbox_spec.factory || impl_->sandbox_spec.name != "none") {
    const bool writes = impl_->file_policy.allow_write;
    for (const char* n :
         {"read", "write", "edit", "stat", "exists", "mkdir", "rm", "grep", "glob"}) {
      const std::string_view name(n);
      const bool writing = name == "write" || name == "edit" || name == "mkdir" || name == "rm";
      if (writes || !writing) names.emplace_back(n);
    }
    if (impl_->shell_policy.allow_shell) names.emplace_back("bash");
  }
  if (impl_->max_task_depth != 0) names.emplace_back("task");
  for (const auto& t : impl_->tools) names.push_back(t.name);
  for (const auto& c : impl_->command_tools) names.push_back(c.name);
  if (!impl_->enabled_tools.empty()) {
    const auto& keep = impl_->enabled_tools;
    std::erase_if(names, [&keep](const std::string& n) {
      return std::find(keep.begin(), keep.end(), n) == keep.end();
    });
  }
  if (!impl_->skills->empty()) names.emplace_back("activate_skill");
  return names;
}

std::vector<std::string> Agent::skill_names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : *impl_->skills) out.push_back(k);
  return out;
}

std::vector<std::string> Agent::role_names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : impl_->roles) out.push_back(k);
  return out;
}

ShellResult Agent::shell(std::string command, ShellOptions options) {
  return session("default").shell(std::move(command), std::move(options));
}

// `id` by value: the public API's sink (agent.hpp, `session(std::string id = "default")`) though
// open_session only reads it.
Session Agent::session(std::string id) {  // NOLINT(performance-unnecessary-value-param): see above
  if (id.empty() || id.size() > 256) {
    throw Exception(make_error(ErrorType::invalid_input, "session id must be 1-256 characters"));
  }
  SessionInit init;
  init.agent = impl_->name;
  auto s = impl_->open_session(id, init);
  if (!s) throw Exception(s.error());
  return Session(*s);
}

}  // namespace cppflue
