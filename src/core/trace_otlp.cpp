// SPDX-License-Identifier: Apache-2.0
// Spans in the OTLP/JSON encoding (an ExportTraceServiceRequest): ids as lower-case hex,
// 64-bit integers and times as decimal strings, enums as numbers.
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "cppflue/core/json.hpp"
#include "cppflue/core/trace.hpp"
#include "cppflue/version.hpp"

namespace cppflue::trace {

namespace {

json value_json(const Value& v) {
  struct Visit {
    json operator()(bool b) const { return json_object{{"boolValue", b}}; }
    json operator()(std::int64_t i) const { return json_object{{"intValue", std::to_string(i)}}; }
    json operator()(double d) const { return json_object{{"doubleValue", d}}; }
    json operator()(const std::string& s) const { return json_object{{"stringValue", s}}; }
    json operator()(const std::vector<std::string>& list) const {
      json_array values;
      for (const auto& s : list) values.push_back(json_object{{"stringValue", s}});
      return json_object{{"arrayValue", json_object{{"values", std::move(values)}}}};
    }
  };
  return std::visit(Visit{}, v);
}

json_array attributes_json(const Attributes& attributes) {
  json_array out;
  out.reserve(attributes.size());
  for (const auto& [k, v] : attributes)
    out.push_back(json_object{{"key", k}, {"value", value_json(v)}});
  return out;
}

json span_json(const SpanData& s) {
  json_object out{{"traceId", to_hex(s.trace_id)},
                  {"spanId", to_hex(s.span_id)},
                  {"name", s.name},
                  {"kind", static_cast<int>(s.kind)},
                  {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
                  {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
                  {"attributes", attributes_json(s.attributes)}};
  if (std::any_of(s.parent_span_id.begin(), s.parent_span_id.end(),
                  [](std::uint8_t b) { return b != 0; })) {
    out["parentSpanId"] = to_hex(s.parent_span_id);
  }
  if (!s.trace_state.empty()) out["traceState"] = s.trace_state;
  if (!s.events.empty()) {
    json_array events;
    for (const auto& e : s.events) {
      events.push_back(json_object{{"timeUnixNano", std::to_string(e.time_unix_ns)},
                                   {"name", e.name},
                                   {"attributes", attributes_json(e.attributes)}});
    }
    out["events"] = std::move(events);
  }
  if (s.error) {
    out["status"] = json_object{{"code", 2}, {"message", s.status_message}};
  }
  return out;
}

}  // namespace

std::string otlp_json(const std::vector<SpanData>& spans, const ExportSettings& settings) {
  Attributes resource = settings.resource;
  bool has_name = false;
  for (const auto& [k, v] : resource) has_name = has_name || k == "service.name";
  if (!has_name) resource.emplace_back("service.name", settings.service_name);
  resource.emplace_back("telemetry.sdk.name", std::string("cppflue"));
  resource.emplace_back("telemetry.sdk.language", std::string("cpp"));
  resource.emplace_back("telemetry.sdk.version", std::string(kVersion));
  json_array out_spans;
  out_spans.reserve(spans.size());
  for (const auto& s : spans) out_spans.push_back(span_json(s));
  json_object scope{{"scope", json_object{{"name", "cppflue"}, {"version", kVersion}}},
                    {"spans", std::move(out_spans)}};
  json_object rs{{"resource", json_object{{"attributes", attributes_json(resource)}}},
                 {"scopeSpans", json_array{std::move(scope)}}};
  return dump(json_object{{"resourceSpans", json_array{std::move(rs)}}});
}

}  // namespace cppflue::trace
