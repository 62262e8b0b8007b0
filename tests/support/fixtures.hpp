// SPDX-License-Identifier: Apache-2.0
// Loader for the recorded provider exchanges in tests/fixtures/wire (VCR cassettes, YAML; where
// they come from: tests/fixtures/wire/PROVENANCE.md).
//
// Each cassette becomes a list of interactions with the request body and the response body as
// JSON (YAML scalars typed the YAML 1.1 way PyYAML wrote them) or, for SSE and other non-JSON
// bodies, as the raw text.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cppflue/core/json.hpp"
#include "cppflue/model/wire.hpp"

namespace cppflue::testing {

struct Interaction {
  std::string method;
  std::string uri;
  HttpHeaders request_headers;  // first value of each recorded header
  json request_body;            // parsed_body, or the body string parsed as JSON (null if none)
  int status = 0;
  std::string content_type;
  std::string response_text;  // raw body (SSE streams, text); for JSON bodies: dump(json)
  json response_json;         // the JSON body (null when the body is not JSON)
  bool response_is_json = false;
};

struct Cassette {
  std::filesystem::path path;
  std::vector<Interaction> interactions;
  std::string name() const { return path.stem().string(); }
};

// The fixtures root (CPPFLUE_FIXTURES_DIR).
std::filesystem::path fixtures_dir();
// Every *.yaml cassette under the four API folders, sorted.
std::vector<std::filesystem::path> all_cassettes();
// Loads one cassette; throws std::runtime_error naming the file on malformed YAML.
Cassette load_cassette(const std::filesystem::path& path);
// Loads `<fixtures>/<folder>/<name>.yaml`.
Cassette load_cassette(const std::string& folder, const std::string& name);

// Any YAML file as JSON, its scalars typed as in the cassettes (plain `42`, `true`, `null` are
// typed; quoted scalars stay strings). Throws std::runtime_error naming the file on malformed
// YAML.
json load_yaml_file(const std::filesystem::path& path);

// The wire API a recorded request URI speaks (by path: /chat/completions, /responses,
// /v1/messages, :generateContent / :streamGenerateContent), or nullopt.
std::optional<WireApi> api_for_uri(const std::string& uri);

// Whether a response is an SSE stream (by content type).
bool is_event_stream(const Interaction& i);

// Feeds SSE text through cppflue::SseParser into a codec's stream decoder: whole when
// `seed` is 0, else in random chunks of 1..max_chunk bytes drawn from a generator seeded with
// `seed`. `response` is finish()'s result, or the first on_event error.
struct StreamRun {
  Result<ModelResponse> response = fail(ErrorType::internal, "not run");
  std::vector<ModelDelta> deltas;
  std::size_t events = 0;  // events delivered to the decoder
};
StreamRun run_stream(const WireCodec& codec, std::string_view sse_text, unsigned seed = 0,
                     std::size_t max_chunk = 64);
// Same, with already-split events.
StreamRun run_events(const WireCodec& codec, const std::vector<SseEvent>& events);
// Splits SSE text into events with cppflue::SseParser.
std::vector<SseEvent> parse_events(std::string_view sse_text);

}  // namespace cppflue::testing
