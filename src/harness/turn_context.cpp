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

#include "compaction.hpp"
#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/schema/validator.hpp"
#include "session_internal.hpp"

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

// Runs a plain tool on the calling thread; failures become error results.
Message run_plain_tool(const ToolDefinition& def, const ToolCall& call, ToolContext& ctx,
                       const std::shared_ptr<const detail::Redactor>& redactor) {
  try {
    return tool_message(call, tool_result_text(def.execute(call.arguments, ctx)), false, redactor);
  } catch (const Exception& e) {
    return tool_message(call, e.error().message, true, redactor);
  } catch (const std::exception& e) {
    return tool_message(call, fmt::format("tool '{}' failed: {}", call.name, e.what()), true,
                        redactor);
  } catch (...) {
    return tool_message(call, fmt::format("tool '{}' failed with an unknown exception", call.name),
                        true, redactor);
  }
}

// Runs an awaitable tool; failures become error results, as for plain tools.
asio::awaitable<Message> run_async_tool(std::shared_ptr<const ToolDefinition> def, ToolCall call,
                                        ToolContext ctx,
                                        std::shared_ptr<const detail::Redactor> redactor) {
  std::string text;
  bool is_error = false;
  try {
    json args = call.arguments;
    json value = co_await def->async_execute(std::move(args), ctx);
    text = tool_result_text(value);
  } catch (const Exception& e) {
    text = e.error().message;
    is_error = true;
  } catch (const std::exception& e) {
    text = fmt::format("tool '{}' failed: {}", call.name, e.what());
    is_error = true;
  } catch (...) {
    text = fmt::format("tool '{}' failed with an unknown exception", call.name);
    is_error = true;
  }
  co_return tool_message(call, std::move(text), is_error, redactor);
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
  partial_text_.clear();
  DeltaCallback on_delta;
  if (stream_) {
    on_delta = [this](const ModelDelta& d) {
      if (d.kind == ModelDelta::Kind::text) {
        partial_text_ += d.text;
        emitter_->emit(events::TextDelta{d.text});
      } else if (d.kind == ModelDelta::Kind::thinking) {
        emitter_->emit(events::ThinkingDelta{d.text});
      }
    };
  }
  auto response = co_await client_->complete(std::move(req), std::move(on_delta), cancel_);
  if (!response) co_return response;
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
  emitter_->emit(events::Turn{turn_id, last_model_, to_json(response->usage)});
  co_return response;
}

Result<void> OperationContext::append(Message message) {
  std::string_view source = message.role == Role::assistant ? "model" : "tool";
  if (redactor_ && !redactor_->empty()) {
    message.text = redactor_->apply(message.text);
    for (auto& c : message.tool_calls) redactor_->apply(c.arguments);
  }
  return session_.append(message, source);
}

void OperationContext::start_tool(const ToolCall& call, std::function<void(Message)> deliver) {
  const ToolDefinition* def = nullptr;
  for (const auto* t : tools_) {
    if (t->name == call.name) def = t;
  }
  if (!def) {
    std::vector<std::string> names;
    for (const auto* t : tools_) names.push_back(t->name);
    deliver(tool_message(
        call,
        fmt::format("unknown tool '{}' (available tools: {})", call.name, join_or_none(names)),
        true, redactor_));
    return;
  }
  if (auto problem = check_arguments(call, *def)) {
    deliver(tool_message(call, *problem, true, redactor_));
    return;
  }
  // The tool runs on a copy: after an abort the operation (and the tool list it points into)
  // may be gone while the call is still finishing.
  auto copy = std::make_shared<const ToolDefinition>(*def);
  if (!def->execute && def->async_execute) {
    asio::co_spawn(
        session_.agent->runtime->executor(),
        run_async_tool(copy, call, ToolContext{session_.id, call.id, call.name, cancel_},
                       redactor_),
        [deliver = std::move(deliver)](std::exception_ptr, Message m) { deliver(std::move(m)); });
    return;
  }
  asio::post(session_.agent->runtime->blocking(),
             [deliver = std::move(deliver), call, def = std::move(copy), session_id = session_.id,
              cancel = cancel_, redactor = redactor_] {
               ToolContext ctx{session_id, call.id, call.name, cancel};
               deliver(run_plain_tool(*def, call, ctx, redactor));
             });
}

asio::awaitable<Result<std::vector<Message>>> OperationContext::run_tools(
    const std::vector<ToolCall>& calls) {
  using Channel =
      asio::experimental::concurrent_channel<void(boost::system::error_code, std::size_t, Message)>;
  auto channel = std::make_shared<Channel>(session_.strand, calls.size() + 1);
  std::vector<std::optional<Message>> results(calls.size());
  pending_results_.clear();

  for (const auto& call : calls) {
    emitter_->emit(events::ToolStart{call.name, call.id, call.arguments});
  }
  for (std::size_t i = 0; i < calls.size(); ++i) {
    start_tool(calls[i], [channel, i](Message m) {
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
    emitter_->emit(events::ToolEnd{message.tool_name, message.tool_call_id, message.is_error,
                                   message.text});
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
