// SPDX-License-Identifier: Apache-2.0
// McpClient over the Streamable HTTP transport, against a fake server written in Python
// (http_fake_server.py.inc: JSON and SSE answers, a session id, 202 for notifications, a 500,
// an expiring session).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cppflue/mcp/client.hpp"
#include "support/test_util.hpp"

namespace cppflue::mcp {
namespace {

using namespace std::chrono_literals;

const char* kHttpServer =
#include "http_fake_server.py.inc"
    ;

// Runs the fake server; it prints its port and exits when its stdin closes.
class FakeHttpServer {
 public:
  explicit FakeHttpServer(const std::filesystem::path& script) {
    int in[2];
    int out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[0]);
      ::close(in[1]);
      ::close(out[0]);
      ::close(out[1]);
      ::execlp("python3", "python3", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    std::string line;
    char c = 0;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    ::close(out[0]);
    port_ = line.empty() ? 0 : std::stoi(line);
  }
  ~FakeHttpServer() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0) {
      int status = 0;
      for (int i = 0; i < 50; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
        ::usleep(20000);
      }
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
};

// A loopback port with nothing listening on it.
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

class McpHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_file(dir_.path() / "server.py", kHttpServer);
    server_ = std::make_unique<FakeHttpServer>(dir_.path() / "server.py");
    ASSERT_GT(server_->port(), 0);
  }

  std::shared_ptr<McpClient> connect() {
    HttpServerOptions o;
    o.url = server_->url();
    o.headers = {{"X-Test", "yes"}};
    McpOptions options;
    options.request_timeout = 10s;
    options.initialize_timeout = 10s;
    auto c = McpClient::connect_http("fake", o, options);
    EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
    return c ? *c : nullptr;
  }

  static std::string text_of(const Result<McpToolResult>& r) {
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? tool_result_text(*r) : std::string();
  }

  testing::TempDir dir_;
  std::unique_ptr<FakeHttpServer> server_;
};

TEST_F(McpHttpTest, JsonAnswersSessionIdAndNotificationsGet202) {
  auto c = connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->protocol_version(), "2025-11-25");
  EXPECT_EQ(get_string_or(*find(c->server_info(), "serverInfo"), "name", ""), "fake-http");
  auto tools = c->list_tools();
  ASSERT_TRUE(tools) << tools.error().message;
  ASSERT_EQ(tools->size(), 1u);
  EXPECT_EQ((*tools)[0].name, "echo");
  EXPECT_EQ(text_of(c->call_tool("echo", json_object{{"text", "hi"}})), "hi");

  auto log = parse_json(text_of(c->call_tool("log", nullptr)));
  ASSERT_TRUE(log && log->is_array());
  const auto& entries = log->as_array();
  ASSERT_GE(entries.size(), 4u);
  // initialize: no session yet, no protocol version header; our custom header on every POST.
  EXPECT_EQ(get_string_or(entries[0], "method", ""), "initialize");
  EXPECT_TRUE(find(entries[0], "session")->is_null());
  EXPECT_TRUE(find(entries[0], "version")->is_null());
  EXPECT_EQ(get_string_or(entries[0], "accept", ""), "application/json, text/event-stream");
  // notifications/initialized (answered 202) comes before the next request.
  EXPECT_EQ(get_string_or(entries[1], "method", ""), "notifications/initialized");
  EXPECT_EQ(get_int(entries[1], "status"), 202);
  for (std::size_t i = 1; i < entries.size(); ++i) {
    EXPECT_EQ(get_string_or(entries[i], "session", ""), "sess-1") << dump(entries[i]);
    EXPECT_EQ(get_string_or(entries[i], "version", ""), "2025-11-25") << dump(entries[i]);
  }
  for (const auto& e : entries) {
    if (get_string_or(e, "http", "") == "POST") {
      EXPECT_EQ(get_string_or(e, "custom", ""), "yes") << dump(e);
    }
  }
  // The standalone GET stream was offered and refused (405): harmless.
  c->close();
  EXPECT_FALSE(c->connected());
}

