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
#include "cppflue/core/trace.hpp"
#include "cppflue/mcp/jsonrpc.hpp"
#include "cppflue/version.hpp"

namespace cppflue::mcp {
namespace {

std::optional<double> number_of(const json& obj, std::string_view key) {
  const json* v = find(obj, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return std::nullopt;
}

}  // namespace

struct McpClient::Private : std::enable_shared_from_this<McpClient::Private> {
  using Clock = std::chrono::steady_clock;
  using TransportFactory = std::function<Result<std::unique_ptr<McpTransport>>()>;

  std::string name;
  McpOptions options;
  // Makes a fresh transport for a new session after the server forgot ours (HTTP only).
  TransportFactory factory;
  PendingRequests pending;
  IdAllocator ids;
  std::atomic<bool> open{true};
  std::mutex mu;  // guards transport, generation, closed_error, progress
  std::shared_ptr<McpTransport> transport;
  // Incremented for every transport; messages and closes of an older one are ignored.
  std::uint64_t generation = 0;
  std::optional<Error> closed_error;
  // A request's deadline, moved on by the server's progress notifications.
  struct Deadline {
    std::atomic<Clock::rep> at;
    std::chrono::milliseconds step;
    std::string method;
  };
  std::map<std::string, std::shared_ptr<Deadline>> progress;  // by dump(progressToken)
  // Held while a new session is set up, so no request goes out before its initialize.
  std::mutex reconnect_mu;
  json server_info = nullptr;
  std::string protocol_version;

  Error closed_reason() {
    std::lock_guard lock(mu);
    if (closed_error) return *closed_error;
    return make_error(ErrorType::connection_error, "MCP server '" + name + "': not connected");
  }

  std::uint64_t current_generation() {
    std::lock_guard lock(mu);
    return generation;
  }

  // The connection ended because the server forgot the session, and we can start another.
  bool can_reconnect() {
    std::lock_guard lock(mu);
    return factory && closed_error && !closed_by_client &&
           get_bool(closed_error->details, "session_expired").value_or(false);
  }
  bool closed_by_client = false;  // guarded by mu

  void on_closed(std::uint64_t gen, const Error& why) {
    {
      std::lock_guard lock(mu);
      if (gen != generation) return;
      if (!closed_error) closed_error = why;
      open = false;
    }
    pending.fail_all(why);
  }

  McpTransport::Handlers handlers_for(std::uint64_t gen) {
    std::weak_ptr<Private> weak = weak_from_this();
    McpTransport::Handlers handlers;
    handlers.on_message = [weak, gen](const json& message) {
      auto self = weak.lock();
      if (self && self->current_generation() == gen) self->on_message(message);
    };
    handlers.on_closed = [weak, gen](const Error& why) {
      if (auto self = weak.lock()) self->on_closed(gen, why);
    };
    return handlers;
  }

  void send(json message) {
    std::shared_ptr<McpTransport> t;
    {
      std::lock_guard lock(mu);
      if (open) t = transport;
    }
    if (t) t->send(std::move(message));
  }

  // Removes a pending request (timeout / cancel) and tells the server.
  void abandon(const RequestId& id, Error error, std::string_view reason) {
    if (!pending.fail(id, std::move(error))) return;
    json_object params;
    params["requestId"] = id_to_json(id);
    params["reason"] = reason;
    send(make_notification("notifications/cancelled", std::move(params)));
  }

  // One request on the current connection: waits for its answer until the deadline, which
  // each progress notification for it moves `timeout` further (never past max_request_time).
  Result<json> send_request(const RequestId& id, std::string_view method, json params,
                            std::chrono::milliseconds timeout, const CancelToken& cancel) {
    if (cancel.cancelled()) {
      return fail(ErrorType::cancelled, "MCP " + std::string(method) + " cancelled");
    }
    if (!open) return tl::unexpected(closed_reason());
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
    const auto start = Clock::now();
    auto deadline = std::make_shared<Deadline>();
    deadline->at = (start + timeout).time_since_epoch().count();
    deadline->step = timeout;
    deadline->method = method_text;
    std::string token;
    if (method == "tools/call" && params.is_object()) {
      // Ask for progress notifications, keyed by the request id.
      json_object meta;
      if (const json* m = find(params, "_meta"); m != nullptr && m->is_object()) {
        meta = m->as_object();
      }
      meta["progressToken"] = id_to_json(id);
      params.as_object()["_meta"] = std::move(meta);
      token = dump(id_to_json(id));
      std::lock_guard lock(mu);
      progress[token] = deadline;
    }
    send(make_request(id, method, std::move(params)));
    const auto hard_limit = start + std::max(timeout, options.max_request_time);
    for (;;) {
      auto at = std::min(Clock::time_point(Clock::duration(deadline->at.load())), hard_limit);
      if (future.wait_until(at) == std::future_status::ready) break;
      auto now = Clock::now();
      if (now >= std::min(Clock::time_point(Clock::duration(deadline->at.load())), hard_limit)) {
        auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - start);
        std::string text = "MCP server '" + name + "': " + method_text + " timed out after " +
                           std::to_string(waited.count()) + " ms";
        if (waited > timeout + std::chrono::milliseconds(50)) {
          text += " (progress extended it; the limit is " +
                  std::to_string(options.max_request_time.count()) + " ms)";
        }
        abandon(id, make_error(ErrorType::timeout, std::move(text)), "timeout");
        break;
      }
    }
    if (!token.empty()) {
      std::lock_guard lock(mu);
      progress.erase(token);
    }
    auto result = future.get();
    if (!result && result.error().type == ErrorType::provider_error) {
      result.error().message = "MCP server '" + name + "': " + result.error().message;
    }
    return result;
  }

