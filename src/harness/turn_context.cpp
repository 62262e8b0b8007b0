// SPDX-License-Identifier: Apache-2.0
// OperationContext: the TurnContext a harness backend drives for one operation. Model calls
// (threshold compaction first, one overflow retry, deltas when streaming, the tool form of a
// structured answer) and tool runs (arguments validated, tools run concurrently, results
// redacted and emitted in order of completion, returned in order of the calls).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "compaction.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/schema/validator.hpp"
#include "session_internal.hpp"
#include "telemetry.hpp"

namespace asio = boost::asio;

namespace cppflue {

namespace {

constexpr std::size_t kMaxToolResultBytes = 256 * 1024;

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

// Arguments are validated against the tool's JSON Schema before it runs. Validators are
// compiled once per distinct schema (built-in tools are re-created per operation).
std::optional<std::string> check_arguments(const ToolCall& call, const ToolDefinition& def) {
  if (!call.arguments.is_object()) {
    return fmt::format("the arguments of '{}' must be a JSON object; got: {}", call.name,
                       call.raw_arguments.empty() ? dump(call.arguments) : call.raw_arguments);
  }
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const SchemaValidator>> cache;
  std::shared_ptr<const SchemaValidator> validator;
  std::string key = dump(def.parameters);
  {
    std::lock_guard lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) {
      validator = it->second;
    } else {
      auto compiled = SchemaValidator::compile(def.parameters);
      if (compiled) {
        validator = std::make_shared<const SchemaValidator>(std::move(*compiled));
      } else {
        log::get()->warn("tool '{}': its parameter schema cannot be used for validation: {}",
                         def.name, compiled.error().message);
      }
      if (cache.size() < 4096) cache.emplace(std::move(key), validator);
    }
  }
  if (!validator) return std::nullopt;
  auto errors = validator->validate(call.arguments);
  if (errors.empty()) return std::nullopt;
  return fmt::format("invalid arguments for tool '{}':\n{}", call.name, format_path_errors(errors));
}

// The message (and, for abort_turn, the error) of a tool's result.
ToolRun finished_run(const ToolCall& call, const ToolResult& result,
                     const std::shared_ptr<const detail::Redactor>& redactor) {
  switch (result.kind()) {
    case ToolResult::Kind::value:
      return {tool_message(call, tool_result_text(result.value()), false, redactor), {}};
    case ToolResult::Kind::tell_model:
      return {tool_message(call, result.message(), true, redactor), {}};
    case ToolResult::Kind::abort_turn:
      break;
  }
  Error error = result.error();
  if (redactor) error.message = redactor->apply(error.message);
  return {tool_message(call, error.message, true, redactor), std::move(error)};
}

// What a thrown exception tells the model.
std::string exception_text(const ToolCall& call, std::exception_ptr thrown) {
  try {
    std::rethrow_exception(std::move(thrown));
  } catch (const Exception& e) {
    return e.error().message;
  } catch (const std::exception& e) {
    return fmt::format("tool '{}' failed: {}", call.name, e.what());
  } catch (...) {
    return fmt::format("tool '{}' failed with an unknown exception", call.name);
  }
}

// Runs a plain tool on the calling thread; exceptions become error results the model sees.
ToolRun run_plain_tool(const ToolDefinition& def, const ToolCall& call, ToolContext& ctx,
                       const std::shared_ptr<const detail::Redactor>& redactor) {
  try {
    return finished_run(call, def.execute(call.arguments, ctx), redactor);
  } catch (...) {
    return {tool_message(call, exception_text(call, std::current_exception()), true, redactor), {}};
  }
}

// Runs an awaitable tool; exceptions become error results, as for plain tools.
asio::awaitable<ToolRun> run_async_tool(std::shared_ptr<const ToolDefinition> def, ToolCall call,
                                        ToolContext ctx,
                                        std::shared_ptr<const detail::Redactor> redactor) {
  std::exception_ptr thrown;
  try {
    json args = call.arguments;
    ToolResult result = co_await def->async_execute(std::move(args), ctx);
    co_return finished_run(call, result, redactor);
  } catch (...) {
    thrown = std::current_exception();
  }
  co_return ToolRun{tool_message(call, exception_text(call, thrown), true, redactor), {}};
}

}  // namespace