TEST_F(McpHttpTest, SseAnswerWithServerPingBeforeTheResult) {
  auto c = connect();
  ASSERT_TRUE(c);
  std::string text = text_of(c->call_tool("sse_ping", nullptr));
  EXPECT_EQ(text.rfind("pong ", 0), 0u) << text;
  auto pong = parse_json(text.substr(5));
  ASSERT_TRUE(pong) << text;
  EXPECT_EQ(get_string_or(*pong, "id", ""), "p1");
  EXPECT_TRUE(find(*pong, "result")->is_object());
  // The connection is still usable afterwards.
  EXPECT_EQ(text_of(c->call_tool("echo", json_object{{"text", "again"}})), "again");
}

TEST_F(McpHttpTest, Http500IsAClearErrorForThatRequest) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->call_tool("boom", nullptr);
  ASSERT_FALSE(r);
  const std::string& msg = r.error().message;
  EXPECT_NE(msg.find("MCP server 'fake'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HTTP 500"), std::string::npos) << msg;
  EXPECT_NE(msg.find(server_->url()), std::string::npos) << msg;
  EXPECT_NE(msg.find("kaboom"), std::string::npos) << msg;
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(text_of(c->call_tool("echo", json_object{{"text", "ok"}})), "ok");
}

TEST_F(McpHttpTest, ExpiredSessionIsInitializedAgainAndTheRequestRetried) {
  auto c = connect();
  ASSERT_TRUE(c);
  // The server forgets the session and answers 404: a new session, then the same call again.
  EXPECT_EQ(text_of(c->call_tool("expire", nullptr)), "now in sess-2");
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(text_of(c->call_tool("echo", json_object{{"text", "still here"}})), "still here");
  auto log = parse_json(text_of(c->call_tool("log", nullptr)));
  ASSERT_TRUE(log);
  std::vector<std::string> posts;
  for (const auto& e : log->as_array()) {
    if (get_string_or(e, "http", "") != "POST") continue;
    posts.push_back(get_string_or(e, "method", "") + "@" + get_string_or(e, "session", "-") + "=" +
                    std::to_string(get_int(e, "status").value_or(0)));
  }
  std::vector<std::string> expected = {"initialize@-=200",
                                       "notifications/initialized@sess-1=202",
                                       "tools/call@sess-1=404",
                                       "initialize@-=200",
                                       "notifications/initialized@sess-2=202",
                                       "tools/call@sess-2=200",
                                       "tools/call@sess-2=200",
                                       "tools/call@sess-2=200"};
  EXPECT_EQ(posts, expected) << dump(*log);
}

TEST_F(McpHttpTest, ASecondExpiryFailsTheRequestAndTheNextCallStartsAnotherSession) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->call_tool("expire_always", nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::connection_error) << r.error().message;
  EXPECT_NE(r.error().message.find("session expired"), std::string::npos) << r.error().message;
  EXPECT_FALSE(c->connected());
  EXPECT_EQ(text_of(c->call_tool("echo", json_object{{"text", "again"}})), "again");
  EXPECT_TRUE(c->connected());
}

TEST_F(McpHttpTest, FailingToStartANewSessionIsAClearError) {
  auto c = connect();
  ASSERT_TRUE(c);
  auto r = c->call_tool("restart_forgetful", nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("initializing a new session failed"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("503"), std::string::npos) << r.error().message;
  EXPECT_FALSE(c->connected());
}

TEST_F(McpHttpTest, ClosedByTheClientIsNotReopened) {
  auto c = connect();
  ASSERT_TRUE(c);
  c->close();
  auto r = c->call_tool("echo", nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("closed by client"), std::string::npos) << r.error().message;
}

TEST(McpHttp, NothingListeningIsAQuickConnectionError) {
  HttpServerOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/mcp";
  auto start = std::chrono::steady_clock::now();
  auto c = McpClient::connect_http("nobody", o);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().type, ErrorType::connection_error) << c.error().message;
  EXPECT_NE(c.error().message.find("MCP server 'nobody'"), std::string::npos) << c.error().message;
  EXPECT_LT(elapsed, 5s);
}

TEST(McpHttp, RejectsANonHttpUrl) {
  HttpServerOptions o;
  o.url = "ftp://example.com/mcp";
  auto c = McpClient::connect_http("odd", o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().type, ErrorType::config_error);
}

}  // namespace
}  // namespace cppflue::mcp
