// SPDX-License-Identifier: Apache-2.0
// MCP tools in a running agent: [mcp.servers.NAME] connected at init, the tools offered to the
// model as mcp__<server>__<tool> with their schemas, results and errors reaching the model.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>

#include "cppflue/core/log.hpp"
#include "cppflue/cppflue.hpp"
#include "cppflue/harness/mcp_tools.hpp"
#include "mcp_agent.hpp"
#include "support/conversation.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/wire_script.hpp"

using namespace cppflue;
using namespace cppflue::testing;

namespace {

const char* kServer =
#include "fake_server.py.inc"
    ;

class AgentMcp : public ::testing::Test {
 protected:
  void SetUp() override { write_file(dir_.path() / "server.py", kServer); }

  Agent make_agent(const std::string& mcp_section) {
    return make_mcp_agent(fake_, dir_.path(), mcp_section);
  }

  TempDir dir_;
  FakeProvider fake_;
};

TEST_F(AgentMcp, ConfiguredServerToolsReachTheModel) {
  auto agent = make_agent(
      "[mcp.servers.fake]\ncommand = \"python3\"\nargs = [\"server.py\"]\n"
      "[mcp.servers.off]\ncommand = \"does-not-exist\"\nenabled = false\n");
  auto names = agent.tool_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "mcp__fake__echo"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "mcp__fake__add"), names.end());  // page 2
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("c1", "mcp__fake__echo", json_object{{"text", "hello mcp"}}),
                   tool_call("c2", "mcp__fake__fail", json_object{})};
  fake_.enqueue_turn(WireApi::openai_chat, t1, false);
  ScriptedTurn t2;
  t2.text = "done";
  fake_.enqueue_turn(WireApi::openai_chat, t2, false);
  EXPECT_EQ(agent.session("m").prompt("use the tools").text, "done");
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto first = view_request(WireApi::openai_chat, reqs[0].json_body, reqs[0].target);
  // The MCP tool is offered with its description and input schema.
  bool listed = false;
  for (const auto& t : first.tools.as_array()) {
    const json& fn = t.at("function");
    if (fn.at("name") == "mcp__fake__echo") {
      listed = true;
      EXPECT_EQ(fn.at("description"), "echoes");
      EXPECT_EQ(fn.at("parameters"), (json_object{{"type", "object"}}));
    }
  }
  EXPECT_TRUE(listed) << dump(first.tools);
  auto second = view_request(WireApi::openai_chat, reqs[1].json_body, reqs[1].target);
  ASSERT_EQ(second.items.size(), 4u);
  EXPECT_EQ(second.items[2].text, "hello mcp");
  // `mcp__fake__fail` is not a tool of the server: its error reaches the model too.
  EXPECT_NE(second.items[3].text.find("unknown tool"), std::string::npos) << second.items[3].text;
}

TEST_F(AgentMcp, ToolErrorsAndBadServers) {
  auto client = connect_mcp_server(
      "fake",
      McpServerConfig{.command = "python3", .args = {(dir_.path() / "server.py").string()}});
  ASSERT_TRUE(client) << client.error().message;
  auto defs = mcp_tools(*client);
  ASSERT_TRUE(defs);
  ToolDefinition echo = defs->at(0);
  EXPECT_EQ(echo.name, "mcp__fake__echo");
  ToolContext ctx{"s", "c", echo.name, CancelToken{}};
  EXPECT_EQ(echo.execute(json_object{{"text", "x"}}, ctx).value(), "x");
  // An isError result is a tool error.
  ToolDefinition fail = echo;
  fail.execute = [c = *client](const json&, ToolContext& tc) -> json {
    auto r = c->call_tool("fail", json_object{}, tc.cancel);
    if (r && r->is_error)
      throw Exception(make_error(ErrorType::tool_error, mcp::tool_result_text(*r)));
    return nullptr;
  };
  EXPECT_THROW(fail.execute(json_object{}, ctx), Exception);

  try {
    make_agent("[mcp.servers.broken]\ncommand = \"no-such-mcp-server\"\n");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("MCP server 'broken'"), std::string::npos)
        << e.error().message;
  }
  // A Streamable HTTP server with nothing listening: a connection error naming the server.
  try {
    make_agent("[mcp.servers.remote]\nurl = \"http://127.0.0.1:1/mcp\"\n");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::connection_error) << e.error().message;
    EXPECT_NE(e.error().message.find("MCP server 'remote'"), std::string::npos)
        << e.error().message;
  }
  EXPECT_EQ(mcp_tool_name("my server", "read/file"), "mcp__my_server__read_file");
  EXPECT_LE(mcp_tool_name(std::string(80, 's'), "t").size(), 64u);
}

TEST_F(AgentMcp, OptionalServersThatFailAreSkippedWithAWarning) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  log::get()->sinks().push_back(sink);
  std::string section =
      "[mcp.servers.broken]\ncommand = \"no-such-mcp-server\"\noptional = true\n"
      "[mcp.servers.gone]\nurl = \"http://127.0.0.1:1/mcp\"\noptional = true\n"
      "[mcp.servers.fake]\ncommand = \"python3\"\nargs = [\"" +
      (dir_.path() / "server.py").string() + "\"]\n";
  std::vector<std::string> names;
  EXPECT_NO_THROW(names = make_agent(section).tool_names());
  log::get()->sinks().pop_back();
  EXPECT_NE(std::find(names.begin(), names.end(), "mcp__fake__echo"), names.end());
  for (const auto& n : names) EXPECT_EQ(n.find("mcp__broken"), std::string::npos) << n;
  std::string warnings;
  for (const auto& line : sink->last_formatted()) warnings += line;
  EXPECT_NE(warnings.find("optional MCP server 'broken' skipped"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("optional MCP server 'gone' skipped"), std::string::npos) << warnings;
  // The same server without `optional` fails the agent.
  EXPECT_THROW(make_agent("[mcp.servers.broken]\ncommand = \"no-such-mcp-server\"\n"), Exception);
}

}  // namespace
