// SPDX-License-Identifier: Apache-2.0
#include "cppflue/net/sse.hpp"

#include <gtest/gtest.h>

#include <climits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cppflue {

// Found by argument-dependent lookup (hence not in the unnamed namespace); internal linkage.
static bool operator==(const SseEvent& a, const SseEvent& b) {
  return a.event == b.event && a.data == b.data && a.id == b.id && a.retry_ms == b.retry_ms;
}

static void PrintTo(const SseEvent& e, std::ostream* os) {
  *os << "{event=\"" << e.event << "\" data=\"" << e.data << "\" id=\"" << e.id << "\" retry=";
  if (e.retry_ms) {
    *os << *e.retry_ms;
  } else {
    *os << "none";
  }
  *os << "}";
}

namespace {

using namespace std::string_literals;

SseEvent ev(std::string data, std::string event = "", std::string id = "",
            std::optional<long> retry = std::nullopt) {
  return SseEvent{std::move(event), std::move(data), std::move(id), retry};
}

// Feeds `chunks` in order, then finish(); every feed must succeed.
std::vector<SseEvent> parse_chunks(const std::vector<std::string_view>& chunks) {
  SseParser parser;
  std::vector<SseEvent> out;
  for (auto c : chunks) {
    auto r = parser.feed(c, out);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  }
  parser.finish(out);
  return out;
}

std::vector<SseEvent> parse(std::string_view input) {
  return parse_chunks({input});
}

std::vector<SseEvent> parse_bytewise(std::string_view input) {
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < input.size(); ++i) chunks.push_back(input.substr(i, 1));
  return parse_chunks(chunks);
}

// The same events for the whole input, every two-way split, every three-way split at a few
// strides, and byte-by-byte.
void expect_chunking_invariant(std::string_view input) {
  const auto whole = parse(input);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(parse_chunks({input.substr(0, i), input.substr(i)}), whole) << "split at " << i;
  }
  for (std::size_t i = 0; i <= input.size(); i += 3) {
    for (std::size_t j = i; j <= input.size(); j += 5) {
      EXPECT_EQ(parse_chunks({input.substr(0, i), input.substr(i, j - i), input.substr(j)}), whole)
          << "split at " << i << " and " << j;
    }
  }
  EXPECT_EQ(parse_bytewise(input), whole);
}

TEST(SseParser, SingleEvent) {
  EXPECT_EQ(parse("data: hello\n\n"), std::vector<SseEvent>{ev("hello")});
}

TEST(SseParser, MultiLineDataJoinedWithNewline) {
  EXPECT_EQ(parse("data: one\ndata: two\ndata:three\n\n"),
            std::vector<SseEvent>{ev("one\ntwo\nthree")});
}

TEST(SseParser, OnlyOneLeadingSpaceIsStripped) {
  EXPECT_EQ(parse("data:  two spaces \n\n"), std::vector<SseEvent>{ev(" two spaces ")});
  EXPECT_EQ(parse("data:\ttab\n\n"), std::vector<SseEvent>{ev("\ttab")});
  EXPECT_EQ(parse("data: a: b:c\n\n"), std::vector<SseEvent>{ev("a: b:c")});
}

TEST(SseParser, CommentsAreIgnored) {
  EXPECT_EQ(parse(": keep-alive\n\n:\ndata: x\n: in the middle\ndata: y\n\n"),
            std::vector<SseEvent>{ev("x\ny")});
  EXPECT_TRUE(parse(": only a comment\n\n").empty());
}

TEST(SseParser, EventIdRetryFields) {
  const auto events = parse(
      "event: update\nid: 42\nretry: 1500\ndata: {\"a\":1}\n\n"
      "data: plain\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], ev("{\"a\":1}", "update", "42", 1500));
  // The event type and retry reset after dispatch; the last event id persists.
  EXPECT_EQ(events[1], ev("plain", "", "42"));
}

TEST(SseParser, LastEventIdPersistsAndCanBeReset) {
  SseParser parser;
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.feed("id: a\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\nid: b\n\n", out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].id, "a");
  EXPECT_EQ(out[1].id, "a");
  EXPECT_EQ(out[2].id, "");
  // An id on an event without data still updates the last event id.
  EXPECT_EQ(parser.last_event_id(), "b");
}

TEST(SseParser, EventWithoutDataIsNotDispatchedButResetsType) {
  EXPECT_EQ(parse("event: ping\n\ndata: after\n\n"), std::vector<SseEvent>{ev("after")});
  EXPECT_TRUE(parse("event: ping\nid: 7\n\n").empty());
}

