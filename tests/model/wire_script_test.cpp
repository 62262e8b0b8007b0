// SPDX-License-Identifier: Apache-2.0
// The scripted provider answers (tests/support/wire_script) decoded by the real decoders: every
// scripted turn must come back unchanged, as JSON and as SSE (whole and in random chunks through
// cppflue::SseParser). Also the error paths: HTTP error bodies, in-band stream errors, and
// malformed input, which must give clear errors and never throw.
#include <gtest/gtest.h>

#include <random>

#include "cppflue/model/wire.hpp"
#include "support/fixtures.hpp"
#include "support/wire_script.hpp"

namespace cppflue::testing {
namespace {

constexpr WireApi kApis[] = {WireApi::openai_chat, WireApi::openai_responses, WireApi::anthropic,
                             WireApi::gemini};

Usage usage(std::int64_t in, std::int64_t out, std::int64_t cache_read = 0) {
  return Usage{in, out, cache_read, 0, in + out};
}

std::vector<std::pair<std::string, ScriptedTurn>> turns() {
  std::vector<std::pair<std::string, ScriptedTurn>> out;
  ScriptedTurn text;
  text.text = "Hello, world! Ünïcödé ✓ — 你好. A longer sentence so it splits into deltas.";
  text.usage = usage(120, 30, 20);
  out.emplace_back("text", text);

  ScriptedTurn thinking;
  thinking.thinking = "The user greets me; I should greet back — politely.";
  thinking.text = "Hi there.";
  thinking.usage = usage(50, 80);
  thinking.model = "thinker-2";
  out.emplace_back("thinking", thinking);

  ScriptedTurn parallel;
  parallel.tool_calls = {
      tool_call("call_a", "read", json_object{{"path", "src/main.cpp"}}),
      tool_call(
          "call_b", "grep",
          json_object{{"pattern", "TODO|FIXME"}, {"paths", json_array{"a", "b"}}, {"max", 10}}),
      tool_call("toolu_c", "write",
                json_object{{"path", "notes/ünïcode.md"},
                            {"content", "línea 1\nlínea 2 — ✓ \"quoted\" \\ backslash"},
                            {"options", json_object{{"append", true}, {"mode", nullptr}}}})};
  parallel.usage = usage(900, 120, 512);
  out.emplace_back("parallel_calls", parallel);

  ScriptedTurn mixed;
  mixed.text = "Let me look.";
  mixed.tool_calls = {tool_call("call_x", "list", json_object{})};
  mixed.usage = usage(10, 5);
  out.emplace_back("text_and_call", mixed);

  ScriptedTurn length;
  length.text = "This answer was cut off because it ran out of tok";
  length.finish = FinishReason::length;
  length.usage = usage(10, 4096);
  out.emplace_back("length", length);

  ScriptedTurn filtered;
  filtered.text = "I can't help with that.";
  filtered.finish = FinishReason::content_filter;
  filtered.usage = usage(7, 6);
  out.emplace_back("content_filter", filtered);
  return out;
}

void expect_turn(const ModelResponse& r, const ScriptedTurn& t) {
  EXPECT_EQ(r.message.role, Role::assistant);
  EXPECT_EQ(r.message.text, t.text);
  EXPECT_EQ(r.message.thinking, t.thinking);
  EXPECT_EQ(r.finish_reason, effective_finish(t));
  EXPECT_EQ(r.model, t.model);
  EXPECT_EQ(to_json(r.usage), to_json(t.usage));
  ASSERT_EQ(r.message.tool_calls.size(), t.tool_calls.size());
  for (std::size_t k = 0; k < t.tool_calls.size(); ++k) {
    SCOPED_TRACE("tool call " + std::to_string(k));
    EXPECT_EQ(r.message.tool_calls[k].id, t.tool_calls[k].id);
    EXPECT_EQ(r.message.tool_calls[k].name, t.tool_calls[k].name);
    EXPECT_EQ(r.message.tool_calls[k].arguments, t.tool_calls[k].arguments);
    auto raw = parse_json(r.message.tool_calls[k].raw_arguments);
    ASSERT_TRUE(raw) << r.message.tool_calls[k].raw_arguments;
    EXPECT_EQ(*raw, t.tool_calls[k].arguments);
  }
}

std::string joined(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& e : events) out += e;
  return out;
}

TEST(WireScript, JsonRoundTrip) {
  for (auto api : kApis) {
    for (const auto& [name, turn] : turns()) {
      SCOPED_TRACE(std::string(wire_api_name(api)) + " / " + name);
      auto r = codec_for(api).decode(response_json(api, turn));
      ASSERT_TRUE(r.has_value()) << r.error().message;
      expect_turn(*r, turn);
    }
  }
}

TEST(WireScript, SseRoundTripWholeAndChunked) {
  for (auto api : kApis) {
    for (const auto& [name, turn] : turns()) {
      auto from_json = codec_for(api).decode(response_json(api, turn));
      ASSERT_TRUE(from_json.has_value());
      for (int fragments : {1, 3, 7}) {
        SCOPED_TRACE(std::string(wire_api_name(api)) + " / " + name + " / " +
                     std::to_string(fragments) + " fragments");
        std::string body = joined(response_sse(api, turn, fragments));
        for (unsigned seed : {0u, 1u, 2u, 3u, 17u, 99u}) {
          SCOPED_TRACE("seed " + std::to_string(seed));
          StreamRun run = run_stream(codec_for(api), body, seed, seed % 2 ? 5 : 64);
          ASSERT_TRUE(run.response.has_value()) << run.response.error().message;
          expect_turn(*run.response, turn);
          std::string text, thinking;
          int calls = 0;
          for (const auto& d : run.deltas) {
            if (d.kind == ModelDelta::Kind::text) text += d.text;
            if (d.kind == ModelDelta::Kind::thinking) thinking += d.text;
            if (d.kind == ModelDelta::Kind::tool_call) {
              EXPECT_EQ(d.text, turn.tool_calls.at(static_cast<std::size_t>(d.index)).name);
              ++calls;
            }
          }
          EXPECT_EQ(text, turn.text);
          EXPECT_EQ(thinking, turn.thinking);
          EXPECT_EQ(calls, static_cast<int>(turn.tool_calls.size()));
          // Replay data is the same whichever way the answer came.
          EXPECT_EQ(run.response->message.provider_data, from_json->message.provider_data);
          for (std::size_t k = 0; k < turn.tool_calls.size(); ++k) {
            EXPECT_EQ(run.response->message.tool_calls[k].provider_data,
                      from_json->message.tool_calls[k].provider_data);
          }
        }
      }
    }
  }
}

TEST(WireScript, AnthropicCacheWriteRoundTrips) {
  ScriptedTurn t;
  t.text = "cached";
  t.usage = Usage{1000, 10, 600, 300, 1010};
  auto r = codec_for(WireApi::anthropic).decode(response_json(WireApi::anthropic, t));
  ASSERT_TRUE(r);
  expect_turn(*r, t);
  // On the wire the input count excludes the cached parts.
  json body = boost::json::parse(response_json(WireApi::anthropic, t));
  EXPECT_EQ(body.at("usage").at("input_tokens"), 100);
  EXPECT_EQ(body.at("usage").at("cache_read_input_tokens"), 600);
  EXPECT_EQ(body.at("usage").at("cache_creation_input_tokens"), 300);
  StreamRun run =
      run_stream(codec_for(WireApi::anthropic), joined(response_sse(WireApi::anthropic, t)));
  ASSERT_TRUE(run.response);
  expect_turn(*run.response, t);
}

TEST(WireScript, SseEventsAreCompleteAndShapedLikeTheApis) {
  ScriptedTurn t = turns()[2].second;  // three parallel calls
  for (auto api : kApis) {
    SCOPED_TRACE(std::string(wire_api_name(api)));
    auto events = response_sse(api, t, 4);
    ASSERT_FALSE(events.empty());
    for (const auto& e : events) {
      ASSERT_GE(e.size(), 2u);
      EXPECT_EQ(e.substr(e.size() - 2), "\n\n");
      EXPECT_EQ(e.find("\n\n"), e.size() - 2) << "one event per element: " << e;
      EXPECT_TRUE(e.rfind("data: ", 0) == 0 || e.rfind("event: ", 0) == 0) << e;
    }
    // Each element parses to exactly one event.
    EXPECT_EQ(parse_events(joined(events)).size(), events.size());
  }

  // Chat Completions: calls announced with id+name, fragments interleaved by index, then
  // finish_reason, a usage chunk with no choices, and [DONE].
  auto chat = parse_events(joined(response_sse(WireApi::openai_chat, t, 4)));
  EXPECT_EQ(chat.back().data, "[DONE]");
  json usage_chunk = boost::json::parse(chat[chat.size() - 2].data);
  EXPECT_TRUE(usage_chunk.at("choices").as_array().empty());
  EXPECT_EQ(usage_chunk.at("usage").at("prompt_tokens"), 900);
  EXPECT_EQ(usage_chunk.at("usage").at("prompt_tokens_details").at("cached_tokens"), 512);
  json finish_chunk = boost::json::parse(chat[chat.size() - 3].data);
  EXPECT_EQ(finish_chunk.at("choices").at(0).at("finish_reason"), "tool_calls");
  std::vector<std::int64_t> order;
  for (const auto& e : chat) {
    if (e.data == "[DONE]") continue;
    json j = boost::json::parse(e.data);
    const json* calls = find_path(j, "choices/0/delta/tool_calls");
    if (!calls) continue;
    const json& c = calls->at(0);
    if (c.as_object().contains("id")) {
      EXPECT_EQ(c.at("function").at("arguments"), "");
      continue;
    }
    order.push_back(c.at("index").as_int64());
  }
  EXPECT_EQ(order, (std::vector<std::int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}));

