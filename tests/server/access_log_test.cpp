// SPDX-License-Identifier: Apache-2.0
// The access log (one line per request at info, streams logged when they end, no query
// strings), the JSON log format (--log-format json, CPPFLUE_LOG_FORMAT=json), CPPFLUE_LOG's
// checks, and GET / (the API's index, behind the token like every route but /health).
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../src/server/access_log.hpp"
#include "cppflue/core/json.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

// The access lines of the server's output once there are `n` of them (or after 10 s).
std::vector<std::string> access_lines(ServeProcess& server, std::size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<std::string> lines;
  for (;;) {
    lines = lines_with(server.output(), "access: ");
    if (lines.size() >= n || std::chrono::steady_clock::now() > deadline) return lines;
    std::this_thread::sleep_for(20ms);
  }
}

// The line among `lines` that contains `needle`; "" when none does.
std::string line_of(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines) {
    if (l.find(needle) != std::string::npos) return l;
  }
  return "";
}

TEST(AccessLog, OneLinePerRequestWithStatusDurationAndContextButNoQuery) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path());
  ServeProcess server(dir.path());
  ASSERT_GT(server.port(), 0) << server.output();
  EXPECT_EQ(call(server.port(), "GET", "/health").status, 200);
  EXPECT_EQ(call(server.port(), "GET", "/runs/run_missing?token=hunter2").status, 404);
  EXPECT_EQ(call(server.port(), "POST", "/agents/helper/u1", R"({"message":"hi"})").status, 200);
  EXPECT_EQ(call(server.port(), "POST", "/sessions/u1:default/abort", "{}").status, 200);
  EXPECT_EQ(call(server.port(), "DELETE", "/nowhere").status, 404);
  {
    WsClient ws(server.port(), "/agents/helper/u9");
    EXPECT_EQ(ws.status(), 101) << ws.head();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(line_of(lines_with(server.output(), "access: "), "/agents/helper/u9"), "")
        << "a WebSocket is logged when it ends";
  }  // the client goes away

  auto lines = access_lines(server, 6);
  ASSERT_EQ(lines.size(), 6u) << server.output();
  static const std::regex shape(
      R"(^\S+Z info \[cppflue\] access: [A-Z]+ /\S* \d{3} [0-9.]+ms( \w+=\S+)*$)");
  for (const auto& l : lines) EXPECT_TRUE(std::regex_match(l, shape)) << l;
  EXPECT_NE(line_of(lines, "GET /health 200 "), "") << server.output();
  EXPECT_NE(line_of(lines, "GET /runs/run_missing 404 "), "") << server.output();
  EXPECT_NE(line_of(lines, "run=run_missing"), "") << server.output();
  EXPECT_NE(line_of(lines, "POST /agents/helper/u1 200 "), "") << server.output();
  EXPECT_NE(line_of(lines, "agent=helper/u1"), "") << server.output();
  EXPECT_NE(line_of(lines, "session=u1:default"), "") << server.output();
  EXPECT_NE(line_of(lines, "DELETE /nowhere 404 "), "") << server.output();
  EXPECT_NE(line_of(lines, "GET /agents/helper/u9 101 "), "") << server.output();
  EXPECT_EQ(server.output().find("hunter2"), std::string::npos) << "the query string is logged";
}

TEST(AccessLog, AStreamIsLoggedWhenItEnds) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path());
  ServeProcess server(dir.path(), {}, {}, CPPFLUE_TEST_APP);
  ASSERT_GT(server.port(), 0) << server.output();
  SseReader sse(server.port(), request("POST", "/workflows/slow", R"({"steps":3,"ms":250})",
                                       "application/json", "Accept: text/event-stream\r\n"));
  ASSERT_TRUE(sse.next(10s).has_value());
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(lines_with(server.output(), "access: ").empty())
      << "logged before the stream ended:\n"
      << server.output();
  auto events = sse.collect("run_end");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "run_end");
  auto lines = access_lines(server, 1);
  ASSERT_EQ(lines.size(), 1u) << server.output();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(lines[0], m,
                                std::regex(R"(POST /workflows/slow 200 ([0-9.]+)ms run=run_\w+)")))
      << lines[0];
  EXPECT_GE(std::stod(m[1].str()), 500.0) << "the duration covers the whole stream: " << lines[0];
}

TEST(AccessLog, JsonFormatWritesOneObjectPerLine) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path());
  for (bool by_flag : {true, false}) {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    if (by_flag) {
      args = {"--log-format", "json"};
    } else {
      env = {{"CPPFLUE_LOG_FORMAT", "json"}};
    }
    ServeProcess server(dir.path(), args, env);
    ASSERT_GT(server.port(), 0) << server.output();
    EXPECT_EQ(call(server.port(), "POST", "/agents/helper/u2", R"({"message":"hi"})").status, 200);
    EXPECT_EQ(call(server.port(), "GET", "/health?x=1").status, 200);
    auto lines = access_lines(server, 2);
    ASSERT_EQ(lines.size(), 2u) << server.output();
    // Every log line is a JSON object (stdout's own lines aside).
    std::istringstream in(server.output());
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line.rfind("cppflue: ", 0) == 0) continue;
      auto parsed = parse_json(line);
      ASSERT_TRUE(parsed && parsed->is_object()) << "not a JSON object: " << line;
      for (const char* key : {"time", "level", "message"}) {
        EXPECT_NE(find(*parsed, key), nullptr) << key << " missing: " << line;
      }
    }
    auto agent = parse_json(line_of(lines, "/agents/helper/u2"));
    ASSERT_TRUE(agent) << server.output();
    EXPECT_EQ(agent->at("level"), "info");
    EXPECT_EQ(agent->at("method"), "POST");
    EXPECT_EQ(agent->at("path"), "/agents/helper/u2");
    EXPECT_EQ(agent->at("status"), 200);
    EXPECT_TRUE(agent->at("duration_ms").is_number());
    EXPECT_EQ(agent->at("agent"), "helper/u2");
    auto health = parse_json(line_of(lines, "/health"));
    ASSERT_TRUE(health);
    EXPECT_EQ(health->at("path"), "/health");
    EXPECT_EQ(find(*health, "agent"), nullptr);
  }
}

