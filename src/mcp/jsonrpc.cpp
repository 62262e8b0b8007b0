// SPDX-License-Identifier: Apache-2.0
#include "cppflue/mcp/jsonrpc.hpp"

#include <utility>

namespace cppflue::mcp {

json id_to_json(const RequestId& id) {
  if (const auto* n = std::get_if<std::int64_t>(&id)) return json(*n);
  return json(std::get<std::string>(id));
}

std::string id_to_string(const RequestId& id) {
  if (const auto* n = std::get_if<std::int64_t>(&id)) return std::to_string(*n);
  return dump(json(std::get<std::string>(id)));
}

namespace {

tl::unexpected<Error> bad(std::string what) {
  return fail(ErrorType::invalid_input, "invalid JSON-RPC message: " + std::move(what));
}

// Reads "id": int or string. Returns nullopt in `out` for null. Error for other kinds.
Result<std::optional<RequestId>> read_id(const json& v) {
  if (v.is_null()) return std::optional<RequestId>{};
  if (v.is_int64()) return std::optional<RequestId>{RequestId{v.as_int64()}};
  if (v.is_uint64()) {
    if (v.as_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return bad("id out of range");
    return std::optional<RequestId>{RequestId{static_cast<std::int64_t>(v.as_uint64())}};
  }
  if (v.is_string()) return std::optional<RequestId>{RequestId{std::string(v.as_string())}};
  return bad("\"id\" must be an integer or a string, got " + std::string(kind_name(v)));
}

}  // namespace

Result<JsonRpcMessage> parse_message(const json& message) {
  if (!message.is_object()) {
    return bad("expected an object, got " + std::string(kind_name(message)));
  }
  const auto& obj = message.as_object();
  const json* version = obj.if_contains("jsonrpc");
  if (version == nullptr) return bad("missing \"jsonrpc\"");
  if (!version->is_string() || version->as_string() != "2.0") {
    return bad("\"jsonrpc\" must be \"2.0\"");
  }
  JsonRpcMessage m;
  const json* id = obj.if_contains("id");
  const json* method = obj.if_contains("method");
  if (method != nullptr) {
    if (!method->is_string()) return bad("\"method\" must be a string");
    m.method = std::string(method->as_string());
    if (m.method.empty()) return bad("empty \"method\"");
    if (const json* params = obj.if_contains("params")) {
      if (!params->is_object() && !params->is_array()) {
        return bad("\"params\" must be an object or an array");
      }
      m.params = *params;
    }
    if (id == nullptr) {
      m.kind = MessageKind::notification;
      return m;
    }
    auto rid = read_id(*id);
    if (!rid) return tl::unexpected(rid.error());
    if (!*rid) return bad("request \"id\" must not be null");
    m.kind = MessageKind::request;
    m.id = std::move(*rid);
    return m;
  }
  const json* result = obj.if_contains("result");
  const json* error = obj.if_contains("error");
  if (result != nullptr && error != nullptr) return bad("both \"result\" and \"error\"");
  if (result == nullptr && error == nullptr) {
    return bad("neither \"method\", \"result\" nor \"error\"");
  }
  if (id == nullptr) return bad("response without \"id\"");
  auto rid = read_id(*id);
  if (!rid) return tl::unexpected(rid.error());
  m.id = std::move(*rid);
  if (result != nullptr) {
    if (!m.id) return bad("result response with a null \"id\"");
    m.kind = MessageKind::response;
    m.result = *result;
    return m;
  }
  if (!error->is_object()) return bad("\"error\" must be an object");
  auto code = get_int(*error, "code");
  if (!code) return bad("\"error.code\" must be an integer");
  auto text = get_string(*error, "message");
  if (!text) return bad("\"error.message\" must be a string");
  m.kind = MessageKind::error;
  m.error.code = static_cast<int>(*code);
  m.error.message = std::move(*text);
  if (const json* data = error->as_object().if_contains("data")) m.error.data = *data;
  return m;
}

Result<JsonRpcMessage> parse_message_text(std::string_view text) {
  auto value = parse_json(text, "JSON-RPC message");
  if (!value) return tl::unexpected(value.error());
  return parse_message(*value);
}

json make_request(const RequestId& id, std::string_view method, json params) {
  json_object o;
  o["jsonrpc"] = "2.0";
  o["id"] = id_to_json(id);
  o["method"] = method;
  if (!params.is_null()) o["params"] = std::move(params);
  return o;
}

json make_notification(std::string_view method, json params) {
  json_object o;
  o["jsonrpc"] = "2.0";
  o["method"] = method;
  if (!params.is_null()) o["params"] = std::move(params);
  return o;
}

json make_result_response(const RequestId& id, json result) {
  json_object o;
  o["jsonrpc"] = "2.0";
  o["id"] = id_to_json(id);
  o["result"] = std::move(result);
  return o;
}

json make_error_response(const std::optional<RequestId>& id, int code, std::string_view message,
                         json data) {
  json_object err;
  err["code"] = code;
  err["message"] = message;
  if (!data.is_null()) err["data"] = std::move(data);
  json_object o;
  o["jsonrpc"] = "2.0";
  o["id"] = id ? id_to_json(*id) : json(nullptr);
  o["error"] = std::move(err);
  return o;
}

bool PendingRequests::add(const RequestId& id, std::string method, Completion done) {
  std::lock_guard lock(mu_);
  return entries_.emplace(id_to_string(id), Entry{std::move(method), std::move(done)}).second;
}

std::optional<PendingRequests::Entry> PendingRequests::take(const RequestId& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id_to_string(id));
  if (it == entries_.end()) return std::nullopt;
  Entry e = std::move(it->second);
  entries_.erase(it);
  return e;
}

bool PendingRequests::complete(const JsonRpcMessage& response) {
  if (!response.id) return false;
  if (response.kind != MessageKind::response && response.kind != MessageKind::error) return false;
  auto entry = take(*response.id);
  if (!entry) return false;
  if (response.kind == MessageKind::response) {
    entry->done(response.result);
  } else {
    json_object details;
    details["code"] = response.error.code;
    details["message"] = response.error.message;
    if (!response.error.data.is_null()) details["data"] = response.error.data;
    entry->done(cppflue::fail(ErrorType::provider_error,
                              entry->method + " failed: " + response.error.message +
                                  " (JSON-RPC error " + std::to_string(response.error.code) + ")",
                              std::move(details)));
  }
  return true;
}

bool PendingRequests::fail(const RequestId& id, Error error) {
  auto entry = take(id);
  if (!entry) return false;
  entry->done(tl::unexpected<Error>(std::move(error)));
  return true;
}

void PendingRequests::fail_all(const Error& error) {
  std::map<std::string, Entry> entries;
  {
    std::lock_guard lock(mu_);
    entries.swap(entries_);
  }
  for (auto& [key, entry] : entries) entry.done(tl::unexpected<Error>(error));
}

std::size_t PendingRequests::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::optional<std::string> PendingRequests::method_of(const RequestId& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id_to_string(id));
  if (it == entries_.end()) return std::nullopt;
  return it->second.method;
}

}  // namespace cppflue::mcp
