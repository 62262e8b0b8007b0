// SPDX-License-Identifier: Apache-2.0
#include "server/http_util.hpp"

#include "cppflue/core/trace.hpp"

#include <fmt/format.h>

#include <cctype>

namespace cppflue::server {

net::ServerResponse json_response(int status, const json& body, HttpHeaders headers) {
  net::ServerResponse r;
  r.status = status;
  r.headers = std::move(headers);
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = dump(body);
  return r;
}

net::ServerResponse error_response(int status, std::string_view type, std::string_view message,
                                   std::string_view details, std::string_view dev, json meta) {
  return error_envelope(status, type, message, json(details), dev, std::move(meta));
}

net::ServerResponse error_envelope(int status, std::string_view type, std::string_view message,
                                   json details, std::string_view dev, json meta) {
  json_object error;
  error["type"] = type;
  error["message"] = message;
  error["details"] = std::move(details);
  if (!dev.empty()) error["dev"] = dev;
  if (!meta.is_null()) error["meta"] = std::move(meta);
  return json_response(status, json_object{{"error", std::move(error)}});
}

int status_for(ErrorType type) {
  switch (type) {
    case ErrorType::invalid_input:
    case ErrorType::typed_output_error:
      return 400;
    case ErrorType::not_found:
      return 404;
    case ErrorType::permission:
    case ErrorType::policy:
      return 403;
    case ErrorType::session_busy:
    case ErrorType::cancelled:
      return 409;
    case ErrorType::rate_limited:
      return 429;
    case ErrorType::timeout:
      return 504;
    case ErrorType::connection_error:
    case ErrorType::provider_error:
    case ErrorType::auth_error:
    case ErrorType::context_overflow:
    case ErrorType::max_turns_exceeded:
      return 502;
    default:
      return 500;
  }
}

net::ServerResponse error_response(const Error& error) {
  int status = status_for(error.type);
  // Internal errors stay internal, configuration errors too (they can name paths, URLs and
  // settings of the machine), except a broken project file found while building an agent,
  // named relative to the project root (see instance_cache.cpp): that agent cannot run, as
  // when the catalog knew it already (ServedAgents::refuse).
  if (status == 500 && error.type == ErrorType::config_error &&
      get_string_or(error.details, "kind", "") == kProjectFileProblem) {
    json details = error.details;
    details.as_object().erase("kind");
    return error_envelope(500, "agent_invalid", error.message, std::move(details));
  }
  if (status == 500) {
    return error_response(500, "internal_error", "An internal error occurred.",
                          "The server encountered an unexpected error while handling this "
                          "request.");
  }
  return error_envelope(status, wire_name(error.type), error.message, error.details);
}

json error_body(const Error& error) {
  auto envelope = parse_json(error_response(error).body);
  return envelope ? *envelope : json(nullptr);
}

ParsedBody parse_body(const net::ServerRequest& request) {
  ParsedBody out;
  bool blank = true;
  for (char c : request.body) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      blank = false;
      break;
    }
  }
  if (blank) return out;
  auto type = request.header("Content-Type");
  std::string lowered = type.value_or("");
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lowered.find("application/json") == std::string::npos) {
    out.error =
        error_response(415, "unsupported_media_type", "Request body must use application/json.",
                       "Send a JSON body or omit the body entirely.", {},
                       json_object{{"received", type ? json(*type) : json(nullptr)}});
    return out;
  }
  auto parsed = parse_json(request.body);
  if (!parsed) {
    out.error = error_response(400, "invalid_json", "Request body is not valid JSON.",
                               "Send a valid JSON object with an optional payload field.",
                               parsed.error().message);
    return out;
  }
  if (parsed->is_null()) return out;
  if (!parsed->is_object()) {
    out.error = error_response(400, "invalid_request", "Request is invalid.",
                               "The request body must be a JSON object.");
    return out;
  }
  out.body = std::move(*parsed);
  if (const json* payload = find(out.body, "payload")) {
    if (payload->is_null()) {
      out.payload = json_object{};
    } else if (!payload->is_object()) {
      out.error = error_response(400, "invalid_request", "Request is invalid.",
                                 "The payload field must be a JSON object.");
    } else {
      out.payload = *payload;
    }
  } else {
    out.payload = out.body;
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}
}  // namespace

std::optional<std::vector<std::string>> path_segments(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty() || path.front() != '/') return std::nullopt;
  path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return out;
  for (;;) {
    auto slash = path.find('/');
    auto decoded = percent_decode(path.substr(0, slash), false);
    if (!decoded) return std::nullopt;
    out.push_back(std::move(*decoded));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    if (key && *key == name) {
      if (eq == std::string_view::npos) return std::string();
      auto value = percent_decode(pair.substr(eq + 1), true);
      return value.value_or(std::string(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::int64_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

TraceHeaders trace_headers(const net::ServerRequest& request) {
  auto parent = request.header("traceparent");
  if (!parent) return {};
  auto context = trace::parse_traceparent(*parent, request.header("tracestate").value_or(""));
  if (!context) return {};
  return {context->traceparent(), context->trace_state};
}

bool wants_event_stream(const net::ServerRequest& request) {
  auto accept = request.header("Accept");
  return accept && accept->find("text/event-stream") != std::string::npos;
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)." : out + ".";
}

HttpHeaders sse_headers(HttpHeaders extra) {
  HttpHeaders h{{"Content-Type", "text/event-stream"},
                {"Cache-Control", "no-cache"},
                {"X-Accel-Buffering", "no"}};
  for (auto& kv : extra) h.push_back(std::move(kv));
  return h;
}

std::string sse_event(std::string_view type, const json& data, std::string_view id) {
  std::string out;
  if (!id.empty()) out += fmt::format("id: {}\n", id);
  out += fmt::format("event: {}\ndata: {}\n\n", type, dump(data));
  return out;
}

net::ServerResponse run_not_found(const std::string& id) {
  return error_response(404, "run_not_found",
                        fmt::format("Run \"{}\" is not known to this server.", id),
                        "Verify the run id; runs are kept in the server's store.");
}

net::ServerResponse method_not_allowed(std::string_view method, std::string_view allowed) {
  auto r =
      error_response(405, "method_not_allowed", fmt::format("Method {} is not allowed.", method),
                     fmt::format("Use one of: {}.", allowed), {},
                     json_object{{"allowed", json_array{json(allowed)}}});
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

net::ServerResponse route_not_found(const net::ServerRequest& request) {
  return error_response(404, "not_found", "Route not found.",
                        fmt::format("No route matches {} {}.", request.method, request.path));
}

net::ServerResponse invalid_query(std::string_view param, std::string_view value,
                                  std::string_view details) {
  return error_response(400, "invalid_query_param",
                        fmt::format("Invalid value for query parameter \"{}\".", param), details,
                        {}, json_object{{"param", param}, {"value", value}});
}

}  // namespace cppflue::server
