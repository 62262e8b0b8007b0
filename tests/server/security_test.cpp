// SPDX-License-Identifier: Apache-2.0
// Black-box tests of the server's front door: Bearer auth ([server] auth_token_env) on every
// route but /health and signed webhooks, the CORS allow-list with preflight, and
// POST /sessions/{id}/abort.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <string>
#include <thread>

#include "cppflue/net/crypto.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;

namespace {

const std::string kToken = "s3cret-token";

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new cppflue::testing::TempDir();
    auto root = dir_->path();
    auto script = root / "slow.json";
    cppflue::testing::write_file(script, R"({"turns":[{"text":"late","delay_ms":5000}]})");
    cppflue::testing::write_file(
        root / "cppflue.toml",
        "[agent]\nmodel = \"test:" + script.string() +
            "\"\n[server]\nauth_token_env = \"CPPFLUE_TEST_TOKEN\"\ncors_origins = "
            "[\"https://app.example\"]\n");
    cppflue::testing::write_file(root / ".agents/agents/helper.md",
                                 "---\nname: helper\ndescription: helps\n---\nYou help.\n");
    server_ = new ServeProcess(
        root, {}, {{"CPPFLUE_TEST_TOKEN", kToken}, {"CPPFLUE_WEBHOOK_SECRET", "hook-secret"}});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }
  int port() const { return server_->port(); }
  static std::string auth() { return "Authorization: Bearer " + kToken + "\r\n"; }

  static cppflue::testing::TempDir* dir_;
  static ServeProcess* server_;
};

cppflue::testing::TempDir* SecurityTest::dir_ = nullptr;
ServeProcess* SecurityTest::server_ = nullptr;

TEST_F(SecurityTest, BearerTokenGuardsEveryRouteButHealthAndSignedWebhooks) {
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
  struct Case {
    std::string name, header;
    int status;
  };
  std::vector<Case> cases{
      {"no header", "", 401},
      {"wrong token", "Authorization: Bearer nope\r\n", 401},
      {"token prefix", "Authorization: Bearer " + kToken.substr(0, 5) + "\r\n", 401},
      {"token plus more", "Authorization: Bearer " + kToken + "x\r\n", 401},
      {"basic scheme", "Authorization: Basic " + kToken + "\r\n", 401},
      {"empty bearer", "Authorization: Bearer \r\n", 401},
      {"right token", auth(), 200},
      {"scheme in lower case", "Authorization: bearer " + kToken + "\r\n", 200},
  };
  for (const auto& c : cases) {
    auto r = call(port(), "GET", "/agents", "", "", c.header);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    if (c.status == 401) {
      EXPECT_EQ(r.json_body.at("error").at("type"), "unauthorized") << c.name;
      EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer") << c.name;
    }
  }
  // Every other route is behind the token too, before any validation.
  for (std::string target : {"/agents/helper/x", "/runs/run_x", "/workflows/none",
                             "/agents/helper/x/dispatch", "/sessions/x/abort", "/nowhere"}) {
    EXPECT_EQ(call(port(), "POST", target, "{}").status, 401) << target;
  }
  for (std::string target :
       {"/", "/admin/runs", "/admin/agents", "/__cppflue", "/__cppflue/status"}) {
    EXPECT_EQ(call(port(), "GET", target).status, 401) << target;
  }
  // A signed webhook needs no bearer token.
  std::string body = R"({"thread":"t1","text":"hi"})";
  auto hook =
      call(port(), "POST", "/webhooks/hmac/helper", body, "application/json",
           "X-CppFlue-Signature: sha256=" + net::hmac_sha256_hex("hook-secret", body) + "\r\n");
  EXPECT_EQ(hook.status, 202) << hook.body;
}

