// SPDX-License-Identifier: Apache-2.0
// A scripted fake model provider for tests: an HTTP/1.1 server on 127.0.0.1 (ephemeral port,
// its own thread) that answers each request with the next queued reply and records every
// request. Replies can stream (chunked, with delays), fail with a status, or break off early,
// so the real HTTP client, SSE parser and wire decoders are exercised end to end.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/model/wire.hpp"
#include "support/wire_script.hpp"

namespace cppflue::testing {

struct RecordedRequest {
  std::string method;
  std::string target;  // path and query
  HttpHeaders headers;
  std::string body;
  json json_body;  // null when the body is not JSON
  std::optional<std::string> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

struct FakeReply {
  int status = 200;
  std::string content_type = "application/json";
  HttpHeaders headers;              // extra headers, e.g. {"Retry-After", "1"}
  std::vector<std::string> chunks;  // the body, written piece by piece
  int chunk_delay_ms = 0;           // pause before each chunk after the first
  int initial_delay_ms = 0;         // pause before the status line
  bool truncate = false;            // close the connection instead of finishing the body
};

class FakeProvider {
 public:
  FakeProvider();
  ~FakeProvider();
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  std::string base_url() const;  // "http://127.0.0.1:<port>"
  std::uint16_t port() const;

  void enqueue(FakeReply reply);
  // A scripted model turn in `api`'s real wire format (SSE when `stream`).
  void enqueue_turn(WireApi api, const ScriptedTurn& turn, bool stream, int arg_fragments = 3,
                    int chunk_delay_ms = 0);
  void enqueue_error(WireApi api, int status, const std::string& message, HttpHeaders headers = {});
  // When the queue is empty, repeat this reply instead of answering 500 "no scripted reply".
  void set_default(FakeReply reply);

  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// A port on 127.0.0.1 with nothing listening (for connection-refused tests).
std::uint16_t closed_port();

}  // namespace cppflue::testing
