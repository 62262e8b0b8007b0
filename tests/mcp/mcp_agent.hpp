// SPDX-License-Identifier: Apache-2.0
// An agent for the MCP tests: the scripted fake provider (Chat Completions) as its model, no
// sandbox and no task tool (so the tool list is the MCP tools alone), and `mcp_toml` (the
// [mcp] / [mcp.servers.*] part of cppflue.toml) written into `root`.
#pragma once

#include <filesystem>
#include <string>

#include "cppflue/cppflue.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"

namespace cppflue::testing {

inline Agent make_mcp_agent(const FakeProvider& fake, const std::filesystem::path& root,
                            const std::string& mcp_toml) {
  write_file(root / "cppflue.toml", "[providers.fake]\napi = \"openai-chat\"\nbase_url = \"" +
                                        fake.base_url() + "/v1\"\napi_key = \"k\"\n" + mcp_toml);
  InitOptions o;
  o.model = "fake:m";
  o.root = root.string();
  o.sandbox = "none";
  o.max_task_depth = 0;
  o.retry = RetryPolicy{.max_attempts = 1};
  return init(std::move(o));
}

}  // namespace cppflue::testing
