// SPDX-License-Identifier: Apache-2.0
// The decoders against real recorded API exchanges (tests/fixtures/wire, see PROVENANCE.md).
//
// For every recorded 200 response, the expected assistant message is derived here from the
// recording itself with a deliberately simple reading of each API's format (independent of the
// decoder code), and a handful of values are hard-coded per API as a cross-check. SSE bodies
// are decoded whole and in random chunk sizes through cppflue::SseParser.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cppflue/model/pricing.hpp"
#include "cppflue/model/wire.hpp"
#include "support/fixtures.hpp"

namespace cppflue::testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Expectations read straight from the recordings.

struct ExpectedCall {
  std::string id;  // empty: the API gave none, a generated one is expected
  std::string name;
  json args;
  std::string signature;  // Gemini thoughtSignature
};

struct Expected {
  std::string text;
  std::string thinking;
  std::vector<ExpectedCall> calls;
  FinishReason finish = FinishReason::unknown;
  Usage usage;
  std::string model;
  int kept_blocks = 0;     // Anthropic thinking/redacted_thinking blocks kept for replay
  int kept_reasoning = 0;  // Responses reasoning items kept for replay
};

// Finish reason tables as documented by each API.
FinishReason expected_finish(WireApi api, const std::string& raw, bool has_calls) {
  static const std::map<std::string, FinishReason> kChat = {
      {"stop", FinishReason::stop},
      {"tool_calls", FinishReason::tool_calls},
      {"length", FinishReason::length},
      {"content_filter", FinishReason::content_filter}};
  static const std::map<std::string, FinishReason> kResponses = {
      {"completed", FinishReason::stop}, {"max_output_tokens", FinishReason::length}};
  static const std::map<std::string, FinishReason> kAnthropic = {
      {"end_turn", FinishReason::stop},
      {"stop_sequence", FinishReason::stop},
      {"tool_use", FinishReason::tool_calls},
      {"max_tokens", FinishReason::length},
      {"refusal", FinishReason::content_filter}};
  static const std::map<std::string, FinishReason> kGemini = {
      {"STOP", FinishReason::stop},
      {"MAX_TOKENS", FinishReason::length},
      {"SAFETY", FinishReason::content_filter}};
  const auto& table = api == WireApi::openai_chat        ? kChat
                      : api == WireApi::openai_responses ? kResponses
                      : api == WireApi::anthropic        ? kAnthropic
                                                         : kGemini;
  auto it = table.find(raw);
  FinishReason f = it == table.end() ? FinishReason::unknown : it->second;
  if (has_calls && f == FinishReason::stop) f = FinishReason::tool_calls;
  return f;
}

std::int64_t num(const json& obj, std::string_view key) {
  const json* v = find(obj, key);
  if (!v || v->is_null()) return 0;
  return v->to_number<std::int64_t>();
}

