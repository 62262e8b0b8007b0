// SPDX-License-Identifier: Apache-2.0
// Private to the harness: the pure parts of compaction (docs/concepts/compaction.md) — token
// estimates, where to cut a history, and the text of the summary request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cppflue/model/message.hpp"

namespace cppflue::detail {

// About four characters per token, over text, thinking, tool arguments and images (a flat
// 1000 each); at least 1 for a non-empty message.
std::int64_t estimate_tokens(const Message& m);
std::int64_t estimate_tokens(const std::vector<Message>& messages);

// The index of the first message kept verbatim: the earliest user message (other than the
// first message) such that it and everything after it fit in `keep_recent_tokens`; when even
// the last user turn does not fit, that last user message. A cut always falls on a user
// message, so tool calls stay with their results. 0 = nothing to compact.
std::size_t choose_cut(const std::vector<Message>& history, std::int64_t keep_recent_tokens);

// The messages [0, end) as a plain transcript ("user: ...", "assistant: ...", tool calls and
// results); long tool results are shortened.
std::string render_transcript(const std::vector<Message>& history, std::size_t end);

// The system prompt and user text of the summary request.
extern const char* const kSummarySystem;
std::string summary_request(const std::string& transcript, std::int64_t estimated_tokens);

// The message that stands for the summarised part in the context sent to the model.
Message summary_message(const std::string& summary);
// True for a message made by summary_message.
bool is_summary_message(const Message& m);

}  // namespace cppflue::detail
