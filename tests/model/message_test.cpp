// SPDX-License-Identifier: Apache-2.0
// Message JSON round trips, the name tables, and Usage arithmetic.
#include <gtest/gtest.h>

#include "cppflue/model/message.hpp"

namespace cppflue {
namespace {

Message full_assistant() {
  Message m;
  m.role = Role::assistant;
  m.text = "Let me check — ünïcode ✓";
  m.thinking = "The user wants the weather.";
  ToolCall a;
  a.id = "call_1";
  a.name = "get_weather";
  a.arguments = json_object{{"city", "Paris"}, {"days", 3}};
  a.raw_arguments = R"({"city": "Paris", "days": 3})";
  a.provider_data = json_object{{"thoughtSignature", "c2ln"}};
  ToolCall b;
  b.id = "call_2";
  b.name = "broken";
  b.arguments = nullptr;
  b.raw_arguments = "{not json";
  m.tool_calls = {a, b};
  m.provider_data = json_object{
      {"anthropic", json_object{{"blocks", json_array{json_object{{"type", "redacted_thinking"},
                                                                  {"data", "abc"}}}}}}};
  return m;
}

void expect_same(const Message& a, const Message& b) {
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.thinking, b.thinking);
  EXPECT_EQ(a.tool_call_id, b.tool_call_id);
  EXPECT_EQ(a.tool_name, b.tool_name);
  EXPECT_EQ(a.is_error, b.is_error);
  EXPECT_EQ(a.provider_data, b.provider_data);
  ASSERT_EQ(a.images.size(), b.images.size());
  for (std::size_t i = 0; i < a.images.size(); ++i) {
    EXPECT_EQ(a.images[i].mime_type, b.images[i].mime_type);
    EXPECT_EQ(a.images[i].data_base64, b.images[i].data_base64);
    EXPECT_EQ(a.images[i].url, b.images[i].url);
  }
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size());
  for (std::size_t i = 0; i < a.tool_calls.size(); ++i) {
    EXPECT_EQ(a.tool_calls[i].id, b.tool_calls[i].id);
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    EXPECT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments);
    EXPECT_EQ(a.tool_calls[i].raw_arguments, b.tool_calls[i].raw_arguments);
    EXPECT_EQ(a.tool_calls[i].provider_data, b.tool_calls[i].provider_data);
  }
}

Message round_trip(const Message& m) {
  // Through text too, so the JSON survives serialisation, not just the DOM.
  auto parsed = parse_json(dump(to_json(m)));
  EXPECT_TRUE(parsed.has_value());
  auto back = message_from_json(*parsed);
  EXPECT_TRUE(back.has_value()) << back.error().message;
  return back ? *back : Message{};
}

TEST(Message, AssistantRoundTripKeepsToolCallsThinkingAndProviderData) {
  Message m = full_assistant();
  expect_same(m, round_trip(m));
}

TEST(Message, UserWithImagesRoundTrips) {
  Message m;
  m.role = Role::user;
  m.text = "What is in these pictures?";
  m.images.push_back(Image{"image/jpeg", "/9j/4AAQSkZJRg==", ""});
  m.images.push_back(Image{"image/png", "", "https://example.com/cat.png"});
  m.images.push_back(Image{"image/webp", "", "data:image/webp;base64,UklGRg=="});
  expect_same(m, round_trip(m));
}

TEST(Message, ToolResultRoundTripKeepsErrorFlag) {
  Message m;
  m.role = Role::tool;
  m.text = "permission denied: /etc/shadow";
  m.tool_call_id = "toolu_01";
  m.tool_name = "read";
  m.is_error = true;
  Message back = round_trip(m);
  expect_same(m, back);
  EXPECT_TRUE(back.is_error);

  m.is_error = false;
  EXPECT_FALSE(round_trip(m).is_error);
}

TEST(Message, SystemAndEmptyMessagesRoundTrip) {
  for (Role r : {Role::system, Role::user, Role::assistant, Role::tool}) {
    Message m;
    m.role = r;
    expect_same(m, round_trip(m));
  }
}

TEST(Message, ToJsonShape) {
  json j = to_json(full_assistant());
  EXPECT_EQ(j.at("role"), "assistant");
  EXPECT_EQ(j.at("tool_calls").at(0).at("arguments").at("city"), "Paris");
  EXPECT_EQ(j.at("tool_calls").at(1).at("arguments"), nullptr);
  EXPECT_FALSE(j.as_object().contains("is_error"));
  EXPECT_FALSE(j.as_object().contains("images"));
}