TEST(SseParser, RetryRidesOnTheNextDispatchedEvent) {
  EXPECT_EQ(parse("retry: 3000\n\ndata: x\n\ndata: y\n\n"),
            (std::vector<SseEvent>{ev("x", "", "", 3000), ev("y")}));
}

TEST(SseParser, RetryWithNonDigitsIsIgnored) {
  EXPECT_EQ(parse("retry: 100\nretry: 12a\nretry: -5\nretry: 1.5\nretry:  7\nretry:\ndata: x\n\n"),
            std::vector<SseEvent>{ev("x", "", "", 100)});
  EXPECT_EQ(parse("retry: 99999999999999999999999999\ndata: x\n\n"),
            std::vector<SseEvent>{ev("x", "", "", LONG_MAX)});
}

TEST(SseParser, IdContainingNulIsIgnored) {
  SseParser parser;
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.feed("id: good\ndata: 1\n\nid: b\0d\ndata: 2\n\n"s, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, "good");
  EXPECT_EQ(parser.last_event_id(), "good");
}

TEST(SseParser, UnknownFieldsAreIgnored) {
  EXPECT_EQ(parse("foo: bar\nData: no\nDATA: no\ndata: yes\n\n"), std::vector<SseEvent>{ev("yes")});
}

TEST(SseParser, FieldWithoutColon) {
  // "data" alone is a data field with an empty value; "event" alone resets the type to empty.
  EXPECT_EQ(parse("data\n\n"), std::vector<SseEvent>{ev("")});
  EXPECT_EQ(parse("data\ndata\n\n"), std::vector<SseEvent>{ev("\n")});
  EXPECT_EQ(parse("event: t\nevent\ndata: x\n\n"), std::vector<SseEvent>{ev("x")});
  EXPECT_TRUE(parse("ignored\n\n").empty());
}

TEST(SseParser, EmptyDataLine) {
  EXPECT_EQ(parse("data:\n\n"), std::vector<SseEvent>{ev("")});
  EXPECT_EQ(parse("data: \n\n"), std::vector<SseEvent>{ev("")});
  EXPECT_EQ(parse("data: a\ndata:\ndata: b\n\n"), std::vector<SseEvent>{ev("a\n\nb")});
}

TEST(SseParser, LineEndingsCrLfCrLf) {
  const std::vector<SseEvent> expected{ev("a\nb", "e"), ev("c")};
  EXPECT_EQ(parse("event: e\ndata: a\ndata: b\n\ndata: c\n\n"), expected);
  EXPECT_EQ(parse("event: e\rdata: a\rdata: b\r\rdata: c\r\r"), expected);
  EXPECT_EQ(parse("event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"), expected);
  // Mixed in one stream.
  EXPECT_EQ(parse("event: e\r\ndata: a\rdata: b\n\r\ndata: c\r\r\n"), expected);
}

TEST(SseParser, CrLfSplitAcrossChunksIsOneLineEnding) {
  // If the LF after a chunk-final CR were a second line ending, "a" would be dispatched alone.
  EXPECT_EQ(parse_chunks({"data: a\r", "\ndata: b\r", "\n\r", "\n"}),
            std::vector<SseEvent>{ev("a\nb")});
  // A CR then a chunk starting with CR is two line endings.
  EXPECT_EQ(parse_chunks({"data: a\r", "\rdata: b\r\n\r\n"}),
            (std::vector<SseEvent>{ev("a"), ev("b")}));
  // Empty chunks between the CR and the LF do not break the pair.
  EXPECT_EQ(parse_chunks({"data: a\r", "", "\ndata: b\r\n\r\n"}),
            std::vector<SseEvent>{ev("a\nb")});
}

constexpr std::string_view kSample =
    "\xEF\xBB\xBF: comment\r\n"
    "event: first\r\n"
    "id: 1\r\n"
    "retry: 250\r\n"
    "data: alpha\r\n"
    "data:beta\r\n"
    "\r\n"
    "data: gamma\r"
    "data\r"
    "\r"
    "id: 2\n"
    "event: empty\n"
    "\n"
    "field-without-colon\n"
    "data: {\"x\": \"y\\n\"}\n"
    "\n"
    "data: unterminated";

TEST(SseParser, SampleStreamEvents) {
  EXPECT_EQ(parse(kSample),
            (std::vector<SseEvent>{ev("alpha\nbeta", "first", "1", 250), ev("gamma\n", "", "1"),
                                   ev("{\"x\": \"y\\n\"}", "", "2"), ev("unterminated", "", "2")}));
}

TEST(SseParser, EveryChunkingGivesTheSameEvents) {
  expect_chunking_invariant(kSample);
}

