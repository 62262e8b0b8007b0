// SPDX-License-Identifier: Apache-2.0
// `[mcp] mode = "search_execute"`: BM25 ranking of MCP tools, and mcp_search / mcp_execute in a
// running agent against the scripted python3 MCP server.
#include <gtest/gtest.h>

#include "cppflue/cppflue.hpp"
#include "cppflue/harness/mcp_search.hpp"
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

McpToolEntry entry(std::string server, std::string name, std::string description) {
  McpToolEntry e;
  e.server = std::move(server);
  e.tool.name = std::move(name);
  e.tool.description = std::move(description);
  return e;
}

TEST(McpSearch, TermsSplitWordsCaseAndSeparators) {
  EXPECT_EQ(search_terms("read_file listDir  HTTP-Get v2"),
            (std::vector<std::string>{"read", "file", "list", "dir", "http", "get", "v2"}));
  EXPECT_TRUE(search_terms("  ").empty());
}

TEST(McpSearch, Bm25RanksNameMatchesFirstAndRespectsTheLimit) {
  McpToolIndex index({entry("fs", "read_file", "Read the contents of a file"),
                      entry("fs", "write_file", "Write a file"),
                      entry("fs", "list_directory", "List the entries of a directory"),
                      entry("web", "fetch", "Fetch a URL and return the page as markdown"),
                      entry("github", "create_issue", "Open an issue in a repository")});
  auto r = index.search("read a file", 10);
  ASSERT_GE(r.size(), 2u);
  EXPECT_EQ(r[0].first->tool.name, "read_file");
  EXPECT_EQ(r[1].first->tool.name, "write_file");
  EXPECT_EQ(index.search("read a file", 1).size(), 1u);
  // The server name is searchable too; unrelated words match nothing.
  auto gh = index.search("github", 5);
  ASSERT_EQ(gh.size(), 1u);
  EXPECT_EQ(gh[0].first->tool.name, "create_issue");
  EXPECT_TRUE(index.search("zebra", 5).empty());
  EXPECT_TRUE(index.search("", 5).empty());
  EXPECT_NE(index.find("web", "fetch"), nullptr);
  EXPECT_EQ(index.find("web", "read_file"), nullptr);
}

TEST(McpSearch, SearchThenExecuteInAnAgent) {
  TempDir dir;
  FakeProvider fake;
  write_file(dir.path() / "server.py", kServer);
  auto agent =
      make_mcp_agent(fake, dir.path(),
                     "[mcp]\nmode = \"search_execute\"\nsearch_limit = 3\n"
                     "[mcp.servers.fake]\ncommand = \"python3\"\nargs = [\"server.py\"]\n");
  auto names = agent.tool_names();
  EXPECT_EQ(names, (std::vector<std::string>{"mcp_search", "mcp_execute"}));
  ScriptedTurn t1;
  t1.tool_calls = {tool_call("s1", "mcp_search", json_object{{"query", "echoes"}})};
  fake.enqueue_turn(WireApi::openai_chat, t1, false);
  ScriptedTurn t2;
  t2.tool_calls = {
      tool_call("e1", "mcp_execute",
                json_object{{"server", "fake"},
                            {"tool", "echo"},
                            {"arguments", json_object{{"text", "found it"}}}}),
      tool_call("e2", "mcp_execute", json_object{{"server", "fake"}, {"tool", "nope"}})};
  fake.enqueue_turn(WireApi::openai_chat, t2, false);
  ScriptedTurn t3;
  t3.text = "done";
  fake.enqueue_turn(WireApi::openai_chat, t3, false);
  EXPECT_EQ(agent.session("se").prompt("find and run").text, "done");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 3u);
  auto v2 = view_request(WireApi::openai_chat, reqs[1].json_body, reqs[1].target);
  auto found = parse_json(v2.items.at(2).text);
  ASSERT_TRUE(found) << v2.items.at(2).text;
  const auto& results = found->at("results").as_array();
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results[0].at("tool"), "echo");
  EXPECT_EQ(results[0].at("server"), "fake");
  EXPECT_TRUE(results[0].as_object().contains("input_schema"));
  auto v3 = view_request(WireApi::openai_chat, reqs[2].json_body, reqs[2].target);
  EXPECT_EQ(v3.items.at(4).text, "found it");
  EXPECT_NE(v3.items.at(5).text.find("no tool 'nope' on server 'fake'"), std::string::npos)
      << v3.items.at(5).text;
}

}  // namespace
