// SPDX-License-Identifier: Apache-2.0
// Agents, sessions and operations. An operation (prompt/stream) runs as a coroutine on its
// session's strand: it appends the user message durably, hands a TurnContext to the harness
// backend, emits the events of SPEC §11, and on failure or abort leaves the history
// consistent (every tool call answered, the interruption recorded as a marker entry).
#include "cppflue/harness/agent.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "cppflue/core/clock.hpp"
#include "cppflue/core/config.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/harness/backend.hpp"
#include "cppflue/net/http_client.hpp"
#include "cppflue/store/store.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace cppflue {

json to_json(const PromptResult& r) {
  return json_object{{"text", r.text},
                     {"usage", to_json(r.usage)},
                     {"model", r.model},
                     {"session_id", r.session_id},
                     {"metadata", r.metadata}};
}

namespace {

constexpr std::string_view kPreamble =
    "You are an autonomous agent running inside CppFlue, a headless agent harness. Work "
    "step by step, use the tools you are given when they help, and finish with a clear, "
    "concise answer.";

constexpr std::size_t kMaxToolResultBytes = 256 * 1024;

std::string read_optional_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool valid_tool_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

Result<void> check_tools(const std::vector<const ToolDefinition*>& tools) {
  std::set<std::string> seen;
  for (const auto* t : tools) {
    if (!valid_tool_name(t->name)) {
      return fail(
          ErrorType::invalid_input,
          fmt::format("invalid tool name '{}': use 1-64 letters, digits, '_' or '-'", t->name));
    }
    if (!t->execute) {
      return fail(ErrorType::invalid_input,
                  fmt::format("tool '{}' has no execute function", t->name));
    }
    if (!seen.insert(t->name).second) {
      return fail(ErrorType::invalid_input, fmt::format("two tools are named '{}'", t->name));
    }
  }
  return {};
}

std::string tool_result_text(const json& v) {
  std::string text = v.is_string() ? std::string(v.get_string()) : (v.is_null() ? "" : dump(v));
  if (text.size() > kMaxToolResultBytes) {
    std::size_t total = text.size();
    text.resize(kMaxToolResultBytes);
    text +=
        fmt::format("\n[tool result truncated: {} of {} bytes shown]", kMaxToolResultBytes, total);
  }
  return text;
}

// Light argument checks until full schema validation: an object with the required keys.
std::optional<std::string> check_arguments(const ToolCall& call, const ToolDefinition& def) {
  if (!call.arguments.is_object()) {
    return fmt::format("the arguments of '{}' must be a JSON object; got: {}", call.name,
                       call.raw_arguments.empty() ? dump(call.arguments) : call.raw_arguments);
  }
  if (const json* req = find(def.parameters, "required"); req && req->is_array()) {
    for (const auto& k : req->get_array()) {
      if (k.is_string() && !call.arguments.get_object().contains(k.get_string())) {
        return fmt::format("missing required argument '{}' for tool '{}'",
                           std::string_view(k.get_string()), call.name);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

// ----------------------------------------------------------------------------------------

class AgentImpl : public std::enable_shared_from_this<AgentImpl> {
 public:
  Config config;
  std::string name;
  std::string model;
  std::optional<ThinkingLevel> thinking;
  int max_turns = 50;
  RetryPolicy retry;
  std::string system_prompt;
  std::vector<ToolDefinition> tools;
  EventCallback on_event;
  std::shared_ptr<Runtime> runtime;
  std::shared_ptr<HttpClient> http;
  std::shared_ptr<Store> store;
  std::shared_ptr<HarnessBackend> backend;

  std::mutex mu;
  std::map<std::string, std::weak_ptr<SessionImpl>> sessions;
  std::map<std::string, std::shared_ptr<ModelClient>> clients;

  Result<std::pair<std::shared_ptr<ModelClient>, std::string>> client_for(const std::string& spec) {
    std::lock_guard lock(mu);
    auto it = clients.find(spec);
    if (it != clients.end()) return std::make_pair(it->second, spec);
    auto resolved = resolve_model(spec, config.providers);
    if (!resolved) return fail(resolved.error());
    auto client = make_model_client(*resolved, http, retry);
    if (!client) return fail(client.error());
    clients.emplace(spec, *client);
    return std::make_pair(*client, spec);
  }
};

// Serialises event delivery for one operation (deltas arrive on the network strand, tool
// results on the session strand, abort requests on the caller's thread).
class Emitter {
 public:
  Emitter(std::string session_id, std::string operation_id, std::vector<EventCallback> callbacks)
      : session_id_(std::move(session_id)),
        operation_id_(std::move(operation_id)),
        callbacks_(std::move(callbacks)) {}

  void emit(std::string_view type, json_object fields = {}) {
    Event e;
    e.type = std::string(type);
    json_object data;
    data["session_id"] = session_id_;
    if (!operation_id_.empty()) data["operation_id"] = operation_id_;
    data["timestamp"] = iso8601_now();
    for (auto& kv : fields) data[kv.key()] = std::move(kv.value());
    e.data = std::move(data);
    std::lock_guard lock(mu_);
    for (const auto& cb : callbacks_) {
      if (!cb) continue;
      try {
        cb(e);
      } catch (const std::exception& ex) {
        log::get()->warn("event callback threw on '{}': {}", e.type, ex.what());
      } catch (...) {
        log::get()->warn("event callback threw on '{}'", e.type);
      }
    }
  }

 private:
  std::string session_id_;
  std::string operation_id_;
  std::vector<EventCallback> callbacks_;
  std::recursive_mutex mu_;  // a callback may abort the session, which emits again
};

struct OperationSpec {
  std::string kind = "prompt";
  std::string text;
  PromptOptions options;
  bool stream = false;
  EventCallback sink;
};

class SessionImpl : public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(std::shared_ptr<AgentImpl> a, std::string session_id, std::vector<Message> h)
      : agent(std::move(a)),
        id(std::move(session_id)),
        strand(asio::make_strand(agent->runtime->executor())),
        history(std::move(h)) {}

  std::shared_ptr<AgentImpl> agent;
  std::string id;
  asio::strand<asio::any_io_executor> strand;

  mutable std::mutex mu;  // guards history and the active-operation fields
  std::vector<Message> history;
  std::atomic<bool> busy{false};
  std::shared_ptr<CancelSource> active_cancel;
  std::shared_ptr<Emitter> active_emitter;
  std::string active_kind;

  Result<void> append(const Message& m, std::string_view source) {
    Entry e;
    e.kind = "message";
    e.role = std::string(role_name(m.role));
    e.content = to_json(m);
    e.source = std::string(source);
    auto r = agent->store->append_entry(id, e);
    if (!r) return fail(r.error());
    std::lock_guard lock(mu);
    history.push_back(m);
    return {};
  }

  void append_marker(json_object content) {
    Entry e;
    e.kind = "marker";
    e.content = std::move(content);
    if (auto r = agent->store->append_entry(id, e); !r) {
      log::get()->error("session {}: cannot record marker: {}", id, r.error().message);
    }
  }

  asio::awaitable<Result<PromptResult>> run(OperationSpec spec);
  bool abort();
};

// The TurnContext given to harness backends for one operation.
class OperationContext final : public TurnContext {
 public:
  OperationContext(SessionImpl& s, std::shared_ptr<ModelClient> client, std::string model_spec,
                   std::optional<ThinkingLevel> thinking, std::vector<const ToolDefinition*> tools,
                   bool stream, CancelToken cancel, std::shared_ptr<Emitter> emitter)
      : session_(s),
        client_(std::move(client)),
        model_spec_(std::move(model_spec)),
        thinking_(thinking),
        tools_(std::move(tools)),
        stream_(stream),
        cancel_(std::move(cancel)),
        emitter_(std::move(emitter)) {
    for (const auto* t : tools_) {
      specs_.push_back(ToolSpec{t->name, t->description, t->parameters});
    }
  }

  const std::vector<Message>& messages() const override { return session_.history; }
  int max_turns() const override { return session_.agent->max_turns; }
  CancelToken cancel() const override { return cancel_; }

  asio::awaitable<Result<ModelResponse>> call_model() override {
    ++turns_;
    std::string turn_id = new_hex_id("turn_", 16);
    emitter_->emit("turn_request", {{"turn_id", turn_id}, {"model", model_spec_}});
    ModelRequest req;
    req.system = session_.agent->system_prompt;
    {
      std::lock_guard lock(session_.mu);
      req.messages = session_.history;
    }
    req.tools = specs_;
    req.thinking = thinking_;
    req.stream = stream_;
    partial_text_.clear();
    DeltaCallback on_delta;
    if (stream_) {
      on_delta = [this](const ModelDelta& d) {
        if (d.kind == ModelDelta::Kind::text) {
          partial_text_ += d.text;
          emitter_->emit("text_delta", {{"text", d.text}});
        } else if (d.kind == ModelDelta::Kind::thinking) {
          emitter_->emit("thinking_delta", {{"text", d.text}});
        }
      };
    }
    auto response = co_await client_->complete(std::move(req), std::move(on_delta), cancel_);
    if (!response) co_return response;
    usage_ += response->usage;
    last_model_ = response->model.empty() ? model_spec_ : response->model;
    last_finish_ = std::string(finish_reason_name(response->finish_reason));
    partial_text_.clear();
    emitter_->emit(
        "turn",
        {{"turn_id", turn_id}, {"model", last_model_}, {"usage", to_json(response->usage)}});
    co_return response;
  }

  Result<void> append(Message message) override {
    std::string_view source = message.role == Role::assistant ? "model" : "tool";
    return session_.append(message, source);
  }

  asio::awaitable<Result<std::vector<Message>>> run_tools(
      const std::vector<ToolCall>& calls) override {
    using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code,
                                                                std::size_t, Message)>;
    auto channel = std::make_shared<Channel>(session_.strand, calls.size() + 1);
    std::vector<std::optional<Message>> results(calls.size());
    pending_results_.clear();

    for (const auto& call : calls) {
      emitter_->emit("tool_start",
                     {{"toolName", call.name}, {"toolCallId", call.id}, {"args", call.arguments}});
    }
    auto make_result = [](const ToolCall& call, std::string text, bool is_error) {
      Message m;
      m.role = Role::tool;
      m.tool_call_id = call.id;
      m.tool_name = call.name;
      m.text = std::move(text);
      m.is_error = is_error;
      return m;
    };
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const ToolCall& call = calls[i];
      const ToolDefinition* def = nullptr;
      for (const auto* t : tools_) {
        if (t->name == call.name) def = t;
      }
      if (!def) {
        std::vector<std::string> names;
        for (const auto* t : tools_) names.push_back(t->name);
        channel->try_send(
            boost::system::error_code{}, i,
            make_result(
                call,
                fmt::format("unknown tool '{}' (available tools: {})", call.name,
                            names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))),
                true));
        continue;
      }
      if (auto problem = check_arguments(call, *def)) {
        channel->try_send(boost::system::error_code{}, i, make_result(call, *problem, true));
        continue;
      }
      asio::post(
          session_.agent->runtime->blocking(),
          [channel, i, call, def, session_id = session_.id, cancel = cancel_, make_result] {
            ToolContext ctx{session_id, call.id, call.name, cancel};
            Message m;
            try {
              m = make_result(call, tool_result_text(def->execute(call.arguments, ctx)), false);
            } catch (const Exception& e) {
              m = make_result(call, e.error().message, true);
            } catch (const std::exception& e) {
              m = make_result(call, fmt::format("tool '{}' failed: {}", call.name, e.what()), true);
            } catch (...) {
              m = make_result(
                  call, fmt::format("tool '{}' failed with an unknown exception", call.name), true);
            }
            channel->try_send(boost::system::error_code{}, i, std::move(m));
          });
    }

    CancelRegistration reg(cancel_, [channel] { channel->cancel(); });
    for (std::size_t received = 0; received < calls.size();) {
      auto [ec, index, message] =
          co_await channel->async_receive(asio::as_tuple(asio::use_awaitable));
      if (ec || cancel_.cancelled()) {
        co_return fail(ErrorType::cancelled, "operation aborted while tools were running");
      }
      emitter_->emit("tool_end", {{"toolName", message.tool_name},
                                  {"toolCallId", message.tool_call_id},
                                  {"isError", message.is_error},
                                  {"result", message.text}});
      pending_results_[message.tool_call_id] = message;
      results[index] = std::move(message);
      ++received;
    }
    std::vector<Message> out;
    out.reserve(results.size());
    for (auto& r : results) out.push_back(std::move(*r));
    pending_results_.clear();
    co_return out;
  }

