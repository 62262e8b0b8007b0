// SPDX-License-Identifier: Apache-2.0
// Interop with real MCP servers nobody here wrote, installed from npm by
// tests/mcp-interop/install.sh: @modelcontextprotocol/server-everything (stdio, in an agent with
// a scripted model) and @modelcontextprotocol/server-filesystem (stdio, errors as tool errors).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>

#include "cppflue/cppflue.hpp"
#include "cppflue/mcp/tools.hpp"
#include "mcp_agent.hpp"
#include "support/conversation.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/wire_script.hpp"

using namespace cppflue;
using namespace cppflue::testing;

namespace {

// node_modules of tests/mcp-interop (installed on first use).
std::string interop_modules() {
  static const std::string dir = [] {
    std::string cmd = std::string("bash ") + CPPFLUE_SOURCE_DIR + "/tests/mcp-interop/install.sh";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      std::array<char, 512> buf{};
      while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
      if (::pclose(p) != 0) out.clear();
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }();
  return dir;
}

TEST(McpInterop, EverythingServerToolsReachAScriptedModel) {
  std::string modules = interop_modules();
  ASSERT_FALSE(modules.empty()) << "tests/mcp-interop/install.sh failed (npm needed)";
  TempDir dir;
  FakeProvider fake;
  auto agent =
      make_mcp_agent(fake, dir.path(),
                     "[mcp.servers.everything]\ncommand = \"node\"\nargs = [\"" + modules +
                         "/@modelcontextprotocol/server-everything/dist/index.js\", \"stdio\"]\n");
  ScriptedTurn t1;
  t1.tool_calls = {
      tool_call("c1", "mcp__everything__echo", json_object{{"message", "hello from cppflue"}}),
      tool_call("c2", "mcp__everything__get-sum", json_object{{"a", 2}, {"b", 3}}),
      tool_call("c3", "mcp__everything__echo", json_object{{"message", 5}})};
  fake.enqueue_turn(WireApi::openai_chat, t1, false);
  ScriptedTurn t2;
  t2.text = "done";
  fake.enqueue_turn(WireApi::openai_chat, t2, false);
  EXPECT_EQ(agent.session("ev").prompt("use everything").text, "done");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  // The MCP tool is listed with its real schema.
  auto first = view_request(WireApi::openai_chat, reqs[0].json_body, reqs[0].target);
  bool listed = false;
  for (const auto& t : first.tools.as_array()) {
    const json& fn = t.at("function");
    if (fn.at("name") != "mcp__everything__echo") continue;
    listed = true;
    EXPECT_EQ(fn.at("description"), "Echoes back the input string");
    EXPECT_NE(find_path(fn.at("parameters"), "properties/message"), nullptr) << dump(fn);
  }
  EXPECT_TRUE(listed) << dump(first.tools);
  auto second = view_request(WireApi::openai_chat, reqs[1].json_body, reqs[1].target);
  ASSERT_EQ(second.items.size(), 5u);
  EXPECT_NE(second.items[2].text.find("hello from cppflue"), std::string::npos)
      << second.items[2].text;
  EXPECT_NE(second.items[3].text.find("5"), std::string::npos) << second.items[3].text;
  // Bad arguments are refused against the server's schema before the call.
  EXPECT_NE(second.items[4].text.find("/message: expected string"), std::string::npos)
      << second.items[4].text;
}

TEST(McpInterop, FilesystemServerReadsInsideAndRefusesOutside) {
  std::string modules = interop_modules();
  ASSERT_FALSE(modules.empty()) << "tests/mcp-interop/install.sh failed (npm needed)";
  TempDir root;
  TempDir outside;
  write_file(root.path() / "notes.txt", "inside the root\n");
  write_file(outside.path() / "secret.txt", "outside\n");
  auto client = connect_mcp_server(
      "fs",
      McpServerConfig{.command = "node",
                      .args = {modules + "/@modelcontextprotocol/server-filesystem/dist/index.js",
                               root.path().string()}});
  ASSERT_TRUE(client) << client.error().message;
  auto tools = (*client)->list_tools();
  ASSERT_TRUE(tools) << tools.error().message;
  std::string read_tool;
  for (const auto& t : *tools) {
    if (t.name == "read_text_file" || (read_tool.empty() && t.name == "read_file"))
      read_tool = t.name;
  }
  ASSERT_FALSE(read_tool.empty());
  EXPECT_GE(tools->size(), 10u);
  auto inside =
      (*client)->call_tool(read_tool, json_object{{"path", (root.path() / "notes.txt").string()}});
  ASSERT_TRUE(inside) << inside.error().message;
  EXPECT_FALSE(inside->is_error);
  EXPECT_NE(mcp::tool_result_text(*inside).find("inside the root"), std::string::npos);
  auto out = (*client)->call_tool(read_tool,
                                  json_object{{"path", (outside.path() / "secret.txt").string()}});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(out->is_error);
  EXPECT_EQ(mcp::tool_result_text(*out).find("outside\n"), std::string::npos);
  // As a harness tool, the server's refusal is a tool error.
  auto defs = mcp_tools(*client);
  ASSERT_TRUE(defs);
  for (auto& d : *defs) {
    if (d.name != mcp_tool_name("fs", read_tool)) continue;
    ToolContext ctx{"s", "c", d.name, CancelToken{}};
    EXPECT_THROW(d.execute(json_object{{"path", (outside.path() / "secret.txt").string()}}, ctx),
                 Exception);
  }
}

}  // namespace
