// SPDX-License-Identifier: Apache-2.0
#include "server/webhooks.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>

#include "cppflue/core/log.hpp"
#include "cppflue/net/crypto.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

using net::ServerRequest;
using net::ServerResponse;

namespace {

constexpr std::int64_t kSlackWindowSeconds = 5 * 60;

ServerResponse unauthorized() {
  return error_response(401, "unauthorized", "Webhook signature verification failed.",
                        "The request is not signed with this server's webhook secret.");
}

ServerResponse ignored(std::string_view reason) {
  return json_response(200, json_object{{"status", "ignored"}, {"reason", reason}});
}

std::string env_value(const std::string& name) {
  if (name.empty()) return {};
  const char* v = std::getenv(name.c_str());
  return v == nullptr ? std::string() : std::string(v);
}

// Why an HMAC could not be computed (hmac_sha256_hex gave nothing).
std::string cannot_check_signatures() {
  std::string why = net::crypto_problem();
  return "cannot check signatures: " + (why.empty() ? std::string("libcrypto's HMAC failed") : why);
}

// "sha256=<hex>" (GitHub, generic) or "v0=<hex>" (Slack): the hex part, lower-cased.
std::optional<std::string> signature_hex(const std::optional<std::string>& header,
                                         std::string_view prefix) {
  if (!header || header->size() != prefix.size() + 64 || header->rfind(prefix, 0) != 0) {
    return std::nullopt;
  }
  std::string hex = header->substr(prefix.size());
  for (char& c : hex) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return hex;
}

const json* path(const json& v, std::initializer_list<const char*> keys) {
  const json* at = &v;
  for (const char* k : keys) {
    at = find(*at, k);
    if (at == nullptr) return nullptr;
  }
  return at;
}

std::string text_at(const json& v, std::initializer_list<const char*> keys) {
  const json* at = path(v, keys);
  return at != nullptr && at->is_string() ? std::string(at->as_string()) : std::string();
}

// A thread id: a non-empty string, or an integer.
std::string thread_at(const json& v, std::initializer_list<const char*> keys) {
  const json* at = path(v, keys);
  if (at == nullptr) return {};
  if (at->is_int64()) return std::to_string(at->as_int64());
  if (at->is_uint64()) return std::to_string(at->as_uint64());
  if (at->is_string() && !blank(at->as_string())) return std::string(at->as_string());
  return {};
}

// What a verified platform request becomes.
struct Inbound {
  std::optional<ServerResponse> answer;  // answered without dispatching (ping, challenge, …)
  std::string thread;
  json input;
  json context;
  std::string idempotency_key;
};

Inbound github_inbound(const ServerRequest& req, const json& body) {
  Inbound in;
  std::string event = req.header("X-GitHub-Event").value_or("");
  if (event == "ping") {
    in.answer = json_response(200, json_object{{"ok", true}});
    return in;
  }
  if (text_at(body, {"sender", "type"}) == "Bot") {
    in.answer = ignored("Events sent by bots are not dispatched.");
    return in;
  }
  for (auto keys : {std::initializer_list<const char*>{"issue", "number"},
                    std::initializer_list<const char*>{"pull_request", "number"},
                    std::initializer_list<const char*>{"number"}}) {
    in.thread = thread_at(body, keys);
    if (!in.thread.empty()) break;
  }
  if (in.thread.empty()) {
    in.answer = ignored("The event has no issue or pull request number.");
    return in;
  }
  std::string text = text_at(body, {"comment", "body"});
  if (text.empty()) text = text_at(body, {"review", "body"});
  if (text.empty()) text = text_at(body, {"issue", "body"});
  if (text.empty()) text = text_at(body, {"pull_request", "body"});
  std::string repository = text_at(body, {"repository", "full_name"});
  in.input = json_object{{"type", "chat.message"},
                         {"platform", "github"},
                         {"event", event},
                         {"action", text_at(body, {"action"})},
                         {"repository", repository},
                         {"thread", in.thread},
                         {"sender", text_at(body, {"sender", "login"})},
                         {"text", text}};
  in.context =
      json_object{{"platform", "github"}, {"thread", in.thread}, {"repository", repository}};
  in.idempotency_key = req.header("X-GitHub-Delivery").value_or("");
  return in;
}

Inbound slack_inbound(const json& body) {
  Inbound in;
  std::string type = text_at(body, {"type"});
  if (type == "url_verification") {
    in.answer = json_response(200, json_object{{"challenge", text_at(body, {"challenge"})}});
    return in;
  }
  if (type != "event_callback") {
    in.answer = ignored("Only event_callback requests are dispatched.");
    return in;
  }
  const json* event = find(body, "event");
  if (event == nullptr || !event->is_object()) {
    in.answer = ignored("The request has no event.");
    return in;
  }
  if (find(*event, "bot_id") != nullptr || text_at(*event, {"subtype"}) == "bot_message") {
    in.answer = ignored("Messages sent by bots are not dispatched.");
    return in;
  }
  in.thread = text_at(*event, {"thread_ts"});
  if (in.thread.empty()) in.thread = text_at(*event, {"ts"});
  if (in.thread.empty()) {
    in.answer = ignored("The event has no thread or message timestamp.");
    return in;
  }
  std::string channel = text_at(*event, {"channel"});
  in.input = json_object{{"type", "chat.message"},
                         {"platform", "slack"},
                         {"event", text_at(*event, {"type"})},
                         {"channel", channel},
                         {"thread", in.thread},
                         {"user", text_at(*event, {"user"})},
                         {"text", text_at(*event, {"text"})}};
  in.context = json_object{{"platform", "slack"}, {"thread", in.thread}, {"channel", channel}};
  in.idempotency_key = text_at(body, {"event_id"});
  return in;
}

Inbound hmac_inbound(const ServerRequest& req, const json& body) {
  Inbound in;
  in.thread = thread_at(body, {"thread"});
  if (in.thread.empty()) {
    in.answer = error_response(400, "invalid_request", "Request is invalid.",
                               "Send a \"thread\" field (a non-empty string or an integer).");
    return in;
  }
  in.input = json_object{{"type", "chat.message"},
                         {"platform", "hmac"},
                         {"thread", in.thread},
                         {"text", text_at(body, {"text"})},
                         {"payload", body}};
  in.context = json_object{{"platform", "hmac"}, {"thread", in.thread}};
  in.idempotency_key = req.header("Idempotency-Key").value_or("");
  if (in.idempotency_key.size() > 255) in.idempotency_key.clear();
  return in;
}

}  // namespace