  // A request; when the server forgot the session (HTTP 404), a new session is initialized
  // and the request, which the server did not process, is sent once more.
  // `params` is kept for that second attempt: each attempt sends a copy.
  Result<json> request(std::string_view method, const json& params,
                       std::chrono::milliseconds timeout, const CancelToken& cancel) {
    for (int attempt = 0;; ++attempt) {
      std::uint64_t gen = 0;
      {
        std::lock_guard gate(reconnect_mu);  // waits while a new session is set up
        gen = current_generation();
      }
      if (!open && can_reconnect()) {
        if (auto r = reconnect(gen); !r) return tl::unexpected(r.error());
        if (attempt > 0) return tl::unexpected(closed_reason());
        continue;
      }
      RequestId id = ids.next();
      auto result = send_request(id, method, params, timeout, cancel);
      if (result || attempt > 0 || !factory) return result;
      const json& details = result.error().details;
      bool expired = get_bool(details, "session_expired").value_or(false);
      const json* failed_id = find(details, "request_id");
      if (!expired || failed_id == nullptr || *failed_id != id_to_json(id)) return result;
      log::get()->info("mcp[{}]: the session expired; initializing a new one for {}", name, method);
      if (auto r = reconnect(gen); !r) return tl::unexpected(r.error());
    }
  }

  // The lifecycle handshake on the current transport.
  Result<void> handshake() {
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
    auto result =
        send_request(ids.next(), "initialize", std::move(params), options.initialize_timeout, {});
    if (!result) return tl::unexpected(result.error());
    auto version = get_string(*result, "protocolVersion");
    if (!version) {
      return fail(ErrorType::provider_error,
                  "MCP server '" + name + "': initialize result without protocolVersion");
    }
    bool supported =
        std::any_of(std::begin(kSupportedProtocolVersions), std::end(kSupportedProtocolVersions),
                    [&](const char* v) { return *version == v; });
    if (!supported) {
      return fail(ErrorType::provider_error,
                  "MCP server '" + name + "': unsupported protocol version " + *version);
    }
    server_info = std::move(*result);
    protocol_version = std::move(*version);
    send(make_notification("notifications/initialized", nullptr));
    return {};
  }

  // Starts `t` as the current transport (a new generation).
  Result<void> install(std::unique_ptr<McpTransport> t) {
    std::shared_ptr<McpTransport> fresh = std::move(t);
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(mu);
      transport = fresh;
      gen = ++generation;
      closed_error.reset();
      open = true;
    }
    if (auto started = fresh->start(handlers_for(gen)); !started) {
      on_closed(gen, started.error());
      return tl::unexpected(started.error());
    }
    return {};
  }

  // A new session after the server forgot ours: a fresh transport and handshake, unless
  // another thread already did it since generation `seen`.
  Result<void> reconnect(std::uint64_t seen) {
    std::lock_guard gate(reconnect_mu);
    std::shared_ptr<McpTransport> old;
    {
      std::lock_guard lock(mu);
      if (generation != seen) return {};
      if (closed_by_client) {
        return fail(ErrorType::connection_error,
                    "MCP server '" + name + "': connection closed by client");
      }
      old = transport;
    }
    auto made = factory();
    if (!made) return tl::unexpected(made.error());
    if (auto r = install(std::move(*made)); !r) return r;
    if (old) old->close();  // it already ended; its late callbacks are ignored
    if (auto h = handshake(); !h) {
      Error e = h.error();
      e.message = "MCP server '" + name + "': initializing a new session failed: " + e.message;
      close_transport(e);
      return tl::unexpected(std::move(e));
    }
    return {};
  }

