// SPDX-License-Identifier: Apache-2.0
// What the OTEL_* variables and [telemetry] ask for (telemetry_setup is pure): endpoints and
// their precedence, headers (and the values that must not become headers or reach the log),
// resource, sampler, content capture, and the switch that turns it all off.
#include <gtest/gtest.h>

#include "cppflue/net/otlp.hpp"

namespace cppflue {
namespace {

using Env = std::map<std::string, std::string>;

std::string all_warnings(const TelemetrySetup& s) {
  std::string out;
  for (const auto& w : s.warnings) out += w + "\n";
  return out;
}

TEST(OtlpSetup, NothingIsExportedWithoutAnEndpoint) {
  auto s = telemetry_setup(TelemetryConfig{}, Env{});
  EXPECT_FALSE(s.exporting);
  EXPECT_TRUE(s.warnings.empty());
}

TEST(OtlpSetup, EndpointsTakeTheirPrecedence) {
  TelemetryConfig config;
  config.otlp_endpoint = "http://config:4318/";
  EXPECT_EQ(telemetry_setup(config, Env{}).endpoint, "http://config:4318/v1/traces");
  EXPECT_EQ(
      telemetry_setup(config, Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://env:4318"}}).endpoint,
      "https://env:4318/v1/traces");
  // The traces endpoint is used as it is.
  EXPECT_EQ(telemetry_setup(config, Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://env:4318"},
                                        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/x"}})
                .endpoint,
            "http://t/x");
  auto off = telemetry_setup(config, Env{{"OTEL_SDK_DISABLED", "true"}});
  EXPECT_FALSE(off.exporting);
  auto bad = telemetry_setup(TelemetryConfig{}, Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"}});
  EXPECT_FALSE(bad.exporting);
  EXPECT_NE(all_warnings(bad).find("OTEL_EXPORTER_OTLP_ENDPOINT"), std::string::npos);
}

TEST(OtlpSetup, HeadersAreDecodedAndNeverInjectOrLeak) {
  auto s = telemetry_setup(TelemetryConfig{},
                           Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                               {"OTEL_EXPORTER_OTLP_HEADERS",
                                "api-key=abc%3D%3D, x-team = alpha ,x-honeycomb-team:SECRETVALUE,"
                                "X%0D%0AEvil%3A%201=v,x-ok=line%0D%0Abreak,x-tab=a%09b"},
                               {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=beta"}});
  ASSERT_TRUE(s.exporting);
  EXPECT_EQ(s.headers.at("api-key"), "abc==");
  EXPECT_EQ(s.headers.at("x-team"), "beta");  // the traces variable wins
  EXPECT_EQ(s.headers.at("x-tab"), "a\tb");
  EXPECT_EQ(s.headers.count("x-ok"), 0u);  // CR LF in a value: refused
  for (const auto& [k, v] : s.headers) {
    EXPECT_EQ(k.find_first_of("\r\n: "), std::string::npos) << k;
  }
  std::string w = all_warnings(s);
  EXPECT_EQ(s.warnings.size(), 3u) << w;
  // The member without '=' is named by its position, never by its text (it holds a secret).
  EXPECT_EQ(w.find("SECRETVALUE"), std::string::npos) << w;
  EXPECT_NE(w.find("member 3"), std::string::npos) << w;
}

TEST(OtlpSetup, ResourceSamplerAndContent) {
  TelemetryConfig config;
  config.service_name = "from-config";
  auto s = telemetry_setup(
      config, Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"},
                  {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=ignored"},
                  {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
                  {"OTEL_TRACES_SAMPLER_ARG", "0.25"},
                  {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"}});
  EXPECT_EQ(s.settings.service_name, "from-config");
  ASSERT_EQ(s.settings.resource.size(), 1u);
  EXPECT_EQ(s.settings.resource[0].first, "deployment.environment");
  EXPECT_EQ(s.settings.sampler, trace::Sampler::parent_trace_id_ratio);
  EXPECT_DOUBLE_EQ(s.settings.ratio, 0.25);
  EXPECT_EQ(s.timeout.count(), 2500);
  EXPECT_FALSE(s.settings.capture_content);
  EXPECT_TRUE(s.warnings.empty()) << all_warnings(s);

  auto odd =
      telemetry_setup(config, Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"},
                                  {"OTEL_SERVICE_NAME", "svc"},
                                  {"OTEL_TRACES_SAMPLER", "sometimes"},
                                  {"OTEL_EXPORTER_OTLP_TIMEOUT", "-1"},
                                  {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                                  {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true"}});
  EXPECT_TRUE(odd.exporting);
  EXPECT_EQ(odd.settings.service_name, "svc");
  EXPECT_EQ(odd.settings.sampler, trace::Sampler::parent_always_on);
  EXPECT_EQ(odd.timeout.count(), 10000);
  EXPECT_TRUE(odd.settings.capture_content);
  std::string w = all_warnings(odd);
  EXPECT_NE(w.find("unknown sampler 'sometimes'"), std::string::npos) << w;
  EXPECT_NE(w.find("OTEL_EXPORTER_OTLP_TIMEOUT"), std::string::npos) << w;
  EXPECT_NE(w.find("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"), std::string::npos) << w;
  auto ratio = telemetry_setup(config, Env{{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"},
                                           {"OTEL_TRACES_SAMPLER", "traceidratio"},
                                           {"OTEL_TRACES_SAMPLER_ARG", "1.5"}});
  EXPECT_DOUBLE_EQ(ratio.settings.ratio, 1.0);
  EXPECT_NE(all_warnings(ratio).find("OTEL_TRACES_SAMPLER_ARG"), std::string::npos);
}

}  // namespace
}  // namespace cppflue
