// SPDX-License-Identifier: Apache-2.0
// cppflue/model/wire.hpp — the four wire APIs: request encoders and response decoders.
//
// A `WireCodec` turns a provider-neutral `ModelRequest` into an HTTP request for one API and
// decodes that API's answer (a JSON body, or an SSE stream through a `StreamDecoder`) back into
// a `ModelResponse`. Codecs are pure: no I/O, no retries (see model_client.hpp).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/model/message.hpp"
#include "cppflue/model/wire_api.hpp"
#include "cppflue/net/http_client.hpp"
#include "cppflue/net/sse.hpp"

namespace cppflue {

struct WireEndpoint {
  std::string base_url;  // e.g. https://api.openai.com/v1, https://api.anthropic.com
  std::string api_key;   // empty: no auth header
  HttpHeaders headers;   // extra headers ([providers.NAME] headers)
};

struct EncodedRequest {
  std::string url;
  HttpHeaders headers;  // content-type, auth and extra headers
  json body;
};

class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // Consumes one SSE event; appends live deltas to `out`. A provider error event or a malformed
  // payload is an error naming the event.
  virtual Result<void> on_event(const SseEvent& event, std::vector<ModelDelta>& out) = 0;
  // End of stream: the complete response, or an error when the stream ended early.
  virtual Result<ModelResponse> finish() = 0;
};

class WireCodec {
 public:
  virtual ~WireCodec() = default;
  virtual WireApi api() const = 0;
  virtual EncodedRequest encode(const ModelRequest& request,
                                const WireEndpoint& endpoint) const = 0;
  virtual Result<ModelResponse> decode(std::string_view body) const = 0;
  virtual std::unique_ptr<StreamDecoder> stream_decoder() const = 0;
  // Maps an HTTP error status + body to an Error carrying the provider's status and message:
  // 401/403 auth_error, 429 rate_limited, context-length messages context_overflow, else
  // provider_error. details = {"status", "provider_type"?, "provider_code"?}.
  virtual Error decode_error(int status, std::string_view body) const = 0;
};

const WireCodec& codec_for(WireApi api);

}  // namespace cppflue
