// SPDX-License-Identifier: Apache-2.0
// McpClient: lifecycle, request/response matching, server→client requests.
//
// The transport delivers messages on a Runtime I/O thread; responses complete entries of the
// PendingRequests table, whose completions fulfil a promise the calling thread waits on (with
// the request timeout). Cancellation and timeouts remove the entry first, so a late answer
// is recognised as unmatched and dropped.
#include "cppflue/mcp/client.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <set>

#include "cppflue/core/log.hpp"
#include "cppflue/mcp/jsonrpc.hpp"
#include "cppflue/version.hpp"

namespace cppflue::mcp {

struct McpClient::Private : std::enable_shared_from_this<McpClient::Private> {
  std::string name;
  McpOptions options;
  std::unique_ptr<McpTransport> transport;
  PendingRequests pending;
  IdAllocator ids;
  std::atomic<bool> open{true};
  std::mutex mu;
  std::optional<Error> closed_error;
  json server_info = nullptr;
  std::string protocol_version;

  Error closed_reason() {
    std::lock_guard lock(mu);
    if (closed_error) return *closed_error;
    return make_error(ErrorType::connection_error, "MCP server '" + name + "': not connected");
  }

  void on_closed(Error why) {
    {
      std::lock_guard lock(mu);
      if (!closed_error) closed_error = why;
    }
    open = false;
    pending.fail_all(why);
  }

  void send(json message) {
    if (open) transport->send(std::move(message));
  }

  // Removes a pending request (timeout / cancel) and tells the server.
  void abandon(const RequestId& id, Error error, std::string_view reason) {
    if (!pending.fail(id, std::move(error))) return;
    json_object params;
    params["requestId"] = id_to_json(id);
    params["reason"] = reason;
    send(make_notification("notifications/cancelled", std::move(params)));
  }

  Result<json> request(std::string_view method, json params, std::chrono::milliseconds timeout,
                       const CancelToken& cancel) {
    if (cancel.cancelled()) {
      return fail(ErrorType::cancelled, "MCP " + std::string(method) + " cancelled");
    }
    if (!open) return tl::unexpected(closed_reason());
    RequestId id = ids.next();
    auto promise = std::make_shared<std::promise<Result<json>>>();
    auto future = promise->get_future();
    auto done = [promise](Result<json> r) { promise->set_value(std::move(r)); };
    pending.add(id, std::string(method), done);
    if (!open) pending.fail(id, closed_reason());  // closed between the check and add()
    std::weak_ptr<Private> weak = weak_from_this();
    std::string method_text(method);
    std::string server = name;
    auto on_cancel = [weak, id, method_text, server] {
      if (auto self = weak.lock()) {
        self->abandon(id,
                      make_error(ErrorType::cancelled,
                                 "MCP server '" + server + "': " + method_text + " cancelled"),
                      "cancelled by the client");
      }
    };
    CancelRegistration registration(cancel, on_cancel);
    send(make_request(id, method, std::move(params)));
    if (future.wait_for(timeout) == std::future_status::timeout) {
      abandon(id,
              make_error(ErrorType::timeout, "MCP server '" + name + "': " + std::string(method) +
                                                 " timed out after " +
                                                 std::to_string(timeout.count()) + " ms"),
              "timeout");
    }
    auto result = future.get();
    if (!result && result.error().type == ErrorType::provider_error) {
      result.error().message = "MCP server '" + name + "': " + result.error().message;
    }
    return result;
  }

  json answer_elicitation(const json& params) {
    json_object content;
    if (const json* props = find_path(params, "requestedSchema/properties");
        props != nullptr && props->is_object()) {
      for (const auto& [key, prop] : props->as_object()) {
        if (const json* def = find(prop, "default")) content[key] = *def;
      }
    }
    json_object result;
    result["action"] = "accept";
    result["content"] = std::move(content);
    return result;
  }

  void on_request(const JsonRpcMessage& m) {
    const RequestId& id = *m.id;
    if (m.method == "ping") {
      send(make_result_response(id, json_object{}));
    } else if (m.method == "roots/list") {
      json_object result;
      result["roots"] = json_array{};
      send(make_result_response(id, std::move(result)));
    } else if (m.method == "elicitation/create") {
      log::get()->info("mcp[{}]: elicitation request answered with defaults: {}", name,
                       get_string_or(m.params, "message", ""));
      send(make_result_response(id, answer_elicitation(m.params)));
    } else {
      send(make_error_response(id, kMethodNotFound, "Method not found: " + m.method));
    }
  }

