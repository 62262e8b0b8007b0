// SPDX-License-Identifier: Apache-2.0
// Span ids and W3C trace context, the span recorder and the batching export thread.
#include "cppflue/core/trace.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>
#include <thread>

#include "cppflue/core/ids.hpp"
#include "cppflue/core/metrics.hpp"

namespace cppflue::trace {

namespace {

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& out) {
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t r = random_u64();
      for (std::size_t k = 0; k < 8 && i + k < N; ++k)
        out[i + k] = static_cast<std::uint8_t>(r >> (8 * k));
    }
  } while (std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0; }));
}

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 15];
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not valid in traceparent
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  bool any = false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hex_digit(text[2 * i]);
    int lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    any = any || out[i] != 0;
  }
  return any;
}

bool sampled_by_ratio(const TraceId& id, double ratio) {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  // The lower 8 bytes of the trace id, as the OpenTelemetry TraceIdRatioBased sampler reads them.
  std::uint64_t x = 0;
  for (std::size_t i = 8; i < 16; ++i) x = (x << 8) | id[i];
  return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 53) < ratio;
}

}  // namespace

std::string to_hex(const TraceId& id) {
  return hex_of(id);
}
std::string to_hex(const SpanId& id) {
  return hex_of(id);
}

bool SpanContext::valid() const {
  auto nonzero = [](const auto& a) {
    return std::any_of(a.begin(), a.end(), [](std::uint8_t b) { return b != 0; });
  };
  return nonzero(trace_id) && nonzero(span_id);
}

std::string SpanContext::traceparent() const {
  if (!valid()) return "";
  return "00-" + hex_of(trace_id) + "-" + hex_of(span_id) + (sampled ? "-01" : "-00");
}

std::optional<SpanContext> parse_traceparent(std::string_view tp, std::string_view tracestate) {
  // version "-" trace-id "-" parent-id "-" flags; a later version may append "-" fields.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return std::nullopt;
  int v_hi = hex_digit(tp[0]);
  int v_lo = hex_digit(tp[1]);
  if (v_hi < 0 || v_lo < 0 || (v_hi == 15 && v_lo == 15)) return std::nullopt;  // ff is invalid
  if (v_hi == 0 && v_lo == 0 && tp.size() != 55) return std::nullopt;
  if (tp.size() > 55 && tp[55] != '-') return std::nullopt;
  SpanContext c;
  if (!parse_hex(tp.substr(3, 32), c.trace_id) || !parse_hex(tp.substr(36, 16), c.span_id)) {
    return std::nullopt;
  }
  int f_hi = hex_digit(tp[53]);
  int f_lo = hex_digit(tp[54]);
  if (f_hi < 0 || f_lo < 0) return std::nullopt;
  c.sampled = (f_lo & 1) != 0;
  bool printable =
      tracestate.size() <= 512 && std::all_of(tracestate.begin(), tracestate.end(),
                                              [](char ch) { return ch >= 0x20 && ch < 0x7f; });
  if (printable) c.trace_state = std::string(tracestate);
  return c;
}

std::int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- Tracer -------------------------------------------------------------------------------

struct Tracer::State {
  std::mutex mu;
  std::condition_variable wake;     // the export thread: work, flush or stop
  std::condition_variable drained;  // flushers: the queue got empty
  std::deque<SpanData> queue;
  std::size_t in_flight = 0;  // spans taken from the queue, not yet delivered
  bool flush_requested = false;
  bool stop = false;
  bool started = false;  // a thread was started (once: a stopped tracer stays stopped)
  ExportSettings settings;
  Transport transport;
  std::thread thread;
};

Tracer& Tracer::get() {
  static Tracer* t = new Tracer();  // never destroyed: spans may end during exit
  return *t;
}

Tracer::Tracer() : state_(new State()) {}

Tracer::~Tracer() {
  shutdown(std::chrono::milliseconds(0));
}

SpanContext Tracer::new_context(const SpanContext* parent) const {
  SpanContext c;
  const auto sampler = static_cast<Sampler>(sampler_.load(std::memory_order_acquire));
  const double ratio = ratio_.load(std::memory_order_acquire);
  const bool has_parent = parent != nullptr && parent->valid();
  if (has_parent) {
    c.trace_id = parent->trace_id;
    c.trace_state = parent->trace_state;
  } else {
    fill_random(c.trace_id);
  }
  fill_random(c.span_id);
  switch (sampler) {
    case Sampler::always_on:
      c.sampled = true;
      break;
    case Sampler::always_off:
      c.sampled = false;
      break;
    case Sampler::trace_id_ratio:
      c.sampled = sampled_by_ratio(c.trace_id, ratio);
      break;
    case Sampler::parent_always_on:
      c.sampled = has_parent ? parent->sampled : true;
      break;
    case Sampler::parent_always_off:
      c.sampled = has_parent ? parent->sampled : false;
      break;
    case Sampler::parent_trace_id_ratio:
      c.sampled = has_parent ? parent->sampled : sampled_by_ratio(c.trace_id, ratio);
      break;
  }
  return c;
}

void Tracer::start(ExportSettings settings, Transport transport) {
  std::lock_guard lock(state_->mu);
  if (state_->stop) return;  // shut down: the process is ending
  sampler_.store(static_cast<int>(settings.sampler), std::memory_order_release);
  ratio_.store(settings.ratio, std::memory_order_release);
  capture_content_ = settings.capture_content;
  state_->settings = std::move(settings);
  state_->transport = std::move(transport);
  if (!state_->started) {
    state_->started = true;
    state_->thread = std::thread([this] { run(); });
  }
  recording_.store(true, std::memory_order_release);
}

