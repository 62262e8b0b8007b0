// SPDX-License-Identifier: Apache-2.0
// The router's answers for requests that no route serves, and for malformed paths under a
// route's prefix (docs/reference/http.md): 405 with `Allow` when a route has the path, the
// documented 400s and 404s, and 404 "Route not found." for anything else. WebSocket upgrades
// to such paths are answered the same way.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;

namespace {

const std::string kAgentShape =
    "Webhook URLs must have the shape /agents/{name}/{agent_id} with non-empty segments.";
const std::string kDispatchShape =
    "Dispatch URLs must have the shape /agents/{name}/{agent_id}/dispatch with non-empty "
    "segments.";
const std::string kWorkflowShape =
    "Workflow URLs must have the shape /workflows/{name} with a non-empty name.";

class RoutingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new cppflue::testing::TempDir();
    write_helper_project(dir_->path());
    server_ = new ServeProcess(dir_->path());
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

cppflue::testing::TempDir* RoutingTest::dir_ = nullptr;
ServeProcess* RoutingTest::server_ = nullptr;

struct Case {
  std::string method;
  std::string target;
  int status;
  std::string type;
  std::string details;  // when not empty: the error's details
  std::string allow;    // for 405: the Allow header
};

std::string text(const json& body, const char* field) {
  const json* e = find(body, "error");
  const json* v = e != nullptr ? find(*e, field) : nullptr;
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

TEST_F(RoutingTest, UnservedRequestsGetTheDocumentedErrors) {
  const std::vector<Case> cases{
      {"GET", "/nope", 404, "not_found", "No route matches GET /nope.", ""},
      {"POST", "/", 405, "method_not_allowed", "", "GET"},
      {"DELETE", "/health", 405, "method_not_allowed", "", "GET"},
      {"POST", "/agents", 405, "method_not_allowed", "", "GET"},
      {"GET", "/agents/helper", 400, "invalid_request", kAgentShape, ""},
      {"DELETE", "/agents/helper", 400, "invalid_request", kAgentShape, ""},
      {"GET", "/agents/helper/u1", 405, "method_not_allowed", "", "POST"},
      {"DELETE", "/agents/%20/u1", 405, "method_not_allowed", "", "POST"},
      {"POST", "/agents/helper/u1/extra", 404, "not_found", kAgentShape, ""},
      {"GET", "/agents/helper/u1/x/y", 404, "not_found", kAgentShape, ""},
      {"GET", "/agents/helper/u1/dispatch/d/e", 404, "not_found", kAgentShape, ""},
      {"GET", "/agents/helper/u1/dispatch", 405, "method_not_allowed", "", "POST"},
      {"GET", "/agents/%20/u1/dispatch", 400, "invalid_request", kDispatchShape, ""},
      {"POST", "/agents/%20/u1/dispatch", 400, "invalid_request", kDispatchShape, ""},
      {"POST", "/agents/helper/u1/dispatch/d1", 405, "method_not_allowed", "", "GET"},
      {"DELETE", "/agents/helper/%20/dispatch/d1", 400, "invalid_request", kDispatchShape, ""},
      {"GET", "/agents/helper/%20/dispatch/d1", 400, "invalid_request", kDispatchShape, ""},
      {"GET", "/agents/helper/u1/dispatch/%20", 404, "dispatch_not_found", "", ""},
      {"GET", "/runs", 404, "not_found", "No route matches GET /runs.", ""},
      {"GET", "/runs/%20", 404, "not_found", "", ""},
      {"POST", "/runs/r1", 405, "method_not_allowed", "", "GET"},
      {"DELETE", "/runs/%20/events", 404, "not_found", "", ""},
      {"GET", "/runs/%20/stream", 404, "not_found", "", ""},
      {"GET", "/runs/r1/other", 404, "not_found", "", ""},
      {"GET", "/sessions/x", 404, "not_found", "", ""},
      {"GET", "/sessions/x/abort", 405, "method_not_allowed", "", "POST"},
      {"DELETE", "/sessions/%20/abort", 405, "method_not_allowed", "", "POST"},
      {"POST", "/sessions/%20/abort", 400, "invalid_request",
       "Abort URLs must have the shape /sessions/{session_id}/abort.", ""},
      {"POST", "/webhooks/teams/helper", 404, "not_found",
       "No route matches POST /webhooks/teams/helper. Webhook URLs are "
       "/webhooks/{github|slack|hmac}/{agent}.",
       ""},
      {"POST", "/webhooks", 404, "not_found",
       "No route matches POST /webhooks. Webhook URLs are /webhooks/{github|slack|hmac}/{agent}.",
       ""},
      {"GET", "/webhooks/github/helper", 405, "method_not_allowed", "", "POST"},
      {"GET", "/webhooks/github/helper/x", 404, "not_found", "", ""},
      {"POST", "/workflows", 400, "invalid_request", kWorkflowShape, ""},
      {"GET", "/workflows", 400, "invalid_request", kWorkflowShape, ""},
      {"POST", "/workflows/%20", 400, "invalid_request", kWorkflowShape, ""},
      {"DELETE", "/workflows/%20", 400, "invalid_request", kWorkflowShape, ""},
      {"GET", "/workflows/greet", 405, "method_not_allowed", "", "POST"},
      {"POST", "/workflows/greet/x", 404, "not_found", "No route matches POST /workflows/greet/x.",
       ""},
      {"GET", "/admin", 404, "not_found", "", ""},
      {"POST", "/admin/runs", 405, "method_not_allowed", "", "GET"},
      {"GET", "/admin/agents/%20/instances", 404, "not_found", "", ""},
      {"POST", "/admin/agents/%20/instances", 404, "not_found", "", ""},
      {"GET", "/admin/agents/helper/instances/%20/runs", 404, "not_found", "", ""},
      {"GET", "/admin/agents/helper", 404, "not_found", "", ""},
      {"GET", "/admin/runs/%20", 404, "not_found", "", ""},
      {"GET", "/__cppflue/other", 404, "not_found", "", ""},
      {"DELETE", "/__cppflue/status", 405, "method_not_allowed", "", "GET"},
      {"GET", "/agents/helper/%zz", 400, "invalid_request",
       "The request path is not valid percent-encoding.", ""},
  };
  for (const auto& c : cases) {
    std::string what = c.method + " " + c.target;
    auto r = call(port(), c.method, c.target, c.method == "POST" ? "{}" : "",
                  c.method == "POST" ? "application/json" : "");
    EXPECT_EQ(r.status, c.status) << what << "\n" << r.body;
    EXPECT_EQ(text(r.json_body, "type"), c.type) << what << "\n" << r.body;
    if (!c.details.empty()) {
      EXPECT_EQ(text(r.json_body, "details"), c.details) << what;
    }
    if (c.status == 404 && c.type == "not_found") {
      EXPECT_EQ(text(r.json_body, "message"), "Route not found.") << what;
    }
    EXPECT_EQ(r.header("Allow"), c.allow) << what;
  }
}

TEST_F(RoutingTest, ServedPathsStillAnswer) {
  EXPECT_EQ(call(port(), "GET", "/health/").status, 200);  // one trailing '/' is ignored
  auto agents = call(port(), "GET", "/agents");
  EXPECT_EQ(agents.status, 200);
  EXPECT_EQ(agents.json_body.at("agents").at(0).at("name"), "helper");
}

// A WebSocket upgrade is a GET: on a path no WS route serves, it gets that GET's answer.
TEST_F(RoutingTest, WebSocketUpgradesToUnservedPaths) {
  {
    WsClient ws(port(), "/agents/helper/u1");
    EXPECT_EQ(ws.status(), 101) << ws.head();
  }
  {
    WsClient ws(port(), "/agents/%20/u1");
    EXPECT_EQ(ws.status(), 405) << ws.head();
  }
  {
    WsClient ws(port(), "/workflows/%20");
    EXPECT_EQ(ws.status(), 400) << ws.head();
  }
  {
    WsClient ws(port(), "/sessions/x/abort");
    EXPECT_EQ(ws.status(), 405) << ws.head();
  }
  {
    WsClient ws(port(), "/health");
    EXPECT_EQ(ws.status(), 200) << ws.head();
  }
}

}  // namespace
