// SPDX-License-Identifier: Apache-2.0
// The client under test for the official MCP conformance runner (tests/mcp-conformance/).
//
// Usage: mcp_conformance_client <server url>  (the runner appends the URL and sets
// MCP_CONFORMANCE_SCENARIO). Prints what it does on stdout; exits 0 on success, 1 with a
// message on stderr otherwise.
#include <cstdlib>
#include <iostream>
#include <string>

#include "cppflue/core/json.hpp"
#include "cppflue/mcp/client.hpp"

namespace {

using cppflue::json;
using cppflue::json_object;
using cppflue::mcp::McpClient;

int failed(const std::string& what) {
  std::cerr << "mcp_conformance_client: " << what << "\n";
  return 1;
}

// Lists the tools and calls those for which `pick` returns arguments.
template <typename Pick>
int call_tools(McpClient& client, Pick pick) {
  auto tools = client.list_tools();
  if (!tools) return failed("tools/list: " + tools.error().message);
  int called = 0;
  for (const auto& tool : *tools) {
    std::cout << "tool listed: " << tool.name << "\n";
    json args = pick(tool.name);
    if (args.is_null()) continue;
    std::cout << "calling " << tool.name << " with " << cppflue::dump(args) << "\n";
    auto result = client.call_tool(tool.name, args);
    if (!result) return failed("tools/call " + tool.name + ": " + result.error().message);
    std::cout << "result: " << cppflue::mcp::tool_result_text(*result)
              << (result->is_error ? " (isError)" : "") << "\n";
    ++called;
  }
  if (called == 0) return failed("no tool to call among the listed tools");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return failed("usage: mcp_conformance_client <server url>");
  std::string url = argv[argc - 1];
  const char* env = std::getenv("MCP_CONFORMANCE_SCENARIO");
  std::string scenario = env != nullptr ? env : "initialize";
  std::cout << "scenario " << scenario << ", server " << url << "\n";

  cppflue::mcp::HttpServerOptions server;
  server.url = url;
  cppflue::mcp::McpOptions options;
  options.request_timeout = std::chrono::milliseconds(20000);
  options.initialize_timeout = std::chrono::milliseconds(20000);
  auto client = McpClient::connect_http("conformance", server, options);
  if (!client) return failed("connect: " + client.error().message);
  std::cout << "connected, protocol " << (*client)->protocol_version() << "\n";

  int rc = 0;
  if (scenario == "initialize") {
    rc = 0;
  } else if (scenario == "tools_call") {
    rc = call_tools(**client, [](const std::string& name) -> json {
      if (name != "add_numbers") return nullptr;
      return json_object{{"a", 2}, {"b", 3}};
    });
  } else if (scenario == "elicitation-sep1034-client-defaults") {
    rc = call_tools(**client, [](const std::string& name) -> json {
      if (name.find("elicitation") == std::string::npos) return nullptr;
      return json_object{};
    });
  } else if (scenario == "sse-retry") {
    rc = call_tools(**client, [](const std::string&) -> json { return json_object{}; });
  } else {
    rc = failed("unsupported scenario " + scenario);
  }
  (*client)->close();
  return rc;
}
