// SPDX-License-Identifier: Apache-2.0
// cppflue/mcp/client.hpp — a Model Context Protocol client (docs/concepts/mcp.md).
//
// `McpClient` speaks JSON-RPC 2.0 over an `McpTransport`. `connect_*` performs the lifecycle
// handshake (`initialize` with protocol version 2025-11-25, accepting a server that answers
// 2025-06-18, then `notifications/initialized`). The client answers server→client requests:
// `ping` (empty result), `roots/list` (no roots), `elicitation/create` (accepts with the
// `default` of each property of `requestedSchema`); any other method gets JSON-RPC -32601.
//
// Requests are matched to responses by id, so concurrent calls may be answered in any order.
// Every request has a timeout (McpOptions::request_timeout) and can be cancelled through a
// CancelToken; on timeout or cancel the caller gets ErrorType::timeout / ErrorType::cancelled
// at once and the server receives `notifications/cancelled {requestId, reason}`. When the
// connection ends (the server exits, closes stdout, sends an oversized line) every pending
// request fails at once with a connection_error naming the server and why.
//
// The synchronous methods block the calling thread: do not call them from a Runtime I/O
// thread (the transport delivers messages there).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"

namespace cppflue::mcp {

inline constexpr const char* kProtocolVersion = "2025-11-25";
// Versions we accept in the server's initialize answer.
inline constexpr const char* kSupportedProtocolVersions[] = {"2025-11-25", "2025-06-18",
                                                             "2025-03-26"};

// A bidirectional message channel. Handlers may be called from any thread, but never
// concurrently with each other; `on_closed` is called at most once and nothing after it.
class McpTransport {
 public:
  struct Handlers {
    std::function<void(json message)> on_message;
    std::function<void(Error why)> on_closed;
  };
  virtual ~McpTransport() = default;
  virtual Result<void> start(Handlers handlers) = 0;
  // Queues one message; failures surface through on_closed. No-op after close.
  virtual void send(json message) = 0;
  // Ends the connection (stdio: kills the server's process group). Idempotent. on_closed is
  // called (with a connection_error "closed by client") if it was not already.
  virtual void close() = 0;
};

struct StdioServerOptions {
  std::string command;
  std::vector<std::string> args;
  // The server's environment: exactly these plus PATH, HOME and LANG from ours (when not
  // given here). Nothing else of our environment is passed on.
  std::map<std::string, std::string> env;
  std::string cwd;  // empty = ours
};

// A `notifications/progress` the server sent for one of our requests.
struct McpProgress {
  std::string server;
  std::string method;  // of the request it is about ("tools/call")
  double progress = 0;
  std::optional<double> total;
  std::string message;
};

struct McpOptions {
  // A request fails with ErrorType::timeout when no answer came in this time. Every tools/call
  // asks for progress (`_meta.progressToken`); each progress notification for it restarts
  // this timeout, up to max_request_time in all.
  std::chrono::milliseconds request_timeout{60000};
  std::chrono::milliseconds max_request_time{600000};
  std::chrono::milliseconds initialize_timeout{30000};
  // A received line longer than this closes the connection ("message too large").
  std::size_t max_message_bytes = 16 * 1024 * 1024;
  // Called for each progress notification (on the transport's thread: do not block in it).
  std::function<void(const McpProgress&)> on_progress;
};

// The stdio transport: spawns `command args` in a new process group with pipes; messages
// are newline-delimited JSON on stdin/stdout; stderr lines go to the log (info level, with
// the server name). A line that is not valid JSON is logged (warn) and skipped: we cannot
// know which request it was meant to answer, and the request then ends by its timeout.
Result<std::unique_ptr<McpTransport>> make_stdio_transport(std::string server_name,
                                                           const StdioServerOptions& server,
                                                           const McpOptions& options);

// A Streamable HTTP server (MCP 2025-11-25 transport): every message we send is a POST to
// `url` (plus `headers`); answers come back as a JSON body or an SSE stream.
struct HttpServerOptions {
  std::string url;
  std::map<std::string, std::string> headers;
};

// The Streamable HTTP transport. Each message is POSTed with `Accept: application/json,
// text/event-stream`, `MCP-Protocol-Version` (after initialize) and `Mcp-Session-Id` (once the
// server assigned one). A POST answer is 202 (notifications, responses), one JSON message, or
// an SSE stream whose messages (server→client requests, then the response) are delivered in
// order. When an SSE stream ends before the response to its request, the transport reconnects
// with a GET carrying `Last-Event-ID` after the server's `retry:` delay (1 s by default).
// HTTP error statuses of a request fail that request (naming the URL and status); transport
// failures and an expired session (404 with a session id) end the connection with a
// connection_error (for the 404, details {session_expired: true, request_id}). McpClient
// answers an expired session by initializing a new one and sending the refused request again
// (once). close() cancels every stream and sends DELETE for the session.
Result<std::unique_ptr<McpTransport>> make_http_transport(std::string server_name,
                                                          HttpServerOptions server,
                                                          McpOptions options);

struct McpTool {
  std::string name;
  std::string title;        // "" when absent (falls back to annotations.title)
  std::string description;  // "" when absent
  json input_schema = json_object{};
  json output_schema = nullptr;  // null when absent
};

struct McpToolResult {
  json content = json_array{};  // the content blocks, as sent
  json structured = nullptr;    // structuredContent, null when absent
  bool is_error = false;
};

// The result as text for the model: text items verbatim; image/audio → "[image: MIME, N bytes
// base64]"; embedded resource → its text or "[resource URI]"; resource_link → "[link: URI
// NAME]"; items joined by newlines. With no content but structuredContent: its JSON.
std::string tool_result_text(const McpToolResult& result);

class McpClient {
 public:
  struct Private;

