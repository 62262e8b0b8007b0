// SPDX-License-Identifier: Apache-2.0
// The request encoders: recorded multi-turn conversations rebuilt as ModelRequests (with the
// assistant turns decoded from the recorded answers, as the agent loop does) must encode to the
// structure of the recorded request bodies; plus unit cases for each API's rules.
#include <gtest/gtest.h>

#include "cppflue/model/wire.hpp"
#include "support/fixtures.hpp"
#include "support/turns.hpp"

namespace cppflue::testing {
namespace {

// The assistant message the decoder makes of recorded answer `n`.
Message decoded(const Cassette& c, std::size_t n) {
  const Interaction& i = c.interactions.at(n);
  const WireCodec& codec = codec_for(*api_for_uri(i.uri));
  if (is_event_stream(i)) {
    StreamRun run = run_stream(codec, i.response_text);
    EXPECT_TRUE(run.response.has_value()) << run.response.error().message;
    return run.response ? run.response->message : Message{};
  }
  auto r = codec.decode(i.response_text);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r ? r->message : Message{};
}

std::string str_at(const json& v, std::string_view path) {
  const json* p = find_path(v, path);
  return p && p->is_string() ? std::string(p->get_string()) : std::string();
}

std::string without_query(const std::string& uri) {
  return uri.substr(0, uri.find('?'));
}

std::string header(const EncodedRequest& r, std::string_view name) {
  return find_header(r.headers, name).value_or("<absent>");
}

const WireEndpoint kOpenAI{"https://api.openai.com/v1/", "sk-test", {}};
const WireEndpoint kAnthropic{"https://api.anthropic.com", "sk-ant-test", {}};
const WireEndpoint kGemini{"https://generativelanguage.googleapis.com", "g-key", {}};

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions

TEST(WireEncode, OpenAIChatToolRoundMatchesRecording) {
  Cassette c =
      load_cassette("openai-chat", "test_openai_instructions_with_tool_calls_keep_instructions");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.model = "gpt-4.1-mini";
  req.system = "You are a helpful assistant.";
  req.stream = false;
  Message a = decoded(c, 0);
  req.messages = {user("What is the temperature in Tokyo?"), a,
                  tool_result(a.tool_calls.at(0).id, "get_temperature", "20.0")};
  req.tools = {
      ToolSpec{"get_temperature", "", rec.at("tools").at(0).at("function").at("parameters")}};
  EncodedRequest enc = codec_for(WireApi::openai_chat).encode(req, kOpenAI);

  EXPECT_EQ(enc.url, c.interactions.at(1).uri);
  EXPECT_EQ(header(enc, "authorization"), "Bearer sk-test");
  EXPECT_EQ(header(enc, "content-type"), "application/json");
  const auto& got = enc.body.at("messages").as_array();
  const auto& want = rec.at("messages").as_array();
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got[0], want[0]);  // system first
  EXPECT_EQ(got[1], want[1]);
  EXPECT_EQ(got[2].at("role"), "assistant");
  EXPECT_EQ(got[2].at("tool_calls"), want[2].at("tool_calls"));
  EXPECT_TRUE(got[2].at("content").is_null());
  EXPECT_EQ(got[3], want[3]);  // {"role":"tool","tool_call_id","content"}
  const json& tool = enc.body.at("tools").at(0);
  EXPECT_EQ(tool.at("type"), "function");
  EXPECT_EQ(tool.at("function").at("name"), "get_temperature");
  EXPECT_EQ(tool.at("function").at("parameters"),
            rec.at("tools").at(0).at("function").at("parameters"));
  EXPECT_EQ(enc.body.at("model"), rec.at("model"));
  EXPECT_EQ(enc.body.at("stream"), false);
  EXPECT_FALSE(enc.body.as_object().contains("stream_options"));
  EXPECT_FALSE(enc.body.as_object().contains("reasoning_effort"));
}

TEST(WireEncode, OpenAIChatStreamedToolRoundMatchesRecording) {
  Cassette c = load_cassette("openai-chat", "test_run_stream_sync_streams_real_model");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.model = "gpt-4o-mini";
  Message a = decoded(c, 0);  // decoded from the recorded SSE stream
  req.messages = {user("What is the capital of the UK? Use the tool, then answer."), a,
                  tool_result(a.tool_calls.at(0).id, "get_capital", "London")};
  req.tools = {ToolSpec{"get_capital", "", rec.at("tools").at(0).at("function").at("parameters")}};
  EncodedRequest enc = codec_for(WireApi::openai_chat).encode(req, kOpenAI);
  // Whole message list, byte for byte the recorded structure.
  EXPECT_EQ(enc.body.at("messages"), rec.at("messages"));
  EXPECT_EQ(enc.body.at("stream"), rec.at("stream"));
  EXPECT_EQ(enc.body.at("stream_options"), rec.at("stream_options"));
}

TEST(WireEncode, OpenAIChatMultiTurnMatchesRecording) {
  Cassette c = load_cassette("openai-chat", "test_multiple_agent_tool_calls");
  const json& rec = c.interactions.at(3).request_body;
  ModelRequest req;
  req.model = "gpt-4o-mini";
  req.stream = false;
  Message first;
  first.role = Role::assistant;
  first.tool_calls = {raw_tool_call("pyd_ai_504f8147f83f44f3a5f14d87bfd01bda", "get_capital",
                                    R"({"country":"France"})")};
  Message second = decoded(c, 2);
  req.messages = {user("What is the capital of France?"),
                  first,
                  tool_result("pyd_ai_504f8147f83f44f3a5f14d87bfd01bda", "get_capital", "Paris"),
                  assistant("The capital of France is Paris.\n"),
                  user("What is the capital of England?"),
                  second,
                  tool_result(second.tool_calls.at(0).id, "get_capital", "London")};
  json_object params = rec.at("tools").at(0).at("function").at("parameters").as_object();
  req.tools = {ToolSpec{"get_capital", "Get the capital of a country.", params}};
  EncodedRequest enc = codec_for(WireApi::openai_chat).encode(req, kOpenAI);
  json messages = enc.body.at("messages");
  // The recording omits "content" on tool-call-only assistant messages; we send null.
  for (auto& m : messages.as_array()) {
    if (m.as_object().contains("tool_calls")) {
      EXPECT_TRUE(m.at("content").is_null());
      m.as_object().erase("content");
    }
  }
  EXPECT_EQ(messages, rec.at("messages"));
  EXPECT_EQ(enc.body.at("tools").at(0).at("function").at("description"),
            "Get the capital of a country.");
  EXPECT_EQ(enc.body.at("tools").at(0).at("function").at("parameters"), params);
}

TEST(WireEncode, OpenAIChatReasoningEffortMatchesRecording) {
  Cassette c = load_cassette("openai-chat", "test_openai_model_thinking_part");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.model = "o3-mini";
  req.thinking = ThinkingLevel::high;
  req.messages = {user("How do I cross the street?")};
  EncodedRequest enc = codec_for(WireApi::openai_chat).encode(req, kOpenAI);
  EXPECT_EQ(enc.body.at("reasoning_effort"), rec.at("reasoning_effort"));
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses

TEST(WireEncode, OpenAIResponsesReasoningReplayMatchesRecording) {
  Cassette c = load_cassette("openai-responses", "test_openai_responses_thinking_with_tool_calls");
  const json& rec = c.interactions.at(1).request_body;
  const auto& rec_input = rec.at("input").as_array();
  ModelRequest req;
  req.model = "gpt-5";
  req.system = std::string(rec.at("instructions").as_string());
  req.thinking = ThinkingLevel::low;
  req.stream = false;
  Message a = decoded(c, 0);
  ASSERT_EQ(a.tool_calls.size(), 1u);
  req.messages = {user(std::string(rec_input[0].at("content").as_string())), a,
                  tool_result(a.tool_calls[0].id, "update_plan", "plan updated")};
  req.tools = {ToolSpec{"update_plan", "", rec.at("tools").at(0).at("parameters")}};
  EncodedRequest enc = codec_for(WireApi::openai_responses).encode(req, kOpenAI);

  EXPECT_EQ(enc.url, c.interactions.at(1).uri);
  EXPECT_EQ(header(enc, "authorization"), "Bearer sk-test");
  EXPECT_EQ(enc.body.at("instructions"), rec.at("instructions"));
  const auto& input = enc.body.at("input").as_array();
  ASSERT_EQ(input.size(), rec_input.size());
  EXPECT_EQ(input[0].at("role"), "user");
  EXPECT_EQ(input[0].at("content").at(0).at("type"), "input_text");
  EXPECT_EQ(input[0].at("content").at(0).at("text"), rec_input[0].at("content"));
  EXPECT_EQ(input[1], rec_input[1]);  // the reasoning item, replayed verbatim
  EXPECT_EQ(input[2], rec_input[2]);  // function_call with call_id, name, arguments and item id
  EXPECT_EQ(input[3], rec_input[3]);  // function_call_output
  EXPECT_EQ(enc.body.at("reasoning").at("effort"), rec.at("reasoning").at("effort"));
  EXPECT_EQ(enc.body.at("include"), rec.at("include"));
  const json& tool = enc.body.at("tools").at(0);
  EXPECT_EQ(tool.at("type"), "function");
  EXPECT_EQ(tool.at("name"), "update_plan");
  EXPECT_EQ(tool.at("parameters"), rec.at("tools").at(0).at("parameters"));
  EXPECT_EQ(tool.at("strict"), false);
  EXPECT_EQ(enc.body.at("stream"), false);
}

TEST(WireEncode, OpenAIResponsesParallelCallsMatchRecording) {
  Cassette c = load_cassette("openai-responses", "test_openai_responses_model_retry");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.model = "gpt-4o";
  Message a = decoded(c, 0);
  ASSERT_EQ(a.tool_calls.size(), 2u);
  req.messages = {user("What is the location of Londos and London?"), a,
                  tool_result(a.tool_calls[0].id, "get_location",
                              "Wrong location, I only know about \"London\".\n\nFix the errors and "
                              "try again.",
                              true),
                  tool_result(a.tool_calls[1].id, "get_location", R"({"lat": 51, "lng": 0})")};
  EncodedRequest enc = codec_for(WireApi::openai_responses).encode(req, kOpenAI);
  // The recording has an empty assistant text message we do not send.
  json_array want;
  for (const auto& item : rec.at("input").as_array()) {
    if (str_at(item, "role") == "assistant" && str_at(item, "content").empty()) continue;
    want.push_back(item);
  }
  const auto& got = enc.body.at("input").as_array();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 1; k < got.size(); ++k) {
    json item = got[k];
    item.as_object().erase("id");  // we also replay the fc_ item id; this recording did not
    EXPECT_EQ(item, want[k]) << k;
  }
}

// ---------------------------------------------------------------------------------------------
// Anthropic

TEST(WireEncode, AnthropicThinkingToolRoundMatchesRecording) {
  Cassette c = load_cassette("anthropic", "test_anthropic_tool_with_thinking");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.prompt_cache = false;  // the recording was made without cache breakpoints
  req.model = "claude-sonnet-4-0";
  req.thinking = ThinkingLevel::low;
  req.max_output_tokens = 4096;
  req.stream = false;
  Message a = decoded(c, 0);
  req.messages = {user("What is the largest city in the user country?"), a,
                  tool_result(a.tool_calls.at(0).id, "get_user_country", "Mexico")};
  req.tools = {ToolSpec{"get_user_country", "", rec.at("tools").at(0).at("input_schema")}};
  EncodedRequest enc = codec_for(WireApi::anthropic).encode(req, kAnthropic);

  EXPECT_EQ(enc.url, without_query(c.interactions.at(1).uri));
  EXPECT_EQ(header(enc, "x-api-key"), "sk-ant-test");
  EXPECT_EQ(header(enc, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(header(enc, "authorization"), "<absent>");
  // Thinking block with signature, text, tool_use; then the tool_result in a user message.
  EXPECT_EQ(enc.body.at("messages"), rec.at("messages"));
  EXPECT_EQ(enc.body.at("tools"), rec.at("tools"));
  EXPECT_EQ(enc.body.at("thinking").at("type"), rec.at("thinking").at("type"));
  EXPECT_EQ(enc.body.at("thinking").at("budget_tokens"), 2048);
  EXPECT_GT(enc.body.at("max_tokens").to_number<int>(), 2048);
  EXPECT_EQ(enc.body.at("stream"), false);
}

TEST(WireEncode, AnthropicParallelResultsMergeLikeRecording) {
  Cassette c = load_cassette("anthropic", "test_multiple_parallel_tool_calls");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.prompt_cache = false;  // the recording was made without cache breakpoints
  req.model = "claude-haiku-4-5";
  req.system = std::string(rec.at("system").as_string());
  req.max_output_tokens = 4096;
  Message a = decoded(c, 0);
  ASSERT_EQ(a.tool_calls.size(), 4u);
  const char* results[] = {"alice is bob's wife", "bob is alice's husband",
                           "charlie is alice's son",
                           "daisy is bob's daughter and charlie's younger sister"};
  req.messages = {user("Alice, Bob, Charlie and Daisy are a family. Who is the youngest?"), a};
  for (int k = 0; k < 4; ++k) {
    req.messages.push_back(tool_result(a.tool_calls[k].id, "retrieve_entity_info", results[k]));
  }
  req.tools = {ToolSpec{"retrieve_entity_info", "Get the knowledge about the given entity.",
                        rec.at("tools").at(0).at("input_schema")}};
  EncodedRequest enc = codec_for(WireApi::anthropic).encode(req, kAnthropic);
  EXPECT_EQ(enc.body.at("system"), rec.at("system"));
  EXPECT_EQ(enc.body.at("messages"), rec.at("messages"));
  EXPECT_EQ(enc.body.at("tools"), rec.at("tools"));
  EXPECT_EQ(enc.body.at("max_tokens"), rec.at("max_tokens"));
}

TEST(WireEncode, AnthropicThinkingReplayMatchesRecording) {
  Cassette c = load_cassette("anthropic", "test_anthropic_model_thinking_part");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.prompt_cache = false;  // the recording was made without cache breakpoints
  req.model = "claude-sonnet-4-5";
  req.thinking = ThinkingLevel::minimal;
  req.messages = {user("How do I cross the street?"), decoded(c, 0),
                  user("Considering the way to cross the street, analogously, how do I cross the "
                       "river?")};
  EncodedRequest enc = codec_for(WireApi::anthropic).encode(req, kAnthropic);
  EXPECT_EQ(enc.body.at("messages"), rec.at("messages"));
  EXPECT_EQ(enc.body.at("thinking"), rec.at("thinking"));  // minimal = 1024, as recorded
}

// ---------------------------------------------------------------------------------------------
// Gemini

std::string base64_std(std::string s) {
  for (auto& ch : s) {
    if (ch == '-') ch = '+';
    if (ch == '_') ch = '/';
  }
  return s;
}

TEST(WireEncode, GeminiRetryConversationMatchesRecording) {
  Cassette c = load_cassette("gemini", "test_google_model_retry");
  const json& rec = c.interactions.at(2).request_body;
  ModelRequest req;
  req.model = "gemini-2.5-pro";
  req.system = "You are a helpful chatbot.";
  req.stream = false;
  Message a1 = decoded(c, 0);
  Message a2 = decoded(c, 1);
  std::string error_text =
      "The country is not supported. Use \"La France\" instead.\n\nFix the errors and try again.";
  req.messages = {user("What is the capital of France?"), a1,
                  tool_result(a1.tool_calls.at(0).id, "get_capital", error_text, true), a2,
                  tool_result(a2.tool_calls.at(0).id, "get_capital", "Paris")};
  req.tools = {ToolSpec{
      "get_capital", "Get the capital of a country.",
      rec.at("tools").at(0).at("functionDeclarations").at(0).at("parameters_json_schema")}};
  EncodedRequest enc = codec_for(WireApi::gemini).encode(req, kGemini);

  EXPECT_EQ(enc.url, c.interactions.at(2).uri);
  EXPECT_EQ(header(enc, "x-goog-api-key"), "g-key");
  EXPECT_EQ(enc.body.at("systemInstruction").at("parts"), rec.at("systemInstruction").at("parts"));
  EXPECT_EQ(enc.body.at("tools"), rec.at("tools"));
  const auto& got = enc.body.at("contents").as_array();
  const auto& want = rec.at("contents").as_array();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    SCOPED_TRACE("contents[" + std::to_string(k) + "]");
    EXPECT_EQ(got[k].at("role"), want[k].at("role"));
    const auto& gp = got[k].at("parts").as_array();
    const auto& wp = want[k].at("parts").as_array();
    ASSERT_EQ(gp.size(), wp.size());
    for (std::size_t p = 0; p < gp.size(); ++p) {
      if (const json* fc = find(wp[p], "functionCall")) {
        EXPECT_EQ(gp[p].at("functionCall").at("name"), fc->at("name"));
        EXPECT_EQ(gp[p].at("functionCall").at("args"), fc->at("args"));
        // The recording re-encoded the signature as base64url; the bytes are the same.
        EXPECT_EQ(str_at(gp[p], "thoughtSignature"), base64_std(str_at(wp[p], "thoughtSignature")));
      } else if (const json* fr = find(wp[p], "functionResponse")) {
        EXPECT_EQ(gp[p].at("functionResponse").at("name"), fr->at("name"));
        const auto& response = gp[p].at("functionResponse").at("response").as_object();
        const auto& rec_response = fr->at("response").as_object();
        ASSERT_EQ(response.size(), 1u);
        EXPECT_EQ(response.begin()->value(), rec_response.begin()->value());
      } else {
        EXPECT_EQ(gp[p], wp[p]);
      }
    }
  }
  // The retry prompt is an error result, as recorded.
  EXPECT_EQ(got[2].at("parts").at(0).at("functionResponse").at("response"),
            want[2].at("parts").at(0).at("functionResponse").at("response"));
  // Results are linked to their calls by id.
  EXPECT_EQ(got[2].at("parts").at(0).at("functionResponse").at("id"),
            got[1].at("parts").at(0).at("functionCall").at("id"));
  EXPECT_EQ(got[4].at("parts").at(0).at("functionResponse").at("id"), json(a2.tool_calls[0].id));
  EXPECT_FALSE(enc.body.as_object().contains("generationConfig"));
}

TEST(WireEncode, GeminiParallelResultsMergeLikeRecording) {
  Cassette c = load_cassette("gemini", "test_google_instructions_only_with_tool_calls");
  const json& rec = c.interactions.at(1).request_body;
  ModelRequest req;
  req.model = "gemini-3-flash-preview";
  req.system = "Tell three jokes. Generate topics with the generate_topic tool.";
  req.stream = false;
  Message a = decoded(c, 0);
  ASSERT_EQ(a.tool_calls.size(), 3u);
  req.messages = {user(""), a};
  const char* topics[] = {"cars", "penguins", "cars"};
  for (int k = 0; k < 3; ++k) {
    req.messages.push_back(tool_result(a.tool_calls[k].id, "", topics[k]));  // name from the call
  }
  EncodedRequest enc = codec_for(WireApi::gemini).encode(req, kGemini);
  const auto& got = enc.body.at("contents").as_array();
  const auto& want = rec.at("contents").as_array();
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(got[0], want[0]);  // {"role":"user","parts":[{"text":""}]}
  ASSERT_EQ(got[1].at("parts").as_array().size(), 3u);
  ASSERT_EQ(got[2].at("parts").as_array().size(), 3u);
  EXPECT_EQ(got[2].at("role"), "user");
  for (std::size_t k = 0; k < 3; ++k) {
    const json& fc = got[1].at("parts").at(k);
    const json& fr = got[2].at("parts").at(k).at("functionResponse");
    EXPECT_EQ(fc.at("functionCall").at("name"), "generate_topic");
    EXPECT_EQ(fr.at("name"), "generate_topic");
    EXPECT_EQ(fr.at("id"), fc.at("functionCall").at("id"));
    EXPECT_EQ(fr.at("response").at("result"),
              want[2].at("parts").at(k).at("functionResponse").at("response").at("return_value"));
    EXPECT_EQ(fc.as_object().contains("thoughtSignature"),
              want[1].at("parts").at(k).as_object().contains("thoughtSignature"));
  }
}

TEST(WireEncode, GeminiThinkingAndStreamingMatchRecording) {
  Cassette c = load_cassette("gemini", "test_google_model_thinking_part_iter");
  const Interaction& i = c.interactions.at(0);
  ModelRequest req;
  req.model = "gemini-2.5-pro";
  req.system = "You are a helpful assistant.";
  req.thinking = ThinkingLevel::medium;
  req.messages = {user("How do I cross the street?")};
  EncodedRequest enc = codec_for(WireApi::gemini).encode(req, kGemini);
  EXPECT_EQ(enc.url, i.uri);  // ...:streamGenerateContent?alt=sse
  EXPECT_EQ(enc.body.at("generationConfig").at("thinkingConfig").at("includeThoughts"),
            i.request_body.at("generationConfig").at("thinkingConfig").at("includeThoughts"));
  EXPECT_EQ(enc.body.at("generationConfig").at("thinkingConfig").at("thinkingBudget"), 8192);
  EXPECT_EQ(enc.body.at("contents"), i.request_body.at("contents"));
}

// ---------------------------------------------------------------------------------------------
// Unit cases

// Without prompt caching (prompt_cache_test.cpp covers the cache breakpoints).
ModelRequest simple(std::string system = {}) {
  ModelRequest req;
  req.prompt_cache = false;
  req.model = "m";
  req.system = std::move(system);
  req.messages = {user("hi")};
  return req;
}

TEST(WireEncode, SystemPromptPlacement) {
  ModelRequest req = simple("Be terse.");
  json chat = codec_for(WireApi::openai_chat).encode(req, kOpenAI).body;
  EXPECT_EQ(chat.at("messages").at(0), (json_object{{"role", "system"}, {"content", "Be terse."}}));
  EXPECT_EQ(chat.at("messages").at(1).at("role"), "user");
  json responses = codec_for(WireApi::openai_responses).encode(req, kOpenAI).body;
  EXPECT_EQ(responses.at("instructions"), "Be terse.");
  EXPECT_EQ(responses.at("input").as_array().size(), 1u);
  json anthropic = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  EXPECT_EQ(anthropic.at("system"), "Be terse.");
  EXPECT_EQ(anthropic.at("messages").as_array().size(), 1u);
  json gemini = codec_for(WireApi::gemini).encode(req, kGemini).body;
  EXPECT_EQ(gemini.at("systemInstruction").at("parts").at(0).at("text"), "Be terse.");

  // No system prompt: nothing sent.
  ModelRequest bare = simple();
  EXPECT_EQ(
      codec_for(WireApi::openai_chat).encode(bare, kOpenAI).body.at("messages").at(0).at("role"),
      "user");
  EXPECT_FALSE(codec_for(WireApi::openai_responses)
                   .encode(bare, kOpenAI)
                   .body.as_object()
                   .contains("instructions"));
  EXPECT_FALSE(
      codec_for(WireApi::anthropic).encode(bare, kAnthropic).body.as_object().contains("system"));
  EXPECT_FALSE(codec_for(WireApi::gemini)
                   .encode(bare, kGemini)
                   .body.as_object()
                   .contains("systemInstruction"));

  // A system message inside the conversation joins the system prompt where the API has no
  // system role in its message list.
  Message sys;
  sys.role = Role::system;
  sys.text = "Also be kind.";
  req.messages.push_back(sys);
  EXPECT_EQ(codec_for(WireApi::anthropic).encode(req, kAnthropic).body.at("system"),
            "Be terse.\n\nAlso be kind.");
  EXPECT_EQ(codec_for(WireApi::gemini)
                .encode(req, kGemini)
                .body.at("systemInstruction")
                .at("parts")
                .at(0)
                .at("text"),
            "Be terse.\n\nAlso be kind.");
  EXPECT_EQ(codec_for(WireApi::openai_chat).encode(req, kOpenAI).body.at("messages").at(2),
            (json_object{{"role", "system"}, {"content", "Also be kind."}}));
}

TEST(WireEncode, AnthropicMergesForAlternation) {
  ModelRequest req = simple();
  req.messages.push_back(user("and another thing"));  // consecutive user messages
  Message a;
  a.role = Role::assistant;
  a.tool_calls = {raw_tool_call("t1", "read", R"({"path":"a"})"),
                  raw_tool_call("t2", "read", R"({"path":"b"})")};
  req.messages.push_back(a);
  req.messages.push_back(tool_result("t1", "read", "A"));
  req.messages.push_back(tool_result("t2", "read", "denied", true));
  req.messages.push_back(user("thanks, now summarise"));
  json body = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  const auto& msgs = body.at("messages").as_array();
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].at("role"), "user");
  EXPECT_EQ(msgs[0].at("content").as_array().size(), 2u);
  EXPECT_EQ(msgs[1].at("role"), "assistant");
  EXPECT_EQ(msgs[1].at("content").at(0), (json_object{{"type", "tool_use"},
                                                      {"id", "t1"},
                                                      {"name", "read"},
                                                      {"input", json_object{{"path", "a"}}}}));
  EXPECT_EQ(msgs[2].at("role"), "user");
  const auto& content = msgs[2].at("content").as_array();
  ASSERT_EQ(content.size(), 3u);
  EXPECT_EQ(
      content[0],
      (json_object{
          {"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "A"}, {"is_error", false}}));
  EXPECT_EQ(content[1].at("is_error"), true);
  EXPECT_EQ(content[2], (json_object{{"type", "text"}, {"text", "thanks, now summarise"}}));
}

TEST(WireEncode, GeminiFunctionResponseWrapping) {
  ModelRequest req = simple();
  Message a;
  a.role = Role::assistant;
  a.tool_calls = {raw_tool_call("c1", "lookup", "{}"), raw_tool_call("c2", "list", "{}"),
                  raw_tool_call("c3", "fail", "{}"), raw_tool_call("c4", "weird", "{}")};
  a.tool_calls[0].provider_data = json_object{{"thoughtSignature", "c2ln"}};
  req.messages.push_back(a);
  req.messages.push_back(tool_result("c1", "lookup", R"({"temp": 20, "unit": "C"})"));
  req.messages.push_back(tool_result("c2", "", "[1,2,3]"));  // not an object; name from the call
  req.messages.push_back(tool_result("c3", "fail", "boom", true));
  req.messages.push_back(tool_result("c4", "weird", "plain text"));
  json body = codec_for(WireApi::gemini).encode(req, kGemini).body;
  const auto& contents = body.at("contents").as_array();
  ASSERT_EQ(contents.size(), 3u);
  EXPECT_EQ(contents[1].at("role"), "model");
  EXPECT_EQ(contents[1].at("parts").at(0).at("thoughtSignature"), "c2ln");
  EXPECT_FALSE(contents[1].at("parts").at(1).as_object().contains("thoughtSignature"));
  const auto& parts = contents[2].at("parts").as_array();
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(contents[2].at("role"), "user");
  EXPECT_EQ(parts[0].at("functionResponse"),
            (json_object{{"name", "lookup"},
                         {"id", "c1"},
                         {"response", json_object{{"temp", 20}, {"unit", "C"}}}}));
  EXPECT_EQ(parts[1].at("functionResponse").at("name"), "list");
  EXPECT_EQ(parts[1].at("functionResponse").at("response"), (json_object{{"result", "[1,2,3]"}}));
  EXPECT_EQ(parts[2].at("functionResponse").at("response"), (json_object{{"error", "boom"}}));
  EXPECT_EQ(parts[3].at("functionResponse").at("response"),
            (json_object{{"result", "plain text"}}));
}

TEST(WireEncode, EndpointHeadersAndAuth) {
  WireEndpoint ep{
      "http://localhost:8080/v1", "k", {{"x-extra", "1"}, {"OpenAI-Organization", "o"}}};
  struct Case {
    WireApi api;
    const char* auth;
    const char* value;
  };
  for (auto c :
       {Case{WireApi::openai_chat, "Authorization", "Bearer k"},
        Case{WireApi::openai_responses, "Authorization", "Bearer k"},
        Case{WireApi::anthropic, "x-api-key", "k"}, Case{WireApi::gemini, "x-goog-api-key", "k"}}) {
    SCOPED_TRACE(std::string(wire_api_name(c.api)));
    EncodedRequest enc = codec_for(c.api).encode(simple(), ep);
    ASSERT_FALSE(enc.headers.empty());
    EXPECT_EQ(enc.headers.front(),
              (std::pair<std::string, std::string>{"content-type", "application/json"}));
    EXPECT_EQ(header(enc, c.auth), c.value);
    EXPECT_EQ(header(enc, "x-extra"), "1");
    EXPECT_EQ(header(enc, "openai-organization"), "o");
    // Extra headers come after ours, so a configured header can be seen last.
    EXPECT_EQ(enc.headers.back().first, "OpenAI-Organization");

    WireEndpoint keyless{"http://localhost:11434/v1", "", {}};
    EncodedRequest open = codec_for(c.api).encode(simple(), keyless);
    EXPECT_EQ(header(open, c.auth), "<absent>");
  }
}

TEST(WireEncode, UrlsWithAndWithoutTrailingSlash) {
  ModelRequest req = simple();
  for (const char* base : {"https://api.openai.com/v1", "https://api.openai.com/v1/"}) {
    WireEndpoint ep{base, "", {}};
    EXPECT_EQ(codec_for(WireApi::openai_chat).encode(req, ep).url,
              "https://api.openai.com/v1/chat/completions");
    EXPECT_EQ(codec_for(WireApi::openai_responses).encode(req, ep).url,
              "https://api.openai.com/v1/responses");
  }
  for (const char* base : {"https://api.anthropic.com", "https://api.anthropic.com/",
                           "https://api.anthropic.com/v1", "https://api.anthropic.com/v1/"}) {
    EXPECT_EQ(codec_for(WireApi::anthropic).encode(req, WireEndpoint{base, "", {}}).url,
              "https://api.anthropic.com/v1/messages");
  }
  req.model = "models/gemini-2.5-flash";
  req.stream = false;
  EXPECT_EQ(codec_for(WireApi::gemini)
                .encode(req, WireEndpoint{"https://generativelanguage.googleapis.com/", "", {}})
                .url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:"
            "generateContent");
  req.stream = true;
  EXPECT_EQ(
      codec_for(WireApi::gemini).encode(req, WireEndpoint{"http://127.0.0.1:9/v1beta", "", {}}).url,
      "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

TEST(WireEncode, ImagesInEachApi) {
  ModelRequest req;
  req.model = "m";
  Message m = user("describe");
  m.images = {Image{"image/png", "iVBORw0KGgo=", ""},
              Image{"image/jpeg", "", "https://example.com/a.jpg"},
              Image{"image/png", "", "data:image/webp;base64,UklGRg=="}};
  req.messages = {m};

  json chat = codec_for(WireApi::openai_chat).encode(req, kOpenAI).body;
  const auto& cp = chat.at("messages").at(0).at("content").as_array();
  ASSERT_EQ(cp.size(), 4u);
  EXPECT_EQ(cp[0], (json_object{{"type", "text"}, {"text", "describe"}}));
  EXPECT_EQ(cp[1].at("type"), "image_url");
  EXPECT_EQ(cp[1].at("image_url").at("url"), "data:image/png;base64,iVBORw0KGgo=");
  EXPECT_EQ(cp[2].at("image_url").at("url"), "https://example.com/a.jpg");

  json resp = codec_for(WireApi::openai_responses).encode(req, kOpenAI).body;
  const auto& rp = resp.at("input").at(0).at("content").as_array();
  ASSERT_EQ(rp.size(), 4u);
  EXPECT_EQ(rp[0].at("type"), "input_text");
  EXPECT_EQ(rp[1], (json_object{{"type", "input_image"},
                                {"image_url", "data:image/png;base64,iVBORw0KGgo="}}));

  json ant = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  const auto& ap = ant.at("messages").at(0).at("content").as_array();
  ASSERT_EQ(ap.size(), 4u);
  EXPECT_EQ(ap[0], (json_object{{"type", "image"},
                                {"source", json_object{{"type", "base64"},
                                                       {"media_type", "image/png"},
                                                       {"data", "iVBORw0KGgo="}}}}));
  EXPECT_EQ(ap[1], (json_object{{"type", "image"},
                                {"source", json_object{{"type", "url"},
                                                       {"url", "https://example.com/a.jpg"}}}}));
  EXPECT_EQ(ap[2].at("source").at("media_type"), "image/webp");  // taken from the data: URL
  EXPECT_EQ(ap[2].at("source").at("data"), "UklGRg==");
  EXPECT_EQ(ap[3].at("type"), "text");

  json gem = codec_for(WireApi::gemini).encode(req, kGemini).body;
  const auto& gp = gem.at("contents").at(0).at("parts").as_array();
  ASSERT_EQ(gp.size(), 4u);
  EXPECT_EQ(gp[0], (json_object{{"text", "describe"}}));
  EXPECT_EQ(gp[1], (json_object{{"inlineData", json_object{{"mimeType", "image/png"},
                                                           {"data", "iVBORw0KGgo="}}}}));
  EXPECT_EQ(gp[2],
            (json_object{{"fileData", json_object{{"mimeType", "image/jpeg"},
                                                  {"fileUri", "https://example.com/a.jpg"}}}}));
  EXPECT_EQ(gp[3].at("inlineData").at("mimeType"), "image/webp");
}

TEST(WireEncode, ThinkingLevels) {
  const std::pair<ThinkingLevel, int> budgets[] = {{ThinkingLevel::minimal, 1024},
                                                   {ThinkingLevel::low, 2048},
                                                   {ThinkingLevel::medium, 8192},
                                                   {ThinkingLevel::high, 16384},
                                                   {ThinkingLevel::xhigh, 32000}};
  for (auto [level, budget] : budgets) {
    SCOPED_TRACE(std::string(thinking_level_name(level)));
    ModelRequest req = simple();
    req.thinking = level;
    json chat = codec_for(WireApi::openai_chat).encode(req, kOpenAI).body;
    EXPECT_EQ(chat.at("reasoning_effort"), json(thinking_level_name(level)));
    json resp = codec_for(WireApi::openai_responses).encode(req, kOpenAI).body;
    EXPECT_EQ(resp.at("reasoning").at("effort"), json(thinking_level_name(level)));
    json ant = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
    EXPECT_EQ(ant.at("thinking"), (json_object{{"type", "enabled"}, {"budget_tokens", budget}}));
    // Room for the answer after the thinking.
    EXPECT_EQ(ant.at("max_tokens"), budget + 8192);
    json gem = codec_for(WireApi::gemini).encode(req, kGemini).body;
    EXPECT_EQ(gem.at("generationConfig").at("thinkingConfig").at("includeThoughts"), true);
    EXPECT_GT(gem.at("generationConfig").at("thinkingConfig").at("thinkingBudget").to_number<int>(),
              0);
  }
  // A larger explicit max_output_tokens is kept.
  ModelRequest big = simple();
  big.thinking = ThinkingLevel::high;
  big.max_output_tokens = 64000;
  EXPECT_EQ(codec_for(WireApi::anthropic).encode(big, kAnthropic).body.at("max_tokens"), 64000);

  for (std::optional<ThinkingLevel> none :
       {std::optional<ThinkingLevel>{}, std::optional<ThinkingLevel>{ThinkingLevel::off}}) {
    ModelRequest req = simple();
    req.thinking = none;
    EXPECT_FALSE(codec_for(WireApi::openai_chat)
                     .encode(req, kOpenAI)
                     .body.as_object()
                     .contains("reasoning_effort"));
    json resp = codec_for(WireApi::openai_responses).encode(req, kOpenAI).body;
    EXPECT_FALSE(resp.as_object().contains("reasoning"));
    EXPECT_FALSE(resp.as_object().contains("include"));
    json ant = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
    EXPECT_FALSE(ant.as_object().contains("thinking"));
    EXPECT_EQ(ant.at("max_tokens"), 8192);
    EXPECT_FALSE(codec_for(WireApi::gemini)
                     .encode(req, kGemini)
                     .body.as_object()
                     .contains("generationConfig"));
  }
}

TEST(WireEncode, MaxOutputTokensAndStreamFlags) {
  ModelRequest req = simple();
  req.max_output_tokens = 321;
  req.stream = true;
  json chat = codec_for(WireApi::openai_chat).encode(req, kOpenAI).body;
  EXPECT_EQ(chat.at("max_completion_tokens"), 321);
  EXPECT_EQ(chat.at("stream"), true);
  EXPECT_EQ(chat.at("stream_options"), (json_object{{"include_usage", true}}));
  json resp = codec_for(WireApi::openai_responses).encode(req, kOpenAI).body;
  EXPECT_EQ(resp.at("max_output_tokens"), 321);
  EXPECT_EQ(resp.at("stream"), true);
  json ant = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  EXPECT_EQ(ant.at("max_tokens"), 321);
  EXPECT_EQ(ant.at("stream"), true);
  EncodedRequest gem = codec_for(WireApi::gemini).encode(req, kGemini);
  EXPECT_EQ(gem.body.at("generationConfig").at("maxOutputTokens"), 321);
  EXPECT_NE(gem.url.find(":streamGenerateContent?alt=sse"), std::string::npos);
  EXPECT_FALSE(gem.body.as_object().contains("stream"));

  req.max_output_tokens = 0;
  req.stream = false;
  chat = codec_for(WireApi::openai_chat).encode(req, kOpenAI).body;
  EXPECT_FALSE(chat.as_object().contains("max_completion_tokens"));
  EXPECT_FALSE(chat.as_object().contains("stream_options"));
  EXPECT_EQ(chat.at("stream"), false);
  EXPECT_FALSE(codec_for(WireApi::openai_responses)
                   .encode(req, kOpenAI)
                   .body.as_object()
                   .contains("max_output_tokens"));
}

TEST(WireEncode, ToolDefinitions) {
  ModelRequest req = simple();
  json schema = json_object{{"type", "object"},
                            {"properties", json_object{{"path", json_object{{"type", "string"}}}}},
                            {"required", json_array{"path"}}};
  req.tools = {ToolSpec{"read", "Read a file.", schema}};
  json chat = codec_for(WireApi::openai_chat).encode(req, kOpenAI).body;
  EXPECT_EQ(chat.at("tools"),
            (json_array{json_object{{"type", "function"},
                                    {"function", json_object{{"name", "read"},
                                                             {"description", "Read a file."},
                                                             {"parameters", schema}}}}}));
  json resp = codec_for(WireApi::openai_responses).encode(req, kOpenAI).body;
  EXPECT_EQ(resp.at("tools"), (json_array{json_object{{"type", "function"},
                                                      {"name", "read"},
                                                      {"description", "Read a file."},
                                                      {"parameters", schema},
                                                      {"strict", false}}}));
  json ant = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  EXPECT_EQ(ant.at("tools"),
            (json_array{json_object{
                {"name", "read"}, {"description", "Read a file."}, {"input_schema", schema}}}));
  json gem = codec_for(WireApi::gemini).encode(req, kGemini).body;
  EXPECT_EQ(
      gem.at("tools"),
      (json_array{json_object{
          {"functionDeclarations", json_array{json_object{{"name", "read"},
                                                          {"description", "Read a file."},
                                                          {"parameters_json_schema", schema}}}}}}));
  // No tools: no key at all.
  req.tools.clear();
  for (auto api :
       {WireApi::openai_chat, WireApi::openai_responses, WireApi::anthropic, WireApi::gemini}) {
    EXPECT_FALSE(codec_for(api).encode(req, kOpenAI).body.as_object().contains("tools"));
  }
}

TEST(WireEncode, ToolCallArgumentsAndReplayData) {
  ModelRequest req = simple();
  Message a;
  a.role = Role::assistant;
  a.text = "Reading.";
  ToolCall bad;
  bad.id = "c1";
  bad.name = "read";
  bad.raw_arguments = "{\"path\": ";  // the model produced broken JSON
  bad.arguments = nullptr;
  a.tool_calls = {bad};
  a.provider_data = json_object{
      {"anthropic", json_object{{"blocks", json_array{json_object{{"type", "redacted_thinking"},
                                                                  {"data", "xyz"}}}}}},
      {"openai_responses",
       json_object{{"reasoning", json_array{json_object{{"type", "reasoning"}, {"id", "rs_1"}}}}}}};
  req.messages.push_back(a);
  req.messages.push_back(tool_result("c1", "read", "invalid arguments", true));

  // Text APIs get the model's own text back; object APIs an empty object.
  json chat = codec_for(WireApi::openai_chat).encode(req, kOpenAI).body;
  EXPECT_EQ(chat.at("messages").at(1).at("content"), "Reading.");
  EXPECT_EQ(chat.at("messages").at(1).at("tool_calls").at(0).at("function").at("arguments"),
            "{\"path\": ");
  json resp = codec_for(WireApi::openai_responses).encode(req, kOpenAI).body;
  const auto& input = resp.at("input").as_array();
  ASSERT_EQ(input.size(), 5u);
  EXPECT_EQ(input[1], (json_object{{"type", "reasoning"}, {"id", "rs_1"}}));
  EXPECT_EQ(input[2], (json_object{{"type", "message"},
                                   {"role", "assistant"},
                                   {"content", json_array{json_object{{"type", "output_text"},
                                                                      {"text", "Reading."}}}}}));
  EXPECT_EQ(input[3].at("arguments"), "{\"path\": ");
  EXPECT_EQ(input[4], (json_object{{"type", "function_call_output"},
                                   {"call_id", "c1"},
                                   {"output", "invalid arguments"}}));
  json ant = codec_for(WireApi::anthropic).encode(req, kAnthropic).body;
  const auto& blocks = ant.at("messages").at(1).at("content").as_array();
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0], (json_object{{"type", "redacted_thinking"}, {"data", "xyz"}}));
  EXPECT_EQ(blocks[1], (json_object{{"type", "text"}, {"text", "Reading."}}));
  EXPECT_EQ(blocks[2].at("input"), json_object{});
  json gem = codec_for(WireApi::gemini).encode(req, kGemini).body;
  EXPECT_EQ(gem.at("contents").at(1).at("parts").at(1).at("functionCall").at("args"),
            json_object{});
}

TEST(WireEncode, WireApiNames) {
  for (auto api :
       {WireApi::openai_chat, WireApi::openai_responses, WireApi::anthropic, WireApi::gemini}) {
    auto parsed = parse_wire_api(wire_api_name(api));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, api);
    EXPECT_EQ(codec_for(api).api(), api);
  }
  EXPECT_EQ(wire_api_name(WireApi::openai_chat), "openai-chat");
  EXPECT_EQ(wire_api_name(WireApi::openai_responses), "openai-responses");
  EXPECT_EQ(wire_api_name(WireApi::anthropic), "anthropic");
  EXPECT_EQ(wire_api_name(WireApi::gemini), "gemini");
  auto bad = parse_wire_api("openai");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().type, ErrorType::invalid_input);
  EXPECT_NE(bad.error().message.find("openai-responses"), std::string::npos);
}

}  // namespace
}  // namespace cppflue::testing