TEST(SseParser, EveryChunkingOfCrOnlyAndCrLfStreams) {
  expect_chunking_invariant("data: a\r\rdata: b\r\r\rdata: c\r\r");
  expect_chunking_invariant("data: a\r\n\r\ndata: b\r\n\r\n\r\n: x\r\ndata: c\r\n\r\n");
}

TEST(SseParser, FinishDispatchesEventWithoutTrailingBlankLine) {
  SseParser parser;
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.feed("data: one\n\ndata: two\n", out));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_TRUE(parser.finish(out));
  EXPECT_EQ(out, (std::vector<SseEvent>{ev("one"), ev("two")}));
}

TEST(SseParser, FinishProcessesFinalUnterminatedLine) {
  SseParser parser;
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.feed("event: end\ndata: a\ndata: tail", out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(parser.finish(out));
  EXPECT_EQ(out, std::vector<SseEvent>{ev("a\ntail", "end")});
}

TEST(SseParser, FinishWithNothingPending) {
  SseParser parser;
  std::vector<SseEvent> out;
  EXPECT_FALSE(parser.finish(out));
  ASSERT_TRUE(parser.feed("data: a\n\nevent: x\n: c", out));
  EXPECT_FALSE(parser.finish(out));
  EXPECT_EQ(out, std::vector<SseEvent>{ev("a")});
}

TEST(SseParser, LeadingBomIsStripped) {
  EXPECT_EQ(parse("\xEF\xBB\xBF"
                  "data: x\n\n"),
            std::vector<SseEvent>{ev("x")});
  EXPECT_EQ(parse_chunks({"\xEF", "\xBB",
                          "\xBF"
                          "da",
                          "ta: x\n\n"}),
            std::vector<SseEvent>{ev("x")});
  EXPECT_EQ(parse_bytewise("\xEF\xBB\xBF"
                           "data: x\n\n"),
            std::vector<SseEvent>{ev("x")});
  // Only one BOM, and only at the start of the stream.
  EXPECT_TRUE(parse("\xEF\xBB\xBF\xEF\xBB\xBF"
                    "data: x\n\n")
                  .empty());
  EXPECT_EQ(parse("data: a\n\n\xEF\xBB\xBF"
                  "data: b\n\n"),
            std::vector<SseEvent>{ev("a")});
}

TEST(SseParser, BytesSeenCountsEverything) {
  SseParser parser;
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.feed("data: a\r", out));
  ASSERT_TRUE(parser.feed("\n\r\n", out));
  ASSERT_TRUE(parser.feed("", out));
  EXPECT_EQ(parser.bytes_seen(), 11u);
  EXPECT_EQ(out.size(), 1u);
}

TEST(SseParser, LineAtTheLimitIsAccepted) {
  SseParser parser(8);
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.feed("data:123\n\n", out));  // exactly 8 bytes, terminator not counted
  EXPECT_EQ(out, std::vector<SseEvent>{ev("123")});
}

TEST(SseParser, OversizedLineIsAnErrorNamingTheOffset) {
  SseParser parser(8);
  std::vector<SseEvent> out;
  auto r = parser.feed("data: a\n\ndata: 123456789\n\n", out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  EXPECT_EQ(r.error().message, "SSE line exceeds 8 bytes at byte offset 9");
  EXPECT_EQ(out, std::vector<SseEvent>{ev("a")});
}

TEST(SseParser, OversizedLineDetectedBeforeItsEndWithoutBuffering) {
  SseParser parser(16);
  std::vector<SseEvent> out;
  ASSERT_TRUE(parser.feed("data: ok\n\ndata: 0123", out));
  auto r = parser.feed(std::string(1000, 'x'), out);  // no terminator yet
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "SSE line exceeds 16 bytes at byte offset 10");
  // The rest of the line and of its event is skipped; the stream then continues.
  ASSERT_TRUE(parser.feed(std::string(1000, 'y'), out));
  ASSERT_TRUE(parser.feed("zz\ndata: same event\n\ndata: next\n\n", out));
  EXPECT_EQ(out, (std::vector<SseEvent>{ev("ok"), ev("next")}));
}

TEST(SseParser, ErrorRecoveryKeepsLaterEventsInTheSameChunk) {
  SseParser parser(10);
  std::vector<SseEvent> out;
  auto r = parser.feed(
      "event: e\ndata: 1\ndata: far too long\ndata: 2\n\n"
      "data: 3\n\n"
      "data: another long one\n\n"
      "data: 4\n\n",
      out);
  ASSERT_FALSE(r);
  // The first error is reported; both bad events are dropped.
  EXPECT_EQ(r.error().message, "SSE line exceeds 10 bytes at byte offset 17");
  EXPECT_EQ(out, (std::vector<SseEvent>{ev("3"), ev("4")}));
  EXPECT_FALSE(parser.finish(out));
}

