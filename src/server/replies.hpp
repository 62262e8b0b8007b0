// SPDX-License-Identifier: Apache-2.0
// The `reply` tool of a prompt dispatched from a chat thread (the chat webhooks): each call
// delivers {"platform","thread","text","agent","agent_id","session_id","dispatch_id",...context}
// to ServeOptions::on_reply and, when set, by POST to [server] reply_url.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/harness/tool.hpp"
#include "cppflue/net/http_client.hpp"
#include "cppflue/store/store.hpp"

namespace cppflue::server {

class ReplyTools {
 public:
  ReplyTools(std::function<void(const json&)> on_reply, std::string url,
             std::shared_ptr<HttpClient> client)
      : on_reply_(std::move(on_reply)), url_(std::move(url)), client_(std::move(client)) {}
  // The `reply` tool for `item` when it came from a chat thread (its context names a
  // platform); none for other items.
  std::vector<ToolDefinition> for_item(const DispatchItem& item) const;

 private:
  std::function<void(const json&)> on_reply_;
  std::string url_;
  std::shared_ptr<HttpClient> client_;
};

}  // namespace cppflue::server
