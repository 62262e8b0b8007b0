// SPDX-License-Identifier: Apache-2.0
// cppflue/net/otlp.hpp — trace export over OTLP/HTTP (JSON encoding).
//
// `start_telemetry` reads the standard OpenTelemetry variables, which win over `[telemetry]`:
//   OTEL_SDK_DISABLED=true                       nothing is recorded
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT            the full URL spans are POSTed to, else
//   OTEL_EXPORTER_OTLP_ENDPOINT                   a base URL; "/v1/traces" is appended
//   OTEL_EXPORTER_OTLP_HEADERS (and _TRACES_)     "k=v,k2=v2", values percent-decoded
//   OTEL_EXPORTER_OTLP_TIMEOUT (and _TRACES_)     milliseconds per export request (10000)
//   OTEL_EXPORTER_OTLP_PROTOCOL (and _TRACES_)    http/json (other values: a warning, JSON sent)
//   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES   the resource
//   OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG  always_on, always_off, traceidratio,
//                                                 parentbased_* (default parentbased_always_on)
//   OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true   content on spans
// With no endpoint, nothing is started and spans cost one atomic load each.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cppflue/core/config.hpp"
#include "cppflue/core/trace.hpp"

namespace cppflue {

struct TelemetrySetup {
  bool exporting = false;
  std::string endpoint;               // where spans go ("" when not exporting)
  std::vector<std::string> warnings;  // ignored variables, each naming the variable and why
  trace::ExportSettings settings;
  std::map<std::string, std::string> headers;
  std::chrono::milliseconds timeout{10000};  // per export request
};

// What `env` (the OTEL_* variables; by default the process environment) and `config` ask
// for. Pure: nothing is started.
TelemetrySetup telemetry_setup(const TelemetryConfig& config,
                               const std::map<std::string, std::string>& env);
TelemetrySetup telemetry_setup(const TelemetryConfig& config);

// Starts span export as `telemetry_setup` describes (warnings are logged). Idempotent.
TelemetrySetup start_telemetry(const TelemetryConfig& config);

// Delivers the spans still queued, waiting at most `deadline`; then stops export.
void stop_telemetry(std::chrono::milliseconds deadline = std::chrono::milliseconds(3000));

}  // namespace cppflue
