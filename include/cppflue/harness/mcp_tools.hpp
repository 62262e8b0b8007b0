// SPDX-License-Identifier: Apache-2.0
// cppflue/harness/mcp_tools.hpp — MCP servers' tools as tools for the model (docs/concepts/mcp.md).
//
// Each tool of a connected server becomes `mcp__<server>__<tool>` (characters outside
// [A-Za-z0-9_-] become '_'; names longer than 64 are shortened with a hash) with the server's
// description and input schema, so the model sees what arguments the tool takes. Calls run
// through the client with the operation's cancellation; a result with `isError` is a tool error
// the model sees. `[mcp.servers.NAME]` entries of cppflue.toml (enabled ones) are connected by
// `cppflue::init`; code can connect others with `connect_mcp_server` and pass the clients in
// `InitOptions::mcp_clients`.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/harness/tool.hpp"
#include "cppflue/mcp/client.hpp"

namespace cppflue {

std::string mcp_tool_name(std::string_view server, std::string_view tool);

// Connects to one server as configured: `command` (+ args, env; started in `root`) over stdio,
// or `url` (+ headers) over Streamable HTTP.
Result<std::shared_ptr<mcp::McpClient>> connect_mcp_server(const std::string& name,
                                                           const McpServerConfig& server,
                                                           const std::filesystem::path& root = {});

// The client's tools (all pages) as tool definitions.
Result<std::vector<ToolDefinition>> mcp_tools(const std::shared_ptr<mcp::McpClient>& client);
// Tool definitions for tools already listed from `client`.
std::vector<ToolDefinition> mcp_tools(const std::shared_ptr<mcp::McpClient>& client,
                                      const std::vector<mcp::McpTool>& listed);

}  // namespace cppflue