  // After a failure: answer every tool call of the last assistant message that has no result
  // yet, so the stored conversation stays valid for the next request.
  void repair_history() {
    std::vector<ToolCall> open_calls;
    {
      std::lock_guard lock(session_.mu);
      const auto& h = session_.history;
      for (std::size_t i = h.size(); i-- > 0;) {
        if (h[i].role == Role::assistant) {
          std::set<std::string> answered;
          for (std::size_t j = i + 1; j < h.size(); ++j) {
            if (h[j].role == Role::tool) answered.insert(h[j].tool_call_id);
          }
          for (const auto& c : h[i].tool_calls) {
            if (!answered.count(c.id)) open_calls.push_back(c);
          }
          break;
        }
        if (h[i].role == Role::user) break;
      }
    }
    for (const auto& c : open_calls) {
      Message m;
      auto it = pending_results_.find(c.id);
      if (it != pending_results_.end()) {
        m = it->second;
      } else {
        m.role = Role::tool;
        m.tool_call_id = c.id;
        m.tool_name = c.name;
        m.text = "aborted: the operation was stopped before this tool call finished";
        m.is_error = true;
      }
      if (auto r = session_.append(m, "tool"); !r) {
        log::get()->error("session {}: cannot record tool result: {}", session_.id,
                          r.error().message);
      }
    }
  }

