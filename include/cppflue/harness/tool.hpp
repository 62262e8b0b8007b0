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
#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/schema/reflect.hpp"
#include "cppflue/schema/validator.hpp"

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

// A typed tool: the parameter schema is generated from `Args` (a CPPFLUE_STRUCT), and the model's
// arguments are converted to `Args` before `fn(const Args&, ToolContext&) -> json` runs;
// arguments that do not fit become a tool error naming each JSON path, and `fn` is not called.
//
//   struct WeatherArgs { std::string city; };
//   CPPFLUE_STRUCT(WeatherArgs, city);
//   auto weather = cppflue::tool<WeatherArgs>("get_weather", "Current weather for one city.",
//       [](const WeatherArgs& a, cppflue::ToolContext&) -> cppflue::json { ... });
template <class Args, class Fn>
ToolDefinition tool(std::string name, std::string description, Fn fn) {
  ToolDefinition t;
  t.parameters = schema_of<Args>();
  t.execute = [fn = std::move(fn), name](const json& args, ToolContext& ctx) -> json {
    Args value{};
    auto errors = convert(args, value);
    if (!errors.empty()) {
      throw Exception(
          make_error(ErrorType::invalid_input,
                     "invalid arguments for tool '" + name + "':\n" + format_path_errors(errors)));
    }
    return fn(static_cast<const Args&>(value), ctx);
  };
  t.name = std::move(name);
  t.description = std::move(description);
  return t;
}

}  // namespace cppflue