Message tool_message(const ToolCall& call, std::string text, bool is_error,
                     const std::shared_ptr<const detail::Redactor>& redactor) {
  Message m;
  m.role = Role::tool;
  m.tool_call_id = call.id;
  m.tool_name = call.name;
  m.text = redactor ? redactor->apply(text) : std::move(text);
  m.is_error = is_error;
  return m;
}

// Why the model cannot call `name`: a built-in tool this agent's policy leaves out, or an
// unknown one.
std::string OperationContext::unavailable_reason(const std::string& name) const {
  static const std::set<std::string, std::less<>> kWriting = {"write", "edit", "mkdir", "rm"};
  if (name == "bash" && !session_.agent->shell_policy.allow_shell) {
    return "tool 'bash' is not available: allow_shell is off for this agent";
  }
  if (kWriting.count(name) && !session_.agent->file_policy.allow_write) {
    return fmt::format("tool '{}' is not available: allow_write is off for this agent", name);
  }
  return fmt::format("unknown tool '{}'", name);
}

OperationContext::OperationContext(SessionImpl& s, std::shared_ptr<ModelClient> client,
                                   std::string model_spec, std::optional<ThinkingLevel> thinking,
                                   std::vector<const ToolDefinition*> tools, bool stream,
                                   CancelToken cancel, std::shared_ptr<Emitter> emitter,
                                   std::shared_ptr<const detail::Redactor> redactor)
    : session_(s),
      client_(std::move(client)),
      model_spec_(std::move(model_spec)),
      thinking_(thinking),
      tools_(std::move(tools)),
      stream_(stream),
      cancel_(std::move(cancel)),
      emitter_(std::move(emitter)),
      redactor_(std::move(redactor)) {
  for (const auto* t : tools_) {
    specs_.push_back(ToolSpec{t->name, t->description, t->parameters});
  }
}

asio::awaitable<Result<ModelResponse>> OperationContext::call_model() {
  auto compacted = co_await compact_if_needed();
  if (!compacted) co_return fail(std::move(compacted.error()));
  auto response = co_await call_model_once();
  const auto& cc = session_.agent->config.compaction;
  if (!response && response.error().type == ErrorType::context_overflow && cc.enabled &&
      !overflow_retried_ && !cancel_.cancelled()) {
    // Once per operation: summarise, then retry the same turn.
    overflow_retried_ = true;
    auto c = co_await session_.compact_history("overflow", *emitter_, cancel_, model_spec_);
    if (!c) co_return fail(std::move(c.error()));
    if (c->compacted) response = co_await call_model_once();
  }
  co_return response;
}

asio::awaitable<Result<void>> OperationContext::compact_if_needed() {
  const auto& cc = session_.agent->config.compaction;
  if (!cc.enabled || cc.context_window_tokens <= 0) co_return Result<void>{};
  std::int64_t estimate = static_cast<std::int64_t>(system_.size() / 4);
  {
    std::lock_guard lock(session_.mu);
    estimate += detail::estimate_tokens(session_.history);
  }
  std::int64_t limit = std::max<std::int64_t>(cc.context_window_tokens - cc.reserve_tokens, 0);
  if (estimate <= limit) co_return Result<void>{};
  auto c = co_await session_.compact_history("threshold", *emitter_, cancel_, model_spec_);
  if (!c) co_return fail(std::move(c.error()));
  co_return Result<void>{};
}

namespace {
// OpenAI's prompt_cache_key for a session: stable across runs (so `-c` finds the cache warm)
// and opaque. It is a plain hash, so an id that can be guessed can be confirmed; that is no
// concern next to the conversation itself, which the same request carries. FNV-1a, 64 bits.
std::string prompt_cache_key(std::string_view session_id) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : session_id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("cppflue-{:016x}", h);
}
}  // namespace

