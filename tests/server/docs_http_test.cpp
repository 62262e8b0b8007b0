// SPDX-License-Identifier: Apache-2.0
// docs/reference/http.md against the server: every route the server answers is documented there
// under a `### METHOD /path` heading, and every such heading is a route the server answers.
//
// The served routes come from the route table (src/server/routes.hpp), which the router itself
// enforces: a request that matches no entry of the table only ever gets an error answer, so a
// route added to a handler without a table entry is not served at all (and one added with an
// entry but without docs fails here). The table in turn is checked against the running server:
// each entry, requested on a real `cppflue serve`, is answered by a handler (not 404 "Route not
// found." nor 405).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../../src/server/routes.hpp"
#include "cppflue/core/json.hpp"
#include "server/serve_util.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;

namespace {

const char* const kDoc = "docs/reference/http.md";

std::string route_key(std::string_view method, std::string_view path) {
  return std::string(method) + " " + std::string(path);
}

struct DocRoutes {
  std::vector<std::string> routes;    // "METHOD /path", in the order of the page
  std::vector<std::string> problems;  // headings that look like routes but do not parse
};

// The `### METHOD /path` headings of the HTTP reference (outside fenced code blocks).
DocRoutes documented_routes() {
  DocRoutes out;
  std::ifstream in(std::string(CPPFLUE_SOURCE_DIR) + "/" + kDoc);
  EXPECT_TRUE(in.good()) << "cannot read " << kDoc;
  static const std::regex route_heading(R"(^### ([A-Z]+) (/[^\s`]*)[ \t]*$)");
  static const std::regex method_heading(
      R"(^#{1,6} +`?(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|WS) +`?/.*)", std::regex::icase);
  std::string line;
  bool fenced = false;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view code = line;
    code.remove_prefix(std::min(code.find_first_not_of(' '), code.size()));
    if (code.rfind("```", 0) == 0 || code.rfind("~~~", 0) == 0) fenced = !fenced;
    if (fenced) continue;
    std::smatch m;
    if (std::regex_match(line, m, route_heading)) {
      out.routes.push_back(route_key(m[1].str(), m[2].str()));
    } else if (std::regex_match(line, method_heading)) {
      out.problems.push_back(std::string(kDoc) + ":" + std::to_string(number) + ": \"" + line +
                             "\" is not of the form `### METHOD /path`");
    }
  }
  return out;
}

std::set<std::string> served_routes() {
  std::set<std::string> out;
  for (const auto& r : cppflue::server::http_routes()) out.insert(route_key(r.method, r.path));
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += "\n  " + i;
  return out;
}

// "/runs/{run_id}" → segments with each {param} replaced by a sample value.
std::vector<std::string> sample_segments(std::string_view path) {
  static const std::map<std::string, std::string> samples{
      {"id", "probe"},           {"session_id", "probe:default"},
      {"run_id", "run_missing"}, {"dispatch_id", "dispatch_missing"},
      {"agent", "helper"},
  };
  std::vector<std::string> out;
  bool workflow = path.rfind("/workflows/", 0) == 0;
  std::string p(path.substr(1));
  std::stringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      std::string name = part.substr(1, part.size() - 2);
      if (name == "name") {
        part = workflow ? "greet" : "helper";
      } else {
        auto it = samples.find(name);
        part = it == samples.end() ? "probe" : it->second;
      }
    }
    out.push_back(part);
  }
  return out;
}

std::string join_path(const std::vector<std::string>& segments) {
  std::string out;
  for (const auto& s : segments) out += "/" + s;
  return out.empty() ? "/" : out;
}

