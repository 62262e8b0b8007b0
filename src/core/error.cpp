// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/error.hpp"

namespace cppflue {

std::string_view wire_name(ErrorType type) {
  switch (type) {
    case ErrorType::invalid_input:
      return "invalid_input";
    case ErrorType::config_error:
      return "config_error";
    case ErrorType::not_found:
      return "not_found";
    case ErrorType::permission:
      return "permission_denied";
    case ErrorType::policy:
      return "policy_denied";
    case ErrorType::session_busy:
      return "session_busy";
    case ErrorType::timeout:
      return "timeout";
    case ErrorType::cancelled:
      return "aborted";
    case ErrorType::connection_error:
      return "connection_error";
    case ErrorType::provider_error:
      return "provider_error";
    case ErrorType::rate_limited:
      return "rate_limited";
    case ErrorType::context_overflow:
      return "context_overflow";
    case ErrorType::auth_error:
      return "auth_error";
    case ErrorType::max_turns_exceeded:
      return "max_turns_exceeded";
    case ErrorType::typed_output_error:
      return "typed_output_error";
    case ErrorType::tool_error:
      return "tool_error";
    case ErrorType::store_error:
      return "store_error";
    case ErrorType::internal:
      return "internal_error";
  }
  return "internal_error";
}

Error make_error(ErrorType type, std::string message, boost::json::value details) {
  return Error{type, std::move(message), std::move(details), std::nullopt};
}

Exception::Exception(Error error) : std::runtime_error(error.message), error_(std::move(error)) {}

}  // namespace cppflue
