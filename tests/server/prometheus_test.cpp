// SPDX-License-Identifier: Apache-2.0
// GET /metrics scraped by a real Prometheus (Debian package `prometheus`), started here on
// 127.0.0.1 with a one-second scrape interval against `cppflue serve`; after N prompts its
// query API must return the expected series and values. Also: /metrics behind the server's
// token, public when configured, and absent when turned off.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <thread>

#include "server/serve_util.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using namespace std::chrono_literals;
using serve_testing::call;
using serve_testing::ServeProcess;
using testing::TempDir;
using testing::write_file;

constexpr const char* kToken = "prom-test-token-7";

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string find_prometheus() {
  for (const char* p : {"/usr/bin/prometheus", "/usr/local/bin/prometheus"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// A Prometheus server of its own: config, data directory and port.
class Prometheus {
 public:
  Prometheus(const std::string& binary, const std::filesystem::path& dir, int target_port)
      : port_(testing::closed_port()) {
    write_file(dir / "prometheus.yml", fmt::format(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: cppflue
    metrics_path: /metrics
    authorization:
      credentials: {}
    static_configs:
      - targets: ["127.0.0.1:{}"]
)",
                                                   kToken, target_port));
    std::string config = (dir / "prometheus.yml").string();
    std::string data = (dir / "data").string();
    std::string listen = fmt::format("127.0.0.1:{}", port_);
    std::string log = (dir / "prometheus.log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::string a1 = "--config.file=" + config, a2 = "--storage.tsdb.path=" + data,
                  a3 = "--web.listen-address=" + listen;
      ::execl(binary.c_str(), binary.c_str(), a1.c_str(), a2.c_str(), a3.c_str(),
              "--log.level=warn", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Prometheus() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 300 && ::waitpid(pid_, &status, WNOHANG) != pid_; ++i) ::usleep(10000);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, WNOHANG);
    }
  }
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  // The value of the instant query's single result; nullopt when there is none (yet).
  std::optional<double> value(const std::string& query) const {
    auto r = call(port_, "GET", "/api/v1/query?query=" + url_encode(query), "", "");
    if (r.status != 200 || !r.json_body.is_object()) return std::nullopt;
    const json* result = find_path(r.json_body, "data/result");
    if (result == nullptr || !result->is_array() || result->as_array().size() != 1) {
      return std::nullopt;
    }
    const json& v = result->as_array()[0].at("value").at(1);
    return std::stod(std::string(v.as_string()));
  }

  // Polls `query` until it equals `expected` (30 s at most); the last value seen.
  std::optional<double> wait_for(const std::string& query, double expected) const {
    std::optional<double> last;
    for (int i = 0; i < 300; ++i) {
      last = value(query);
      if (last && *last == expected) return last;
      std::this_thread::sleep_for(100ms);
    }
    return last;
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

TEST(Prometheus, ScrapesTheServerAndSeesItsPrompts) {
  std::string binary = find_prometheus();
  if (binary.empty()) GTEST_SKIP() << "prometheus is not installed (scripts/setup.sh installs it)";
  TempDir dir;
  serve_testing::write_helper_project(dir.path(), R"([agent]
model = "test:demo"

[server]
auth_token_env = "CPPFLUE_PROM_TEST_TOKEN"
)");
  ServeProcess server(dir.path(), {}, {{"CPPFLUE_PROM_TEST_TOKEN", kToken}});
  ASSERT_GT(server.port(), 0) << server.output();
  // Without the token: 401, like every route but /health.
  EXPECT_EQ(call(server.port(), "GET", "/metrics").status, 401);

  constexpr int kPrompts = 3;
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  for (int i = 0; i < kPrompts; ++i) {
    auto r = call(server.port(), "POST", "/agents/helper/p1", R"({"message":"list files"})",
                  "application/json", auth);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto direct = call(server.port(), "GET", "/metrics", "", "", auth);
  ASSERT_EQ(direct.status, 200);
  EXPECT_NE(direct.header("Content-Type").find("text/plain; version=0.0.4"), std::string::npos);

  Prometheus prom(binary, dir.path(), server.port());
  EXPECT_EQ(prom.wait_for("up{job=\"cppflue\"}", 1), 1) << "Prometheus could not scrape";
  EXPECT_EQ(
      prom.wait_for("cppflue_operations_total{agent=\"helper\",kind=\"prompt\",outcome=\"ok\"}",
                    kPrompts),
      kPrompts);
  EXPECT_EQ(
      prom.wait_for("cppflue_http_requests_total{route=\"/agents/{name}/{id}\",method=\"POST\","
                    "status=\"200\"}",
                    kPrompts),
      kPrompts);
  // The demo model answers each prompt in two calls, with one glob call between them.
  EXPECT_EQ(prom.wait_for("sum(gen_ai_client_token_usage_count{gen_ai_provider_name=\"test\","
                          "gen_ai_token_type=\"output\"})",
                          2 * kPrompts),
            2 * kPrompts);
  EXPECT_EQ(prom.wait_for("sum(gen_ai_client_operation_duration_seconds_count)", 2 * kPrompts),
            2 * kPrompts);
  EXPECT_EQ(prom.wait_for("cppflue_tool_calls_total{tool=\"glob\",outcome=\"ok\"}", kPrompts),
            kPrompts);
  EXPECT_EQ(prom.wait_for("cppflue_operation_duration_seconds_count{agent=\"helper\"}", kPrompts),
            kPrompts);
  EXPECT_EQ(prom.wait_for("cppflue_dispatch_queue_depth", 0), 0);
  EXPECT_EQ(prom.wait_for("cppflue_instances_live", 1), 1);
  auto rss = prom.value("process_resident_memory_bytes");
  ASSERT_TRUE(rss);
  EXPECT_GT(*rss, 1e6);
  auto fds = prom.value("process_open_fds");
  ASSERT_TRUE(fds);
  EXPECT_GT(*fds, 3);
  // The test model has no price: no cost series at all, rather than a cost of 0.
  EXPECT_FALSE(prom.value("cppflue_model_cost_usd_total"));
  EXPECT_EQ(server.stop(), 0);
}

TEST(Prometheus, MetricsCanBePublicOrTurnedOff) {
  TempDir open_dir;
  serve_testing::write_helper_project(open_dir.path(), R"([server]
auth_token_env = "CPPFLUE_PROM_TEST_TOKEN"
[telemetry]
metrics_public = true
)");
  ServeProcess open(open_dir.path(), {}, {{"CPPFLUE_PROM_TEST_TOKEN", kToken}});
  ASSERT_GT(open.port(), 0) << open.output();
  auto scraped = call(open.port(), "GET", "/metrics");
  EXPECT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.body.find("# TYPE process_open_fds gauge"), std::string::npos);
  // Only /metrics is public, and only for GET.
  EXPECT_EQ(call(open.port(), "GET", "/agents").status, 401);
  EXPECT_EQ(call(open.port(), "POST", "/metrics", "{}").status, 401);

  TempDir off_dir;
  serve_testing::write_helper_project(off_dir.path(), "[telemetry]\nmetrics = false\n");
  ServeProcess off(off_dir.path());
  ASSERT_GT(off.port(), 0) << off.output();
  EXPECT_EQ(call(off.port(), "GET", "/metrics").status, 404);
}

}  // namespace
}  // namespace cppflue