  // Responses: argument deltas interleaved by output_index, then response.completed.
  auto resp = parse_events(joined(response_sse(WireApi::openai_responses, t, 4)));
  std::vector<std::int64_t> outputs;
  for (const auto& e : resp) {
    EXPECT_EQ(e.event, std::string(boost::json::parse(e.data).at("type").as_string()));
    if (e.event == "response.function_call_arguments.delta") {
      outputs.push_back(boost::json::parse(e.data).at("output_index").as_int64());
    }
  }
  EXPECT_EQ(outputs, (std::vector<std::int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(resp.back().event, "response.completed");

  // Anthropic: sequential blocks, each call's input in 4 input_json_delta events.
  auto ant = parse_events(joined(response_sse(WireApi::anthropic, t, 4)));
  EXPECT_EQ(ant.front().event, "message_start");
  EXPECT_EQ(ant.back().event, "message_stop");
  std::vector<std::int64_t> blocks;
  for (const auto& e : ant) {
    if (e.data.find("input_json_delta") != std::string::npos) {
      blocks.push_back(boost::json::parse(e.data).at("index").as_int64());
    }
  }
  EXPECT_EQ(blocks, (std::vector<std::int64_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}));

  // Gemini: one whole functionCall per chunk, finishReason only on the last chunk.
  auto gem = parse_events(joined(response_sse(WireApi::gemini, t, 4)));
  ASSERT_EQ(gem.size(), 4u);
  for (std::size_t k = 0; k < gem.size(); ++k) {
    json j = boost::json::parse(gem[k].data);
    bool last = k + 1 == gem.size();
    EXPECT_EQ(find_path(j, "candidates/0/finishReason") != nullptr, last);
    if (!last) {
      EXPECT_EQ(
          j.at("candidates").at(0).at("content").at("parts").at(0).at("functionCall").at("args"),
          t.tool_calls[k].arguments);
    }
  }
}

TEST(WireScript, SplitPiecesKeepsUtf8Whole) {
  std::string s = "ab✓cd你好ef";
  for (int n = 1; n <= 12; ++n) {
    auto pieces = split_pieces(s, n);
    std::string back;
    for (const auto& p : pieces) {
      EXPECT_FALSE(p.empty());
      EXPECT_NE(static_cast<unsigned char>(p[0]) & 0xC0, 0x80) << "piece starts mid-character";
      back += p;
    }
    EXPECT_EQ(back, s);
    EXPECT_LE(pieces.size(), static_cast<std::size_t>(n));
  }
  EXPECT_TRUE(split_pieces("", 3).empty());
}

// ---------------------------------------------------------------------------------------------
// HTTP error bodies

TEST(WireErrors, DecodeErrorMapsStatusAndKeepsMessage) {
  struct Case {
    int status;
    std::string message;
    ErrorType type;
  };
  const Case cases[] = {
      {400, "This model's maximum context length is 128000 tokens.", ErrorType::context_overflow},
      {400, "prompt is too long: 210000 tokens > 200000 maximum", ErrorType::context_overflow},
      {413, "Request exceeds the context window", ErrorType::context_overflow},
      {400, "Invalid value for 'temperature'", ErrorType::provider_error},
      {401, "Incorrect API key provided", ErrorType::auth_error},
      {403, "Permission denied", ErrorType::auth_error},
      {429, "Rate limit reached, slow down", ErrorType::rate_limited},
      {500, "The server had an error", ErrorType::provider_error},
      {503, "The model is overloaded", ErrorType::provider_error},
      {529, "Overloaded", ErrorType::provider_error},
  };
  for (auto api : kApis) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(wire_api_name(api)) + " " + std::to_string(c.status));
      Error e = codec_for(api).decode_error(c.status, error_json(api, c.status, c.message));
      EXPECT_EQ(e.type, c.type) << e.message;
      EXPECT_EQ(e.message, std::string(wire_api_name(api)) + " error " + std::to_string(c.status) +
                               ": " + c.message);
      EXPECT_EQ(e.details.at("status"), c.status);
    }
  }
  Error ant = codec_for(WireApi::anthropic)
                  .decode_error(429, error_json(WireApi::anthropic, 429, "Too many requests"));
  EXPECT_EQ(ant.details.at("provider_type"), "rate_limit_error");
  Error gem =
      codec_for(WireApi::gemini).decode_error(429, error_json(WireApi::gemini, 429, "Quota"));
  EXPECT_EQ(gem.details.at("provider_type"), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(gem.details.at("provider_code"), "429");
  Error oai = codec_for(WireApi::openai_chat)
                  .decode_error(429, error_json(WireApi::openai_chat, 429, "Slow down"));
  EXPECT_EQ(oai.details.at("provider_code"), "rate_limit_exceeded");
}

