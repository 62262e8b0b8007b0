// SPDX-License-Identifier: Apache-2.0
// cppflue/core/error.hpp — errors as values and as exceptions.
//
// `Error` is the value every module returns through `Result<T>` (tl::expected) across
// coroutine and thread boundaries; `Exception` carries an `Error` out of the synchronous
// public API. `ErrorType` is coarse; `wire_name()` is the single mapping to the `type`
// strings used on the wire (events, HTTP envelopes, CLI JSON).
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace cppflue {

enum class ErrorType {
  invalid_input,
  config_error,
  not_found,
  permission,
  policy,
  session_busy,
  timeout,
  cancelled,
  connection_error,
  provider_error,
  rate_limited,
  context_overflow,
  auth_error,
  max_turns_exceeded,
  typed_output_error,
  tool_error,
  store_error,
  internal,
};

std::string_view wire_name(ErrorType type);

struct Error {
  ErrorType type = ErrorType::internal;
  std::string message;
  boost::json::value details = nullptr;
  std::optional<std::chrono::milliseconds> retry_after = std::nullopt;
};

Error make_error(ErrorType type, std::string message, boost::json::value details = nullptr);

class Exception : public std::runtime_error {
 public:
  explicit Exception(Error error);
  const Error& error() const noexcept { return error_; }
  ErrorType type() const noexcept { return error_.type; }

 private:
  Error error_;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(ErrorType type, std::string message,
                                  boost::json::value details = nullptr) {
  return tl::unexpected<Error>(make_error(type, std::move(message), std::move(details)));
}
inline tl::unexpected<Error> fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

// Returns the value or throws `Exception`.
template <class T>
T value_or_throw(Result<T> r) {
  if (!r) throw Exception(std::move(r.error()));
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

}  // namespace cppflue
