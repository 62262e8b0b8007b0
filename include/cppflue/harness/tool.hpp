// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/tool.hpp — tools the model can call.
//
// A `ToolDefinition` has a name, a description and a JSON Schema for its arguments, plus a
// plain synchronous function (or an awaitable one). Arguments are validated against the schema
// before the function runs; invalid ones become a tool error the model sees. The harness runs tool
// functions on a blocking thread pool (never on the event loop), several at once when the model
// asks for several in one turn. A thrown exception becomes a tool result with `is_error: true` that
// the model sees; the operation continues. The returned JSON is given to the model as text (strings
// verbatim, anything else serialised).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue {

struct ToolContext {
  std::string session_id;
  std::string tool_call_id;
  std::string tool_name;
  CancelToken cancel;  // fires when the operation is aborted; long tools should check it
};

struct ToolDefinition {
  std::string name;         // [A-Za-z0-9_-]{1,64}
  std::string description;  // what the tool does, for the model
  json parameters = json_object{{"type", "object"}, {"properties", json_object{}}};
  std::function<json(const json& args, ToolContext& ctx)> execute;
  // Alternatively an awaitable function, run on the runtime's event loop instead of the
  // blocking pool (for tools that wait on other asynchronous work). Used when `execute` is
  // empty.
  std::function<boost::asio::awaitable<json>(json args, ToolContext ctx)> async_execute;
};

}  // namespace cppflue
