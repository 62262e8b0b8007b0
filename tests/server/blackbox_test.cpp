// SPDX-License-Identifier: Apache-2.0
// Black-box tests of `cppflue serve`: the real binary on an ephemeral loopback port, driven
// over raw sockets (so malformed requests can be sent exactly as written).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new cppflue::testing::TempDir();
    auto root = dir_->path();
    write_helper_project(root, "[agent]\nmodel = \"test:demo\"\n[server]\nmax_body_bytes = 4096\n");
    cppflue::testing::write_file(
        root / ".agents/agents/private.md",
        "---\nname: private\ntriggers:\n  webhook: false\n  schedule: daily\n---\n"
        "Internal only.\n");
    server_ = new ServeProcess(root);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }
  int port() const { return server_->port(); }

  static cppflue::testing::TempDir* dir_;
  static ServeProcess* server_;
};

cppflue::testing::TempDir* ServeTest::dir_ = nullptr;
ServeProcess* ServeTest::server_ = nullptr;

TEST_F(ServeTest, HealthAndAgents) {
  auto health = call(port(), "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json_body.at("ok"), true);
  EXPECT_EQ(health.json_body.at("framework"), "cppflue");
  EXPECT_TRUE(health.json_body.at("version").is_string());
  auto agents = call(port(), "GET", "/agents");
  ASSERT_EQ(agents.status, 200) << agents.body;
  const auto& list = agents.json_body.at("agents").as_array();
  ASSERT_EQ(list.size(), 2u) << agents.body;
  EXPECT_EQ(list[0].at("name"), "helper");
  EXPECT_EQ(list[0].at("path"), "/agents/helper/{agent_id}");
  EXPECT_EQ(list[0].at("triggers"), (json_object{{"webhook", true}}));
  EXPECT_EQ(list[1].at("triggers"), (json_object{{"webhook", false}, {"schedule", "daily"}}));
}

TEST_F(ServeTest, SyncPromptReturnsTheResult) {
  auto r = call(port(), "POST", "/agents/helper/user-1", R"({"message":"hello there"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json& result = r.json_body.at("result");
  EXPECT_EQ(std::string(result.at("text").as_string()).rfind("[offline test model]", 0), 0u)
      << r.body;
  EXPECT_EQ(result.at("metadata").at("turns"), 2);  // a tool call, then the answer
  EXPECT_EQ(result.at("model").at("id"), "test:demo");
  EXPECT_EQ(result.at("session_id"), "user-1:default");
  EXPECT_TRUE(result.at("usage").at("total_tokens").is_number());
  EXPECT_TRUE(result.at("metadata").at("operation_id").is_string());
  // Wrapped in {"payload": ...}, with a session.
  auto wrapped = call(port(), "POST", "/agents/helper/user-1",
                      R"({"payload":{"prompt":"second","session":"side"}})");
  ASSERT_EQ(wrapped.status, 200) << wrapped.body;
  EXPECT_EQ(wrapped.json_body.at("result").at("session_id"), "user-1:side");
}

TEST_F(ServeTest, SsePromptWithAToolCallStreamsEventsInOrder) {
  auto r = call(port(), "POST", "/agents/helper/sse-1", R"({"message":"list the files"})",
                "application/json", "Accept: text/event-stream\r\n");
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_NE(r.head.find("text/event-stream"), std::string::npos) << r.head;
  std::vector<std::string> types;
  std::vector<json> data;
  std::size_t at = 0;
  while ((at = r.body.find("event: ", at)) != std::string::npos) {
    auto eol = r.body.find('\n', at);
    types.push_back(r.body.substr(at + 7, eol - at - 7));
    auto data_at = r.body.find("data: ", eol);
    auto data_end = r.body.find('\n', data_at);
    auto parsed = parse_json(r.body.substr(data_at + 6, data_end - data_at - 6));
    ASSERT_TRUE(parsed) << r.body.substr(data_at, 200);
    data.push_back(*parsed);
    at = data_end;
  }
  auto index = [&](const std::string& t) {
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (types[i] == t) return static_cast<int>(i);
    }
    return -1;
  };
  ASSERT_GE(index("operation_start"), 0) << r.body;
  EXPECT_EQ(index("operation_start"), 0);
  EXPECT_LT(index("operation_start"), index("turn_request"));
  EXPECT_LT(index("turn_request"), index("tool_start"));
  EXPECT_LT(index("tool_start"), index("tool_end"));
  EXPECT_LT(index("tool_end"), index("operation"));
  EXPECT_EQ(types.back(), "result");
  EXPECT_EQ(data[static_cast<std::size_t>(index("tool_start"))].at("toolName"), "glob");
  for (std::size_t i = 0; i < types.size(); ++i) EXPECT_EQ(data[i].at("type"), json(types[i]));
  EXPECT_EQ(data.back().at("result").at("session_id"), "sse-1:default");
}

TEST_F(ServeTest, ConcurrentPromptsToOneSessionQueue) {
  std::vector<std::future<Response>> calls;
  for (int i = 0; i < 6; ++i) {
    calls.push_back(std::async(std::launch::async, [this, i] {
      return call(port(), "POST", "/agents/helper/busy",
                  R"({"message":"call number )" + std::to_string(i) + R"("})");
    }));
  }
  for (auto& f : calls) {
    auto r = f.get();
    EXPECT_EQ(r.status, 200) << r.body;
  }
}

struct Malformed {
  const char* name;
  std::string raw;
  int status;
  const char* type;  // expected error.type ("" = not checked)
};

std::string big(std::size_t n) {
  return std::string(n, 'x');
}

TEST_F(ServeTest, MalformedRequestsGetTheDocumentedEnvelopes) {
  const std::string json_type = "application/json";
  std::vector<Malformed> table = {
      {"text/plain body", request("POST", "/agents/helper/a", "hi", "text/plain"), 415,
       "unsupported_media_type"},
      {"no content type", request("POST", "/agents/helper/a", R"({"message":"x"})", ""), 415,
       "unsupported_media_type"},
      {"bad JSON", request("POST", "/agents/helper/a", "{\"message\":"), 400, "invalid_json"},
      {"trailing garbage", request("POST", "/agents/helper/a", "{} x"), 400, "invalid_json"},
      {"array body", request("POST", "/agents/helper/a", "[1,2]"), 400, "invalid_request"},
      {"string body", request("POST", "/agents/helper/a", "\"hi\""), 400, "invalid_request"},
      {"payload not an object", request("POST", "/agents/helper/a", R"({"payload":[1]})"), 400,
       "invalid_request"},
      {"payload a string", request("POST", "/agents/helper/a", R"({"payload":"x"})"), 400,
       "invalid_request"},
      {"no message", request("POST", "/agents/helper/a", "{}"), 400, "invalid_request"},
      {"empty body", request("POST", "/agents/helper/a", ""), 400, "invalid_request"},
      {"message not a string", request("POST", "/agents/helper/a", R"({"message":5})"), 400,
       "invalid_request"},
      {"blank message", request("POST", "/agents/helper/a", R"({"message":"  "})"), 400,
       "invalid_request"},
      {"session not a string",
       request("POST", "/agents/helper/a", R"({"message":"x","session":3})"), 400,
       "invalid_request"},
      {"empty session", request("POST", "/agents/helper/a", R"({"message":"x","session":""})"), 400,
       "invalid_request"},
      {"empty id segment", request("POST", "/agents/helper//", R"({"message":"x"})"), 400,
       "invalid_request"},
      {"empty name segment", request("POST", "/agents//abc", R"({"message":"x"})"), 400,
       "invalid_request"},
      {"blank id", request("POST", "/agents/helper/%20", R"({"message":"x"})"), 400,
       "invalid_request"},
      {"missing id", request("POST", "/agents/helper", R"({"message":"x"})"), 400,
       "invalid_request"},
      {"bad percent escape", request("POST", "/agents/helper/%zz", R"({"message":"x"})"), 400,
       "invalid_request"},
      {"unknown agent", request("POST", "/agents/nobody/a", R"({"message":"x"})"), 404,
       "agent_not_found"},
      {"webhook disabled", request("POST", "/agents/private/a", R"({"message":"x"})"), 404,
       "agent_not_webhook"},
      {"GET on an agent", request("GET", "/agents/helper/a", "", ""), 405, "method_not_allowed"},
      {"PUT on an agent", request("PUT", "/agents/helper/a", "{}"), 405, "method_not_allowed"},
      {"PATCH on an agent", request("PATCH", "/agents/helper/a", "{}"), 405, "method_not_allowed"},
      {"DELETE on an agent", request("DELETE", "/agents/helper/a", "", ""), 405,
       "method_not_allowed"},
      {"POST /health", request("POST", "/health", "{}"), 405, "method_not_allowed"},
      {"unknown route", request("GET", "/nothing/here", "", ""), 404, "not_found"},
      {"oversize body",
       request("POST", "/agents/helper/a", R"({"message":")" + big(8000) + R"("})"), 413,
       "payload_too_large"},
      {"header flood", "GET /health HTTP/1.1\r\nHost: x\r\nX-Flood: " + big(40000) + "\r\n\r\n",
       431, "headers_too_large"},
      {"many headers",
       [] {
         std::string r = "GET /health HTTP/1.1\r\nHost: x\r\n";
         for (int i = 0; i < 2000; ++i) r += "X-H" + std::to_string(i) + ": v\r\n";
         return r + "\r\n";
       }(),
       431, "headers_too_large"},
      {"garbage request line", "THIS IS NOT HTTP\r\n\r\n", 400, "invalid_request"},
      {"bad content length",
       "POST /agents/helper/a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400,
       "invalid_request"},
  };
  ASSERT_GE(table.size(), 30u);
  for (const auto& m : table) {
    auto r = parse_response(roundtrip(port(), m.raw));
    EXPECT_EQ(r.status, m.status) << m.name << ": " << r.head << "\n" << r.body;
    if (*m.type != '\0') {
      const json* type = find_path(r.json_body, "error/type");
      ASSERT_NE(type, nullptr) << m.name << ": " << r.body;
      EXPECT_EQ(*type, m.type) << m.name << ": " << r.body;
      EXPECT_TRUE(find_path(r.json_body, "error/message") != nullptr) << m.name;
    }
  }
  // 405 details of PyFlue's envelope.
  auto r405 = call(port(), "GET", "/agents/helper/a", "", "");
  EXPECT_EQ(r405.json_body.at("error").at("message"), "Method GET is not allowed.");
  EXPECT_EQ(r405.json_body.at("error").at("meta").at("allowed"), (json_array{"POST"}));
  auto unknown = call(port(), "POST", "/agents/nobody/a", R"({"message":"x"})");
  EXPECT_EQ(unknown.json_body.at("error").at("dev"), "Available agents: helper, private.");
  // The server is still serving.
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
  EXPECT_TRUE(server_->alive());
}

TEST_F(ServeTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::string two =
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /agents HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string raw = roundtrip(port(), two);
  std::size_t first = raw.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << raw;
  EXPECT_NE(raw.find("HTTP/1.1 200", first + 1), std::string::npos) << raw;
  EXPECT_NE(raw.find("\"agents\""), std::string::npos) << raw;
}

TEST(Serve, SigtermStopsCleanly) {
  cppflue::testing::TempDir dir;
  cppflue::testing::write_file(dir.path() / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n");
  ServeProcess server(dir.path());
  ASSERT_GT(server.port(), 0) << server.output();
  EXPECT_EQ(call(server.port(), "GET", "/health").status, 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_LT(connect_to(server.port()), 0);  // nothing listens any more
}

// Slow-loris: a client that drips its header (or body) gets 408 and is closed when the time
// is up, while other clients are served meanwhile.
TEST(Serve, SlowClientsGet408AndOthersAreServed) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path());
  ServeProcess server(dir.path(), {"--header-timeout", "0.6", "--body-timeout", "0.6"});
  ASSERT_GT(server.port(), 0) << server.output();
  auto drip = [&](const std::string& start, char byte) {
    int fd = connect_to(server.port());
    EXPECT_GE(fd, 0);
    send_all(fd, start);
    std::string got;
    auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < 5s) {
      if (!send_all(fd, std::string(1, byte))) break;  // one byte every 100 ms
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
    return std::make_pair(got, std::chrono::steady_clock::now() - t0);
  };
  auto [head_answer, head_time] =
      drip("POST /agents/helper/x HTTP/1.1\r\nHost: a\r\nX-Slow: ", 'a');
  auto header = parse_response(head_answer);
  EXPECT_EQ(header.status, 408) << head_answer;
  EXPECT_EQ(header.json_body.at("error").at("type"), "request_timeout");
  EXPECT_LT(head_time, 3s);
  auto [body_answer, body_time] = drip(
      "POST /agents/helper/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n{",
      ' ');
  EXPECT_EQ(parse_response(body_answer).status, 408) << body_answer;
  EXPECT_LT(body_time, 3s);
  EXPECT_EQ(call(server.port(), "GET", "/health").status, 200);
}

TEST(Serve, PortInUseIsAClearError) {
  cppflue::testing::TempDir dir;
  cppflue::testing::write_file(dir.path() / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n");
  ServeProcess first(dir.path());
  ASSERT_GT(first.port(), 0);
  std::string cmd = std::string(CPPFLUE_BINARY) + " serve --port " + std::to_string(first.port()) +
                    " --config " + (dir.path() / "cppflue.toml").string() + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[512];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  int status = p ? ::pclose(p) : -1;
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << out;
}

}  // namespace