TEST(DocsHttp, EveryServedRouteIsDocumentedAndEveryDocumentedRouteIsServed) {
  DocRoutes docs = documented_routes();
  EXPECT_TRUE(docs.problems.empty()) << "malformed route headings:" << join(docs.problems);
  std::set<std::string> served = served_routes();
  ASSERT_FALSE(served.empty());

  std::set<std::string> documented;
  std::vector<std::string> duplicates;
  for (const auto& r : docs.routes) {
    if (!documented.insert(r).second) duplicates.push_back(r);
  }
  std::vector<std::string> undocumented;
  for (const auto& r : served) {
    if (documented.count(r) == 0) undocumented.push_back(r);
  }
  std::vector<std::string> not_served;
  for (const auto& r : docs.routes) {
    if (served.count(r) == 0) not_served.push_back(r);
  }
  EXPECT_TRUE(undocumented.empty())
      << "served (src/server/routes.cpp) but without a `### METHOD /path` heading in " << kDoc
      << ":" << join(undocumented);
  EXPECT_TRUE(not_served.empty()) << "documented in " << kDoc
                                  << " but not served (not in src/server/routes.cpp):"
                                  << join(not_served);
  EXPECT_TRUE(duplicates.empty()) << "documented twice in " << kDoc << ":" << join(duplicates);
}

// The matcher the router uses: each entry matches requests of its shape, nothing else does.
TEST(DocsHttp, RouteTableMatchesItsOwnShapesOnly) {
  using cppflue::server::match_route;
  for (const auto& r : cppflue::server::http_routes()) {
    auto seg = sample_segments(r.path);
    bool ws = r.method == "WS";
    const auto* m = match_route(ws ? "GET" : r.method, ws, seg);
    ASSERT_NE(m, nullptr) << route_key(r.method, r.path);
    EXPECT_EQ(route_key(m->method, m->path), route_key(r.method, r.path));
    if (!ws) {
      EXPECT_EQ(match_route("DELETE", false, seg), nullptr) << r.path;
    }
    auto longer = seg;
    longer.push_back("extra");
    EXPECT_NE(match_route(ws ? "GET" : r.method, ws, longer), m) << r.path << "/extra";
  }
  ASSERT_NE(match_route("GET", false, {}), nullptr);  // GET /, the API's index
  EXPECT_EQ(match_route("GET", false, {})->path, "/");
  EXPECT_EQ(match_route("POST", false, {}), nullptr);
  EXPECT_EQ(match_route("GET", false, {"agents", "helper", "probe"}), nullptr);  // POST or WS
  EXPECT_EQ(match_route("POST", false, {"webhooks", "teams", "helper"}), nullptr);
  EXPECT_EQ(match_route("GET", false, {"admin", "agents", "helper"}), nullptr);
}

// Each entry of the table is answered by a handler of the running server.
TEST(DocsHttp, EveryRouteOfTheTableIsAnsweredByTheServer) {
  cppflue::testing::TempDir dir;
  write_helper_project(dir.path());
  ServeProcess server(dir.path(), {}, {}, CPPFLUE_TEST_APP);
  ASSERT_GT(server.port(), 0) << server.output();

  for (const auto& r : cppflue::server::http_routes()) {
    std::string target = join_path(sample_segments(r.path));
    std::string what = route_key(r.method, r.path) + " (requested as " + target + ")";
    if (r.method == "WS") {
      WsClient ws(server.port(), target);
      EXPECT_EQ(ws.status(), 101) << what << ": no WebSocket handshake\n" << ws.head();
      continue;
    }
    Response res = r.method == "POST" ? call(server.port(), "POST", target, "{}")
                                      : call(server.port(), std::string(r.method), target, "", "");
    std::string message;
    if (const json* e = find(res.json_body, "error")) {
      if (const json* m = find(*e, "message"); m && m->is_string())
        message = std::string(m->as_string());
    }
    EXPECT_NE(res.status, 0) << what << ": no answer";
    EXPECT_NE(res.status, 405) << what << ": the handler does not take this method\n" << res.body;
    EXPECT_FALSE(res.status == 404 && message == "Route not found.")
        << what << ": no handler serves it\n"
        << res.body;
  }
}

}  // namespace