void Tracer::count_drop() {
  static auto& dropped = metrics::registry().counter(
      "cppflue_spans_dropped_total", "Spans dropped because the export queue was full.");
  ++dropped_;
  dropped.inc();
}

void Tracer::submit(SpanData span) {
  if (!recording()) return;
  {
    std::lock_guard lock(state_->mu);
    if (state_->queue.size() >= state_->settings.max_queue) {
      has_room_.store(false, std::memory_order_relaxed);
      count_drop();
      return;
    }
    state_->queue.push_back(std::move(span));
    if (state_->queue.size() < state_->settings.max_batch) return;
  }
  state_->wake.notify_one();
}

bool Tracer::flush(std::chrono::milliseconds deadline) {
  std::unique_lock lock(state_->mu);
  if (!state_->thread.joinable()) return state_->queue.empty();
  state_->flush_requested = true;
  state_->wake.notify_one();
  return state_->drained.wait_for(lock, deadline,
                                  [&] { return state_->queue.empty() && state_->in_flight == 0; });
}

void Tracer::shutdown(std::chrono::milliseconds deadline) {
  flush(deadline);
  recording_ = false;
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_one();
  // The thread stops after the batch it is sending; a transport stuck past the deadline is
  // left behind rather than waited for (the process is ending).
  if (state_->thread.joinable()) state_->thread.detach();
}

void Tracer::run() {
  // Signals are for the threads that handle them (Ctrl-C, SIGTERM), never this one.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  static auto& exported = metrics::registry().counter("cppflue_spans_exported_total",
                                                      "Spans delivered to the OTLP collector.");
  static auto& failed = metrics::registry().counter(
      "cppflue_spans_failed_total", "Spans the OTLP collector did not accept after retries.");
  State& s = *state_;
  std::unique_lock lock(s.mu);
  for (;;) {
    s.wake.wait_for(lock, s.settings.schedule_delay, [&] {
      return s.stop || s.flush_requested || s.queue.size() >= s.settings.max_batch;
    });
    if (s.stop) {
      // After shutdown nothing more is sent: the process is ending.
      s.queue.clear();
      s.drained.notify_all();
      return;
    }
    if (s.queue.empty()) {
      s.flush_requested = false;
      s.drained.notify_all();
      continue;
    }
    std::vector<SpanData> batch;
    while (!s.queue.empty() && batch.size() < s.settings.max_batch) {
      batch.push_back(std::move(s.queue.front()));
      s.queue.pop_front();
    }
    s.in_flight = batch.size();
    has_room_.store(true, std::memory_order_relaxed);
    ExportSettings settings = s.settings;
    Transport transport = s.transport;
    lock.unlock();
    std::string body = otlp_json(batch, settings);
    bool delivered = false;
    auto delay = settings.retry_delay;
    for (int attempt = 1; attempt <= std::max(1, settings.max_attempts); ++attempt) {
      int status = transport ? transport(body) : 0;
      if (status >= 200 && status < 300) {
        delivered = true;
        break;
      }
      bool retryable = status == 0 || status == 429 || status == 502 || status == 503 ||
                       status == 504 || status == 500;
      if (!retryable || attempt == settings.max_attempts) break;
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
    const auto n = static_cast<double>(batch.size());
    if (delivered) {
      exported_ += batch.size();
      exported.inc({}, n);
    } else {
      failed_ += batch.size();
      failed.inc({}, n);
    }
    lock.lock();
    s.in_flight = 0;
    if (s.queue.empty()) {
      s.flush_requested = false;
      s.drained.notify_all();
    }
  }
}

// ---- Span ---------------------------------------------------------------------------------

Span Span::start(std::string name, SpanKind kind, const SpanContext* parent) {
  Span s;
  Tracer& t = Tracer::get();
  if (!t.recording()) return s;
  s.context_ = t.new_context(parent);
  if (!s.context_.sampled) return s;
  if (!t.has_room()) {
    // Not recorded, but its context still travels on (the callee's spans keep their place).
    t.count_drop();
    return s;
  }
  s.data_ = std::make_unique<SpanData>();
  s.data_->trace_id = s.context_.trace_id;
  s.data_->span_id = s.context_.span_id;
  if (parent != nullptr && parent->valid()) s.data_->parent_span_id = parent->span_id;
  s.data_->trace_state = s.context_.trace_state;
  s.data_->name = std::move(name);
  s.data_->kind = kind;
  s.data_->start_unix_ns = now_unix_ns();
  return s;
}

Span::Span(Span&& other) noexcept
    : context_(std::move(other.context_)), data_(std::move(other.data_)) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    end();
    context_ = std::move(other.context_);
    data_ = std::move(other.data_);
  }
  return *this;
}

Span::~Span() {
  end();
}

void Span::set(std::string key, Value value) {
  if (!data_) return;
  for (auto& [k, v] : data_->attributes) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  data_->attributes.emplace_back(std::move(key), std::move(value));
}

void Span::add_event(std::string name, Attributes attributes) {
  if (!data_) return;
  data_->events.push_back({std::move(name), now_unix_ns(), std::move(attributes)});
}

void Span::set_error(std::string_view error_type, std::string message) {
  if (!data_) return;
  constexpr std::size_t kMaxMessage = 1024;
  if (message.size() > kMaxMessage) {
    std::size_t cut = kMaxMessage;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    message.resize(cut);
    message += "…";
  }
  data_->error = true;
  data_->status_message = std::move(message);
  set("error.type", std::string(error_type));
}

void Span::end() {
  if (!data_) return;
  data_->end_unix_ns = now_unix_ns();
  Tracer::get().submit(std::move(*data_));
  data_.reset();
}

}  // namespace cppflue::trace
