// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/tool.hpp — tools the model can call.
//
// A `ToolDefinition` has a name, a description and a JSON Schema for its arguments, plus a
// plain synchronous function (or an awaitable one). Arguments are validated against the schema
// before the function runs; invalid ones become a tool error the model sees. The harness runs tool
// functions on a blocking thread pool (never on the event loop), several at once when the model
// asks for several in one turn.
//
// A tool function returns a `ToolResult`: a value for the model (strings verbatim, anything else
// serialised), an error the model sees and can react to (`ToolResult::tell_model`), or an error
// that aborts the turn (`ToolResult::abort_turn`): the operation then ends with that error, the
// model is not called again, and the other calls of the turn are cancelled. A thrown exception
// is shown to the model like `tell_model`; the operation continues. Functions written before
// `ToolResult` existed, returning `json` (or `awaitable<json>`), still compile and mean "a value".
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>

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
  // The tool call's span as a W3C `traceparent`, for tools that call other services (empty
  // when nothing is traced).
  std::string traceparent;
};

// What one tool call gives back.
class ToolResult {
 public:
  enum class Kind {
    value,       // the model sees value()
    tell_model,  // the model sees message() as an error result, and the turn goes on
    abort_turn,  // the operation ends with error(); the model is not called again
  };

  // A value: anything a json can be made of. Implicit, so that tools written as `-> json`, and
  // `return "text";` or `return json_object{...};`, keep working.
  template <class T>
  requires(!std::is_same_v<std::remove_cvref_t<T>, ToolResult> && std::is_constructible_v<json, T>)
      // NOLINTNEXTLINE(bugprone-forwarding-reference-overload): constrained to exclude ToolResult
      ToolResult(T&& value)  // NOLINT(google-explicit-constructor)
      : value_(std::forward<T>(value)) {}

  static ToolResult ok(json value) { return ToolResult(std::move(value)); }
  // A failure the model should know about (bad input, a missing file, a refused request).
  static ToolResult tell_model(std::string message) {
    ToolResult r(nullptr);
    r.kind_ = Kind::tell_model;
    r.error_ = make_error(ErrorType::tool_error, std::move(message));
    return r;
  }
  // A failure the model cannot fix and must not see as a result: cancellation, a store failure,
  // a broken invariant. Its type becomes the operation's error type.
  static ToolResult abort_turn(Error error) {
    ToolResult r(nullptr);
    r.kind_ = Kind::abort_turn;
    r.error_ = std::move(error);
    return r;
  }

  Kind kind() const { return kind_; }
  bool is_value() const { return kind_ == Kind::value; }
  const json& value() const { return value_; }
  // For tell_model: the text the model sees; for abort_turn: the error's message.
  const std::string& message() const { return error_.message; }
  // For abort_turn: the operation's error (tool_error for tell_model).
  const Error& error() const { return error_; }

 private:
  Kind kind_ = Kind::value;
  json value_;
  Error error_;
};

// An awaitable tool function. Accepts `awaitable<ToolResult>(json, ToolContext)` and, for
// tools written before ToolResult, `awaitable<json>(json, ToolContext)`.
class AsyncToolFunction {
 public:
  using Signature = boost::asio::awaitable<ToolResult>(json args, ToolContext ctx);

  AsyncToolFunction() = default;
  AsyncToolFunction(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
  template <class F>
  requires std::is_invocable_r_v<boost::asio::awaitable<ToolResult>, F&, json, ToolContext> ||
      std::is_invocable_r_v<boost::asio::awaitable<json>, F&, json, ToolContext> AsyncToolFunction(
          F f) {  // NOLINT(google-explicit-constructor)
    if constexpr (std::is_invocable_r_v<boost::asio::awaitable<ToolResult>, F&, json,
                                        ToolContext>) {
      fn_ = std::move(f);
    } else {
      fn_ = [f = std::move(f)](json args, ToolContext ctx) {
        return adapt(f, std::move(args), std::move(ctx));
      };
    }
  }

  explicit operator bool() const { return static_cast<bool>(fn_); }
  boost::asio::awaitable<ToolResult> operator()(json args, ToolContext ctx) const {
    return fn_(std::move(args), std::move(ctx));
  }

 private:
  // A coroutine of its own with `f` by value, so the frame never refers to a closure that may
  // be gone when it resumes.
  template <class F>
  static boost::asio::awaitable<ToolResult> adapt(F f, json args, ToolContext ctx) {
    co_return ToolResult(co_await f(std::move(args), std::move(ctx)));
  }

  std::function<Signature> fn_;
};

struct ToolDefinition {
  std::string name;         // [A-Za-z0-9_-]{1,64}
  std::string description;  // what the tool does, for the model
  json parameters = json_object{{"type", "object"}, {"properties", json_object{}}};
  std::function<ToolResult(const json& args, ToolContext& ctx)> execute;
  // Alternatively an awaitable function, run on the runtime's event loop instead of the
  // blocking pool (for tools that wait on other asynchronous work). Used when `execute` is
  // empty.
  AsyncToolFunction async_execute;
};

// A typed tool: the parameter schema is generated from `Args` (a CPPFLUE_STRUCT), and the model's
// arguments are converted to `Args` before `fn(const Args&, ToolContext&) -> json` runs;
// arguments that do not fit become a tool error naming each JSON path, and `fn` is not called.
// `fn` returns a ToolResult (or json).
//
//   struct WeatherArgs { std::string city; };
//   CPPFLUE_STRUCT(WeatherArgs, city);
//   auto weather = cppflue::tool<WeatherArgs>("get_weather", "Current weather for one city.",
//       [](const WeatherArgs& a, cppflue::ToolContext&) -> cppflue::json { ... });
template <class Args, class Fn>
ToolDefinition tool(std::string name, std::string description, Fn fn) {
  ToolDefinition t;
  t.parameters = schema_of<Args>();
  t.execute = [fn = std::move(fn), name](const json& args, ToolContext& ctx) -> ToolResult {
    Args value{};
    auto errors = convert(args, value);
    if (!errors.empty()) {
      return ToolResult::tell_model("invalid arguments for tool '" + name + "':\n" +
                                    format_path_errors(errors));
    }
    return fn(static_cast<const Args&>(value), ctx);
  };
  t.name = std::move(name);
  t.description = std::move(description);
  return t;
}

}  // namespace cppflue