TEST(WireErrors, OpenAIContextLengthCodeIsOverflow) {
  std::string body =
      R"({"error":{"message":"Your input exceeds the limit.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})";
  Error e = codec_for(WireApi::openai_chat).decode_error(400, body);
  EXPECT_EQ(e.type, ErrorType::context_overflow);
  EXPECT_EQ(e.details.at("provider_code"), "context_length_exceeded");
}

TEST(WireErrors, GeminiBadKeyIsAuthError) {
  std::string body =
      R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}})";
  Error e = codec_for(WireApi::gemini).decode_error(400, body);
  EXPECT_EQ(e.type, ErrorType::auth_error);
  EXPECT_NE(e.message.find("API key not valid"), std::string::npos);
}

TEST(WireErrors, NonJsonBodiesAreQuotedShort) {
  for (auto api : kApis) {
    Error gw = codec_for(api).decode_error(502, "<html><body>502 Bad Gateway</body></html>\n");
    EXPECT_EQ(gw.type, ErrorType::provider_error);
    EXPECT_EQ(gw.message, std::string(wire_api_name(api)) +
                              " error 502: <html><body>502 Bad Gateway</body></html>");
    std::string huge(5000, 'x');
    Error big = codec_for(api).decode_error(500, huge);
    EXPECT_NE(big.message.find(std::string(500, 'x')), std::string::npos);
    EXPECT_EQ(big.message.find(std::string(501, 'x')), std::string::npos);
    Error empty = codec_for(api).decode_error(504, "");
    EXPECT_NE(empty.message.find("504"), std::string::npos);
    EXPECT_EQ(codec_for(api).decode_error(429, "slow down").type, ErrorType::rate_limited);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors inside a 200 stream

SseEvent ev(std::string data, std::string event = {}) {
  SseEvent e;
  e.event = std::move(event);
  e.data = std::move(data);
  return e;
}

Error first_error(WireApi api, const std::vector<SseEvent>& events) {
  StreamRun run = run_events(codec_for(api), events);
  EXPECT_FALSE(run.response.has_value());
  return run.response ? Error{} : run.response.error();
}

TEST(WireErrors, InBandStreamErrors) {
  Error ant = first_error(
      WireApi::anthropic,
      {ev(R"({"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}})",
          "message_start"),
       ev(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
          "error")});
  EXPECT_EQ(ant.type, ErrorType::provider_error);
  EXPECT_EQ(ant.details.at("status"), 529);
  EXPECT_EQ(ant.details.at("provider_type"), "overloaded_error");
  EXPECT_EQ(ant.message, "anthropic error 529: Overloaded");

  Error chat = first_error(
      WireApi::openai_chat,
      {ev(R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})")});
  EXPECT_EQ(chat.type, ErrorType::rate_limited);
  EXPECT_NE(chat.message.find("Rate limit reached"), std::string::npos);

  Error failed = first_error(
      WireApi::openai_responses,
      {ev(R"({"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"The server had an error while processing your request."}}})",
          "response.failed")});
  EXPECT_EQ(failed.type, ErrorType::provider_error);
  EXPECT_NE(failed.message.find("The server had an error"), std::string::npos);
  EXPECT_EQ(failed.details.at("provider_code"), "server_error");

  Error plain = first_error(
      WireApi::openai_responses,
      {ev(R"({"type":"error","code":"rate_limit_exceeded","message":"Too fast","param":null})",
          "error")});
  EXPECT_EQ(plain.type, ErrorType::rate_limited);
  EXPECT_NE(plain.message.find("Too fast"), std::string::npos);

  Error gem = first_error(
      WireApi::gemini,
      {ev(R"({"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}})")});
  EXPECT_EQ(gem.type, ErrorType::provider_error);
  EXPECT_EQ(gem.details.at("status"), 503);
  EXPECT_EQ(gem.message, "gemini error 503: The model is overloaded.");
}