WebhookRoutes::WebhookRoutes(ServerConfig config, std::shared_ptr<ServedAgents> agents,
                             std::shared_ptr<DispatchQueue> dispatch)
    : config_(std::move(config)), agents_(std::move(agents)), dispatch_(std::move(dispatch)) {
  // Only with a secret: checking opens libcrypto, which a server without webhooks never needs.
  const bool secret = !env_value(config_.github_secret_env).empty() ||
                      !env_value(config_.slack_secret_env).empty() ||
                      !env_value(config_.hmac_secret_env).empty();
  if (!secret) return;
  if (std::string why = net::crypto_problem(); !why.empty()) {
    log::get()->error("webhook signatures cannot be checked, signed requests will be refused: {}",
                      why);
  }
}

std::optional<std::string> WebhookRoutes::signature_problem(std::string_view platform,
                                                            const ServerRequest& req) const {
  const std::string& env = platform == "github"  ? config_.github_secret_env
                           : platform == "slack" ? config_.slack_secret_env
                                                 : config_.hmac_secret_env;
  std::string secret = env_value(env);
  if (secret.empty()) {
    return fmt::format("no secret: set {} (see [server] {}_secret_env)",
                       env.empty() ? "a variable" : env, platform);
  }
  if (platform == "slack") {
    auto ts = req.header("X-Slack-Request-Timestamp");
    auto sent = ts ? parse_count(*ts) : std::nullopt;
    if (!sent) return std::string("missing or malformed X-Slack-Request-Timestamp");
    std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    if (*sent < now - kSlackWindowSeconds || *sent > now + kSlackWindowSeconds) {
      return fmt::format("timestamp {} is outside the 5-minute window", *sent);
    }
    auto given = signature_hex(req.header("X-Slack-Signature"), "v0=");
    if (!given) return std::string("missing or malformed X-Slack-Signature");
    std::string expected = net::hmac_sha256_hex(secret, "v0:" + *ts + ":" + req.body);
    if (expected.empty()) return cannot_check_signatures();
    if (!net::constant_time_equal(*given, expected)) return std::string("signature mismatch");
    return std::nullopt;
  }
  const char* header = platform == "github" ? "X-Hub-Signature-256" : "X-CppFlue-Signature";
  auto given = signature_hex(req.header(header), "sha256=");
  if (!given) return fmt::format("missing or malformed {}", header);
  std::string expected = net::hmac_sha256_hex(secret, req.body);
  if (expected.empty()) return cannot_check_signatures();
  if (!net::constant_time_equal(*given, expected)) return std::string("signature mismatch");
  return std::nullopt;
}

asio::awaitable<ServerResponse> WebhookRoutes::receive(const RouteCall& call,
                                                       std::string_view platform) {
  const ServerRequest& req = call.request();
  const std::string& name = call.param("agent");
  // The signature comes first: an unsigned caller learns nothing else about the server.
  if (auto problem = signature_problem(platform, req)) {
    log::get()->warn("webhook {} for agent '{}' from {} refused: {}", platform, name,
                     req.remote_address, *problem);
    co_return unauthorized();
  }
  if (auto refusal = agents_->refuse(name)) co_return std::move(*refusal);
  ParsedBody body = parse_body(req);
  if (body.error) co_return std::move(*body.error);
  Inbound in = platform == "github"  ? github_inbound(req, body.body)
               : platform == "slack" ? slack_inbound(body.body)
                                     : hmac_inbound(req, body.body);
  if (in.answer) co_return std::move(*in.answer);
  DispatchItem item;
  item.agent = name;
  item.instance_id = in.thread;
  item.session = session_id(in.thread, in.thread);  // one conversation per thread
  item.input = std::move(in.input);
  item.context = std::move(in.context);
  if (in.idempotency_key.size() <= 255) item.idempotency_key = in.idempotency_key;
  auto trace = trace_headers(req);
  item.traceparent = std::move(trace.traceparent);
  item.tracestate = std::move(trace.tracestate);
  auto stored = dispatch_->enqueue(std::move(item));
  if (!stored) throw Exception(stored.error());
  co_return json_response(202, json_object{{"status", "accepted"},
                                           {"dispatch_id", stored->id},
                                           {"dispatchId", stored->id},
                                           {"accepted_at", stored->accepted_at},
                                           {"acceptedAt", stored->accepted_at},
                                           {"thread", stored->instance_id}});
}

}  // namespace cppflue::server
