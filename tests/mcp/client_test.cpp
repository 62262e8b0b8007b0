// SPDX-License-Identifier: Apache-2.0
// McpClient over the stdio transport, against a fake server written in Python.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "cppflue/mcp/client.hpp"
#include "support/test_util.hpp"

namespace cppflue::mcp {
namespace {

using namespace std::chrono_literals;

const char* kFakeServer =
#include "fake_server.py.inc"
    ;

class McpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_file(dir_.path() / "server.py", kFakeServer); }

  StdioServerOptions server(std::string mode = "normal") {
    StdioServerOptions s;
    s.command = "python3";
    s.args = {(dir_.path() / "server.py").string(), std::move(mode)};
    return s;
  }

  std::shared_ptr<McpClient> connect(std::string mode = "normal", McpOptions options = {}) {
    auto c = McpClient::connect_stdio("fake", server(std::move(mode)), options);
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
    return c ? *c : nullptr;
  }

  static std::string text_of(const Result<McpToolResult>& r) {
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? tool_result_text(*r) : std::string();
  }

  static json call_json(McpClient& c, std::string_view tool) {
    auto r = c.call_tool(tool, nullptr);
    auto parsed = parse_json(text_of(r));
    EXPECT_TRUE(parsed.has_value());
    return parsed ? *parsed : json(nullptr);
  }

  testing::TempDir dir_;
};

TEST_F(McpClientTest, InitializeThenInitializedInOrder) {
  auto c = connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->protocol_version(), "2025-11-25");
  EXPECT_EQ(get_string_or(*find(c->server_info(), "serverInfo"), "name", ""), "fake");
  json log = call_json(*c, "log");
  EXPECT_EQ(dump(log), R"(["initialize","notifications/initialized","tools/call"])");
}

TEST_F(McpClientTest, AcceptsOlderProtocolAndRejectsUnknown) {
  auto c = connect("old");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->protocol_version(), "2025-06-18");
  auto bad = McpClient::connect_stdio("fake", server("badver"), McpOptions{});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unsupported protocol version 1999-01-01"), std::string::npos);
}

TEST_F(McpClientTest, ListToolsFollowsPagination) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto tools = c->list_tools();
  ASSERT_TRUE(tools) << tools.error().message;
  ASSERT_EQ(tools->size(), 2u);
  EXPECT_EQ((*tools)[0].name, "echo");
  EXPECT_EQ((*tools)[0].title, "Echo");
  EXPECT_EQ((*tools)[0].description, "echoes");
  EXPECT_TRUE((*tools)[0].output_schema.is_null());
  EXPECT_EQ((*tools)[1].name, "add");
  EXPECT_EQ(dump((*tools)[1].output_schema), R"({"type":"object"})");
}

TEST_F(McpClientTest, CallToolTextStructuredAndIsError) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->call_tool("echo", json_object{{"text", "hello"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->is_error);
  EXPECT_EQ(tool_result_text(*r), "hello");
  EXPECT_EQ(dump(r->structured), R"({"echo":"hello"})");

  auto f = c->call_tool("fail", nullptr);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->is_error);
  EXPECT_EQ(tool_result_text(*f), "it broke");

  auto unknown = c->call_tool("nope", nullptr);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().type, ErrorType::provider_error);
  EXPECT_NE(unknown.error().message.find("unknown tool nope"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("'fake'"), std::string::npos);
}

TEST_F(McpClientTest, ResponsesOutOfOrderAreMatchedById) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto first = std::async(std::launch::async, [&] { return c->call_tool("first", nullptr); });
  std::this_thread::sleep_for(200ms);  // "first" reaches the server before "second"
  auto second = std::async(std::launch::async, [&] { return c->call_tool("second", nullptr); });
  EXPECT_EQ(text_of(second.get()), "second");
  EXPECT_EQ(text_of(first.get()), "first");
}

TEST_F(McpClientTest, AnswersServerRequests) {
  auto c = connect();
  ASSERT_TRUE(c);
  json answers = call_json(*c, "ask");
  ASSERT_TRUE(answers.is_array());
  ASSERT_EQ(answers.as_array().size(), 4u);
  EXPECT_EQ(dump(answers.at(0)), R"({"jsonrpc":"2.0","id":"s1","result":{}})");
  EXPECT_EQ(
      dump(answers.at(1)),
      R"({"jsonrpc":"2.0","id":"s2","result":{"action":"accept","content":{"color":"blue","n":3}}})");
  EXPECT_EQ(dump(answers.at(2)), R"({"jsonrpc":"2.0","id":7,"result":{"roots":[]}})");
  EXPECT_EQ(*find_path(answers.at(3), "error/code"), json(-32601));
}