  // Spawns the server and initializes. Errors: the spawn's (not_found, permission, ...),
  // connection_error / timeout / provider_error from the handshake (naming the server).
  static Result<std::shared_ptr<McpClient>> connect_stdio(std::string name,
                                                          StdioServerOptions server,
                                                          McpOptions options);
  static Result<std::shared_ptr<McpClient>> connect_stdio(std::string name,
                                                          StdioServerOptions server);
  // Connects to a Streamable HTTP server and initializes. When the server later forgets the
  // session (HTTP 404), the client initializes a new session and retries the refused request
  // once; requests that were waiting for answers on the old session fail. Errors: config_error for
  // a URL that is not http(s), connection_error (nothing listening, session expired), timeout, and
  // provider_error (HTTP error statuses, bad handshake), all naming the server.
  static Result<std::shared_ptr<McpClient>> connect_http(std::string name, HttpServerOptions server,
                                                         McpOptions options);
  static Result<std::shared_ptr<McpClient>> connect_http(std::string name,
                                                         HttpServerOptions server);
  // Over any transport (not started yet); performs the handshake.
  static Result<std::shared_ptr<McpClient>> connect(std::string name,
                                                    std::unique_ptr<McpTransport> transport,
                                                    McpOptions options);

  explicit McpClient(std::unique_ptr<Private> p);
  ~McpClient();
  McpClient(const McpClient&) = delete;
  McpClient& operator=(const McpClient&) = delete;

  const std::string& name() const;
  // The server's initialize result and the negotiated protocol version.
  const json& server_info() const;
  const std::string& protocol_version() const;

  // All tools, following nextCursor pagination.
  Result<std::vector<McpTool>> list_tools();
  Result<std::vector<McpTool>> list_tools(const CancelToken& cancel);
  // tools/call. A tool-level failure is a result with is_error = true, not an Error.
  Result<McpToolResult> call_tool(std::string_view tool, json arguments);
  Result<McpToolResult> call_tool(std::string_view tool, json arguments, const CancelToken& cancel);
  // With the caller's W3C trace context (params._meta.traceparent, and the HTTP header).
  Result<McpToolResult> call_tool(std::string_view tool, json arguments, const CancelToken& cancel,
                                  std::string_view traceparent);
  // Any request (params null → omitted).
  Result<json> request(std::string_view method, const json& params, const CancelToken& cancel);
  void notify(std::string_view method, json params);

  // True until the connection ended.
  bool connected() const;
  // Ends the connection (kills the server's process group); pending requests fail.
  void close();

 private:
  std::shared_ptr<Private> p_;
};

}  // namespace cppflue::mcp