asio::awaitable<Result<ModelResponse>> OperationContext::call_model_once() {
  ++turns_;
  std::string turn_id = new_hex_id("turn_", 16);
  emitter_->emit(events::TurnRequest{turn_id, model_spec_});
  ModelRequest req;
  req.system = system_.empty() ? session_.system_prompt() : system_;
  {
    std::lock_guard lock(session_.mu);
    req.messages = session_.history;
  }
  req.tools = specs_;
  req.thinking = thinking_;
  req.stream = stream_;
  req.output = output_;
  req.cache_key = prompt_cache_key(session_.id);
  partial_text_.clear();
  trace::Span chat =
      telemetry::start_chat(emitter_->trace_context(), model_spec_, session_.id, stream_);
  req.traceparent = chat.context().traceparent();
  req.tracestate = chat.context().trace_state;
  if (telemetry::capture(chat)) {
    chat.set("gen_ai.system_instructions", telemetry::content(req.system, redactor_.get()));
    chat.set("gen_ai.input.messages", telemetry::messages_content(req.messages, redactor_.get()));
  }
  const auto asked = std::chrono::steady_clock::now();
  bool first_chunk = true;
  DeltaCallback on_delta;
  if (stream_) {
    on_delta = [this, &chat, &first_chunk, asked](const ModelDelta& d) {
      if (first_chunk) {
        first_chunk = false;
        chat.set("gen_ai.response.time_to_first_chunk",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count());
      }
      if (d.kind == ModelDelta::Kind::text) {
        partial_text_ += d.text;
        emitter_->emit(events::TextDelta{d.text});
      } else if (d.kind == ModelDelta::Kind::thinking) {
        emitter_->emit(events::ThinkingDelta{d.text});
      }
    };
  }
  req.on_retry = [&chat](int attempt, const Error& e, std::chrono::milliseconds delay) {
    chat.add_event("gen_ai.client.retry",
                   {{"cppflue.retry.attempt", std::int64_t{attempt}},
                    {"error.type", std::string(wire_name(e.type))},
                    {"cppflue.retry.delay_ms", std::int64_t{delay.count()}}});
  };
  auto response = co_await client_->complete(std::move(req), std::move(on_delta), cancel_);
  if (!response) {
    telemetry::fail(chat, response.error(), redactor_.get());
    co_return response;
  }
  telemetry::end_chat(chat, *response);
  if (telemetry::capture(chat)) {
    chat.set("gen_ai.output.messages",
             telemetry::messages_content({response->message}, redactor_.get()));
  }
  if (output_) {
    // The tool form of structured output: a call of the result tool is the answer.
    auto& calls = response->message.tool_calls;
    for (const auto& c : calls) {
      if (c.name != output_->name) continue;
      response->message.text = c.raw_arguments.empty() ? dump(c.arguments) : c.raw_arguments;
      calls.clear();
      response->finish_reason = FinishReason::stop;
      break;
    }
  }
  usage_ += response->usage;
  last_model_ = response->model.empty() ? model_spec_ : response->model;
  last_finish_ = std::string(finish_reason_name(response->finish_reason));
  partial_text_.clear();
  json usage = to_json(response->usage);
  last_turn_ = json_object{{"id", turn_id}, {"model", last_model_}, {"usage", usage}};
  emitter_->emit(events::Turn{turn_id, last_model_, std::move(usage)});
  co_return response;
}

Result<void> OperationContext::append(Message message) {
  std::string_view source = message.role == Role::assistant ? "model" : "tool";
  if (redactor_ && !redactor_->empty()) {
    message.text = redactor_->apply(message.text);
    for (auto& c : message.tool_calls) redactor_->apply(c.arguments);
  }
  json turn;
  if (message.role == Role::assistant) turn = std::exchange(last_turn_, nullptr);
  return session_.append(message, source, std::move(turn));
}

