// SPDX-License-Identifier: Apache-2.0
// Provider answers in each wire API's real format, for the fake provider server.
//
// The inverse of the decoders in src/model/wire_*.cpp: a `ScriptedTurn` (text, thinking, tool
// calls, usage, finish reason) becomes a complete non-streaming JSON body or a list of SSE
// events shaped like the live APIs send them (see tests/fixtures/wire for the recordings
// these follow). Errors get each API's real error-body shape.
#pragma once

#include <string>
#include <vector>

#include "cppflue/model/message.hpp"
#include "cppflue/model/wire.hpp"

namespace cppflue::testing {

struct ScriptedTurn {
  std::string text;
  std::string thinking;
  std::vector<cppflue::ToolCall> tool_calls;
  cppflue::Usage usage;
  // stop means "the natural end": it is sent as tool_calls when tool_calls is non-empty.
  cppflue::FinishReason finish = cppflue::FinishReason::stop;
  std::string model = "fake-model";
};

// A tool call with `args` as both the parsed arguments and their raw text.
cppflue::ToolCall tool_call(std::string id, std::string name, json args);

// The finish reason the turn is sent with (stop becomes tool_calls when there are calls).
cppflue::FinishReason effective_finish(const ScriptedTurn& turn);

// A complete non-streaming response body.
std::string response_json(cppflue::WireApi api, const ScriptedTurn& turn);

// The streamed response: each element is one complete SSE event ("...\n\n"). Text and thinking
// are split into a few deltas; each tool call's argument text is split into `arg_fragments`
// pieces in separate events, and parallel calls are interleaved where the API's format allows
// it (Chat Completions, Responses). Gemini sends each function call whole, as the real API does.
// Chat Completions ends with `data: [DONE]`.
std::vector<std::string> response_sse(cppflue::WireApi api, const ScriptedTurn& turn,
                                      int arg_fragments = 3);

// That API's error body for `status`.
std::string error_json(cppflue::WireApi api, int status, std::string message);

// Splits `s` into at most `n` non-empty pieces without cutting a UTF-8 sequence.
std::vector<std::string> split_pieces(const std::string& s, int n);

}  // namespace cppflue::testing