TEST(SseParser, OversizedLineChunkedReportsTheSameOffset) {
  const std::string input = "data: a\n\n: 0123456789abcdef\ndata: b\n\n";
  for (std::size_t split = 0; split <= input.size(); ++split) {
    SseParser parser(12);
    std::vector<SseEvent> out;
    std::string first_error;
    for (auto chunk :
         {std::string_view(input).substr(0, split), std::string_view(input).substr(split)}) {
      auto r = parser.feed(chunk, out);
      if (!r && first_error.empty()) first_error = r.error().message;
    }
    parser.finish(out);
    EXPECT_EQ(first_error, "SSE line exceeds 12 bytes at byte offset 9") << "split " << split;
    EXPECT_EQ(out, std::vector<SseEvent>{ev("a")}) << "split " << split;
  }
}

TEST(SseParser, OpenAiChatCompletionsStream) {
  const std::string stream =
      "data: "
      R"({"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1718000000,)"
      R"("model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},)"
      R"("finish_reason":null}]})"
      "\n\n"
      "data: "
      R"({"id":"chatcmpl-9x","object":"chat.completion.chunk","choices":[{"index":0,)"
      R"("delta":{"content":"Hel"},"finish_reason":null}]})"
      "\n\n"
      "data: "
      R"({"id":"chatcmpl-9x","object":"chat.completion.chunk","choices":[{"index":0,)"
      R"("delta":{"content":"lo\n"},"finish_reason":"stop"}]})"
      "\n\n"
      "data: [DONE]\n\n";
  const auto events = parse(stream);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].event, "");
  EXPECT_NE(events[1].data.find(R"("content":"Hel")"), std::string::npos);
  EXPECT_NE(events[2].data.find(R"("content":"lo\n")"), std::string::npos);
  EXPECT_EQ(events[3].data, "[DONE]");
  expect_chunking_invariant(stream);
}

TEST(SseParser, OpenAiResponsesStream) {
  const std::string stream =
      "event: response.created\n"
      R"(data: {"type":"response.created","response":{"id":"resp_1","status":"in_progress"}})"
      "\n\n"
      "event: response.output_text.delta\n"
      R"(data: {"type":"response.output_text.delta","item_id":"msg_1","delta":"Hi"})"
      "\n\n"
      "event: response.completed\n"
      R"(data: {"type":"response.completed","response":{"id":"resp_1","status":"completed"}})"
      "\n\n";
  const auto events = parse(stream);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "response.created");
  EXPECT_EQ(events[1].event, "response.output_text.delta");
  EXPECT_EQ(events[1].data,
            R"({"type":"response.output_text.delta","item_id":"msg_1","delta":"Hi"})");
  EXPECT_EQ(events[2].event, "response.completed");
}

TEST(SseParser, AnthropicMessagesStream) {
  const std::string stream =
      "event: message_start\r\n"
      R"(data: {"type":"message_start","message":{"id":"msg_01","type":"message",)"
      R"("role":"assistant",)"
      R"("content":[],"model":"claude-sonnet-4","stop_reason":null,"usage":{"input_tokens":25,)"
      R"("output_tokens":1}}})"
      "\r\n\r\n"
      "event: content_block_start\r\n"
      R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
      "\r\n\r\n"
      "event: ping\r\n"
      R"(data: {"type": "ping"})"
      "\r\n\r\n"
      "event: content_block_delta\r\n"
      R"(data: {"type":"content_block_delta","index":0,)"
      R"("delta":{"type":"text_delta","text":"Hello"}})"
      "\r\n\r\n"
      "event: content_block_stop\r\n"
      R"(data: {"type":"content_block_stop","index":0})"
      "\r\n\r\n"
      "event: message_delta\r\n"
      R"(data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},)"
      R"("usage":{"output_tokens":15}})"
      "\r\n\r\n"
      "event: message_stop\r\n"
      R"(data: {"type":"message_stop"})"
      "\r\n\r\n";
  const auto events = parse(stream);
  ASSERT_EQ(events.size(), 7u);
  const std::vector<std::string> types{
      "message_start",      "content_block_start", "ping",        "content_block_delta",
      "content_block_stop", "message_delta",       "message_stop"};
  for (std::size_t i = 0; i < types.size(); ++i) EXPECT_EQ(events[i].event, types[i]);
  EXPECT_EQ(
      events[3].data,
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})");
  expect_chunking_invariant(stream);
}

}  // namespace
}  // namespace cppflue
