// SPDX-License-Identifier: Apache-2.0
// cppflue/core/trace.hpp — spans after OpenTelemetry, and their export queue.
//
// A `Span` records one piece of work (an operation, a model call, a tool call) with its parent,
// attributes, events and status. Ended spans go to the process-wide `Tracer`, which batches
// them on a background thread and hands each batch, encoded as OTLP/JSON, to a transport (the
// OTLP/HTTP exporter of cppflue/net/otlp.hpp). With no transport started, `Span::start` returns
// an inert span after one atomic load, and nothing else happens.
//
// The queue is bounded: when the collector is down or slow, spans are dropped (and counted),
// never waited for, so a turn is not slowed by its telemetry.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cppflue::trace {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

std::string to_hex(const TraceId& id);
std::string to_hex(const SpanId& id);

// W3C Trace Context: a span's identity, passed between processes as `traceparent`.
struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = false;
  std::string trace_state;  // the `tracestate` header, passed on unchanged
  bool valid() const;
  // "00-<trace id>-<span id>-<01|00>"; "" when not valid.
  std::string traceparent() const;
};

// A `traceparent` header (version 00, or a later version read as 00); nullopt when malformed or
// all-zero ids. `tracestate` is kept when at most 512 characters of printable ASCII.
std::optional<SpanContext> parse_traceparent(std::string_view traceparent,
                                             std::string_view tracestate = {});

enum class SpanKind { internal = 1, server = 2, client = 3 };

using Value = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;
using Attributes = std::vector<std::pair<std::string, Value>>;

struct SpanEvent {
  std::string name;
  std::int64_t time_unix_ns = 0;
  Attributes attributes;
};

struct SpanData {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero: a root span
  std::string trace_state;
  std::string name;
  SpanKind kind = SpanKind::internal;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;
  Attributes attributes;
  std::vector<SpanEvent> events;
  bool error = false;
  std::string status_message;
};

std::int64_t now_unix_ns();

enum class Sampler {
  always_on,
  always_off,
  trace_id_ratio,
  parent_always_on,
  parent_always_off,
  parent_trace_id_ratio
};

struct ExportSettings {
  std::string service_name = "cppflue";
  Attributes resource;  // OTEL_RESOURCE_ATTRIBUTES, with service.name added
  Sampler sampler = Sampler::parent_always_on;
  double ratio = 1.0;            // for the trace_id_ratio samplers
  bool capture_content = false;  // message and tool content on spans
  std::size_t max_queue = 2048;  // spans waiting; more are dropped
  std::size_t max_batch = 512;
  std::chrono::milliseconds schedule_delay{500};
  int max_attempts = 3;                        // per batch, for 429, 5xx and connection failures
  std::chrono::milliseconds retry_delay{200};  // doubled after each attempt
};

// Sends one OTLP/JSON body; returns the HTTP status, or 0 when nothing could be sent.
using Transport = std::function<int(const std::string& body)>;

class Tracer {
 public:
  static Tracer& get();

  // True while an exporter runs: spans are recorded.
  bool recording() const { return recording_.load(std::memory_order_relaxed); }
  bool capture_content() const { return capture_content_.load(std::memory_order_relaxed); }

  // The context of a new span under `parent` (a new trace for nullptr or an invalid one), with
  // the sampling decision taken.
  SpanContext new_context(const SpanContext* parent) const;

  // Starts the export thread with `transport`; a second start replaces the settings.
  void start(ExportSettings settings, Transport transport);
  // Queues an ended span (dropped, and counted, when the queue is full).
  void submit(SpanData span);
  // False while the queue is full: new spans are not recorded at all (and counted as
  // dropped), so an unreachable collector costs the prompts nothing but the ids.
  bool has_room() const { return has_room_.load(std::memory_order_relaxed); }
  void count_drop();
  // Waits until every span queued so far was sent or given up on, or `deadline` passed;
  // true when the queue is empty.
  bool flush(std::chrono::milliseconds deadline);
  // flush(deadline), then stops the thread; spans after this are dropped.
  void shutdown(std::chrono::milliseconds deadline);

  std::uint64_t dropped() const { return dropped_.load(); }
  std::uint64_t exported() const { return exported_.load(); }
  std::uint64_t failed() const { return failed_.load(); }

  ~Tracer();

 private:
  Tracer();
  struct State;
  void run();
  State* const state_;  // lives as long as the process (so does the tracer)
  std::atomic<int> sampler_{static_cast<int>(Sampler::parent_always_on)};
  std::atomic<double> ratio_{1.0};
  std::atomic<bool> recording_{false};
  std::atomic<bool> capture_content_{false};
  std::atomic<bool> has_room_{true};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> exported_{0};
  std::atomic<std::uint64_t> failed_{0};
};

// A span being recorded. Inert (every call a no-op) when the tracer is not recording or the
// trace was not sampled. Ends when `end()` is called or it is destroyed.
class Span {
 public:
  Span() = default;
  static Span start(std::string name, SpanKind kind, const SpanContext* parent);
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span();

  bool recording() const { return data_ != nullptr; }
  // The context children use (valid also for an unsampled span, so the decision travels on).
  const SpanContext& context() const { return context_; }
  void set(std::string key, Value value);
  void add_event(std::string name, Attributes attributes = {});
  // Status ERROR with `message` (cut to 1 KiB), and the `error.type` attribute.
  void set_error(std::string_view error_type, std::string message);
  void end();

 private:
  SpanContext context_;
  std::unique_ptr<SpanData> data_;
};

// The spans as an OTLP/JSON ExportTraceServiceRequest.
std::string otlp_json(const std::vector<SpanData>& spans, const ExportSettings& settings);

}  // namespace cppflue::trace