TEST_F(McpClientTest, ServerCrashFailsPendingCallQuickly) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto start = std::chrono::steady_clock::now();
  auto r = c->call_tool("crash", nullptr);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::connection_error);
  EXPECT_NE(r.error().message.find("'fake'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("exited with status 3"), std::string::npos) << r.error().message;
  EXPECT_LT(elapsed, 2s);
  EXPECT_FALSE(c->connected());
  auto after = c->call_tool("echo", nullptr);
  ASSERT_FALSE(after);
  EXPECT_NE(after.error().message.find("exited with status 3"), std::string::npos);
}

TEST_F(McpClientTest, NoAnswerTimesOut) {
  McpOptions o;
  o.request_timeout = 300ms;
  auto c = connect("normal", o);
  ASSERT_TRUE(c);
  auto start = std::chrono::steady_clock::now();
  auto r = c->call_tool("hang", nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::timeout);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // The connection stays usable and the server was told.
  json cancels = call_json(*c, "cancels");
  ASSERT_EQ(cancels.as_array().size(), 1u);
  EXPECT_EQ(get_string_or(cancels.at(0), "reason", ""), "timeout");
}

TEST_F(McpClientTest, ProgressRestartsTheTimeout) {
  McpOptions o;
  o.request_timeout = 500ms;  // the call takes 1.2 s, with progress every 200 ms
  std::mutex mu;
  std::vector<McpProgress> seen;
  o.on_progress = [&](const McpProgress& p) {
    std::lock_guard lock(mu);
    seen.push_back(p);
  };
  auto c = connect("normal", o);
  ASSERT_TRUE(c);
  std::string text = text_of(c->call_tool("progress", nullptr));
  EXPECT_EQ(text.rfind("done after progress ", 0), 0u) << text;
  EXPECT_EQ(text.find("null"), std::string::npos) << "no progressToken was sent: " << text;
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[5].server, "fake");
  EXPECT_EQ(seen[5].method, "tools/call");
  EXPECT_EQ(seen[5].progress, 6);
  EXPECT_EQ(seen[5].total, 6);
  EXPECT_EQ(seen[5].message, "step 6");
}

TEST_F(McpClientTest, ProgressCannotExtendPastTheLimit) {
  McpOptions o;
  o.request_timeout = 300ms;
  o.max_request_time = 900ms;
  auto c = connect("normal", o);
  ASSERT_TRUE(c);
  auto start = std::chrono::steady_clock::now();
  auto r = c->call_tool("progress_forever", nullptr);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::timeout);
  EXPECT_NE(r.error().message.find("progress extended it"), std::string::npos) << r.error().message;
  EXPECT_GE(elapsed, 850ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_F(McpClientTest, InitializeTimeout) {
  McpOptions o;
  o.initialize_timeout = 300ms;
  auto c = McpClient::connect_stdio("fake", server("hang_init"), o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().type, ErrorType::timeout);
}

TEST_F(McpClientTest, MalformedLineIsSkipped) {
  auto c = connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(text_of(c->call_tool("garbage", nullptr)), "after garbage");
  EXPECT_TRUE(c->connected());
}

TEST_F(McpClientTest, OversizedLineClosesConnection) {
  McpOptions o;
  o.max_message_bytes = 1024 * 1024;
  auto c = connect("normal", o);
  ASSERT_TRUE(c);
  auto r = c->call_tool("huge", nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::connection_error);
  EXPECT_NE(r.error().message.find("message too large"), std::string::npos) << r.error().message;
  EXPECT_FALSE(c->connected());
}

TEST_F(McpClientTest, CancelInFlightCall) {
  auto c = connect();
  ASSERT_TRUE(c);
  CancelSource source;
  auto call =
      std::async(std::launch::async, [&] { return c->call_tool("hang", nullptr, source.token()); });
  std::this_thread::sleep_for(200ms);
  auto start = std::chrono::steady_clock::now();
  source.cancel();
  auto r = call.get();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::cancelled);
  json cancels = call_json(*c, "cancels");
  ASSERT_EQ(cancels.as_array().size(), 1u);
  EXPECT_TRUE(find(cancels.at(0), "requestId") != nullptr);
  EXPECT_EQ(get_string_or(cancels.at(0), "reason", ""), "cancelled by the client");
}

TEST_F(McpClientTest, EnvironmentIsNotInherited) {
  ::setenv("CPPFLUE_MCP_SECRET", "x", 1);
  auto s = server();
  s.env["MY_VAR"] = "1";
  auto c = McpClient::connect_stdio("fake", s, McpOptions{});
  ASSERT_TRUE(c) << c.error().message;
  json keys = call_json(**c, "env");
  std::string text = dump(keys);
  EXPECT_NE(text.find("\"MY_VAR\""), std::string::npos);
  EXPECT_NE(text.find("\"PATH\""), std::string::npos);
  EXPECT_EQ(text.find("CPPFLUE_MCP_SECRET"), std::string::npos);
}

TEST_F(McpClientTest, CommandNotFound) {
  StdioServerOptions s;
  s.command = "no-such-mcp-server-xyz";
  auto c = McpClient::connect_stdio("ghost", s, McpOptions{});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().type, ErrorType::not_found);
  EXPECT_NE(c.error().message.find("'ghost'"), std::string::npos);
}

TEST_F(McpClientTest, CloseKillsServer) {
  auto c = connect();
  ASSERT_TRUE(c);
  c->close();
  EXPECT_FALSE(c->connected());
  auto r = c->call_tool("echo", nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("closed by client"), std::string::npos);
}

TEST(McpToolResultText, RendersContentKinds) {
  McpToolResult r;
  r.content = json_array{
      json_object{{"type", "text"}, {"text", "hi"}},
      json_object{{"type", "image"}, {"mimeType", "image/png"}, {"data", "AAAA"}},
      json_object{{"type", "audio"}, {"mimeType", "audio/wav"}, {"data", "BB"}},
      json_object{{"type", "resource"},
                  {"resource", json_object{{"uri", "file:///a"}, {"text", "body"}}}},
      json_object{{"type", "resource"},
                  {"resource", json_object{{"uri", "file:///b"}, {"blob", "QQ=="}}}},
      json_object{{"type", "resource_link"}, {"uri", "file:///c"}, {"name", "c.txt"}},
  };
  EXPECT_EQ(tool_result_text(r),
            "hi\n[image: image/png, 4 bytes base64]\n[audio: audio/wav, 2 bytes base64]\nbody\n"
            "[resource file:///b]\n[link: file:///c c.txt]");
  McpToolResult s;
  s.structured = json_object{{"a", 1}};
  EXPECT_EQ(tool_result_text(s), R"({"a":1})");
}

}  // namespace
}  // namespace cppflue::mcp