void OperationContext::start_tool(const ToolCall& call, const CancelToken& cancel,
                                  const std::string& traceparent,
                                  std::function<void(ToolRun)> deliver) {
  const ToolDefinition* def = nullptr;
  for (const auto* t : tools_) {
    if (t->name == call.name) def = t;
  }
  if (!def) {
    std::vector<std::string> names;
    names.reserve(tools_.size());
    for (const auto* t : tools_) names.push_back(t->name);
    deliver({tool_message(call,
                          fmt::format("{} (available tools: {})", unavailable_reason(call.name),
                                      join_or_none(names)),
                          true, redactor_),
             {}});
    return;
  }
  if (auto problem = check_arguments(call, *def)) {
    deliver({tool_message(call, *problem, true, redactor_), {}});
    return;
  }
  // The tool runs on a copy: after an abort the operation (and the tool list it points into)
  // may be gone while the call is still finishing.
  auto copy = std::make_shared<const ToolDefinition>(*def);
  if (!def->execute && def->async_execute) {
    asio::co_spawn(session_.agent->runtime->executor(),
                   run_async_tool(copy, call,
                                  ToolContext{session_.id, call.id, call.name, cancel, traceparent},
                                  redactor_),
                   [deliver = std::move(deliver)](const std::exception_ptr&, ToolRun run) {
                     deliver(std::move(run));
                   });
    return;
  }
  asio::post(session_.agent->runtime->blocking(),
             [deliver = std::move(deliver), call, def = std::move(copy), session_id = session_.id,
              cancel, traceparent, redactor = redactor_] {
               ToolContext ctx{session_id, call.id, call.name, cancel, traceparent};
               deliver(run_plain_tool(*def, call, ctx, redactor));
             });
}

asio::awaitable<Result<std::vector<Message>>> OperationContext::run_tools(
    const std::vector<ToolCall>& calls) {
  using Channel =
      asio::experimental::concurrent_channel<void(boost::system::error_code, std::size_t, ToolRun)>;
  auto channel = std::make_shared<Channel>(session_.strand, calls.size() + 1);
  std::vector<std::optional<Message>> results(calls.size());
  pending_results_.clear();
  // The calls of this turn are cancelled with the operation, or when one of them aborts the turn.
  auto batch = std::make_shared<CancelSource>();
  CancelRegistration link(cancel_, [batch] { batch->cancel(); });

  // One span per call (execute_tool), ended as its result arrives. The model picks the names:
  // one that is not offered is "(unknown)" in span names and metric labels, which stay bounded.
  auto label = [this](const std::string& name) {
    for (const auto* t : tools_) {
      if (t->name == name) return name;
    }
    return std::string("(unknown)");
  };
  std::vector<trace::Span> spans(calls.size());
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < calls.size(); ++i) {
    emitter_->emit(events::ToolStart{calls[i].name, calls[i].id, calls[i].arguments});
    spans[i] = telemetry::start_tool(emitter_->trace_context(), label(calls[i].name),
                                     calls[i].id.substr(0, 256), session_.id);
    if (telemetry::capture(spans[i])) {
      spans[i].set("gen_ai.tool.call.arguments",
                   telemetry::json_content(calls[i].arguments, redactor_.get()));
    }
  }
  for (std::size_t i = 0; i < calls.size(); ++i) {
    start_tool(calls[i], batch->token(), spans[i].context().traceparent(),
               [channel, i](ToolRun run) {
                 channel->try_send(boost::system::error_code{}, i, std::move(run));
               });
  }

  CancelRegistration reg(cancel_, [channel] { channel->cancel(); });
  for (std::size_t received = 0; received < calls.size();) {
    auto [ec, index, run] = co_await channel->async_receive(asio::as_tuple(asio::use_awaitable));
    if (ec || cancel_.cancelled()) {
      co_return fail(ErrorType::cancelled, "operation aborted while tools were running");
    }
    Message& message = run.message;
    emitter_->emit(
        events::ToolEnd{message.tool_name, message.tool_call_id, message.is_error, message.text});
    telemetry::record_tool(label(calls[index].name), message.is_error,
                           std::chrono::steady_clock::now() - started);
    if (telemetry::capture(spans[index])) {
      spans[index].set("gen_ai.tool.call.result", telemetry::content(message.text, nullptr));
    }
    if (message.is_error) spans[index].set_error("tool_error", "the tool call failed");
    spans[index].end();
    if (run.abort) {
      // The call that aborted is recorded as interrupted (repair_history): the model does not
      // see the internal error, and the others stop.
      batch->cancel();
      co_return fail(std::move(*run.abort));
    }
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

}  // namespace cppflue
