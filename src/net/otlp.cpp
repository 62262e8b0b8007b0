// SPDX-License-Identifier: Apache-2.0
// The OTLP/HTTP trace exporter: settings from OTEL_* and [telemetry], and a transport that
// POSTs each batch with the HTTP client on a private event loop (the export thread's own).
#include "cppflue/net/otlp.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <optional>

#include "cppflue/core/log.hpp"
#include "cppflue/net/http_client.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header

namespace asio = boost::asio;

namespace cppflue {

namespace {

std::string get(const std::map<std::string, std::string>& env, const std::string& key) {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

std::string trim(std::string_view s) {
  auto a = s.find_first_not_of(" \t");
  if (a == std::string_view::npos) return {};
  auto b = s.find_last_not_of(" \t");
  return std::string(s.substr(a, b - a + 1));
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "k=v,k2=v2" (W3C Baggage-like), as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES
// write it; a malformed member is reported and left out.
std::vector<std::pair<std::string, std::string>> key_values(std::string_view text,
                                                            std::string_view variable,
                                                            std::vector<std::string>& warnings) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t members = 0;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (trim(item).empty()) continue;
    ++members;
    auto eq = item.find('=');
    std::string key = trim(item.substr(0, eq));
    if (eq == std::string_view::npos || key.empty()) {
      // Never the member's text: it is often a header with its secret ("key:value").
      warnings.push_back(
          fmt::format("{}: ignored member {} (expected key=value)", variable, members));
      continue;
    }
    std::string name = percent_decode(key);
    std::string value = percent_decode(trim(item.substr(eq + 1)));
    // A header name is a token; a value has no control character but tab: nothing here can
    // start another header line.
    static constexpr std::string_view kTokenMarks = "!#$%&'*+-.^_`|~";
    bool token = std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isalnum(c) != 0 ||
             kTokenMarks.find(static_cast<char>(c)) != std::string_view::npos;
    });
    bool clean = std::none_of(value.begin(), value.end(),
                              [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
    if (name.empty() || !token || !clean) {
      warnings.push_back(fmt::format("{}: ignored member {} (not a valid header {})", variable,
                                     members, token && !name.empty() ? "value" : "name"));
      continue;
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

bool http_url(std::string_view url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

std::map<std::string, std::string> process_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("OTEL_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

// The transport: one HTTP client on an event loop that runs only while a batch is sent.
class OtlpTransport {
 public:
  OtlpTransport(std::string url, HttpHeaders headers, std::chrono::milliseconds timeout)
      : url_(std::move(url)), headers_(std::move(headers)), timeout_(timeout) {}

  int send(const std::string& body) {
    HttpRequest req;
    req.method = "POST";
    req.url = url_;
    req.headers = headers_;
    req.body = body;
    req.connect_timeout = std::min(timeout_, std::chrono::milliseconds(5000));
    req.total_timeout = timeout_;
    int status = 0;
    asio::co_spawn(
        ioc_,
        [this, &req, &status]() -> asio::awaitable<void> {
          // No logging here: this runs on the export thread, possibly while the process exits.
          auto r = co_await client_.request(std::move(req));
          if (r) status = r->status;
        },
        asio::detached);
    ioc_.restart();
    ioc_.run();
    return status;
  }

 private:
  std::string url_;
  HttpHeaders headers_;
  std::chrono::milliseconds timeout_;
  asio::io_context ioc_;
  HttpClient client_{ioc_.get_executor()};
};

// OTEL_RESOURCE_ATTRIBUTES and the service name (OTEL_SERVICE_NAME, else [telemetry]).
void read_resource(const TelemetryConfig& config, const std::map<std::string, std::string>& env,
                   trace::ExportSettings& set, std::vector<std::string>& w) {
  for (auto& [k, v] :
       key_values(get(env, "OTEL_RESOURCE_ATTRIBUTES"), "OTEL_RESOURCE_ATTRIBUTES", w)) {
    set.resource.emplace_back(k, v);
  }
  std::string service = get(env, "OTEL_SERVICE_NAME");
  if (service.empty()) service = config.service_name;
  if (!service.empty()) {
    set.service_name = service;
    // OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES.
    std::erase_if(set.resource, [](const auto& kv) { return kv.first == "service.name"; });
  }
}

// OTEL_TRACES_SAMPLER and its argument; unknown values are reported and the default kept.
void read_sampler(const std::map<std::string, std::string>& env, trace::ExportSettings& set,
                  std::vector<std::string>& w) {
  std::string sampler = get(env, "OTEL_TRACES_SAMPLER");
  std::string arg = get(env, "OTEL_TRACES_SAMPLER_ARG");
  using trace::Sampler;
  const std::pair<const char*, Sampler> samplers[] = {
      {"always_on", Sampler::always_on},
      {"always_off", Sampler::always_off},
      {"traceidratio", Sampler::trace_id_ratio},
      {"parentbased_always_on", Sampler::parent_always_on},
      {"parentbased_always_off", Sampler::parent_always_off},
      {"parentbased_traceidratio", Sampler::parent_trace_id_ratio}};
  if (!sampler.empty()) {
    bool known = false;
    for (const auto& [name, value] : samplers) {
      if (sampler == name) {
        set.sampler = value;
        known = true;
      }
    }
    if (!known) {
      w.push_back(
          fmt::format("OTEL_TRACES_SAMPLER: unknown sampler '{}' (known: always_on, "
                      "always_off, traceidratio, parentbased_always_on, "
                      "parentbased_always_off, parentbased_traceidratio); using "
                      "parentbased_always_on",
                      sampler));
    }
  }
  if ((set.sampler == Sampler::trace_id_ratio || set.sampler == Sampler::parent_trace_id_ratio) &&
      !arg.empty()) {
    char* end = nullptr;
    double ratio = std::strtod(arg.c_str(), &end);
    if (end == arg.c_str() || *end != '\0' || !(ratio >= 0 && ratio <= 1)) {
      w.push_back(
          fmt::format("OTEL_TRACES_SAMPLER_ARG: '{}' is not a ratio in [0, 1]; using 1", arg));
    } else {
      set.ratio = ratio;
    }
  }
}

}  // namespace

TelemetrySetup telemetry_setup(const TelemetryConfig& config,
                               const std::map<std::string, std::string>& env) {
  TelemetrySetup s;
  auto& w = s.warnings;
  if (get(env, "OTEL_SDK_DISABLED") == "true") return s;

  std::string endpoint = get(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  std::string endpoint_variable = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
  if (endpoint.empty()) {
    std::string base = get(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
    endpoint_variable = "OTEL_EXPORTER_OTLP_ENDPOINT";
    if (base.empty()) {
      base = config.otlp_endpoint;
      endpoint_variable = "telemetry.otlp_endpoint";
    }
    if (!base.empty()) {
      while (!base.empty() && base.back() == '/') base.pop_back();
      endpoint = base + "/v1/traces";
    }
  }
  if (endpoint.empty()) return s;
  if (!http_url(endpoint)) {
    w.push_back(fmt::format("{}: '{}' is not an http:// or https:// URL; traces are not exported",
                            endpoint_variable, endpoint));
    return s;
  }
  for (const char* var : {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"}) {
    std::string protocol = get(env, var);
    if (protocol.empty()) continue;
    if (protocol != "http/json") {
      w.push_back(
          fmt::format("{}={}: only http/json is supported; spans are sent as JSON", var, protocol));
    }
    break;
  }
  for (const char* var : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    for (auto& [k, v] : key_values(get(env, var), var, w)) s.headers[k] = v;  // traces win
  }
  std::chrono::milliseconds timeout{10000};
  for (const char* var : {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"}) {
    std::string text = get(env, var);
    if (text.empty()) continue;
    char* end = nullptr;
    long ms = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0' || ms <= 0) {
      w.push_back(fmt::format("{}: '{}' is not a positive number of milliseconds", var, text));
    } else {
      timeout = std::chrono::milliseconds(ms);
    }
    break;
  }

  auto& set = s.settings;
  read_resource(config, env, set, w);
  read_sampler(env, set, w);
  set.capture_content = config.capture_content ||
                        get(env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT") == "true";
  s.exporting = true;
  s.endpoint = endpoint;
  s.timeout = timeout;
  return s;
}

TelemetrySetup telemetry_setup(const TelemetryConfig& config) {
  return telemetry_setup(config, process_env());
}

TelemetrySetup start_telemetry(const TelemetryConfig& config) {
  TelemetrySetup s = telemetry_setup(config);
  for (const auto& warning : s.warnings) log::get()->warn("telemetry: {}", warning);
  if (!s.exporting) return s;
  HttpHeaders headers{{"Content-Type", "application/json"}};
  for (const auto& [k, v] : s.headers) headers.emplace_back(k, v);
  auto transport = std::make_shared<OtlpTransport>(s.endpoint, std::move(headers), s.timeout);
  trace::Tracer::get().start(
      s.settings, [transport](const std::string& body) { return transport->send(body); });
  return s;
}

void stop_telemetry(std::chrono::milliseconds deadline) {
  trace::Tracer::get().shutdown(deadline);
}

}  // namespace cppflue