TEST(WireErrors, ResponsesIncompleteIsLengthNotError) {
  ScriptedTurn t;
  t.text = "partial";
  t.finish = FinishReason::length;
  auto events = parse_events(joined(response_sse(WireApi::openai_responses, t)));
  EXPECT_EQ(events.back().event, "response.incomplete");
  StreamRun run = run_events(codec_for(WireApi::openai_responses), events);
  ASSERT_TRUE(run.response);
  EXPECT_EQ(run.response->finish_reason, FinishReason::length);
  EXPECT_EQ(run.response->raw_finish_reason, "max_output_tokens");
}

TEST(WireDecode, AnthropicStreamedThinkingBlockIsKeptWhole) {
  std::vector<SseEvent> events = {
      ev(R"({"type":"message_start","message":{"id":"m1","model":"claude","usage":{"input_tokens":5,"output_tokens":1}}})",
         "message_start"),
      ev(R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})",
         "content_block_start"),
      ev(R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}})",
         "content_block_delta"),
      ev(R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think."}})",
         "content_block_delta"),
      ev(R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"AAAA"}})",
         "content_block_delta"),
      ev(R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"BBBB"}})",
         "content_block_delta"),
      ev(R"({"type":"content_block_stop","index":0})", "content_block_stop"),
      ev(R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"ls","input":{}}})",
         "content_block_start"),
      ev(R"({"type":"content_block_stop","index":1})", "content_block_stop"),
      ev(R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})",
         "message_delta"),
      ev(R"({"type":"message_stop"})", "message_stop")};
  StreamRun run = run_events(codec_for(WireApi::anthropic), events);
  ASSERT_TRUE(run.response) << run.response.error().message;
  EXPECT_EQ(run.response->message.thinking, "Let me think.");
  EXPECT_EQ(
      run.response->message.provider_data,
      (json_object{{"anthropic",
                    json_object{{"blocks", json_array{json_object{{"type", "thinking"},
                                                                  {"thinking", "Let me think."},
                                                                  {"signature", "AAAABBBB"}}}}}}}));
  ASSERT_EQ(run.response->message.tool_calls.size(), 1u);
  EXPECT_EQ(run.response->message.tool_calls[0].raw_arguments, "{}");  // no input deltas
  EXPECT_EQ(run.response->message.tool_calls[0].arguments, json_object{});
  EXPECT_EQ(run.response->finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(run.response->usage.output, 9);
  EXPECT_EQ(run.response->usage.input, 5);
}