  const Usage& usage() const { return usage_; }
  int turns() const { return turns_; }
  const std::string& last_model() const { return last_model_; }
  const std::string& last_finish() const { return last_finish_; }
  const std::string& partial_text() const { return partial_text_; }

 private:
  SessionImpl& session_;
  std::shared_ptr<ModelClient> client_;
  std::string model_spec_;
  std::optional<ThinkingLevel> thinking_;
  std::vector<const ToolDefinition*> tools_;
  std::vector<ToolSpec> specs_;
  bool stream_;
  CancelToken cancel_;
  std::shared_ptr<Emitter> emitter_;
  Usage usage_;
  int turns_ = 0;
  std::string last_model_;
  std::string last_finish_;
  std::string partial_text_;
  std::map<std::string, Message> pending_results_;
};

asio::awaitable<Result<PromptResult>> SessionImpl::run(OperationSpec spec) {
  if (busy.exchange(true)) {
    std::string kind;
    {
      std::lock_guard lock(mu);
      kind = active_kind;
    }
    co_return fail(ErrorType::session_busy,
                   fmt::format("session '{}' is already running a {} operation; wait for it or use "
                               "another session for parallel conversations",
                               id, kind.empty() ? "prompt" : kind),
                   json_object{{"session_id", id}});
  }
  auto self = shared_from_this();  // keeps the session alive for the whole operation
  std::string op_id = new_hex_id("op_", 32);
  auto cancel = std::make_shared<CancelSource>();
  auto emitter = std::make_shared<Emitter>(
      id, op_id, std::vector<EventCallback>{agent->on_event, spec.options.on_event, spec.sink});
  {
    std::lock_guard lock(mu);
    active_cancel = cancel;
    active_emitter = emitter;
    active_kind = spec.kind;
  }
  auto started = std::chrono::steady_clock::now();
  emitter->emit("operation_start", {{"operation_kind", spec.kind}});

  Result<PromptResult> result = fail(ErrorType::internal, "operation did not run");
  std::unique_ptr<OperationContext> ctx;
  do {
    std::string model_spec = spec.options.model.empty() ? agent->model : spec.options.model;
    auto client = agent->client_for(model_spec);
    if (!client) {
      result = fail(client.error());
      break;
    }
    std::optional<ThinkingLevel> thinking = agent->thinking;
    if (!spec.options.thinking_level.empty()) {
      auto t = parse_thinking_level(spec.options.thinking_level);
      if (!t) {
        result = fail(t.error());
        break;
      }
      thinking = *t == ThinkingLevel::off ? std::nullopt : std::optional<ThinkingLevel>(*t);
    }
    std::vector<const ToolDefinition*> tools;
    for (const auto& t : agent->tools) tools.push_back(&t);
    for (const auto& t : spec.options.tools) tools.push_back(&t);
    if (auto r = check_tools(tools); !r) {
      result = fail(r.error());
      break;
    }
    Message user;
    user.role = Role::user;
    user.text = spec.text;
    user.images = spec.options.images;
    if (auto r = append(user, spec.kind); !r) {
      result = fail(r.error());
      break;
    }
    emitter->emit("agent_start");
    ctx =
        std::make_unique<OperationContext>(*this, client->first, client->second, thinking,
                                           std::move(tools), spec.stream, cancel->token(), emitter);
    auto final = co_await agent->backend->run(*ctx);
    if (!final) {
      result = fail(final.error());
      break;
    }
    PromptResult pr;
    pr.text = final->message.text;
    pr.usage = ctx->usage();
    pr.usage.total_tokens =
        pr.usage.total_tokens ? pr.usage.total_tokens : pr.usage.input + pr.usage.output;
    pr.model = ctx->last_model().empty() ? model_spec : ctx->last_model();
    pr.session_id = id;
    pr.metadata = json_object{
        {"operation_id", op_id}, {"turns", ctx->turns()}, {"finish_reason", ctx->last_finish()}};
    result = std::move(pr);
  } while (false);

  if (!result && cancel->cancelled() && result.error().type != ErrorType::session_busy) {
    result = fail(ErrorType::cancelled, fmt::format("operation on session '{}' was aborted", id));
  }
  if (!result) {
    if (ctx) {
      ctx->repair_history();
      append_marker(json_object{
          {"event", result.error().type == ErrorType::cancelled ? "interrupted" : "failed"},
          {"operation_id", op_id},
          {"error", json_object{{"type", wire_name(result.error().type)},
                                {"message", result.error().message}}},
          {"partial_text", ctx->partial_text()}});
    }
    if (result.error().type == ErrorType::cancelled) {
      emitter->emit("aborted", {{"operation", spec.kind}});
    } else {
      emitter->emit(
          "error", {{"message", result.error().message}, {"type", wire_name(result.error().type)}});
    }
  } else {
    emitter->emit("turn_end");
  }
  emitter->emit("idle");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started)
                .count();
  emitter->emit(
      "operation",
      {{"operation_kind", spec.kind}, {"duration_ms", ms}, {"is_error", !result.has_value()}});
  {
    std::lock_guard lock(mu);
    active_cancel.reset();
    active_emitter.reset();
    active_kind.clear();
  }
  busy.store(false);
  co_return result;
}

