// SPDX-License-Identifier: Apache-2.0
// W3C trace context, spans, the OTLP/JSON encoding and the export queue (drops, retries,
// flush) with a transport of the test's own.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cppflue/core/json.hpp"
#include "cppflue/core/metrics.hpp"
#include "cppflue/core/trace.hpp"

namespace cppflue::trace {
namespace {

constexpr const char* kParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContext, ParsesValidTraceparents) {
  auto c = parse_traceparent(kParent, "vendor=abc");
  ASSERT_TRUE(c);
  EXPECT_EQ(to_hex(c->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(to_hex(c->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled);
  EXPECT_EQ(c->trace_state, "vendor=abc");
  EXPECT_EQ(c->traceparent(), kParent);
  auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled);
  EXPECT_FALSE(unsampled->sampled);
  // A later version may append fields; its first four are read as version 00.
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
}

TEST(TraceContext, RefusesMalformedTraceparents) {
  const char* bad[] = {
      "",
      "garbage",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has exactly 4 fields
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff is invalid
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",    // dashes misplaced
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",    // flags not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Evil: 1",
  };
  for (const char* t : bad) EXPECT_FALSE(parse_traceparent(t)) << t;
  // A tracestate that could break a header line is dropped, the context kept.
  auto c = parse_traceparent(kParent, "a=b\r\nX-Evil: 1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace_state, "");
  EXPECT_EQ(parse_traceparent(kParent, std::string(600, 'a'))->trace_state, "");
}

TEST(Span, IsInertWhenNothingExports) {
  Span s = Span::start("x", SpanKind::internal, nullptr);
  EXPECT_FALSE(s.recording());
  EXPECT_FALSE(s.context().valid());
  EXPECT_EQ(s.context().traceparent(), "");
  s.set("k", std::string("v"));  // no-ops
  s.set_error("e", "m");
  s.end();
}

TEST(Otlp, EncodesSpansAsTheJsonProtocolWantsThem) {
  SpanData s;
  auto parent = parse_traceparent(kParent);
  s.trace_id = parent->trace_id;
  s.span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  s.parent_span_id = parent->span_id;
  s.name = "chat gpt-5";
  s.kind = SpanKind::client;
  s.start_unix_ns = 1700000000000000001;
  s.end_unix_ns = 1700000000000000002;
  s.attributes = {{"s", std::string("v")},
                  {"i", std::int64_t{9007199254740993}},
                  {"d", 0.5},
                  {"b", true},
                  {"a", std::vector<std::string>{"stop"}}};
  s.events.push_back({"retry", 5, {{"n", std::int64_t{1}}}});
  s.error = true;
  s.status_message = "boom";
  ExportSettings settings;
  settings.service_name = "svc";
  settings.resource = {{"deployment.environment", std::string("test")}};
  auto parsed = parse_json(otlp_json({s}, settings));
  ASSERT_TRUE(parsed);
  const json& rs = parsed->at("resourceSpans").at(0);
  const auto& res = rs.at("resource").at("attributes").as_array();
  EXPECT_EQ(res.at(0).at("key"), "deployment.environment");
  EXPECT_EQ(res.at(1),
            (json_object{{"key", "service.name"}, {"value", json_object{{"stringValue", "svc"}}}}));
  const json& span = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(span.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span.at("spanId"), "0102030405060708");
  EXPECT_EQ(span.at("parentSpanId"), "00f067aa0ba902b7");
  EXPECT_EQ(span.at("kind"), 3);
  EXPECT_EQ(span.at("startTimeUnixNano"), "1700000000000000001");  // a string: no precision lost
  const auto& attrs = span.at("attributes").as_array();
  EXPECT_EQ(attrs.at(1).at("value"), (json_object{{"intValue", "9007199254740993"}}));
  EXPECT_EQ(attrs.at(2).at("value").at("doubleValue"), 0.5);
  EXPECT_EQ(attrs.at(3).at("value").at("boolValue"), true);
  EXPECT_EQ(attrs.at(4).at("value").at("arrayValue").at("values").at(0).at("stringValue"), "stop");
  EXPECT_EQ(span.at("events").at(0).at("timeUnixNano"), "5");
  EXPECT_EQ(span.at("status"), (json_object{{"code", 2}, {"message", "boom"}}));
}

// A transport the test controls: blocked until released, answering `status` and counting.
struct TestTransport {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::vector<int> statuses;  // answers, in order; 200 after they run out
  std::atomic<int> calls{0};
  std::atomic<int> spans{0};
  ~TestTransport() {
    // A failed assertion must not leave the export thread waiting on a destroyed object.
    release();
  }

  Transport make() {
    return [this](const std::string& body) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return released; });
      }
      auto parsed = parse_json(body);
      if (parsed) {
        spans += static_cast<int>(
            parsed->at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array().size());
      }
      int n = calls++;
      std::lock_guard lock(mu);
      return n < static_cast<int>(statuses.size()) ? statuses[n] : 200;
    };
  }
  void release() {
    std::lock_guard lock(mu);
    released = true;
    cv.notify_all();
  }
};

