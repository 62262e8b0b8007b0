// SPDX-License-Identifier: Apache-2.0
// Interop with real MCP servers nobody here wrote, installed from npm by
// tests/mcp-interop/install.sh: @modelcontextprotocol/server-everything (stdio and Streamable
// HTTP on 127.0.0.1, in an agent with a scripted model) and @modelcontextprotocol/server-filesystem
// (stdio, errors as tool errors).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

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

// server-everything's Streamable HTTP transport, made to listen on 127.0.0.1 (an ephemeral
// port) by tests/mcp-interop/loopback.cjs. Stopped (its process group) on destruction.
class EverythingHttpServer {
 public:
  explicit EverythingHttpServer(const std::string& modules) {
    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) return;
    std::string preload = std::string(CPPFLUE_SOURCE_DIR) + "/tests/mcp-interop/loopback.cjs";
    std::string entry = modules + "/@modelcontextprotocol/server-everything/dist/index.js";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(err[1], 2);
      ::setenv("PORT", "0", 1);
      ::execlp("node", "node", "--require", preload.c_str(), entry.c_str(), "streamableHttp",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(err[1]);
    err_ = err[0];
    // Reads stderr until the port line (15 s at most), then keeps draining it.
    std::string pending;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{err_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      ssize_t n = ::read(err_, buf, sizeof buf);
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
      output_ += std::string(buf, static_cast<std::size_t>(n));
      auto at = pending.find("CPPFLUE_LISTENING ");
      auto eol = at == std::string::npos ? at : pending.find('\n', at);
      if (eol != std::string::npos) port_ = std::stoi(pending.substr(at + 18, eol - at - 18));
    }
    drain_ = std::thread([fd = err_] {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    });
  }
  ~EverythingHttpServer() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(20000);
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, WNOHANG);
    }
    if (drain_.joinable()) drain_.join();
    if (err_ >= 0) ::close(err_);
  }
  EverythingHttpServer(const EverythingHttpServer&) = delete;
  EverythingHttpServer& operator=(const EverythingHttpServer&) = delete;

  int port() const { return port_; }
  const std::string& output() const { return output_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  int port_ = 0;
  std::string output_;
  std::thread drain_;
};

TEST(McpInterop, EverythingOverStreamableHttpInAnAgent) {
  std::string modules = interop_modules();
  ASSERT_FALSE(modules.empty()) << "tests/mcp-interop/install.sh failed (npm needed)";
  EverythingHttpServer server(modules);
  ASSERT_GT(server.port(), 0) << server.output();
  TempDir dir;
  FakeProvider fake;
  auto agent = make_mcp_agent(fake, dir.path(),
                              "[mcp.servers.everything]\nurl = \"" + server.url() + "\"\n");
  ScriptedTurn t1;
  t1.tool_calls = {
      tool_call("c1", "mcp__everything__echo", json_object{{"message", "over http"}}),
      tool_call("c2", "mcp__everything__get-sum", json_object{{"a", 40}, {"b", 2}}),
      tool_call("c3", "mcp__everything__get-structured-content",
                json_object{{"location", "Chicago"}}),
      tool_call("c4", "mcp__everything__get-tiny-image", json_object{}),
      tool_call("c5", "mcp__everything__get-resource-links", json_object{{"count", 2}}),
      tool_call("c6", "mcp__everything__get-structured-content",
                json_object{{"location", "Atlantis"}})};
  fake.enqueue_turn(WireApi::openai_chat, t1, false);
  ScriptedTurn t2;
  t2.text = "done";
  fake.enqueue_turn(WireApi::openai_chat, t2, false);
  EXPECT_EQ(agent.session("http").prompt("use everything over http").text, "done");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto first = view_request(WireApi::openai_chat, reqs[0].json_body, reqs[0].target);
  bool listed = false;
  for (const auto& t : first.tools.as_array()) {
    const json& fn = t.at("function");
    if (fn.at("name") != "mcp__everything__get-structured-content") continue;
    listed = true;
    const json* location = find_path(fn.at("parameters"), "properties/location/enum");
    ASSERT_NE(location, nullptr) << dump(fn);
    EXPECT_EQ(location->as_array().size(), 3u);
  }
  EXPECT_TRUE(listed) << dump(first.tools);
  auto second = view_request(WireApi::openai_chat, reqs[1].json_body, reqs[1].target);
  ASSERT_EQ(second.items.size(), 8u);
  EXPECT_NE(second.items[2].text.find("over http"), std::string::npos) << second.items[2].text;
  EXPECT_NE(second.items[3].text.find("42"), std::string::npos) << second.items[3].text;
  EXPECT_NE(second.items[4].text.find("temperature"), std::string::npos) << second.items[4].text;
  EXPECT_NE(second.items[5].text.find("[image: image/png, "), std::string::npos)
      << second.items[5].text;
  EXPECT_NE(second.items[6].text.find("[link: "), std::string::npos) << second.items[6].text;
  // Refused against the server's schema (an enum) before the call.
  EXPECT_NE(second.items[7].text.find("/location"), std::string::npos) << second.items[7].text;
}

TEST(McpInterop, EverythingOverStreamableHttpProgressElicitationAndErrors) {
  std::string modules = interop_modules();
  ASSERT_FALSE(modules.empty()) << "tests/mcp-interop/install.sh failed (npm needed)";
  EverythingHttpServer server(modules);
  ASSERT_GT(server.port(), 0) << server.output();
  std::mutex mu;
  std::vector<double> progress;
  mcp::McpOptions options;
  options.request_timeout = std::chrono::milliseconds(1500);
  options.on_progress = [&](const mcp::McpProgress& p) {
    std::lock_guard lock(mu);
    progress.push_back(p.progress);
  };
  auto client = mcp::McpClient::connect_http("everything", {.url = server.url()}, options);
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_EQ((*client)->protocol_version(), mcp::kProtocolVersion);
  // 3 s in 4 steps: longer than the timeout, kept alive by the progress notifications.
  auto slow = (*client)->call_tool("trigger-long-running-operation",
                                   json_object{{"duration", 3}, {"steps", 4}});
  ASSERT_TRUE(slow) << slow.error().message;
  EXPECT_NE(mcp::tool_result_text(*slow).find("completed"), std::string::npos);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(progress, (std::vector<double>{1, 2, 3, 4}));
  }
  // The server asks us (over the POST's SSE stream) and gets the schema's defaults.
  auto elicited = (*client)->call_tool("trigger-elicitation-request", json_object{});
  ASSERT_TRUE(elicited) << elicited.error().message;
  std::string text = mcp::tool_result_text(*elicited);
  EXPECT_NE(text.find("\"action\": \"accept\""), std::string::npos) << text;
  EXPECT_NE(text.find("It was a dark and stormy night."), std::string::npos) << text;
  // A tool the server does not have: a tool error for the model.
  std::vector<mcp::McpTool> ghost(1);
  ghost[0].name = "no-such-tool";
  auto defs = mcp_tools(*client, ghost);
  ASSERT_EQ(defs.size(), 1u);
  ToolContext ctx{"s", "c", defs[0].name, CancelToken{}};
  try {
    defs[0].execute(json_object{}, ctx);
    ADD_FAILURE() << "no error";
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("no-such-tool"), std::string::npos) << e.error().message;
  }
  // The connection is still usable.
  auto echo = (*client)->call_tool("echo", json_object{{"message", "still"}});
  ASSERT_TRUE(echo) << echo.error().message;
  EXPECT_NE(mcp::tool_result_text(*echo).find("still"), std::string::npos);
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
