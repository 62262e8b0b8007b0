// SPDX-License-Identifier: Apache-2.0
// cppflue/mcp/jsonrpc.hpp — JSON-RPC 2.0 messages as MCP uses them.
//
// `parse_message` classifies one received JSON value as a request, a notification, a result
// response or an error response; a malformed message is an `invalid_input` Error that names
// what is wrong. `PendingRequests` is the table of our outstanding requests: responses are
// matched BY ID (servers may answer out of order); timeouts and cancellation are applied by
// the owner through `fail()`. The table is thread-safe and runs completions outside its lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue::mcp {

// A JSON-RPC id: an integer or a string (null ids are only valid in some error responses).
using RequestId = std::variant<std::int64_t, std::string>;

json id_to_json(const RequestId& id);
// Text for messages and map keys: 7 or "abc" (strings quoted so 7 and "7" differ).
std::string id_to_string(const RequestId& id);

// Standard JSON-RPC error codes.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

struct JsonRpcError {
  int code = kInternalError;
  std::string message;
  json data = nullptr;
};

enum class MessageKind { request, notification, response, error };

struct JsonRpcMessage {
  MessageKind kind = MessageKind::notification;
  std::optional<RequestId> id;  // request / response / error (error: absent when id was null)
  std::string method;           // request / notification
  json params = nullptr;        // request / notification (absent → null)
  json result = nullptr;        // response
  JsonRpcError error;           // error
};

// Classifies `message`. Errors (invalid_input) name the defect: not an object, wrong or
// missing "jsonrpc", bad id type, both/neither result and error, bad error object, ...
Result<JsonRpcMessage> parse_message(const json& message);
// Parses text first (a syntax error names the byte offset).
Result<JsonRpcMessage> parse_message_text(std::string_view text);

json make_request(const RequestId& id, std::string_view method, json params);
json make_notification(std::string_view method, json params);
json make_result_response(const RequestId& id, json result);
// `id` nullopt → "id": null (e.g. for a request that could not be parsed).
json make_error_response(const std::optional<RequestId>& id, int code, std::string_view message,
                         json data = nullptr);

// Allocates integer ids 1, 2, 3, ... (thread-safe).
class IdAllocator {
 public:
  RequestId next() { return RequestId{next_.fetch_add(1)}; }

 private:
  std::atomic<std::int64_t> next_{1};
};

// Outstanding requests keyed by id. A completion runs exactly once: with the result, with an
// Error built from the JSON-RPC error (provider_error, details {code, message, data}), or with
// the Error given to fail()/fail_all().
class PendingRequests {
 public:
  using Completion = std::function<void(Result<json>)>;

  // False when `id` is already pending (the completion is then not stored).
  bool add(const RequestId& id, std::string method, Completion done);
  // Completes the request a response/error message answers. False when no such request is
  // pending (late answer after a timeout/cancel, or a bogus id).
  bool complete(const JsonRpcMessage& response);
  // Fails one request; false when it is no longer pending.
  bool fail(const RequestId& id, Error error);
  // Fails every pending request (connection lost); later add() calls still work.
  void fail_all(const Error& error);
  std::size_t size() const;
  // The method of a pending request (for error messages), if pending.
  std::optional<std::string> method_of(const RequestId& id) const;

 private:
  struct Entry {
    std::string method;
    Completion done;
  };
  std::optional<Entry> take(const RequestId& id);
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace cppflue::mcp