TEST(Tracer, ACollectorThatDoesNotAnswerCostsDropsNotWaiting) {
  TestTransport transport;
  ExportSettings settings;
  settings.max_queue = 100;
  settings.max_batch = 10;
  settings.schedule_delay = std::chrono::milliseconds(10);
  Tracer& tracer = Tracer::get();
  const auto dropped_before = tracer.dropped();
  const auto exported_before = tracer.exported();
  tracer.start(settings, transport.make());
  // The export thread takes one batch and blocks in the transport; everything beyond the
  // queue is dropped at once. Were submit() to wait, this loop would never end (the transport
  // is released only after it).
  int recorded = 0;
  for (int i = 0; i < 1000; ++i) {
    Span s = Span::start("op", SpanKind::internal, nullptr);
    recorded += s.recording() ? 1 : 0;
    // Once the queue is full, spans are not even recorded, but their context still travels.
    EXPECT_TRUE(s.context().valid());
  }
  // About the queue plus the batch being sent (a few more while the thread takes its batch).
  EXPECT_LE(recorded, 120);
  EXPECT_GE(tracer.dropped() - dropped_before, 1000u - 120u);
  EXPECT_EQ(metrics::registry().counter("cppflue_spans_dropped_total", "").value(),
            static_cast<double>(tracer.dropped()));
  transport.release();
  EXPECT_TRUE(tracer.flush(std::chrono::seconds(10)));
  EXPECT_EQ(static_cast<std::uint64_t>(transport.spans.load()) + tracer.dropped() - dropped_before,
            1000u);
  EXPECT_EQ(tracer.exported() - exported_before,
            static_cast<std::uint64_t>(transport.spans.load()));
}

TEST(Tracer, RetriesTransientFailuresAndGivesUpOnOthers) {
  TestTransport transport;
  transport.release();
  transport.statuses = {503, 0, 200, 400};
  ExportSettings settings;
  settings.retry_delay = std::chrono::milliseconds(1);
  settings.max_attempts = 3;
  Tracer& tracer = Tracer::get();
  ASSERT_TRUE(tracer.flush(std::chrono::seconds(10)));  // nothing left from another test
  const auto exported_before = tracer.exported();
  const auto failed_before = tracer.failed();
  tracer.start(settings, transport.make());
  { Span s = Span::start("first", SpanKind::internal, nullptr); }
  ASSERT_TRUE(tracer.flush(std::chrono::seconds(10)));
  EXPECT_EQ(transport.calls.load(), 3);  // 503, no connection, then 200
  EXPECT_EQ(tracer.exported() - exported_before, 1u);
  { Span s = Span::start("second", SpanKind::internal, nullptr); }
  ASSERT_TRUE(tracer.flush(std::chrono::seconds(10)));
  EXPECT_EQ(transport.calls.load(), 4);  // 400: not sent again
  EXPECT_EQ(tracer.failed() - failed_before, 1u);
}

TEST(Tracer, ChildrenShareTheTraceAndFollowTheParentsSamplingDecision) {
  TestTransport transport;
  transport.release();
  Tracer::get().start(ExportSettings{}, transport.make());
  auto parent = parse_traceparent(kParent);
  Span child = Span::start("child", SpanKind::internal, &*parent);
  ASSERT_TRUE(child.recording());
  EXPECT_EQ(child.context().trace_id, parent->trace_id);
  EXPECT_NE(child.context().span_id, parent->span_id);
  auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  Span quiet = Span::start("quiet", SpanKind::internal, &*unsampled);
  EXPECT_FALSE(quiet.recording());
  // Not recorded, but the decision travels on to whoever it calls.
  EXPECT_TRUE(quiet.context().valid());
  EXPECT_EQ(quiet.context().traceparent().substr(53), "00");
  Span root = Span::start("root", SpanKind::internal, nullptr);
  EXPECT_NE(root.context().trace_id, parent->trace_id);

  ExportSettings never;
  never.sampler = Sampler::always_off;
  Tracer::get().start(never, transport.make());
  EXPECT_FALSE(Span::start("off", SpanKind::internal, &*parent).recording());
  ExportSettings half;
  half.sampler = Sampler::trace_id_ratio;
  half.ratio = 0.5;
  Tracer::get().start(half, transport.make());
  int sampled = 0;
  for (int i = 0; i < 2000; ++i)
    sampled += Span::start("r", SpanKind::internal, nullptr).recording();
  EXPECT_GT(sampled, 800);
  EXPECT_LT(sampled, 1200);
}

}  // namespace
}  // namespace cppflue::trace
