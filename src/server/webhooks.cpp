// SPDX-License-Identifier: Apache-2.0
// Signed chat/webhook ingress: POST /webhooks/{github,slack,hmac}/{agent}. The
// signature is checked over the raw body with a constant-time compare before anything else;
// a missing secret, a bad signature or (Slack) a timestamp outside ±5 minutes → 401 and
// nothing stored. A valid message is dispatched durably to session = thread, and its prompt
// gets a `reply` tool bound to that thread.
#include <fmt/format.h>

#include <cstdlib>
#include <ctime>

#include "cppflue/core/log.hpp"
#include "cppflue/net/crypto.hpp"
#include "cppflue/net/http_client.hpp"
#include "server/server_impl.hpp"

namespace cppflue::server {

using net::Exchange;
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

// Delivers one reply: to the C++ callback, then to [server] reply_url when set. (A free
// coroutine with its arguments by value: it must not refer to the tool's closure.)
asio::awaitable<json> deliver_reply(json reply, std::function<void(const json&)> on_reply,
                                    std::string url, std::shared_ptr<HttpClient> client,
                                    json args) {
  reply.as_object()["text"] = args.at("text");
  if (on_reply) on_reply(reply);
  if (url.empty()) {
    if (!on_reply) log::get()->info("reply (no [server] reply_url): {}", serialize(reply));
    co_return json("Reply sent.");
  }
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = serialize(reply);
  request.total_timeout = std::chrono::seconds(30);
  auto response = co_await client->request(std::move(request));
  if (!response) {
    throw Exception(make_error(ErrorType::tool_error,
                               fmt::format("reply not delivered: {}", response.error().message)));
  }
  if (response->status < 200 || response->status >= 300) {
    throw Exception(
        make_error(ErrorType::tool_error,
                   fmt::format("reply not delivered: {} answered HTTP {}", url, response->status)));
  }
  co_return json("Reply sent.");
}

}  // namespace

// Checks the request's signature for `platform`; the reason when it fails (for the log only).
std::optional<std::string> Server::Impl::webhook_signature_problem(const std::string& platform,
                                                                   const ServerRequest& req) const {
  const std::string& env = platform == "github"  ? config.server.github_secret_env
                           : platform == "slack" ? config.server.slack_secret_env
                                                 : config.server.hmac_secret_env;
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
    if (!net::constant_time_equal(*given, expected)) return std::string("signature mismatch");
    return std::nullopt;
  }
  const char* header = platform == "github" ? "X-Hub-Signature-256" : "X-CppFlue-Signature";
  auto given = signature_hex(req.header(header), "sha256=");
  if (!given) return fmt::format("missing or malformed {}", header);
  std::string expected = net::hmac_sha256_hex(secret, req.body);
  if (!net::constant_time_equal(*given, expected)) return std::string("signature mismatch");
  return std::nullopt;
}

asio::awaitable<void> Server::Impl::webhook_route(Exchange& ex,
                                                  const std::vector<std::string>& seg) {
  const ServerRequest& req = ex.request();
  bool known = seg.size() == 3 && (seg[1] == "github" || seg[1] == "slack" || seg[1] == "hmac");
  if (!known) {
    std::string details = fmt::format(
        "No route matches {} {}. Webhook URLs are /webhooks/{{github|slack|hmac}}/{{agent}}.",
        req.method, req.path);
    auto r = error_response(404, "not_found", "Route not found.", details);
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (req.method != "POST") {
    auto r = method_not_allowed(req.method, "POST");
    co_await ex.respond(std::move(r));
    co_return;
  }
  const std::string& platform = seg[1];
  const std::string& name = seg[2];
  // The signature comes first: an unsigned caller learns nothing else about the server.
  if (auto problem = webhook_signature_problem(platform, req)) {
    log::get()->warn("webhook {} for agent '{}' from {} refused: {}", platform, name,
                     req.remote_address, *problem);
    auto r = unauthorized();
    co_await ex.respond(std::move(r));
    co_return;
  }
  if (auto refusal = refuse_agent(name)) {
    auto r = std::move(*refusal);
    co_await ex.respond(std::move(r));
    co_return;
  }
  ParsedBody body = parse_body(req);
  if (body.error) {
    auto r = std::move(*body.error);
    co_await ex.respond(std::move(r));
    co_return;
  }
  Inbound in = platform == "github"  ? github_inbound(req, body.body)
               : platform == "slack" ? slack_inbound(body.body)
                                     : hmac_inbound(req, body.body);
  if (in.answer) {
    auto r = std::move(*in.answer);
    co_await ex.respond(std::move(r));
    co_return;
  }
  DispatchItem item;
  item.agent = name;
  item.instance_id = in.thread;
  item.session = in.thread + ":" + in.thread;
  item.input = std::move(in.input);
  item.context = std::move(in.context);
  if (in.idempotency_key.size() <= 255) item.idempotency_key = in.idempotency_key;
  auto stored = enqueue(std::move(item));
  if (!stored) throw Exception(stored.error());
  auto r = json_response(202, json_object{{"status", "accepted"},
                                          {"dispatch_id", stored->id},
                                          {"dispatchId", stored->id},
                                          {"accepted_at", stored->accepted_at},
                                          {"acceptedAt", stored->accepted_at},
                                          {"thread", stored->instance_id}});
  co_await ex.respond(std::move(r));
}

// ---- the reply tool ----

std::vector<ToolDefinition> Server::Impl::reply_tools(const DispatchItem& item) {
  if (!item.context.is_object() || find(item.context, "platform") == nullptr) return {};
  json reply_base = item.context;
  reply_base.as_object()["agent"] = item.agent;
  reply_base.as_object()["agent_id"] = item.instance_id;
  reply_base.as_object()["session_id"] = item.session;
  reply_base.as_object()["dispatch_id"] = item.id;
  ToolDefinition t;
  t.name = "reply";
  t.description = fmt::format(
      "Reply in the {} thread this message came from (thread {}). Call it with the text to post.",
      text_at(item.context, {"platform"}), text_at(item.context, {"thread"}));
  t.parameters = json_object{
      {"type", "object"},
      {"properties",
       json_object{{"text", json_object{{"type", "string"},
                                        {"minLength", 1},
                                        {"description", "The reply, as Markdown text."}}}}},
      {"required", json_array{"text"}},
      {"additionalProperties", false}};
  auto on_reply = options.on_reply;
  std::string url = config.server.reply_url;
  auto client = reply_client;
  t.async_execute = [reply_base, on_reply, url, client](json args, ToolContext) {
    return deliver_reply(reply_base, on_reply, url, client, std::move(args));
  };
  return {std::move(t)};
}

}  // namespace cppflue::server