TEST_F(SecurityTest, CorsAllowListAndPreflight) {
  auto allowed = call(port(), "GET", "/health", "", "", "Origin: https://app.example\r\n");
  EXPECT_EQ(allowed.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(allowed.header("Vary"), "Origin");
  auto other = call(port(), "GET", "/health", "", "", "Origin: https://evil.example\r\n");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.header("Access-Control-Allow-Origin"), "");
  // Preflight: answered without credentials.
  auto pre = call(port(), "OPTIONS", "/agents/helper/x", "", "",
                  "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n"
                  "Access-Control-Request-Headers: authorization, content-type\r\n");
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(pre.header("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  EXPECT_NE(pre.header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  auto bad_pre = call(port(), "OPTIONS", "/agents/helper/x", "", "",
                      "Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n");
  EXPECT_EQ(bad_pre.header("Access-Control-Allow-Origin"), "");
  // Error answers carry the CORS headers too, so the browser can read them.
  auto denied = call(port(), "GET", "/agents", "", "", "Origin: https://app.example\r\n");
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.header("Access-Control-Allow-Origin"), "https://app.example");
}

TEST_F(SecurityTest, AbortStopsTheRunningPrompt) {
  auto started = call(port(), "POST", "/agents/helper/ab", R"({"message":"take your time"})",
                      "application/json", auth() + "X-Webhook: true\r\n");
  ASSERT_EQ(started.status, 202) << started.body;
  std::string run_id(started.json_body.at("run_id").as_string());
  // Wait until the prompt is running (its turn_request is recorded).
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    auto ev = call(port(), "GET", "/runs/" + run_id + "/events?types=turn_request", "", "", auth());
    running = ev.status == 200 && !ev.json_body.at("events").as_array().empty();
    if (!running) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(running);
  auto t0 = std::chrono::steady_clock::now();
  auto abort = call(port(), "POST", "/sessions/ab:default/abort", "", "", auth());
  ASSERT_EQ(abort.status, 200) << abort.body;
  EXPECT_EQ(abort.json_body.at("aborted"), true);
  EXPECT_EQ(abort.json_body.at("session_id"), "ab:default");
  json run;
  for (int i = 0; i < 200; ++i) {
    run = call(port(), "GET", "/runs/" + run_id, "", "", auth()).json_body;
    if (run.at("status") != "running") break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);  // not the model's 5 s
  EXPECT_EQ(run.at("status"), "aborted");
  EXPECT_EQ(run.at("error").at("type"), "aborted");
  auto idle = call(port(), "POST", "/sessions/ab:default/abort", "", "", auth());
  EXPECT_EQ(idle.json_body.at("aborted"), false);
  auto unknown = call(port(), "POST", "/sessions/nobody/abort", "", "", auth());
  EXPECT_EQ(unknown.status, 200);
  EXPECT_EQ(unknown.json_body.at("aborted"), false);
  EXPECT_EQ(call(port(), "GET", "/sessions/x/abort", "", "", auth()).status, 405);
  EXPECT_EQ(call(port(), "POST", "/sessions/x", "", "", auth()).status, 404);
}

}  // namespace

TEST(SecurityStart, ATokenVariableThatIsNotSetRefusesToServe) {
  // Fail closed: auth_token_env naming an unset (or empty) variable must not serve openly.
  for (const char* value : {"unset", ""}) {
    cppflue::testing::TempDir dir;
    cppflue::testing::write_file(dir.path() / "cppflue.toml",
                                 "[server]\nauth_token_env = \"CPPFLUE_NOT_SET_TOKEN\"\n");
    std::map<std::string, std::string> env;
    if (std::string(value).empty()) env["CPPFLUE_NOT_SET_TOKEN"] = "";
    ServeProcess server(dir.path(), {}, env);
    EXPECT_EQ(server.port(), 0) << "served without its token: " << server.output();
    EXPECT_NE(server.output().find("CPPFLUE_NOT_SET_TOKEN"), std::string::npos) << server.output();
  }
}

TEST(SecurityStart, ServeCreatesAPrivateStateDirectory) {
  cppflue::testing::TempDir dir;
  cppflue::testing::write_file(dir.path() / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n");
  ServeProcess server(dir.path());
  ASSERT_GT(server.port(), 0) << server.output();
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / ".cppflue").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}