  void on_message(json message) {
    auto parsed = parse_message(message);
    if (!parsed) {
      log::get()->warn("mcp[{}]: skipping message: {}", name, parsed.error().message);
      // A request we could not parse still gets an error when it has a usable id.
      const json* id = find(message, "id");
      if (find(message, "method") != nullptr && id != nullptr &&
          (id->is_int64() || id->is_string())) {
        RequestId rid =
            id->is_int64() ? RequestId{id->as_int64()} : RequestId{std::string(id->as_string())};
        send(make_error_response(rid, kInvalidRequest, parsed.error().message));
      }
      return;
    }
    JsonRpcMessage& m = *parsed;
    switch (m.kind) {
      case MessageKind::response:
      case MessageKind::error:
        if (!m.id) {
          log::get()->warn("mcp[{}]: error without id: {} ({})", name, m.error.message,
                           m.error.code);
        } else if (!pending.complete(m)) {
          log::get()->debug("mcp[{}]: dropping answer to unknown request {}", name,
                            id_to_string(*m.id));
        }
        break;
      case MessageKind::request:
        on_request(m);
        break;
      case MessageKind::notification:
        log::get()->debug("mcp[{}]: notification {}", name, m.method);
        break;
    }
  }

  void close() {
    transport->close();
    on_closed(make_error(ErrorType::connection_error,
                         "MCP server '" + name + "': connection closed by client"));
  }
};

McpClient::McpClient(std::unique_ptr<Private> p) : p_(std::move(p)) {}

McpClient::~McpClient() {
  p_->close();
}

Result<std::shared_ptr<McpClient>> McpClient::connect_stdio(std::string name,
                                                            StdioServerOptions server,
                                                            McpOptions options) {
  auto transport = make_stdio_transport(name, std::move(server), options);
  if (!transport) return tl::unexpected(transport.error());
  return connect(std::move(name), std::move(*transport), options);
}

Result<std::shared_ptr<McpClient>> McpClient::connect_stdio(std::string name,
                                                            StdioServerOptions server) {
  return connect_stdio(std::move(name), std::move(server), McpOptions{});
}

Result<std::shared_ptr<McpClient>> McpClient::connect_http(std::string name,
                                                           HttpServerOptions server,
                                                           McpOptions options) {
  auto transport = make_http_transport(name, std::move(server), options);
  if (!transport) return tl::unexpected(transport.error());
  return connect(std::move(name), std::move(*transport), options);
}

Result<std::shared_ptr<McpClient>> McpClient::connect_http(std::string name,
                                                           HttpServerOptions server) {
  return connect_http(std::move(name), std::move(server), McpOptions{});
}

Result<std::shared_ptr<McpClient>> McpClient::connect(std::string name,
                                                      std::unique_ptr<McpTransport> transport,
                                                      McpOptions options) {
  auto p = std::make_unique<Private>();
  p->name = std::move(name);
  p->options = options;
  p->transport = std::move(transport);
  auto client = std::make_shared<McpClient>(std::move(p));
  Private& priv = *client->p_;
  std::weak_ptr<Private> weak = client->p_;
  McpTransport::Handlers handlers;
  handlers.on_message = [weak](json message) {
    if (auto self = weak.lock()) self->on_message(std::move(message));
  };
  handlers.on_closed = [weak](Error why) {
    if (auto self = weak.lock()) self->on_closed(std::move(why));
  };
  if (auto started = priv.transport->start(std::move(handlers)); !started) {
    return tl::unexpected(started.error());
  }

  json_object client_info;
  client_info["name"] = "cppflue";
  client_info["version"] = kVersion;
  json_object roots;
  roots["listChanged"] = false;
  json_object capabilities;
  capabilities["elicitation"] = json_object{};
  capabilities["roots"] = std::move(roots);
  json_object params;
  params["protocolVersion"] = kProtocolVersion;
  params["capabilities"] = std::move(capabilities);
  params["clientInfo"] = std::move(client_info);
  auto result = priv.request("initialize", std::move(params), options.initialize_timeout, {});
  if (!result) {
    priv.close();
    return tl::unexpected(result.error());
  }
  auto version = get_string(*result, "protocolVersion");
  if (!version) {
    priv.close();
    return fail(ErrorType::provider_error,
                "MCP server '" + priv.name + "': initialize result without protocolVersion");
  }
  bool supported =
      std::any_of(std::begin(kSupportedProtocolVersions), std::end(kSupportedProtocolVersions),
                  [&](const char* v) { return *version == v; });
  if (!supported) {
    priv.close();
    return fail(ErrorType::provider_error,
                "MCP server '" + priv.name + "': unsupported protocol version " + *version);
  }
  priv.server_info = std::move(*result);
  priv.protocol_version = std::move(*version);
  priv.send(make_notification("notifications/initialized", nullptr));
  return client;
}

const std::string& McpClient::name() const {
  return p_->name;
}
const json& McpClient::server_info() const {
  return p_->server_info;
}
const std::string& McpClient::protocol_version() const {
  return p_->protocol_version;
}
bool McpClient::connected() const {
  return p_->open;
}
void McpClient::close() {
  p_->close();
}

Result<json> McpClient::request(std::string_view method, json params, CancelToken cancel) {
  return p_->request(method, std::move(params), p_->options.request_timeout, cancel);
}

void McpClient::notify(std::string_view method, json params) {
  p_->send(make_notification(method, std::move(params)));
}

Result<std::vector<McpTool>> McpClient::list_tools() {
  return list_tools(CancelToken{});
}

Result<std::vector<McpTool>> McpClient::list_tools(CancelToken cancel) {
  std::vector<McpTool> tools;
  std::optional<std::string> cursor;
  std::set<std::string> seen_cursors;
  for (;;) {
    json_object params;
    if (cursor) params["cursor"] = *cursor;
    auto page = request("tools/list", std::move(params), cancel);
    if (!page) return tl::unexpected(page.error());
    const json* list = find(*page, "tools");
    if (list == nullptr || !list->is_array()) {
      return fail(ErrorType::provider_error,
                  "MCP server '" + p_->name + "': tools/list result without a \"tools\" array");
    }
    for (const auto& t : list->as_array()) {
      auto tool_name = get_string(t, "name");
      if (!tool_name || tool_name->empty()) {
        log::get()->warn("mcp[{}]: skipping a tool without a name", p_->name);
        continue;
      }
      McpTool tool;
      tool.name = std::move(*tool_name);
      tool.title = get_string_or(t, "title", "");
      if (tool.title.empty()) {
        if (const json* at = find_path(t, "annotations/title"); at && at->is_string()) {
          tool.title = std::string(at->as_string());
        }
      }
      tool.description = get_string_or(t, "description", "");
      if (const json* s = find(t, "inputSchema"); s && s->is_object()) tool.input_schema = *s;
      if (const json* s = find(t, "outputSchema"); s && s->is_object()) tool.output_schema = *s;
      tools.push_back(std::move(tool));
    }
    cursor = get_string(*page, "nextCursor");
    if (!cursor || cursor->empty()) break;
    if (!seen_cursors.insert(*cursor).second) {
      return fail(ErrorType::provider_error,
                  "MCP server '" + p_->name + "': tools/list repeated cursor " + *cursor);
    }
  }
  return tools;
}

Result<McpToolResult> McpClient::call_tool(std::string_view tool, json arguments) {
  return call_tool(tool, std::move(arguments), CancelToken{});
}

Result<McpToolResult> McpClient::call_tool(std::string_view tool, json arguments,
                                           CancelToken cancel) {
  json_object params;
  params["name"] = tool;
  params["arguments"] = arguments.is_null() ? json(json_object{}) : std::move(arguments);
  auto r = request("tools/call", std::move(params), cancel);
  if (!r) return tl::unexpected(r.error());
  if (!r->is_object()) {
    return fail(ErrorType::provider_error,
                "MCP server '" + p_->name + "': tools/call result is not an object");
  }
  McpToolResult out;
  if (const json* c = find(*r, "content"); c && c->is_array()) out.content = *c;
  if (const json* s = find(*r, "structuredContent"); s && !s->is_null()) out.structured = *s;
  out.is_error = get_bool(*r, "isError").value_or(false);
  return out;
}

std::string tool_result_text(const McpToolResult& result) {
  std::string out;
  auto add = [&](std::string_view part) {
    if (!out.empty()) out.push_back('\n');
    out.append(part);
  };
  if (result.content.is_array()) {
    for (const auto& item : result.content.as_array()) {
      std::string type = get_string_or(item, "type", "");
      if (type == "text") {
        add(get_string_or(item, "text", ""));
      } else if (type == "image" || type == "audio") {
        std::size_t n = get_string_or(item, "data", "").size();
        add("[" + type + ": " + get_string_or(item, "mimeType", "unknown") + ", " +
            std::to_string(n) + " bytes base64]");
      } else if (type == "resource") {
        const json* res = find(item, "resource");
        std::optional<std::string> text = res ? get_string(*res, "text") : std::nullopt;
        if (text) {
          add(*text);
        } else {
          add("[resource " + (res ? get_string_or(*res, "uri", "") : std::string()) + "]");
        }
      } else if (type == "resource_link") {
        std::string link = "[link: " + get_string_or(item, "uri", "");
        std::string link_name = get_string_or(item, "name", "");
        if (!link_name.empty()) link += " " + link_name;
        add(link + "]");
      } else {
        add(dump(item));
      }
    }
  }
  if (out.empty() && !result.structured.is_null()) out = dump(result.structured);
  return out;
}

}  // namespace cppflue::mcp