TEST(Message, InvalidInputNamesTheField) {
  struct Case {
    const char* json_text;
    const char* field;
  };
  const Case cases[] = {
      {R"([1,2])", "message"},
      {R"({"text":"hi"})", "message.role"},
      {R"({"role":"wizard"})", "message.role"},
      {R"({"role":3})", "message.role"},
      {R"({"role":"user","text":5})", "message.text"},
      {R"({"role":"user","images":{}})", "message.images"},
      {R"({"role":"user","images":[{"mime_type":"image/png"}]})", "message.images[0]"},
      {R"({"role":"user","images":[{"url":7}]})", "message.images[0].url"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","name":"x"},{"id":"b","name":4}]})",
       "message.tool_calls[1].name"},
      {R"({"role":"assistant","tool_calls":[{"id":"a"}]})", "message.tool_calls[0].name"},
      {R"({"role":"assistant","tool_calls":"x"})", "message.tool_calls"},
      {R"({"role":"tool","is_error":"yes"})", "message.is_error"},
      {R"({"role":"tool","tool_call_id":1})", "message.tool_call_id"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_json(c.json_text);
    ASSERT_TRUE(parsed) << c.json_text;
    auto m = message_from_json(*parsed);
    ASSERT_FALSE(m.has_value()) << c.json_text;
    EXPECT_EQ(m.error().type, ErrorType::invalid_input);
    EXPECT_NE(m.error().message.find(c.field), std::string::npos)
        << c.json_text << " -> " << m.error().message;
  }
}

TEST(Message, RoleNames) {
  EXPECT_EQ(role_name(Role::system), "system");
  EXPECT_EQ(role_name(Role::user), "user");
  EXPECT_EQ(role_name(Role::assistant), "assistant");
  EXPECT_EQ(role_name(Role::tool), "tool");
}

TEST(Message, ThinkingLevels) {
  for (auto t : {ThinkingLevel::off, ThinkingLevel::minimal, ThinkingLevel::low,
                 ThinkingLevel::medium, ThinkingLevel::high, ThinkingLevel::xhigh}) {
    auto parsed = parse_thinking_level(thinking_level_name(t));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_EQ(thinking_level_name(ThinkingLevel::xhigh), "xhigh");
  EXPECT_EQ(*parse_thinking_level("HIGH"), ThinkingLevel::high);
  auto bad = parse_thinking_level("extreme");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().type, ErrorType::invalid_input);
  EXPECT_NE(bad.error().message.find("extreme"), std::string::npos);
  EXPECT_NE(bad.error().message.find("medium"), std::string::npos);
}

TEST(Message, UsageAddsAndSerialises) {
  Usage a{10, 5, 2, 1, 15, std::nullopt};
  Usage b{1, 2, 3, 4, 3, std::nullopt};
  a += b;
  EXPECT_EQ(a.input, 11);
  EXPECT_EQ(a.output, 7);
  EXPECT_EQ(a.cache_read, 5);
  EXPECT_EQ(a.cache_write, 5);
  EXPECT_EQ(a.total_tokens, 18);
  // No price known: no cost at all, rather than a cost of 0.
  json j = to_json(a);
  EXPECT_EQ(j, (json_object{{"input", 11},
                            {"output", 7},
                            {"cache_read", 5},
                            {"cache_write", 5},
                            {"total_tokens", 18}}));
  EXPECT_EQ(to_json(usage_from_json(j)), j);
}

TEST(Message, CostsAddUpOnlyWhenEveryPartHasOne) {
  Usage priced{100, 10, 0, 0, 110, Cost{0.1, 0.2, 0, 0, 0.3}};
  Usage sum;  // empty: takes the first part's cost
  sum += priced;
  sum += priced;
  ASSERT_TRUE(sum.cost);
  EXPECT_DOUBLE_EQ(sum.cost->total, 0.6);
  EXPECT_DOUBLE_EQ(sum.cost->output, 0.4);
  EXPECT_EQ(sum.input, 200);
  sum += Usage{};  // nothing added: nothing changes
  ASSERT_TRUE(sum.cost);

  Usage unknown{50, 5, 0, 0, 55, std::nullopt};
  Usage mixed = priced;
  mixed += unknown;
  EXPECT_FALSE(mixed.cost);  // part of it has no price: the total is unknown
  EXPECT_EQ(mixed.input, 150);
  Usage other_way = unknown;
  other_way += priced;
  EXPECT_FALSE(other_way.cost);

  json j = to_json(sum);
  EXPECT_DOUBLE_EQ(j.at("cost").at("total").as_double(), 0.6);
  Usage back = usage_from_json(j);
  ASSERT_TRUE(back.cost);
  EXPECT_DOUBLE_EQ(back.cost->input, 0.2);
  EXPECT_EQ(back.total_tokens, 220);
  // Not an object, or a cost that is not one: read as far as it goes.
  EXPECT_EQ(usage_from_json(json("x")).input, 0);
  EXPECT_FALSE(usage_from_json(json_object{{"input", 3}, {"cost", "free"}}).cost);
}

TEST(Message, FinishReasonNames) {
  EXPECT_EQ(finish_reason_name(FinishReason::stop), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::tool_calls), "tool_calls");
  EXPECT_EQ(finish_reason_name(FinishReason::length), "length");
  EXPECT_EQ(finish_reason_name(FinishReason::content_filter), "content_filter");
  EXPECT_EQ(finish_reason_name(FinishReason::error), "error");
  EXPECT_EQ(finish_reason_name(FinishReason::unknown), "unknown");
}

}  // namespace
}  // namespace cppflue