// ---------------------------------------------------------------------------------------------
// Malformed input

void expect_clear_error(const Result<ModelResponse>& r, WireApi api, std::string_view where) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().type, ErrorType::provider_error);
  EXPECT_EQ(r.error().message.rfind(std::string(wire_api_name(api)), 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find(where), std::string::npos) << r.error().message;
}

TEST(WireDecode, MalformedBodiesAreClearErrors) {
  for (auto api : kApis) {
    SCOPED_TRACE(std::string(wire_api_name(api)));
    const WireCodec& codec = codec_for(api);
    expect_clear_error(codec.decode(""), api, "response body");
    expect_clear_error(codec.decode("{\"id\": \"x\", "), api, "response body");
    expect_clear_error(codec.decode("[1, 2]"), api, "expected a JSON object");
    expect_clear_error(codec.decode("\"text\""), api, "response body");
    std::string full = response_json(api, turns()[2].second);
    expect_clear_error(codec.decode(full.substr(0, full.size() / 2)), api, "response body");
  }
  struct Case {
    WireApi api;
    const char* body;
    const char* says;
  };
  const Case cases[] = {
      {WireApi::openai_chat, R"({"choices":"none"})", "choices"},
      {WireApi::openai_chat, R"({"choices":[]})", "choices"},
      {WireApi::openai_chat, R"({"choices":[{"message":{"content":5}}]})", "content"},
      {WireApi::openai_chat, R"({"choices":[{"message":{"tool_calls":[{"id":"a"}]}}]})",
       "tool_calls[0]"},
      {WireApi::openai_chat, R"({"choices":[{"index":0}]})", "message"},
      {WireApi::openai_responses, R"({"status":"completed","output":{}})", "output"},
      {WireApi::openai_responses, R"({"status":"completed","output":[{"type":"function_call"}]})",
       "output[0]"},
      {WireApi::anthropic, R"({"type":"message","content":"hi"})", "content"},
      {WireApi::anthropic, R"({"type":"message","content":[{"type":"tool_use","id":"x"}]})",
       "content[0]"},
      {WireApi::gemini, R"({"candidates":[{"content":{"parts":"x"}}]})", "parts"},
      {WireApi::gemini, R"({"candidates":[{"content":{"parts":[{"text":5}]}}]})", "text"},
      {WireApi::gemini, R"({"candidates":[{"content":{"parts":[{"functionCall":{}}]}}]})",
       "functionCall"},
      {WireApi::gemini, R"({"usageMetadata":{}})", "candidates"},
      {WireApi::gemini, R"({"candidates":"x"})", "candidates"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    expect_clear_error(codec_for(c.api).decode(c.body), c.api, c.says);
  }
  // An error object in a 200 body is the provider's error, with its message.
  auto in_body = codec_for(WireApi::openai_chat)
                     .decode(R"({"error":{"message":"upstream failed","code":502}})");
  ASSERT_FALSE(in_body);
  EXPECT_NE(in_body.error().message.find("upstream failed"), std::string::npos);
  EXPECT_EQ(in_body.error().details.at("status"), 502);
}

TEST(WireDecode, MalformedStreamsAreClearErrors) {
  for (auto api : kApis) {
    SCOPED_TRACE(std::string(wire_api_name(api)));
    const WireCodec& codec = codec_for(api);
    StreamRun bad = run_events(codec, {ev("{not json", "message_start")});
    expect_clear_error(bad.response, api, "JSON");
    expect_clear_error(run_events(codec, {ev("[1,2,3]")}).response, api, "expected a JSON object");
    // Nothing at all, or only the beginning of an answer: not a complete response.
    expect_clear_error(run_events(codec, {}).response, api,
                       "ended before the response was complete");
    auto events = parse_events(joined(response_sse(api, turns()[0].second)));
    events.resize(1);
    expect_clear_error(run_events(codec, events).response, api,
                       "ended before the response was complete");
  }
  expect_clear_error(
      run_events(
          codec_for(WireApi::anthropic),
          {ev(R"({"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}})",
              "content_block_delta")})
          .response,
      WireApi::anthropic, "content block 3 was never started");
  expect_clear_error(
      run_events(codec_for(WireApi::openai_chat), {ev(R"({"choices":{"a":1}})")}).response,
      WireApi::openai_chat, "choices");
  expect_clear_error(
      run_events(
          codec_for(WireApi::openai_responses),
          {ev(R"({"type":"response.function_call_arguments.delta","item_id":"fc_9","delta":"{"})",
              "response.function_call_arguments.delta")})
          .response,
      WireApi::openai_responses, "unknown function call");
  // Wrong types inside otherwise fine events.
  expect_clear_error(run_events(codec_for(WireApi::openai_chat),
                                {ev(R"({"choices":[{"index":0,"delta":{"content":["x"]}}]})")})
                         .response,
                     WireApi::openai_chat, "\"content\" is array, expected a string");
  expect_clear_error(
      run_events(
          codec_for(WireApi::anthropic),
          {ev(R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
              "content_block_start"),
           ev(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":7}})",
              "content_block_delta")})
          .response,
      WireApi::anthropic, "event content_block_delta: \"text\" is integer");
  expect_clear_error(
      run_events(codec_for(WireApi::openai_responses),
                 {ev(R"({"type":"response.output_text.delta","output_index":0,"delta":{"t":1}})",
                     "response.output_text.delta")})
          .response,
      WireApi::openai_responses, "event response.output_text.delta: \"delta\" is object");
  // Argument fragments for a call that was never named.
  expect_clear_error(
      run_events(
          codec_for(WireApi::openai_chat),
          {ev(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]})"),
           ev(R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})")})
          .response,
      WireApi::openai_chat, "has no function name");
  // A [DONE] without a finish_reason is still incomplete.
  expect_clear_error(
      run_events(codec_for(WireApi::openai_chat),
                 {ev(R"({"choices":[{"index":0,"delta":{"content":"Hi"}}]})"), ev("[DONE]")})
          .response,
      WireApi::openai_chat, "before the response was complete");
}