namespace cppflue::testing {
namespace {

// Native structured output: the request shapes of the recorded native-output exchanges.
OutputFormat output_of(const json& schema, std::string name = "final_result", bool strict = false) {
  OutputFormat f;
  f.name = std::move(name);
  f.schema = schema;
  f.strict = strict;
  return f;
}

TEST(WireEncode, OpenAIChatResponseFormatMatchesRecording) {
  Cassette c = load_cassette("openai-chat", "test_openai_native_output");
  const json& rec = c.interactions.at(0).request_body;
  const json& want = rec.at("response_format");
  ModelRequest req;
  req.model = "gpt-4o";
  req.stream = false;
  req.messages = {user("What is the largest city in the user country?")};
  req.output = output_of(want.at("json_schema").at("schema"), "result", false);
  EncodedRequest enc = codec_for(WireApi::openai_chat).encode(req, kOpenAI);
  EXPECT_EQ(enc.body.at("response_format"), want);
}

TEST(WireEncode, OpenAIResponsesTextFormatMatchesRecording) {
  Cassette c = load_cassette("openai-responses", "test_native_output");
  const json& rec = c.interactions.at(0).request_body;
  const json& want = rec.at("text").at("format");
  ModelRequest req;
  req.model = "gpt-4o";
  req.stream = false;
  req.messages = {user("What is the largest city in the user country?")};
  req.output = output_of(want.at("schema"), "CityLocation", true);
  EncodedRequest enc = codec_for(WireApi::openai_responses).encode(req, kOpenAI);
  const json& got = enc.body.at("text").at("format");
  EXPECT_EQ(got.at("type"), "json_schema");
  EXPECT_EQ(got.at("name"), want.at("name"));
  EXPECT_EQ(got.at("schema"), want.at("schema"));
  EXPECT_EQ(got.at("strict"), want.at("strict"));
}

TEST(WireEncode, AnthropicForcedResultToolMatchesRecording) {
  Cassette c = load_cassette("anthropic", "test_anthropic_tool_output");
  const json& rec = c.interactions.at(0).request_body;
  ModelRequest req;
  req.prompt_cache = false;  // the recording was made without cache breakpoints
  req.model = "claude-sonnet-4-5";
  req.stream = false;
  req.messages = {user("What is the largest city in the user country?")};
  req.tools = {ToolSpec{"get_user_country", "", rec.at("tools").at(0).at("input_schema")}};
  req.output = output_of(rec.at("tools").at(1).at("input_schema"));
  EncodedRequest enc = codec_for(WireApi::anthropic).encode(req, kAnthropic);
  EXPECT_EQ(enc.body.at("tools"), rec.at("tools"));
  EXPECT_EQ(enc.body.at("tool_choice"), rec.at("tool_choice"));  // {"type":"any"}

  // The result tool alone is forced by name; with extended thinking only "auto" is allowed.
  req.tools.clear();
  enc = codec_for(WireApi::anthropic).encode(req, kAnthropic);
  EXPECT_EQ(enc.body.at("tool_choice"), (json_object{{"type", "tool"}, {"name", "final_result"}}));
  req.thinking = ThinkingLevel::low;
  enc = codec_for(WireApi::anthropic).encode(req, kAnthropic);
  EXPECT_EQ(enc.body.at("tool_choice"), (json_object{{"type", "auto"}}));
}

TEST(WireEncode, GeminiResponseJsonSchemaMatchesRecording) {
  Cassette c = load_cassette("gemini", "test_google_native_output");
  const json& rec = c.interactions.at(0).request_body;
  ModelRequest req;
  req.model = "gemini-2.0-flash";
  req.stream = false;
  req.messages = {user("What is the largest city in Mexico?")};
  req.output = output_of(rec.at("generationConfig").at("responseJsonSchema"));
  EncodedRequest enc = codec_for(WireApi::gemini).encode(req, kGemini);
  const json& config = enc.body.at("generationConfig");
  EXPECT_EQ(config.at("responseMimeType"), "application/json");
  EXPECT_EQ(config.at("responseJsonSchema"), rec.at("generationConfig").at("responseJsonSchema"));

  // With tools the result becomes a function the model must call (as the tool-output recording).
  Cassette t = load_cassette("gemini", "test_google_tool_output");
  const json& trec = t.interactions.at(0).request_body;
  req.tools = {ToolSpec{"get_user_country", "",
                        json_object{{"type", "object"}, {"properties", json_object{}}}}};
  enc = codec_for(WireApi::gemini).encode(req, kGemini);
  EXPECT_EQ(enc.body.at("toolConfig"), trec.at("toolConfig"));
  const auto& decls = enc.body.at("tools").at(0).at("functionDeclarations").as_array();
  ASSERT_EQ(decls.size(), 2u);
  EXPECT_EQ(decls[1].at("name"), "final_result");
  EXPECT_EQ(find_path(enc.body, "generationConfig/responseJsonSchema"), nullptr);
}

}  // namespace
}  // namespace cppflue::testing
