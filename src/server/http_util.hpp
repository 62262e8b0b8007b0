// SPDX-License-Identifier: Apache-2.0
// Pieces of the server's HTTP contract (docs/reference/http.md, PyFlue's shapes): the error
// envelope, JSON responses, PyFlue's body-parsing rules, path segments, SSE framing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/net/http_server.hpp"

namespace cppflue::server {

// {"error":{"type","message","details","dev"?,"meta"?}} with `status`.
net::ServerResponse error_response(int status, std::string_view type, std::string_view message,
                                   std::string_view details, std::string_view dev = {},
                                   json meta = nullptr);
net::ServerResponse error_envelope(int status, std::string_view type, std::string_view message,
                                   json details, std::string_view dev = {}, json meta = nullptr);
// 404 run_not_found for `id`.
net::ServerResponse run_not_found(const std::string& id);
// 405 method_not_allowed with `Allow: <allowed>` and meta {"allowed":[allowed]}.
net::ServerResponse method_not_allowed(std::string_view method, std::string_view allowed);
// 404 not_found ("Route not found.", "No route matches METHOD PATH.").
net::ServerResponse route_not_found(const net::ServerRequest& request);
// 400 invalid_query_param with meta {param, value}.
net::ServerResponse invalid_query(std::string_view param, std::string_view value,
                                  std::string_view details);
// A library error as an envelope: its wire type and a status for it; internal errors become
// 500 internal_error without their message.
net::ServerResponse error_response(const Error& error);
// Error::details["kind"] of a config_error that only names the project's own files relative to
// its root: answered as 500 agent_invalid with the message and the other details (any other
// config_error is an internal_error).
inline constexpr std::string_view kProjectFileProblem = "project_file";
int status_for(ErrorType type);
// The envelope body of error_response(error), as JSON (for SSE and WebSocket messages).
json error_body(const Error& error);
net::ServerResponse json_response(int status, const json& body, HttpHeaders headers = {});

// The request body under PyFlue's rules: empty → {}; not application/json → 415; bad JSON →
// 400 invalid_json; null → {}; not an object → 400 invalid_request; the payload is
// body["payload"] when present (null → {}, not an object → 400), else the whole body.
struct ParsedBody {
  json body = json_object{};
  json payload = json_object{};
  std::optional<net::ServerResponse> error;
};
ParsedBody parse_body(const net::ServerRequest& request);

// "/agents/a%20b/x" → {"agents", "a b", "x"}; nullopt when a %-escape is malformed. Empty
// segments are kept ("/a//b" → {"a", "", "b"}); a trailing '/' adds none.
std::optional<std::vector<std::string>> path_segments(std::string_view path);
// The value of `name` in a query string (percent-decoded, '+' as space); nullopt when absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name);
// ASCII case-insensitive equality (header values such as "X-Webhook: TRUE").
bool iequals(std::string_view a, std::string_view b);
// A non-negative decimal integer of at most 18 digits; nullopt for anything else.
std::optional<std::int64_t> parse_count(std::string_view text);
// True when the Accept header asks for text/event-stream.
bool wants_event_stream(const net::ServerRequest& request);

// The request's W3C trace context: a valid `traceparent` header (else "", and the work starts a
// trace of its own) and its `tracestate`.
struct TraceHeaders {
  std::string traceparent;
  std::string tracestate;
};
TraceHeaders trace_headers(const net::ServerRequest& request);

// True when `s` is empty or only whitespace.
bool blank(std::string_view s);
// "a, b." style lists ("(none)." when empty), e.g. for "Available agents: ...".
std::string name_list(const std::vector<std::string>& names);

// One SSE event: optional id, the event type and one data line of JSON.
std::string sse_event(std::string_view type, const json& data, std::string_view id = {});
// The headers of an event stream (text/event-stream, no caching or buffering), then `extra`.
HttpHeaders sse_headers(HttpHeaders extra = {});
// The comment an event stream sends after a quiet spell.
inline constexpr std::string_view kSseHeartbeat = ": heartbeat\n\n";

}  // namespace cppflue::server