// Damaged streams (cut and flipped bytes in every event) never throw or crash: each ends in a
// response or a clear error.
TEST(WireDecode, DamagedStreamsNeverThrow) {
  std::mt19937 rng(2024);
  for (auto api : kApis) {
    for (const auto& [name, turn] : turns()) {
      SCOPED_TRACE(std::string(wire_api_name(api)) + " / " + name);
      auto events = parse_events(joined(response_sse(api, turn)));
      for (int round = 0; round < 40; ++round) {
        auto damaged = events;
        for (auto& e : damaged) {
          if (e.data.empty() || rng() % 3 != 0) continue;
          std::size_t at = rng() % e.data.size();
          if (rng() % 2) {
            e.data.resize(at);
          } else {
            e.data[at] = static_cast<char>("{}[]\",:0x\\"[rng() % 10]);
          }
        }
        EXPECT_NO_THROW({
          StreamRun run = run_events(codec_for(api), damaged);
          if (!run.response) {
            EXPECT_EQ(run.response.error().message.rfind(std::string(wire_api_name(api)), 0), 0u)
                << run.response.error().message;
          }
        });
      }
      std::string body = response_json(api, turn);
      for (int round = 0; round < 40; ++round) {
        std::string damaged = body;
        damaged[rng() % damaged.size()] = static_cast<char>("{}[]\",:0x\\"[rng() % 10]);
        EXPECT_NO_THROW({ (void)codec_for(api).decode(damaged); });
      }
    }
  }
}

}  // namespace
}  // namespace cppflue::testing