  void close_transport(const Error& why) {
    std::shared_ptr<McpTransport> t;
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(mu);
      t = transport;
      gen = generation;
    }
    if (t) t->close();
    on_closed(gen, why);
  }

  void on_progress(const json& params) {
    const json* token = find(params, "progressToken");
    if (token == nullptr) return;
    std::shared_ptr<Deadline> deadline;
    {
      std::lock_guard lock(mu);
      auto it = progress.find(dump(*token));
      if (it != progress.end()) deadline = it->second;
    }
    if (!deadline) {
      log::get()->debug("mcp[{}]: progress for an unknown token {}", name, dump(*token));
      return;
    }
    deadline->at = (Clock::now() + deadline->step).time_since_epoch().count();
    McpProgress p;
    p.server = name;
    p.method = deadline->method;
    p.progress = number_of(params, "progress").value_or(0.0);
    p.total = number_of(params, "total");
    p.message = get_string_or(params, "message", "");
    log::get()->debug("mcp[{}]: progress {} / {} {}", name, p.progress, p.total.value_or(0.0),
                      p.message);
    if (options.on_progress) options.on_progress(p);
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

  void on_message(const json& message) {
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
        if (m.method == "notifications/progress") {
          on_progress(m.params);
        } else if (m.method == "notifications/tools/list_changed") {
          log::get()->info(
              "mcp[{}]: the server's tool list changed (tools are listed once, "
              "when the agent is created)",
              name);
        } else {
          log::get()->debug("mcp[{}]: notification {}", name, m.method);
        }
        break;
    }
  }

  void close() {
    {
      std::lock_guard lock(mu);
      closed_by_client = true;
    }
    close_transport(make_error(ErrorType::connection_error,
                               "MCP server '" + name + "': connection closed by client"));
  }
};

McpClient::McpClient(std::unique_ptr<Private> p) : p_(std::move(p)) {}

McpClient::~McpClient() {
  p_->close();
}

// `server` by value like connect_http's, which keeps it: callers (src/harness/mcp_tools.cpp) move
// their options in, so this costs nothing, and a const& would make their std::move a silent copy.
Result<std::shared_ptr<McpClient>> McpClient::connect_stdio(
    std::string name,
    StdioServerOptions server,  // NOLINT(performance-unnecessary-value-param): see above
    McpOptions options) {
  auto transport = make_stdio_transport(name, server, options);
  if (!transport) return tl::unexpected(transport.error());
  return connect(std::move(name), std::move(*transport), std::move(options));
}

Result<std::shared_ptr<McpClient>> McpClient::connect_stdio(std::string name,
                                                            StdioServerOptions server) {
  return connect_stdio(std::move(name), std::move(server), McpOptions{});
}

Result<std::shared_ptr<McpClient>> McpClient::connect_http(std::string name,
                                                           HttpServerOptions server,
                                                           McpOptions options) {
  auto transport = make_http_transport(name, server, options);
  if (!transport) return tl::unexpected(transport.error());
  // A new transport for each new session, when the server forgets one.
  auto factory = [name, server = std::move(server), options] {
    return make_http_transport(name, server, options);
  };
  auto client = connect(std::move(name), std::move(*transport), std::move(options));
  if (client) (*client)->p_->factory = std::move(factory);
  return client;
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
  p->options = std::move(options);
  auto client = std::make_shared<McpClient>(std::move(p));
  Private& priv = *client->p_;
  if (auto r = priv.install(std::move(transport)); !r) return tl::unexpected(r.error());
  if (auto h = priv.handshake(); !h) {
    priv.close();
    return tl::unexpected(h.error());
  }
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

Result<json> McpClient::request(std::string_view method, const json& params,
                                const CancelToken& cancel) {
  return p_->request(method, params, p_->options.request_timeout, cancel);
}

void McpClient::notify(std::string_view method, json params) {
  p_->send(make_notification(method, std::move(params)));
}

Result<std::vector<McpTool>> McpClient::list_tools() {
  return list_tools(CancelToken{});
}

Result<std::vector<McpTool>> McpClient::list_tools(const CancelToken& cancel) {
  std::vector<McpTool> tools;
  std::optional<std::string> cursor;
  std::set<std::string> seen_cursors;
  for (;;) {
    json_object params;
    if (cursor) params["cursor"] = *cursor;
    auto page = request("tools/list", json(std::move(params)), cancel);
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
                                           const CancelToken& cancel) {
  return call_tool(tool, std::move(arguments), cancel, {});
}

Result<McpToolResult> McpClient::call_tool(std::string_view tool, json arguments,
                                           const CancelToken& cancel,
                                           std::string_view traceparent) {
  json_object params;
  params["name"] = tool;
  params["arguments"] = arguments.is_null() ? json(json_object{}) : std::move(arguments);
  // Trace context in _meta, as the OpenTelemetry conventions for MCP propagate it (stdio and
  // HTTP alike); only a well-formed traceparent is sent.
  if (auto context = trace::parse_traceparent(traceparent)) {
    params["_meta"] = json_object{{"traceparent", context->traceparent()}};
  }
  auto r = request("tools/call", json(std::move(params)), cancel);
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