std::string text_of(const json& obj, std::string_view key) {
  const json* v = find(obj, key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

json args_from_text(const std::string& s) {
  if (s.empty()) return json_object{};
  return boost::json::parse(s);
}

// Splits SSE text into data payloads the simplest way (the recordings use LF line endings).
std::vector<json> data_payloads(const std::string& sse) {
  std::vector<json> out;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    std::size_t end = sse.find("\n\n", pos);
    if (end == std::string::npos) end = sse.size();
    std::string block = sse.substr(pos, end - pos);
    pos = end + 2;
    std::size_t line_start = 0;
    while (line_start < block.size()) {
      std::size_t nl = block.find('\n', line_start);
      if (nl == std::string::npos) nl = block.size();
      std::string line = block.substr(line_start, nl - line_start);
      line_start = nl + 1;
      if (line.rfind("data:", 0) != 0) continue;
      std::string data = line.substr(5);
      if (!data.empty() && data[0] == ' ') data.erase(0, 1);
      if (data == "[DONE]") continue;
      out.push_back(boost::json::parse(data));
    }
  }
  return out;
}

// ---- OpenAI Chat Completions ----

Expected chat_from_json(const json& body) {
  Expected e;
  const json& choice = body.at("choices").at(0);
  const json& msg = choice.at("message");
  e.text = text_of(msg, "content");
  e.thinking = text_of(msg, "reasoning_content");
  if (const json* calls = find(msg, "tool_calls")) {
    for (const auto& c : calls->as_array()) {
      e.calls.push_back({text_of(c, "id"), text_of(c.at("function"), "name"),
                         args_from_text(text_of(c.at("function"), "arguments")), ""});
    }
  }
  e.finish =
      expected_finish(WireApi::openai_chat, text_of(choice, "finish_reason"), !e.calls.empty());
  const json& u = body.at("usage");
  e.usage.input = num(u, "prompt_tokens");
  e.usage.output = num(u, "completion_tokens");
  e.usage.total_tokens = num(u, "total_tokens");
  if (const json* d = find(u, "prompt_tokens_details"))
    e.usage.cache_read = num(*d, "cached_tokens");
  e.model = text_of(body, "model");
  return e;
}

Expected chat_from_sse(const std::string& sse) {
  Expected e;
  std::map<std::int64_t, std::pair<ExpectedCall, std::string>> calls;
  std::string raw_finish;
  for (const auto& chunk : data_payloads(sse)) {
    if (e.model.empty()) e.model = text_of(chunk, "model");
    if (const json* u = find(chunk, "usage"); u && u->is_object()) {
      e.usage.input = num(*u, "prompt_tokens");
      e.usage.output = num(*u, "completion_tokens");
      e.usage.total_tokens = num(*u, "total_tokens");
      e.usage.cache_read = num(u->at("prompt_tokens_details"), "cached_tokens");
    }
    for (const auto& choice : chunk.at("choices").as_array()) {
      const json& delta = choice.at("delta");
      e.text += text_of(delta, "content");
      if (const json* tcs = find(delta, "tool_calls")) {
        for (const auto& tc : tcs->as_array()) {
          auto& [call, args] = calls[tc.at("index").to_number<std::int64_t>()];
          if (!text_of(tc, "id").empty()) call.id = text_of(tc, "id");
          if (const json* fn = find(tc, "function")) {
            if (!text_of(*fn, "name").empty()) call.name = text_of(*fn, "name");
            args += text_of(*fn, "arguments");
          }
        }
      }
      if (!text_of(choice, "finish_reason").empty()) raw_finish = text_of(choice, "finish_reason");
    }
  }
  for (auto& [index, entry] : calls) {
    entry.first.args = args_from_text(entry.second);
    e.calls.push_back(entry.first);
  }
  e.finish = expected_finish(WireApi::openai_chat, raw_finish, !e.calls.empty());
  return e;
}

// ---- OpenAI Responses ----

Expected responses_from_json(const json& body) {
  Expected e;
  for (const auto& item : body.at("output").as_array()) {
    std::string type = text_of(item, "type");
    if (type == "message") {
      for (const auto& part : item.at("content").as_array()) {
        if (text_of(part, "type") == "output_text") e.text += text_of(part, "text");
      }
    } else if (type == "function_call") {
      e.calls.push_back({text_of(item, "call_id"), text_of(item, "name"),
                         args_from_text(text_of(item, "arguments")), ""});
    } else if (type == "reasoning") {
      ++e.kept_reasoning;
      for (const auto& s : item.at("summary").as_array()) {
        if (!e.thinking.empty()) e.thinking += "\n\n";
        e.thinking += text_of(s, "text");
      }
    }
  }
  std::string raw = text_of(body, "status");
  if (const json* d = find(body, "incomplete_details"); d && d->is_object()) {
    raw = text_of(*d, "reason");
  }
  e.finish = expected_finish(WireApi::openai_responses, raw, !e.calls.empty());
  const json& u = body.at("usage");
  e.usage.input = num(u, "input_tokens");
  e.usage.output = num(u, "output_tokens");
  e.usage.total_tokens = num(u, "total_tokens");
  e.usage.cache_read = num(u.at("input_tokens_details"), "cached_tokens");
  e.model = text_of(body, "model");
  return e;
}

Expected responses_from_sse(const std::string& sse) {
  for (const auto& ev : data_payloads(sse)) {
    if (text_of(ev, "type") == "response.completed") return responses_from_json(ev.at("response"));
  }
  ADD_FAILURE() << "no response.completed event in the recording";
  return {};
}

// ---- Anthropic ----

void anthropic_usage(const json& u, std::map<std::string, std::int64_t>& raw) {
  for (const char* k : {"input_tokens", "output_tokens", "cache_read_input_tokens",
                        "cache_creation_input_tokens"}) {
    if (const json* v = find(u, k); v && v->is_number()) raw[k] = v->to_number<std::int64_t>();
  }
}

Usage anthropic_total(std::map<std::string, std::int64_t> raw) {
  Usage u;
  u.cache_read = raw["cache_read_input_tokens"];
  u.cache_write = raw["cache_creation_input_tokens"];
  u.input = raw["input_tokens"] + u.cache_read + u.cache_write;
  u.output = raw["output_tokens"];
  u.total_tokens = u.input + u.output;
  return u;
}

Expected anthropic_from_json(const json& body) {
  Expected e;
  for (const auto& block : body.at("content").as_array()) {
    std::string type = text_of(block, "type");
    if (type == "text") e.text += text_of(block, "text");
    if (type == "thinking") e.thinking += text_of(block, "thinking");
    if (type == "thinking" || type == "redacted_thinking") ++e.kept_blocks;
    if (type == "tool_use") {
      e.calls.push_back({text_of(block, "id"), text_of(block, "name"), block.at("input"), ""});
    }
  }
  e.finish = expected_finish(WireApi::anthropic, text_of(body, "stop_reason"), !e.calls.empty());
  std::map<std::string, std::int64_t> raw;
  anthropic_usage(body.at("usage"), raw);
  e.usage = anthropic_total(raw);
  e.model = text_of(body, "model");
  return e;
}

Expected anthropic_from_sse(const std::string& sse) {
  Expected e;
  std::map<std::int64_t, std::pair<ExpectedCall, std::string>> calls;
  std::map<std::string, std::int64_t> raw;
  std::string stop;
  for (const auto& ev : data_payloads(sse)) {
    std::string type = text_of(ev, "type");
    if (type == "message_start") {
      e.model = text_of(ev.at("message"), "model");
      anthropic_usage(ev.at("message").at("usage"), raw);
    } else if (type == "content_block_start") {
      const json& b = ev.at("content_block");
      std::string bt = text_of(b, "type");
      if (bt == "thinking" || bt == "redacted_thinking") ++e.kept_blocks;
      if (bt == "tool_use") {
        auto& c = calls[ev.at("index").to_number<std::int64_t>()].first;
        c.id = text_of(b, "id");
        c.name = text_of(b, "name");
      }
    } else if (type == "content_block_delta") {
      const json& d = ev.at("delta");
      std::string dt = text_of(d, "type");
      if (dt == "text_delta") e.text += text_of(d, "text");
      if (dt == "thinking_delta") e.thinking += text_of(d, "thinking");
      if (dt == "input_json_delta") {
        calls[ev.at("index").to_number<std::int64_t>()].second += text_of(d, "partial_json");
      }
    } else if (type == "message_delta") {
      stop = text_of(ev.at("delta"), "stop_reason");
      anthropic_usage(ev.at("usage"), raw);
    }
  }
  for (auto& [index, entry] : calls) {
    entry.first.args = args_from_text(entry.second);
    e.calls.push_back(entry.first);
  }
  e.finish = expected_finish(WireApi::anthropic, stop, !e.calls.empty());
  e.usage = anthropic_total(raw);
  return e;
}

// ---- Gemini ----

void gemini_chunk(const json& chunk, Expected& e, std::string& raw_finish) {
  if (const json* v = find(chunk, "modelVersion")) e.model = std::string(v->as_string());
  if (const json* u = find(chunk, "usageMetadata")) {
    e.usage.input = num(*u, "promptTokenCount");
    e.usage.cache_read = num(*u, "cachedContentTokenCount");
    e.usage.output = num(*u, "candidatesTokenCount") + num(*u, "thoughtsTokenCount");
    e.usage.total_tokens = num(*u, "totalTokenCount");
  }
  const json& cand = chunk.at("candidates").at(0);
  for (const auto& part : cand.at("content").at("parts").as_array()) {
    if (const json* fc = find(part, "functionCall")) {
      e.calls.push_back({text_of(*fc, "id"), text_of(*fc, "name"), fc->at("args"),
                         text_of(part, "thoughtSignature")});
    } else if (const json* th = find(part, "thought"); th && th->as_bool()) {
      e.thinking += text_of(part, "text");
    } else {
      e.text += text_of(part, "text");
    }
  }
  if (!text_of(cand, "finishReason").empty()) raw_finish = text_of(cand, "finishReason");
}

Expected gemini_from_json(const json& body) {
  Expected e;
  std::string raw;
  gemini_chunk(body, e, raw);
  e.finish = expected_finish(WireApi::gemini, raw, !e.calls.empty());
  return e;
}

Expected gemini_from_sse(const std::string& sse) {
  Expected e;
  std::string raw;
  for (const auto& chunk : data_payloads(sse)) gemini_chunk(chunk, e, raw);
  e.finish = expected_finish(WireApi::gemini, raw, !e.calls.empty());
  return e;
}

Expected expected_for(WireApi api, const Interaction& i) {
  bool sse = is_event_stream(i);
  switch (api) {
    case WireApi::openai_chat:
      return sse ? chat_from_sse(i.response_text) : chat_from_json(i.response_json);
    case WireApi::openai_responses:
      return sse ? responses_from_sse(i.response_text) : responses_from_json(i.response_json);
    case WireApi::anthropic:
      return sse ? anthropic_from_sse(i.response_text) : anthropic_from_json(i.response_json);
    case WireApi::gemini:
      return sse ? gemini_from_sse(i.response_text) : gemini_from_json(i.response_json);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Checks.

void check_response(const ModelResponse& r, const Expected& e, WireApi api) {
  EXPECT_EQ(r.message.role, Role::assistant);
  EXPECT_EQ(r.message.text, e.text);
  EXPECT_EQ(r.message.thinking, e.thinking);
  EXPECT_EQ(r.finish_reason, e.finish) << "raw finish reason: " << r.raw_finish_reason;
  EXPECT_EQ(r.usage.input, e.usage.input);
  EXPECT_EQ(r.usage.output, e.usage.output);
  EXPECT_EQ(r.usage.cache_read, e.usage.cache_read);
  EXPECT_EQ(r.usage.cache_write, e.usage.cache_write);
  EXPECT_EQ(r.usage.total_tokens, e.usage.total_tokens);
  EXPECT_EQ(r.model, e.model);
  ASSERT_EQ(r.message.tool_calls.size(), e.calls.size());
  std::set<std::string> ids;
  for (std::size_t k = 0; k < e.calls.size(); ++k) {
    const ToolCall& got = r.message.tool_calls[k];
    const ExpectedCall& want = e.calls[k];
    SCOPED_TRACE("tool call " + std::to_string(k));
    if (want.id.empty()) {
      EXPECT_EQ(got.id.rfind("call_", 0), 0u) << got.id;
    } else {
      EXPECT_EQ(got.id, want.id);
    }
    EXPECT_TRUE(ids.insert(got.id).second) << "duplicate id " << got.id;
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.arguments, want.args);
    auto reparsed = parse_json(got.raw_arguments);
    ASSERT_TRUE(reparsed) << got.raw_arguments;
    EXPECT_EQ(*reparsed, want.args);
    if (!want.signature.empty()) {
      EXPECT_EQ(get_string_or(got.provider_data, "thoughtSignature", ""), want.signature);
    }
  }
  if (api == WireApi::anthropic) {
    const json* blocks = find_path(r.message.provider_data, "anthropic/blocks");
    EXPECT_EQ(blocks ? static_cast<int>(blocks->as_array().size()) : 0, e.kept_blocks);
  }
  if (api == WireApi::openai_responses) {
    const json* items = find_path(r.message.provider_data, "openai_responses/reasoning");
    EXPECT_EQ(items ? static_cast<int>(items->as_array().size()) : 0, e.kept_reasoning);
  }
}

// The live deltas agree with the final message.
void check_deltas(const StreamRun& run, const ModelResponse& r) {
  std::string text, thinking;
  std::vector<std::string> names;
  for (const auto& d : run.deltas) {
    if (d.kind == ModelDelta::Kind::text) text += d.text;
    if (d.kind == ModelDelta::Kind::thinking) thinking += d.text;
    if (d.kind == ModelDelta::Kind::tool_call) {
      EXPECT_EQ(d.index, static_cast<int>(names.size()));
      names.push_back(d.text);
    }
  }
  EXPECT_EQ(text, r.message.text);
  EXPECT_EQ(thinking, r.message.thinking);
  std::vector<std::string> want;
  for (const auto& c : r.message.tool_calls) want.push_back(c.name);
  EXPECT_EQ(names, want);
}

// Generated ids differ from run to run: compare everything else.
void expect_same_response(const ModelResponse& a, const ModelResponse& b) {
  EXPECT_EQ(a.message.text, b.message.text);
  EXPECT_EQ(a.message.thinking, b.message.thinking);
  EXPECT_EQ(a.message.provider_data, b.message.provider_data);
  EXPECT_EQ(a.finish_reason, b.finish_reason);
  EXPECT_EQ(a.raw_finish_reason, b.raw_finish_reason);
  EXPECT_EQ(to_json(a.usage), to_json(b.usage));
  EXPECT_EQ(a.id, b.id);
  ASSERT_EQ(a.message.tool_calls.size(), b.message.tool_calls.size());
  for (std::size_t k = 0; k < a.message.tool_calls.size(); ++k) {
    EXPECT_EQ(a.message.tool_calls[k].name, b.message.tool_calls[k].name);
    EXPECT_EQ(a.message.tool_calls[k].raw_arguments, b.message.tool_calls[k].raw_arguments);
    EXPECT_EQ(a.message.tool_calls[k].provider_data, b.message.tool_calls[k].provider_data);
  }
}

// Index of the first event that carries the end-of-answer signal.
std::size_t terminal_event(WireApi api, const std::vector<SseEvent>& events) {
  for (std::size_t k = 0; k < events.size(); ++k) {
    const std::string& d = events[k].data;
    bool end = false;
    switch (api) {
      case WireApi::openai_chat:
        end = d.find("\"finish_reason\":\"") != std::string::npos;
        break;
      case WireApi::openai_responses:
        end = d.find("\"response.completed\"") != std::string::npos;
        break;
      case WireApi::anthropic:
        end = d.find("\"message_delta\"") != std::string::npos;
        break;
      case WireApi::gemini:
        end = d.find("\"finishReason\"") != std::string::npos;
        break;
    }
    if (end) return k;
  }
  return events.size();
}

struct Coverage {
  std::map<WireApi, int> json_ok, sse_ok, errors;
};
Coverage& coverage() {
  static Coverage c;
  return c;
}

void check_interaction(const Cassette& c, std::size_t n, const Interaction& i) {
  SCOPED_TRACE(c.name() + " #" + std::to_string(n) + " " + i.uri);
  auto api = api_for_uri(i.uri);
  ASSERT_TRUE(api.has_value()) << "no wire API for " << i.uri;
  const WireCodec& codec = codec_for(*api);

  if (i.status >= 400) {
    Error err = codec.decode_error(i.status, i.response_text);
    std::string provider_message = text_of(i.response_json.at("error"), "message");
    EXPECT_NE(err.message.find(provider_message), std::string::npos) << err.message;
    EXPECT_NE(err.message.find(std::to_string(i.status)), std::string::npos);
    EXPECT_EQ(err.details.at("status"), i.status);
    ErrorType want = i.status == 429                      ? ErrorType::rate_limited
                     : i.status == 401 || i.status == 403 ? ErrorType::auth_error
                                                          : ErrorType::provider_error;
    EXPECT_EQ(err.type, want);
    ++coverage().errors[*api];
    return;
  }
  ASSERT_EQ(i.status, 200);

  if (!is_event_stream(i) && !i.response_is_json) {
    // e.g. a recorded endpoint that answered text/plain: a clear decode error, no crash.
    auto r = codec.decode(i.response_text);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().type, ErrorType::provider_error);
    EXPECT_NE(r.error().message.find(wire_api_name(*api)), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("response body"), std::string::npos) << r.error().message;
    return;
  }

  Expected want = expected_for(*api, i);
  if (!is_event_stream(i)) {
    auto r = codec.decode(i.response_text);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    check_response(*r, want, *api);
    ++coverage().json_ok[*api];
    return;
  }

  StreamRun whole = run_stream(codec, i.response_text);
  ASSERT_TRUE(whole.response.has_value()) << whole.response.error().message;
  check_response(*whole.response, want, *api);
  check_deltas(whole, *whole.response);
  for (unsigned seed : {1u, 7u, 42u, 1234u}) {
    SCOPED_TRACE("random chunks, seed " + std::to_string(seed));
    StreamRun chunked = run_stream(codec, i.response_text, seed, seed % 2 ? 7 : 301);
    ASSERT_TRUE(chunked.response.has_value()) << chunked.response.error().message;
    EXPECT_EQ(chunked.events, whole.events);
    expect_same_response(*chunked.response, *whole.response);
    check_deltas(chunked, *chunked.response);
  }

  // Cut before the end-of-answer event: finish() must refuse a partial answer.
  auto events = parse_events(i.response_text);
  std::size_t end = terminal_event(*api, events);
  ASSERT_LT(end, events.size());
  std::vector<SseEvent> cut(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(end));
  StreamRun partial = run_events(codec, cut);
  ASSERT_FALSE(partial.response.has_value());
  EXPECT_EQ(partial.response.error().type, ErrorType::provider_error);
  EXPECT_NE(partial.response.error().message.find("ended before the response was complete"),
            std::string::npos)
      << partial.response.error().message;
  ++coverage().sse_ok[*api];
}

// ---------------------------------------------------------------------------------------------
// Every cassette, one test each.

class WireFixtureCassettes : public ::testing::TestWithParam<std::filesystem::path> {};

TEST_P(WireFixtureCassettes, EveryInteractionDecodes) {
  Cassette c = load_cassette(GetParam());
  ASSERT_FALSE(c.interactions.empty());
  for (std::size_t n = 0; n < c.interactions.size(); ++n) {
    check_interaction(c, n, c.interactions[n]);
  }
}

std::string cassette_test_name(const ::testing::TestParamInfo<std::filesystem::path>& info) {
  std::string name =
      info.param.parent_path().filename().string() + "_" + info.param.stem().string();
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Recorded, WireFixtureCassettes, ::testing::ValuesIn(all_cassettes()),
                         cassette_test_name);

TEST(WireFixtures, AllFoldersArePresentAndCovered) {
  auto all = all_cassettes();
  EXPECT_GE(all.size(), 36u);
  Coverage local;
  std::swap(local, coverage());
  for (const auto& p : all) {
    Cassette c = load_cassette(p);
    for (std::size_t n = 0; n < c.interactions.size(); ++n) {
      check_interaction(c, n, c.interactions[n]);
    }
  }
  Coverage& cov = coverage();
  for (auto api :
       {WireApi::openai_chat, WireApi::openai_responses, WireApi::anthropic, WireApi::gemini}) {
    SCOPED_TRACE(std::string(wire_api_name(api)));
    EXPECT_GT(cov.json_ok[api], 0);
    EXPECT_GT(cov.sse_ok[api], 0);
  }
  EXPECT_EQ(cov.errors[WireApi::openai_responses], 1);
}

// ---------------------------------------------------------------------------------------------
// Hard-coded cross-checks (values read off the recordings by hand).

ModelResponse decode_recorded(const std::string& folder, const std::string& name, std::size_t n) {
  Cassette c = load_cassette(folder, name);
  const Interaction& i = c.interactions.at(n);
  const WireCodec& codec = codec_for(*api_for_uri(i.uri));
  if (is_event_stream(i)) {
    StreamRun run = run_stream(codec, i.response_text, 99, 13);
    if (!run.response) throw std::runtime_error(run.response.error().message);
    return *run.response;
  }
  auto r = codec.decode(i.response_text);
  if (!r) throw std::runtime_error(r.error().message);
  return *r;
}

TEST(WireFixtures, OpenAIChatKnownValues) {
  ModelResponse call = decode_recorded("openai-chat", "test_run_stream_sync_streams_real_model", 0);
  ASSERT_EQ(call.message.tool_calls.size(), 1u);
  EXPECT_EQ(call.message.tool_calls[0].id, "call_ZR5UUuTt3pf61kjwAJIYdVMj");
  EXPECT_EQ(call.message.tool_calls[0].name, "get_capital");
  EXPECT_EQ(call.message.tool_calls[0].raw_arguments, R"({"country":"UK"})");
  EXPECT_EQ(call.message.tool_calls[0].arguments, (json_object{{"country", "UK"}}));
  EXPECT_EQ(call.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(call.usage.input, 53);
  EXPECT_EQ(call.usage.output, 15);
  EXPECT_EQ(call.usage.total_tokens, 68);
  EXPECT_EQ(call.model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(call.id, "chatcmpl-Dx0XpqH8w09uBXwq1zFGYdETjtnEl");

  ModelResponse text = decode_recorded("openai-chat", "test_run_stream_sync_streams_real_model", 1);
  EXPECT_EQ(text.message.text, "The capital of the UK is London.");
  EXPECT_EQ(text.finish_reason, FinishReason::stop);
  EXPECT_EQ(text.usage.input, 78);
  EXPECT_EQ(text.usage.total_tokens, 87);

  ModelResponse no_id =
      decode_recorded("openai-chat", "test_compatible_api_with_tool_calls_without_id", 0);
  ASSERT_EQ(no_id.message.tool_calls.size(), 1u);
  EXPECT_EQ(no_id.message.tool_calls[0].name, "get_current_time");
  EXPECT_EQ(no_id.message.tool_calls[0].id.rfind("call_", 0), 0u);
  EXPECT_GT(no_id.message.tool_calls[0].id.size(), 10u);
  EXPECT_EQ(no_id.usage.total_tokens, 109);  // the provider's total, thoughts included

  ModelResponse spaced = decode_recorded("openai-chat", "test_openai_tool_output", 1);
  ASSERT_EQ(spaced.message.tool_calls.size(), 1u);
  // The model's exact argument text is kept next to the parsed object.
  EXPECT_EQ(spaced.message.tool_calls[0].raw_arguments,
            R"({"city": "Mexico City", "country": "Mexico"})");
  EXPECT_EQ(spaced.message.tool_calls[0].arguments.at("city"), "Mexico City");
}

TEST(WireFixtures, OpenAIResponsesKnownValues) {
  ModelResponse parallel =
      decode_recorded("openai-responses", "test_openai_responses_model_retry", 0);
  ASSERT_EQ(parallel.message.tool_calls.size(), 2u);
  EXPECT_EQ(parallel.message.tool_calls[0].id, "call_LWVp74L5HaH2KNvgVz9PJsrj");
  EXPECT_EQ(parallel.message.tool_calls[0].arguments.at("loc_name"), "Londos");
  EXPECT_EQ(parallel.message.tool_calls[1].id, "call_YnRAWeTyxI91m5uNa5bxXwVO");
  EXPECT_EQ(parallel.message.tool_calls[1].arguments.at("loc_name"), "London");
  EXPECT_EQ(get_string_or(parallel.message.tool_calls[1].provider_data, "item_id", ""),
            "fc_67e547c55c3081919da7a3f7fe81a1030ae6111e84dd5c08");
  EXPECT_EQ(parallel.finish_reason, FinishReason::tool_calls);

  ModelResponse cached =
      decode_recorded("openai-responses", "test_openai_responses_thinking_with_tool_calls", 1);
  EXPECT_EQ(cached.usage.input, 2087);
  EXPECT_EQ(cached.usage.cache_read, 2048);
  EXPECT_EQ(cached.usage.output, 124);
  EXPECT_EQ(cached.message.text.rfind("Softly old fountains illumine alleys\n", 0), 0u);
  // Its cost from the built-in table (openai:gpt-5: $1.25 input, $0.125 cached, $10 output per
  // million), by hand: 39 uncached x 1.25 + 2048 cached x 0.125 + 124 out x 10, per million.
  auto cost = PriceTable::builtin().cost("openai-responses", cached.model, cached.usage);
  ASSERT_TRUE(cost) << cached.model;
  EXPECT_NEAR(cost->input, 39 * 1.25e-6, 1e-12);
  EXPECT_NEAR(cost->cache_read, 2048 * 0.125e-6, 1e-12);
  EXPECT_NEAR(cost->output, 124 * 10e-6, 1e-12);
  EXPECT_NEAR(cost->total, 0.00154475, 1e-12);

  ModelResponse streamed =
      decode_recorded("openai-responses", "test_openai_responses_streaming_usage", 0);
  ASSERT_EQ(streamed.message.tool_calls.size(), 1u);
  EXPECT_EQ(streamed.message.tool_calls[0].id, "call_CWXgs68YprAjp6t0371hiPOI");
  EXPECT_EQ(streamed.message.tool_calls[0].arguments, (json_object{{"result", 6666}}));
  const json* reasoning = find_path(streamed.message.provider_data, "openai_responses/reasoning/0");
  ASSERT_NE(reasoning, nullptr);
  EXPECT_EQ(get_string_or(*reasoning, "id", ""),
            "rs_0050471a34b36ae60068c97bac4dcc819595fd0f80d6b3c405");
  // The final encrypted content (from response.completed), not the one first announced.
  EXPECT_EQ(get_string_or(*reasoning, "encrypted_content", "").rfind("gAAAAABoyXvynDJ_", 0), 0u);

  // Recorded under openai-chat/, but it is a Responses exchange.
  ModelResponse thinking = decode_recorded("openai-chat", "test_openai_model_thinking_part", 0);
  EXPECT_EQ(thinking.message.thinking.rfind("**Emphasizing pedestrian safety**", 0), 0u);
  EXPECT_NE(thinking.message.thinking.find("\n\n**Clarifying street crossing guidance**"),
            std::string::npos);
  EXPECT_EQ(thinking.usage.input, 13);
  EXPECT_EQ(thinking.usage.output, 1915);
  EXPECT_EQ(thinking.usage.total_tokens, 1928);
  EXPECT_EQ(thinking.finish_reason, FinishReason::stop);
}

TEST(WireFixtures, AnthropicKnownValues) {
  ModelResponse parallel = decode_recorded("anthropic", "test_multiple_parallel_tool_calls", 0);
  ASSERT_EQ(parallel.message.tool_calls.size(), 4u);
  const char* names[] = {"Alice", "Bob", "Charlie", "Daisy"};
  const char* ids[] = {"toolu_0167cfEnoQaPviGdVXA95zcu", "toolu_01EEe2V5HD1Ac4rKiUR4HD2T",
                       "toolu_01XFyAjstT3966qvRynZyVPo", "toolu_013mnQZbgtK2oe3Mo3XKJsx3"};
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(parallel.message.tool_calls[k].id, ids[k]);
    EXPECT_EQ(parallel.message.tool_calls[k].name, "retrieve_entity_info");
    EXPECT_EQ(parallel.message.tool_calls[k].arguments.at("name"), names[k]);
  }
  EXPECT_EQ(parallel.usage.input, 423);
  EXPECT_EQ(parallel.usage.output, 202);
  EXPECT_EQ(parallel.usage.total_tokens, 625);
  EXPECT_EQ(parallel.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(parallel.raw_finish_reason, "tool_use");

  ModelResponse stream =
      decode_recorded("anthropic", "test_anthropic_model_thinking_part_stream", 0);
  EXPECT_EQ(stream.message.thinking.rfind(
                "This is a straightforward question about pedestrian safety.", 0),
            0u);
  EXPECT_EQ(stream.usage.input, 43);
  EXPECT_EQ(stream.usage.output, 282);
  const json* block = find_path(stream.message.provider_data, "anthropic/blocks/0");
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(get_string_or(*block, "type", ""), "thinking");
  EXPECT_EQ(get_string_or(*block, "thinking", ""), stream.message.thinking);
  EXPECT_EQ(get_string_or(*block, "signature", "").rfind("EvMCCkYICxgCKkCHP2cSuEdcJK", 0), 0u);

  ModelResponse redacted =
      decode_recorded("anthropic", "test_anthropic_model_thinking_part_redacted_stream", 0);
  const json* blocks = find_path(redacted.message.provider_data, "anthropic/blocks");
  ASSERT_NE(blocks, nullptr);
  ASSERT_EQ(blocks->as_array().size(), 2u);
  EXPECT_EQ(get_string_or(blocks->as_array()[0], "type", ""), "redacted_thinking");
  EXPECT_EQ(get_string_or(blocks->as_array()[1], "data", "").rfind("EtgBCkYIBxgCKkDQfGkw", 0), 0u);
  EXPECT_TRUE(redacted.message.thinking.empty());
  EXPECT_EQ(redacted.usage.input, 92);
  EXPECT_EQ(redacted.usage.output, 189);
}

TEST(WireFixtures, GeminiKnownValues) {
  ModelResponse three =
      decode_recorded("gemini", "test_google_instructions_only_with_tool_calls", 0);
  ASSERT_EQ(three.message.tool_calls.size(), 3u);
  std::set<std::string> ids;
  for (const auto& c : three.message.tool_calls) {
    EXPECT_EQ(c.name, "generate_topic");
    EXPECT_EQ(c.arguments, json_object{});
    ids.insert(c.id);
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(get_string_or(three.message.tool_calls[0].provider_data, "thoughtSignature", "")
                .rfind("Es8FCswFAXLI2nxFGW9oAYt0fTQoHlYcudYTgqNXlir9nzbXoqFXqLY9sWOIMaev", 0),
            0u);
  EXPECT_TRUE(three.message.tool_calls[1].provider_data.is_null());
  EXPECT_EQ(three.usage.input, 83);
  EXPECT_EQ(three.usage.output, 30 + 190);
  EXPECT_EQ(three.usage.total_tokens, 303);
  EXPECT_EQ(three.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(three.raw_finish_reason, "STOP");

  ModelResponse stream = decode_recorded("gemini", "test_google_model_stream", 0);
  EXPECT_EQ(stream.message.text, "The capital of France is Paris.\n");
  EXPECT_EQ(stream.usage.input, 13);
  EXPECT_EQ(stream.usage.output, 8);
  EXPECT_EQ(stream.usage.total_tokens, 21);
  EXPECT_EQ(stream.finish_reason, FinishReason::stop);

  ModelResponse thinking = decode_recorded("gemini", "test_google_model_thinking_part_iter", 0);
  EXPECT_EQ(thinking.message.thinking.rfind("**Clarifying User Goals**", 0), 0u);
  EXPECT_NE(thinking.message.text.find("stay alert and be predictable"), std::string::npos);
  EXPECT_EQ(thinking.usage.output, 469 + 787);
  EXPECT_EQ(thinking.usage.total_tokens, 1290);
  // The signature on the first answer part is kept for replay.
  EXPECT_FALSE(
      get_string_or(*find_path(thinking.message.provider_data, "gemini"), "text_signature", "")
          .empty());

  // Recorded under openai-chat/, but these two are Gemini exchanges.
  ModelResponse other = decode_recorded("openai-chat", "test_multiple_agent_tool_calls", 0);
  ASSERT_EQ(other.message.tool_calls.size(), 1u);
  EXPECT_EQ(other.message.tool_calls[0].arguments, (json_object{{"country", "France"}}));
  EXPECT_EQ(other.usage.total_tokens, 28);
}

TEST(WireFixtures, HttpErrorKeepsProviderDetails) {
  Cassette c = load_cassette("openai-responses", "test_openai_responses_model_http_error");
  const Interaction& i = c.interactions.at(0);
  ASSERT_EQ(i.status, 400);
  Error err = codec_for(WireApi::openai_responses).decode_error(i.status, i.response_text);
  EXPECT_EQ(err.type, ErrorType::provider_error);
  EXPECT_EQ(err.message,
            "openai-responses error 400: Invalid 'temperature': decimal below minimum value. "
            "Expected a value >= 0, but got -1 instead.");
  EXPECT_EQ(err.details.at("status"), 400);
  EXPECT_EQ(err.details.at("provider_type"), "invalid_request_error");
  EXPECT_EQ(err.details.at("provider_code"), "decimal_below_min_value");
}

TEST(WireFixtures, YamlScalarsKeepTheirTypes) {
  Cassette c = load_cassette("openai-responses", "test_openai_responses_model_http_error");
  const json& body = c.interactions.at(0).request_body;
  EXPECT_TRUE(body.at("temperature").is_int64());
  EXPECT_EQ(body.at("temperature"), -1);
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("instructions"), "");  // quoted empty string stays a string
  Cassette g = load_cassette("gemini", "test_google_model_stream");
  const json& cfg = g.interactions.at(0).request_body.at("generationConfig");
  EXPECT_TRUE(cfg.at("temperature").is_double());
  Cassette r = load_cassette("openai-responses",
                             "test_openai_responses_model_simple_response_with_tool_call");
  EXPECT_TRUE(r.interactions.at(1).request_body.at("input").at(1).at("status").is_null());
  EXPECT_TRUE(r.interactions.at(0).request_body.at("tools").at(0).at("description").is_null());
}

}  // namespace
}  // namespace cppflue::testing
