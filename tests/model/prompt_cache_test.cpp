// SPDX-License-Identifier: Apache-2.0
// Prompt caching on the wire: Anthropic cache_control breakpoints and OpenAI's
// prompt_cache_key, and what is left alone (compatible servers, prompt_cache = false).
#include <gtest/gtest.h>

#include "cppflue/model/wire.hpp"
#include "support/turns.hpp"

namespace cppflue::testing {
namespace {

const WireEndpoint kOpenAI{"https://api.openai.com/v1", "sk-test", {}};
const WireEndpoint kCompatible{"http://127.0.0.1:11434/v1", "", {}};
const WireEndpoint kLookalike{"https://api.openai.com.evil.example/v1", "k", {}};
const WireEndpoint kAnthropic{"https://api.anthropic.com", "sk-ant-test", {}};
const json kEphemeral = json_object{{"type", "ephemeral"}};

ModelRequest conversation(std::string system) {
  ModelRequest req;
  req.model = "m";
  req.system = std::move(system);
  req.messages = {user("list the files"),
                  assistant("", {raw_tool_call("t1", "ls", R"({"path":"."})")}),
                  tool_result("t1", "ls", "a.txt\nb.txt")};
  req.tools = {ToolSpec{"ls", "List files", json_object{{"type", "object"}}},
               ToolSpec{"read", "Read a file", json_object{{"type", "object"}}}};
  req.cache_key = "cppflue-0123456789abcdef";
  return req;
}

int breakpoints(const json& value) {
  int n = 0;
  if (value.is_object()) {
    for (const auto& kv : value.as_object()) {
      if (kv.key() == "cache_control") ++n;
      n += breakpoints(kv.value());
    }
  } else if (value.is_array()) {
    for (const auto& v : value.as_array()) n += breakpoints(v);
  }
  return n;
}

TEST(PromptCache, AnthropicCachesTheSystemPromptAndTheLastTurn) {
  json body = codec_for(WireApi::anthropic).encode(conversation("Be terse."), kAnthropic).body;
  // The system prompt is a block with a breakpoint: tools and system are cached together.
  EXPECT_EQ(body.at("system"),
            (json_array{json_object{
                {"type", "text"}, {"text", "Be terse."}, {"cache_control", kEphemeral}}}));
  // The last block of the conversation (the tool result) carries the other one.
  const json& last = body.at("messages").as_array().back().at("content").as_array().back();
  EXPECT_EQ(last.at("type"), "tool_result");
  EXPECT_EQ(last.at("cache_control"), kEphemeral);
  // Two breakpoints in all (the API allows four); none on the tools themselves.
  EXPECT_EQ(breakpoints(body), 2);
  EXPECT_EQ(breakpoints(body.at("tools")), 0);
}

TEST(PromptCache, AnthropicWithoutASystemPromptMarksTheLastTool) {
  json body = codec_for(WireApi::anthropic).encode(conversation(""), kAnthropic).body;
  EXPECT_FALSE(body.as_object().contains("system"));
  EXPECT_EQ(body.at("tools").as_array().back().at("cache_control"), kEphemeral);
  EXPECT_FALSE(body.at("tools").as_array().front().as_object().contains("cache_control"));
  EXPECT_EQ(breakpoints(body), 2);
}

TEST(PromptCache, AThinkingBlockLastGetsNoBreakpoint) {
  ModelRequest req = conversation("s");
  Message a = assistant("");
  a.provider_data = json_object{
      {"anthropic", json_object{{"blocks", json_array{json_object{{"type", "thinking"},
                                                                  {"thinking", "hm"},
                                                                  {"signature", "x"}}}}}}};
  req.messages = {user("q"), a};
  json body = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  const json& content = body.at("messages").as_array().back().at("content");
  ASSERT_TRUE(content.is_array());
  EXPECT_EQ(breakpoints(content), 0);
  EXPECT_EQ(breakpoints(body), 1);  // the system prompt's
}

TEST(PromptCache, TurnedOffNothingIsMarked) {
  ModelRequest req = conversation("Be terse.");
  req.prompt_cache = false;
  json anthropic = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  EXPECT_EQ(breakpoints(anthropic), 0);
  EXPECT_EQ(anthropic.at("system"), "Be terse.");
  for (auto api : {WireApi::openai_chat, WireApi::openai_responses}) {
    EXPECT_FALSE(codec_for(api).encode(req, kOpenAI).body.as_object().contains("prompt_cache_key"));
  }
}

TEST(PromptCache, OpenAIGetsTheSessionKeyOnlyFromItsOwnAPI) {
  ModelRequest req = conversation("s");
  for (auto api : {WireApi::openai_chat, WireApi::openai_responses}) {
    json body = codec_for(api).encode(req, kOpenAI).body;
    EXPECT_EQ(body.at("prompt_cache_key"), "cppflue-0123456789abcdef");
    // A compatible server may refuse parameters it does not know.
    EXPECT_FALSE(
        codec_for(api).encode(req, kCompatible).body.as_object().contains("prompt_cache_key"));
    EXPECT_FALSE(
        codec_for(api).encode(req, kLookalike).body.as_object().contains("prompt_cache_key"));
  }
  req.cache_key.clear();
  EXPECT_FALSE(codec_for(WireApi::openai_chat)
                   .encode(req, kOpenAI)
                   .body.as_object()
                   .contains("prompt_cache_key"));
}

}  // namespace
}  // namespace cppflue::testing
