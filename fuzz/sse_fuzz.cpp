// SPDX-License-Identifier: Apache-2.0
// Fuzz target for SseParser. The whole input is the byte stream; a hash of it picks the line limit
// (small limits exercise the over-long-line recovery) and the input's own bytes pick the chunk
// sizes. Invariants checked, any violation aborts:
//   - no crash, no sanitizer report;
//   - whole, chunked (with empty chunks interleaved) and byte-by-byte feeding agree on the events,
//     the first error, the flush result, last_event_id() and bytes_seen();
//   - all of them agree with a deliberately naive reference parser written below;
//   - fields never contain a line ending, ids never contain NUL, retry is never negative.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/net/sse.hpp"

namespace {

using cppflue::SseEvent;
using cppflue::SseParser;

struct Outcome {
  std::vector<SseEvent> events;
  std::string first_error;
  bool flushed = false;
  std::string last_id;
  std::size_t bytes_seen = 0;
};

[[noreturn]] void violated(const char* what, std::size_t size) {
  std::fprintf(stderr, "sse_fuzz: invariant violated: %s (input of %zu bytes)\n", what, size);
  std::abort();
}

#define SSE_FUZZ_CHECK(cond, size)      \
  do {                                  \
    if (!(cond)) violated(#cond, size); \
  } while (0)

bool same_events(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id ||
        a[i].retry_ms != b[i].retry_ms) {
      return false;
    }
  }
  return true;
}

bool same(const Outcome& a, const Outcome& b) {
  return same_events(a.events, b.events) && a.first_error == b.first_error &&
         a.flushed == b.flushed && a.last_id == b.last_id && a.bytes_seen == b.bytes_seen;
}

// Feeds `chunks` (positions into `input`) and finishes.
Outcome run(std::string_view input, std::size_t max_line, const std::vector<std::size_t>& cuts) {
  SseParser parser(max_line);
  Outcome o;
  std::size_t start = 0;
  auto feed = [&](std::string_view chunk) {
    auto r = parser.feed(chunk, o.events);
    if (!r && o.first_error.empty()) o.first_error = r.error().message;
  };
  for (std::size_t cut : cuts) {
    feed(input.substr(start, cut - start));
    start = cut;
  }
  feed(input.substr(start));
  o.flushed = parser.finish(o.events);
  o.last_id = parser.last_event_id();
  o.bytes_seen = parser.bytes_seen();
  return o;
}

// A straightforward line-at-a-time parser over the whole input, with the same recovery rules.
Outcome reference(std::string_view in, std::size_t max_line) {
  Outcome o;
  std::string event, data, last_id;
  bool has_data = false, skipping = false, first = true;
  std::optional<long> retry;
  auto dispatch = [&] {
    if (has_data) o.events.push_back(SseEvent{event, data, last_id, retry});
    if (has_data) retry.reset();
    event.clear();
    data.clear();
    has_data = false;
  };
  auto line_fn = [&](std::string line) {
    if (first && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    first = false;
    if (skipping) {
      if (line.empty()) skipping = false;
      return;
    }
    if (line.empty()) return dispatch();
    if (line[0] == ':') return;
    std::string field = line, value;
    if (auto colon = line.find(':'); colon != std::string::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    }
    if (field == "data") {
      data += has_data ? "\n" + value : value;
      has_data = true;
    } else if (field == "event") {
      event = value;
    } else if (field == "id") {
      if (value.find('\0') == std::string::npos) last_id = value;
    } else if (field == "retry") {
      bool digits = !value.empty();
      for (char c : value) digits = digits && c >= '0' && c <= '9';
      if (digits) {
        long n = 0;
        for (char c : value) {
          n = n > (LONG_MAX - (c - '0')) / 10 ? LONG_MAX : n * 10 + (c - '0');
        }
        retry = n;
      }
    }
  };

  std::size_t i = 0;
  bool final_line = false;
  std::string last;
  while (i < in.size()) {
    std::size_t j = i;
    while (j < in.size() && in[j] != '\r' && in[j] != '\n') ++j;
    std::string line(in.substr(i, j - i));
    if (line.size() > max_line) {
      if (o.first_error.empty()) {
        o.first_error = "SSE line exceeds " + std::to_string(max_line) + " bytes at byte offset " +
                        std::to_string(i);
      }
      event.clear();
      data.clear();
      has_data = false;
      retry.reset();
      skipping = true;
      first = false;
      if (j == in.size()) break;  // unterminated: finish() discards the skipped event
    } else if (j == in.size()) {
      final_line = true;
      last = std::move(line);
      break;
    } else {
      line_fn(std::move(line));
    }
    i = j + ((in[j] == '\r' && j + 1 < in.size() && in[j + 1] == '\n') ? 2 : 1);
  }
  if (final_line && !skipping && !last.empty()) line_fn(std::move(last));
  if (!skipping && has_data) {
    o.flushed = true;
    dispatch();
  }
  o.last_id = last_id;
  o.bytes_seen = in.size();
  return o;
}

void check_fields(const Outcome& o, std::size_t size) {
  for (const auto& e : o.events) {
    SSE_FUZZ_CHECK(e.data.find('\r') == std::string::npos, size);
    SSE_FUZZ_CHECK(e.event.find_first_of("\r\n") == std::string::npos, size);
    SSE_FUZZ_CHECK(e.id.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos, size);
    SSE_FUZZ_CHECK(!e.retry_ms || *e.retry_ms >= 0, size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // FNV-1a of the input picks the line limit: one input in four gets a tiny one.
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  const std::size_t max_line = (h & 3) == 0 ? static_cast<std::size_t>((h >> 8) % 48) : 1u << 20;

  // Chunk boundaries from the input bytes themselves; every third cut repeats (an empty chunk).
  std::vector<std::size_t> cuts;
  for (std::size_t pos = 0, k = 0; size > 0;) {
    pos += (data[(k * 7 + h % 13) % size] % 23) + (k % 3 == 2 ? 0 : 1);
    if (pos >= size) break;
    cuts.push_back(pos);
    ++k;
  }

  const Outcome whole = run(input, max_line, {});
  check_fields(whole, size);
  SSE_FUZZ_CHECK(whole.bytes_seen == size, size);
  SSE_FUZZ_CHECK(same(whole, run(input, max_line, cuts)), size);
  if (size <= 4096) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < size; ++i) every.push_back(i);
    SSE_FUZZ_CHECK(same(whole, run(input, max_line, every)), size);
  }
  SSE_FUZZ_CHECK(same(whole, reference(input, max_line)), size);
  return 0;
}