bool SessionImpl::abort() {
  std::shared_ptr<CancelSource> cancel;
  std::shared_ptr<Emitter> emitter;
  std::string kind;
  {
    std::lock_guard lock(mu);
    cancel = active_cancel;
    emitter = active_emitter;
    kind = active_kind;
  }
  if (!cancel || cancel->cancelled()) return false;
  if (emitter) emitter->emit("abort_requested", {{"operation", kind}});
  return cancel->cancel();
}

// ----------------------------------------------------------------------------------------

namespace {
void ensure_not_runtime_thread(const SessionImpl& s) {
  if (s.agent->runtime->in_io_thread()) {
    throw Exception(make_error(ErrorType::internal,
                               "synchronous session call from a CppFlue runtime thread would "
                               "deadlock; use the async_* variant"));
  }
}
}  // namespace

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

// ----------------------------------------------------------------------------------------

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
  auto fut = asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_future);
  return value_or_throw(fut.get());
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
  auto fut = asio::co_spawn(impl_->strand, impl_->run(std::move(spec)), asio::use_future);
  return value_or_throw(fut.get());
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
                 [state](std::exception_ptr ep, Result<PromptResult> r) {
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

// ----------------------------------------------------------------------------------------

Agent::Agent(std::shared_ptr<AgentImpl> impl) : impl_(std::move(impl)) {}
const std::string& Agent::model() const {
  return impl_->model;
}
std::shared_ptr<Store> Agent::store() const {
  return impl_->store;
}
std::string Agent::system_prompt() const {
  return impl_->system_prompt;
}

std::vector<std::string> Agent::tool_names() const {
  std::vector<std::string> names;
  for (const auto& t : impl_->tools) names.push_back(t.name);
  return names;
}

Session Agent::session(std::string id) {
  if (id.empty() || id.size() > 256) {
    throw Exception(make_error(ErrorType::invalid_input, "session id must be 1-256 characters"));
  }
  std::lock_guard lock(impl_->mu);
  if (auto it = impl_->sessions.find(id); it != impl_->sessions.end()) {
    if (auto live = it->second.lock()) return Session(live);
  }
  SessionInit init;
  init.agent = impl_->name;
  auto rec = impl_->store->open_session(id, init);
  if (!rec) throw Exception(rec.error());
  auto entries = impl_->store->entries(id);
  if (!entries) throw Exception(entries.error());
  std::vector<Message> history;
  for (const auto& e : *entries) {
    if (e.kind != "message") continue;
    auto m = message_from_json(e.content);
    if (!m) {
      throw Exception(make_error(
          ErrorType::store_error,
          fmt::format("session '{}' entry {} is unreadable: {}", id, e.seq, m.error().message)));
    }
    history.push_back(std::move(*m));
  }
  auto impl = std::make_shared<SessionImpl>(impl_, id, std::move(history));
  impl_->sessions[id] = impl;
  return Session(impl);
}

Agent init(InitOptions options) {
  auto config = discover_config(options.config_path,
                                options.root.empty() ? fs::current_path() : fs::path(options.root));
  if (!config) throw Exception(config.error());
  apply_env_defaults(*config);

  auto impl = std::make_shared<AgentImpl>();
  impl->config = std::move(*config);
  Config& cfg = impl->config;
  impl->name = options.name.empty() ? "default" : options.name;
  impl->model = !options.model.empty()     ? options.model
                : !cfg.agent.model.empty() ? cfg.agent.model
                                           : default_model();
  // Resolve now so that an unknown provider or a missing key fails before any request.
  if (auto r = resolve_model(impl->model, cfg.providers); !r) throw Exception(r.error());

  std::string thinking =
      options.thinking_level.empty() ? cfg.agent.thinking_level : options.thinking_level;
  if (!thinking.empty()) {
    auto t = parse_thinking_level(thinking);
    if (!t) throw Exception(t.error());
    if (*t != ThinkingLevel::off) impl->thinking = *t;
  }
  if (options.allow_write) cfg.agent.allow_write = *options.allow_write;
  if (options.allow_shell) cfg.agent.allow_shell = *options.allow_shell;
  if (!options.allowed_commands.empty()) cfg.agent.allowed_commands = options.allowed_commands;
  if (!options.sandbox.empty()) cfg.agent.sandbox = options.sandbox;
  impl->max_turns = options.max_turns.value_or(cfg.agent.max_turns);
  if (impl->max_turns < 1) {
    throw Exception(make_error(ErrorType::invalid_input, "max_turns must be at least 1"));
  }
  impl->retry = options.retry.value_or(RetryPolicy{});

  auto backend = create_harness(options.harness.empty() ? cfg.agent.harness : options.harness);
  if (!backend) throw Exception(backend.error());
  impl->backend = *backend;

  impl->tools = std::move(options.tools);
  std::vector<const ToolDefinition*> tool_ptrs;
  for (const auto& t : impl->tools) tool_ptrs.push_back(&t);
  if (auto r = check_tools(tool_ptrs); !r) throw Exception(r.error());
  impl->on_event = std::move(options.on_event);

  std::string prompt(kPreamble);
  if (!options.instructions.empty()) prompt += "\n\n" + options.instructions;
  for (const char* file : {"AGENTS.md", "CLAUDE.md"}) {
    std::string text = read_optional_file(cfg.root / file);
    if (!text.empty()) prompt += "\n\n" + text;
  }
  impl->system_prompt = std::move(prompt);

  impl->runtime = options.runtime ? options.runtime : Runtime::shared();
  impl->http = std::make_shared<HttpClient>(impl->runtime->executor());
  if (options.store) {
    impl->store = options.store;
  } else {
    auto store = open_sqlite_store(cfg.state_dir() / "state.db");
    if (!store) throw Exception(store.error());
    impl->store = *store;
  }
  return Agent(impl);
}

}  // namespace cppflue
