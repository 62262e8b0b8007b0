// SPDX-License-Identifier: Apache-2.0
#include "cppflue/harness/mcp_tools.hpp"

#include <fmt/format.h>

#include <functional>

namespace cppflue {

std::string mcp_tool_name(std::string_view server, std::string_view tool) {
  std::string name = fmt::format("mcp__{}__{}", server, tool);
  for (char& c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) c = '_';
  }
  if (name.size() > 64) {
    std::size_t h = std::hash<std::string>{}(name);
    name = fmt::format("{}_{:08x}", name.substr(0, 55), static_cast<unsigned>(h & 0xffffffffu));
  }
  return name;
}

Result<std::shared_ptr<mcp::McpClient>> connect_mcp_server(const std::string& name,
                                                           const McpServerConfig& server,
                                                           const std::filesystem::path& root) {
  if (!server.url.empty()) {
    mcp::HttpServerOptions o;
    o.url = server.url;
    o.headers = server.headers;
    auto client = mcp::McpClient::connect_http(name, std::move(o));
    if (!client) {
      Error e = client.error();
      if (e.message.find("MCP server '" + name + "'") == std::string::npos) {
        e.message = fmt::format("MCP server '{}': {}", name, e.message);
      }
      return fail(std::move(e));
    }
    return client;
  }
  if (server.command.empty()) {
    return fail(ErrorType::config_error,
                fmt::format("[mcp.servers.{}] needs a command (stdio) or a url", name));
  }
  mcp::StdioServerOptions o;
  o.command = server.command;
  o.args = server.args;
  o.env = server.env;
  o.cwd = root.empty() ? std::string() : root.string();
  auto client = mcp::McpClient::connect_stdio(name, std::move(o));
  if (!client) {
    Error e = client.error();
    e.message = fmt::format("MCP server '{}': {}", name, e.message);
    return fail(std::move(e));
  }
  return client;
}

Result<std::vector<ToolDefinition>> mcp_tools(const std::shared_ptr<mcp::McpClient>& client) {
  auto listed = client->list_tools();
  if (!listed) return fail(listed.error());
  return mcp_tools(client, *listed);
}

std::vector<ToolDefinition> mcp_tools(const std::shared_ptr<mcp::McpClient>& client,
                                      const std::vector<mcp::McpTool>& listed) {
  std::vector<ToolDefinition> out;
  for (const auto& t : listed) {
    ToolDefinition def;
    def.name = mcp_tool_name(client->name(), t.name);
    def.description = !t.description.empty() ? t.description
                      : !t.title.empty()
                          ? t.title
                          : fmt::format("Tool {} of MCP server {}", t.name, client->name());
    def.parameters =
        t.input_schema.is_object() ? t.input_schema : json(json_object{{"type", "object"}});
    std::weak_ptr<mcp::McpClient> weak = client;
    def.execute = [weak, tool = t.name](const json& args, ToolContext& ctx) -> json {
      auto c = weak.lock();
      if (!c) throw Exception(make_error(ErrorType::connection_error, "the MCP client is closed"));
      auto r = c->call_tool(tool, args, ctx.cancel, ctx.traceparent);
      if (!r) throw Exception(std::move(r.error()));
      std::string text = mcp::tool_result_text(*r);
      if (r->is_error) throw Exception(make_error(ErrorType::tool_error, text));
      return json(text);
    };
    out.push_back(std::move(def));
  }
  return out;
}

}  // namespace cppflue