TEST(AccessLog, LevelComesFromCppflueLogAndAnUnknownLevelIsReported) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path());
  {
    ServeProcess quiet(dir.path(), {}, {{"CPPFLUE_LOG", "warn"}});
    ASSERT_GT(quiet.port(), 0) << quiet.output();
    EXPECT_EQ(call(quiet.port(), "GET", "/health").status, 200);
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(lines_with(quiet.output(), "access: ").empty()) << quiet.output();
  }
  ServeProcess wrong(dir.path(), {}, {{"CPPFLUE_LOG", "verbose"}});
  ASSERT_GT(wrong.port(), 0) << wrong.output();
  EXPECT_EQ(call(wrong.port(), "GET", "/health").status, 200);
  EXPECT_EQ(access_lines(wrong, 1).size(), 1u) << "the default level (info) is kept\n"
                                               << wrong.output();
  auto warning = lines_with(wrong.output(), "CPPFLUE_LOG=verbose");
  ASSERT_EQ(warning.size(), 1u) << wrong.output();
  EXPECT_NE(warning[0].find("warning"), std::string::npos) << warning[0];
  EXPECT_NE(warning[0].find("trace, debug, info, warn, error, critical, off"), std::string::npos)
      << warning[0];
}

TEST(ApiIndex, RootListsTheApiBehindTheToken) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path(),
                       "[agent]\nmodel = \"test:demo\"\n[server]\n"
                       "auth_token_env = \"CPPFLUE_TEST_TOKEN\"\n");
  ServeProcess server(dir.path(), {}, {{"CPPFLUE_TEST_TOKEN", "tok"}}, CPPFLUE_TEST_APP);
  ASSERT_GT(server.port(), 0) << server.output();
  EXPECT_EQ(call(server.port(), "GET", "/").status, 401);
  EXPECT_EQ(call(server.port(), "GET", "/health").status, 200);  // still public
  auto index = call(server.port(), "GET", "/", "", "", "Authorization: Bearer tok\r\n");
  ASSERT_EQ(index.status, 200) << index.body;
  EXPECT_EQ(index.json_body.at("name"), "cppflue");
  EXPECT_FALSE(index.json_body.at("version").as_string().empty());
  const json& links = index.json_body.at("links");
  EXPECT_EQ(links.at("health"), "/health");
  EXPECT_EQ(links.at("agents"), "/agents");
  EXPECT_EQ(links.at("workflows"), "/workflows/{name}");
  EXPECT_EQ(links.at("runs"), "/admin/runs");
  EXPECT_EQ(links.at("run"), "/runs/{run_id}");
  EXPECT_EQ(links.at("dashboard"), "/__cppflue");
  EXPECT_NE(dump(index.json_body.at("workflows")).find("\"/workflows/greet\""), std::string::npos)
      << index.body;
  EXPECT_NE(dump(index.json_body.at("routes")).find(R"({"method":"GET","path":"/"})"),
            std::string::npos)
      << index.body;
  EXPECT_EQ(
      call(server.port(), "POST", "/", "{}", "application/json", "Authorization: Bearer tok\r\n")
          .status,
      405);
  // The front door's own answers are logged too.
  auto lines = access_lines(server, 4);
  EXPECT_NE(line_of(lines, "GET / 401 "), "") << server.output();
  EXPECT_NE(line_of(lines, "GET / 200 "), "") << server.output();
}

TEST(AccessLog, RecordNamesTheRouteContextAndKeepsLinesClean) {
  auto record = [](std::string method, std::string path) {
    net::ServerRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.remote_address = "10.0.0.1";
    return server::access_record(req);
  };
  EXPECT_EQ(record("POST", "/agents/helper/u1").agent, "helper/u1");
  EXPECT_EQ(record("GET", "/agents/helper/u1/dispatch/d1").agent, "helper/u1");
  EXPECT_EQ(record("GET", "/admin/agents/helper/instances/u1/runs").agent, "helper/u1");
  EXPECT_EQ(record("POST", "/webhooks/github/bot").agent, "bot");
  EXPECT_EQ(record("POST", "/workflows/greet").agent, "");
  EXPECT_EQ(record("POST", "/sessions/u1%3As/abort").session, "u1:s");
  EXPECT_EQ(record("GET", "/runs/run_1/events").run, "run_1");
  EXPECT_EQ(record("GET", "/nowhere").agent, "");
  // A decoded segment with a newline or spaces cannot split or forge a line.
  auto odd = record("POST", "/agents/a%0Ab/x%20y");
  EXPECT_EQ(odd.agent, "a?b/x?y");
  auto r = record("GET", "/runs/run_1");
  r.status = 404;
  r.duration_ms = 1.5;
  EXPECT_EQ(server::access_text(r), "GET /runs/run_1 404 1.5ms run=run_1 remote=10.0.0.1");
  EXPECT_EQ(dump(server::access_fields(r)),
            R"({"method":"GET","path":"/runs/run_1","status":404,"duration_ms":1.5,)"
            R"("run":"run_1","remote":"10.0.0.1"})");
  auto long_path = record("GET", "/" + std::string(1000, 'a'));
  EXPECT_LT(long_path.path.size(), 300u);
  EXPECT_EQ(long_path.path.substr(long_path.path.size() - 3), "...");
}

}  // namespace
