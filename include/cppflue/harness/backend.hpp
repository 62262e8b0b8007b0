// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/backend.hpp — harness backends: what runs the turn loop.
//
// The session owns history, events, tools and durability and hands a backend a `TurnContext`
// of primitives; the backend decides how to loop. `native` (the default) calls the model,
// runs the tool calls it asks for, and repeats until the model answers without tools or
// `max_turns` is reached. `register_harness` adds others; an unknown name is an error that
// lists the registered ones.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/model/message.hpp"

namespace cppflue {

class TurnContext {
 public:
  virtual ~TurnContext() = default;
  virtual const std::vector<Message>& messages() const = 0;
  virtual int max_turns() const = 0;
  virtual CancelToken cancel() const = 0;
  // One model call on the current history (emits turn_request, deltas when streaming, turn).
  virtual boost::asio::awaitable<Result<ModelResponse>> call_model() = 0;
  // Appends to the session history; durable when it returns.
  virtual Result<void> append(Message message) = 0;
  // Runs the calls concurrently (emits tool_start/tool_end); one tool message per call, in the
  // order of `calls`. Tool failures are tool messages with is_error, not errors.
  virtual boost::asio::awaitable<Result<std::vector<Message>>> run_tools(
      const std::vector<ToolCall>& calls) = 0;
};

class HarnessBackend {
 public:
  virtual ~HarnessBackend() = default;
  // Runs the loop; returns the model's final answer.
  virtual boost::asio::awaitable<Result<ModelResponse>> run(TurnContext& ctx) = 0;
};

using HarnessFactory = std::function<std::shared_ptr<HarnessBackend>()>;

void register_harness(std::string name, HarnessFactory factory);
Result<std::shared_ptr<HarnessBackend>> create_harness(std::string_view name);
std::vector<std::string> harness_names();

}  // namespace cppflue
