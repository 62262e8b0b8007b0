// SPDX-License-Identifier: Apache-2.0
#include "server/replies.hpp"

#include <fmt/format.h>

#include "cppflue/core/log.hpp"

namespace cppflue::server {

namespace {

std::string text_at(const json& v, const char* key) {
  const json* at = find(v, key);
  return at != nullptr && at->is_string() ? std::string(at->as_string()) : std::string();
}

// Delivers one reply: to the C++ callback, then to [server] reply_url when set. (A free
// coroutine with its arguments by value: it must not refer to the tool's closure.)
boost::asio::awaitable<json> deliver_reply(json reply, std::function<void(const json&)> on_reply,
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

std::vector<ToolDefinition> ReplyTools::for_item(const DispatchItem& item) const {
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
      text_at(item.context, "platform"), text_at(item.context, "thread"));
  t.parameters = json_object{
      {"type", "object"},
      {"properties",
       json_object{{"text", json_object{{"type", "string"},
                                        {"minLength", 1},
                                        {"description", "The reply, as Markdown text."}}}}},
      {"required", json_array{"text"}},
      {"additionalProperties", false}};
  // Not a coroutine: it hands copies of everything to deliver_reply, which is one.
  t.async_execute = [reply_base, on_reply = on_reply_, url = url_, client = client_](
                        json args, const ToolContext&) {
    return deliver_reply(reply_base, on_reply, url, client, std::move(args));
  };
  return {std::move(t)};
}

}  // namespace cppflue::server
