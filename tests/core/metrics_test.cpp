// SPDX-License-Identifier: Apache-2.0
// The metrics registry and its Prometheus text format.
#include <gtest/gtest.h>

#include "cppflue/core/metrics.hpp"

namespace cppflue::metrics {
namespace {

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(Metrics, RendersCountersGaugesAndHistograms) {
  Registry r;
  auto& c = r.counter("t_requests_total", "Requests.\nSecond line.");
  c.inc({{"route", "/a"}, {"status", "200"}});
  c.inc({{"route", "/a"}, {"status", "200"}}, 2);
  c.inc({{"route", "/a"}, {"status", "200"}}, -5);  // a counter never goes down
  c.inc({{"route", "x\"y\\z\nw"}, {"status", "500"}});
  auto& g = r.gauge("t_depth", "Depth.");
  g.set({}, 3);
  g.add({}, -1);
  auto& h = r.histogram("t_seconds", "Seconds.", {0.1, 1});
  h.observe({{"k", "v"}}, 0.05);
  h.observe({{"k", "v"}}, 0.5);
  h.observe({{"k", "v"}}, 7);
  std::string text = r.render();
  EXPECT_TRUE(has(text, "# HELP t_requests_total Requests.\\nSecond line.\n")) << text;
  EXPECT_TRUE(has(text, "# TYPE t_requests_total counter\n"));
  EXPECT_TRUE(has(text, "t_requests_total{route=\"/a\",status=\"200\"} 3\n")) << text;
  EXPECT_TRUE(has(text, "t_requests_total{route=\"x\\\"y\\\\z\\nw\",status=\"500\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "t_depth 2\n"));
  EXPECT_TRUE(has(text, "t_seconds_bucket{k=\"v\",le=\"0.1\"} 1\n")) << text;
  EXPECT_TRUE(has(text, "t_seconds_bucket{k=\"v\",le=\"1\"} 2\n"));
  EXPECT_TRUE(has(text, "t_seconds_bucket{k=\"v\",le=\"+Inf\"} 3\n"));
  EXPECT_TRUE(has(text, "t_seconds_sum{k=\"v\"} 7.55\n")) << text;
  EXPECT_TRUE(has(text, "t_seconds_count{k=\"v\"} 3\n"));
  EXPECT_EQ(h.count({{"k", "v"}}), 3u);
  EXPECT_EQ(&r.counter("t_requests_total", "other help"), &c);  // the same family
  EXPECT_THROW(r.gauge("t_requests_total", ""), std::logic_error);
}

TEST(Metrics, CollectorsLastAsLongAsTheirHandle) {
  Registry r;
  auto handle = r.add_collector([](std::vector<Sample>& out) {
    out.push_back({"t_live", "Live things.", "gauge", {{"kind", "a"}}, 4});
    out.push_back({"t_live", "Live things.", "gauge", {{"kind", "b"}}, 5});
  });
  std::string text = r.render();
  EXPECT_TRUE(has(text, "# TYPE t_live gauge\nt_live{kind=\"a\"} 4\nt_live{kind=\"b\"} 5\n"))
      << text;
  handle.reset();
  EXPECT_FALSE(has(r.render(), "t_live"));
}

TEST(Metrics, TheProcessRegistryReportsMemoryCpuAndFiles) {
  std::string text = registry().render();
  for (const char* name : {"process_resident_memory_bytes", "process_cpu_seconds_total",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_TRUE(has(text, std::string("\n") + name + " ") || text.rfind(name, 0) == 0)
        << name << "\n"
        << text;
  }
}

}  // namespace
}  // namespace cppflue::metrics
