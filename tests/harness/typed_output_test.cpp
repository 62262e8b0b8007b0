// SPDX-License-Identifier: Apache-2.0
// Typed outputs end to end (docs/concepts/typed-outputs.md): prompt<T> against the scripted fake
// provider in each wire API — the schema sent natively, the repair turn after a wrong answer,
// typed_output_error after the last one — plus untyped result_schema validation.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <vector>

#include "cppflue/cppflue.hpp"
#include "support/conversation.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/wire_script.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;

namespace shop {
enum class Status { open, shipped };
CPPFLUE_ENUM(Status, open, shipped)

struct Item {
  std::string name;
  double price = 0;
  int quantity = 0;
};
CPPFLUE_STRUCT(Item, name, price, quantity)

struct Order {
  std::vector<Item> items;
  std::optional<std::string> note;
  std::map<std::string, int> tags;
  Status status = Status::open;
};
CPPFLUE_STRUCT(Order, items, note, tags, status)
}  // namespace shop

namespace {

const char* const kGood =
    R"({"items":[{"name":"pen","price":1.5,"quantity":2},{"name":"ink","price":4,"quantity":1}],)"
    R"("tags":{"rush":1},"status":"shipped"})";
const char* const kBadPrice =
    R"({"items":[{"name":"pen","price":1.5,"quantity":2},{"name":"ink","price":"four","quantity":1}],)"
    R"("tags":{},"status":"open"})";

class Typed : public ::testing::TestWithParam<WireApi> {
 protected:
  WireApi api() const { return GetParam(); }

  Agent make_agent(int typed_retries = 3) {
    std::string base = fake_.base_url();
    if (api() == WireApi::openai_chat || api() == WireApi::openai_responses) base += "/v1";
    write_file(dir_.path() / "cppflue.toml",
               "[agent]\ntyped_retries = " + std::to_string(typed_retries) +
                   "\n[providers.fake]\napi = \"" + std::string(wire_api_name(api())) +
                   "\"\nbase_url = \"" + base + "\"\napi_key = \"k\"\n");
    InitOptions o;
    o.model = "fake:m";
    o.root = dir_.path().string();
    o.sandbox = "none";
    o.max_task_depth = 0;  // no tools at all: the plain native forms
    o.retry = RetryPolicy{.max_attempts = 1};
    return init(std::move(o));
  }

  // The model's answer in the form the API returns structured output in.
  void answer(const std::string& json_text, bool as_text = false) {
    ScriptedTurn t;
    if (api() == WireApi::anthropic && !as_text) {
      ToolCall c;
      c.id = "toolu_1";
      c.name = "final_result";
      c.raw_arguments = json_text;
      c.arguments = parse_json(json_text).value_or(json(json_text));
      t.tool_calls = {c};
    } else {
      t.text = json_text;
    }
    fake_.enqueue_turn(api(), t, false);
  }

  TempDir dir_;
  FakeProvider fake_;
};

std::string param_name(const ::testing::TestParamInfo<WireApi>& info) {
  std::string n(wire_api_name(info.param));
  for (auto& c : n) {
    if (c == '-') c = '_';
  }
  return n;
}

TEST_P(Typed, NativeSchemaThenRepairWithPreviousAnswerAndPath) {
  auto agent = make_agent();
  answer(kBadPrice);
  answer(kGood);
  auto s = agent.session("t");
  shop::Order order = s.prompt<shop::Order>("Read the order");
  ASSERT_EQ(order.items.size(), 2u);
  EXPECT_EQ(order.items[1].name, "ink");
  EXPECT_DOUBLE_EQ(order.items[1].price, 4.0);
  EXPECT_EQ(order.status, shop::Status::shipped);
  EXPECT_FALSE(order.note.has_value());
  EXPECT_EQ(order.tags.at("rush"), 1);

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  const json& body = reqs[0].json_body;
  const json expected_schema = schema_of<shop::Order>();
  switch (api()) {
    case WireApi::openai_chat:
      EXPECT_EQ(*find_path(body, "response_format/type"), "json_schema");
      EXPECT_EQ(*find_path(body, "response_format/json_schema/schema"), expected_schema);
      // `note` is optional, so OpenAI's strict mode (all properties required) is off.
      EXPECT_EQ(*find_path(body, "response_format/json_schema/strict"), false);
      break;
    case WireApi::openai_responses:
      EXPECT_EQ(*find_path(body, "text/format/type"), "json_schema");
      EXPECT_EQ(*find_path(body, "text/format/schema"), expected_schema);
      break;
    case WireApi::anthropic: {
      EXPECT_EQ(*find_path(body, "tool_choice/type"), "tool");
      EXPECT_EQ(*find_path(body, "tool_choice/name"), "final_result");
      EXPECT_EQ(*find_path(body, "tools/0/name"), "final_result");
      EXPECT_EQ(*find_path(body, "tools/0/input_schema"), expected_schema);
      break;
    }
    case WireApi::gemini:
      EXPECT_EQ(*find_path(body, "generationConfig/responseMimeType"), "application/json");
      EXPECT_EQ(*find_path(body, "generationConfig/responseJsonSchema"), expected_schema);
      break;
  }
  // Native: the user text carries no delimiter instructions.
  auto first = view_request(api(), reqs[0].json_body, reqs[0].target);
  EXPECT_EQ(first.items.at(0).text, "Read the order");
  // The repair request shows the previous answer and the failing path.
  auto repair = view_request(api(), reqs[1].json_body, reqs[1].target);
  EXPECT_EQ(check_invariants(repair), "");
  const std::string& last = repair.items.back().text;
  EXPECT_EQ(repair.items.back().role, "user");
  EXPECT_NE(last.find("/items/1/price: expected number, got string"), std::string::npos) << last;
  EXPECT_NE(last.find("\"price\":\"four\""), std::string::npos) << last;
  // The assistant's previous answer is in the conversation as text (not a dangling tool call).
  EXPECT_EQ(repair.items.at(1).role, "assistant");
  EXPECT_NE(repair.items.at(1).text.find("four"), std::string::npos);
}

TEST_P(Typed, ThreeBadAnswersGiveTypedOutputError) {
  auto agent = make_agent(2);
  answer(kBadPrice);
  answer(R"({"items":[],"status":"lost","tags":{}})");
  answer("not json at all", true);  // prose instead of the result
  auto s = agent.session("bad");
  try {
    s.prompt<shop::Order>("Read the order");
    FAIL() << "expected typed_output_error";
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::typed_output_error);
    EXPECT_EQ(e.error().details.at("attempts"), 3);
    EXPECT_EQ(e.error().details.at("raw"), "not json at all");
    EXPECT_FALSE(e.error().details.at("errors").as_array().empty());
  }
  EXPECT_EQ(fake_.request_count(), 3u);
  // The second repair request lists the enum problem of the second answer.
  auto reqs = fake_.requests();
  auto v = view_request(api(), reqs[2].json_body, reqs[2].target);
  EXPECT_NE(v.items.back().text.find("/status"), std::string::npos) << v.items.back().text;
}

TEST_P(Typed, UntypedResultSchemaIsValidated) {
  auto agent = make_agent(1);
  answer(R"({"city":"Paris"})");
  answer(R"({"city":"Paris","country":"France"})");
  json schema =
      json_object{{"type", "object"},
                  {"properties", json_object{{"city", json_object{{"type", "string"}}},
                                             {"country", json_object{{"type", "string"}}}}},
                  {"required", json_array{"city", "country"}},
                  {"additionalProperties", false}};
  auto s = agent.session("u");
  auto r = s.prompt("Where?", PromptOptions{.result_schema = schema});
  EXPECT_EQ(r.result, (json_object{{"city", "Paris"}, {"country", "France"}}));
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto v = view_request(api(), reqs[1].json_body, reqs[1].target);
  EXPECT_NE(v.items.back().text.find("country"), std::string::npos);
  if (api() == WireApi::openai_chat) {
    EXPECT_EQ(*find_path(reqs[0].json_body, "response_format/json_schema/strict"), true);
  }
  // A schema that is not a schema fails before any request.
  EXPECT_THROW(s.prompt("x", PromptOptions{.result_schema = json("nope")}), Exception);
  EXPECT_EQ(fake_.request_count(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Api, Typed,
                         ::testing::Values(WireApi::openai_chat, WireApi::openai_responses,
                                           WireApi::anthropic, WireApi::gemini),
                         param_name);

TEST(TypedOffline, DelimitersWhenTheModelHasNoNativeSchema) {
  TempDir dir;
  write_file(
      dir.path() / "script.json",
      R"({"turns":[{"text":"Here it is:\n---RESULT_START---\n{\"name\":\"pen\",\"price\":2,\"quantity\":3}\n---RESULT_END---"}]})");
  InitOptions o;
  o.model = "test:" + (dir.path() / "script.json").string();
  o.root = dir.path().string();
  o.sandbox = "none";
  std::vector<std::string> texts;
  o.on_event = [&](const Event& e) {
    if (e.type == "operation_start") texts.clear();
  };
  auto agent = init(std::move(o));
  auto s = agent.session("off");
  shop::Item item = s.prompt<shop::Item>("price?");
  EXPECT_EQ(item.name, "pen");
  EXPECT_EQ(item.quantity, 3);
  auto h = s.history();
  ASSERT_FALSE(h.empty());
  // The request asked for the delimiters and carried the schema.
  EXPECT_NE(h[0].text.find("---RESULT_START---"), std::string::npos);
  EXPECT_NE(h[0].text.find("\"quantity\""), std::string::npos);
}

}  // namespace

namespace {
TEST(TypedOffline, BuiltInScriptsAnswerWithASchemaShapedExample) {
  TempDir dir;
  for (const char* model : {"test:demo", "test:echo"}) {
    InitOptions o;
    o.model = model;
    o.root = dir.path().string();
    o.sandbox = "none";
    auto agent = init(std::move(o));
    auto s = agent.session(std::string("ex-") + (model + 5));
    shop::Order order = s.prompt<shop::Order>("Any order");
    EXPECT_TRUE(order.items.empty()) << model;
    EXPECT_EQ(order.status, shop::Status::open) << model;
  }
}
}  // namespace

namespace weather {
struct Args {
  std::string city;
  std::optional<int> days;
};
CPPFLUE_STRUCT(Args, city, days)
}  // namespace weather

namespace {
TEST(TypedTool, InvalidArgumentsAreAToolErrorAndTheFunctionIsNotCalled) {
  TempDir dir;
  FakeProvider fake;
  write_file(dir.path() / "cppflue.toml", "[providers.fake]\napi = \"openai-chat\"\nbase_url = \"" +
                                              fake.base_url() + "/v1\"\napi_key = \"k\"\n");
  std::atomic<int> calls{0};
  auto get_weather =
      tool<weather::Args>("get_weather", "Current weather for one city.",
                          [&calls](const weather::Args& a, ToolContext&) -> json {
                            ++calls;
                            return json_object{{"city", a.city}, {"days", a.days.value_or(1)}};
                          });
  EXPECT_EQ(get_weather.parameters, schema_of<weather::Args>());
  InitOptions o;
  o.model = "fake:m";
  o.root = dir.path().string();
  o.sandbox = "none";
  o.max_task_depth = 0;
  o.tools = {get_weather};
  auto agent = init(std::move(o));
  ScriptedTurn t1;
  ToolCall bad;
  bad.id = "c1";
  bad.name = "get_weather";
  bad.arguments = json_object{{"city", 3}, {"days", "two"}};
  bad.raw_arguments = dump(bad.arguments);
  ToolCall good = bad;
  good.id = "c2";
  good.arguments = json_object{{"city", "Oslo"}};
  good.raw_arguments = dump(good.arguments);
  t1.tool_calls = {bad, good};
  fake.enqueue_turn(WireApi::openai_chat, t1, false);
  ScriptedTurn t2;
  t2.text = "done";
  fake.enqueue_turn(WireApi::openai_chat, t2, false);
  EXPECT_EQ(agent.session("tt").prompt("weather?").text, "done");
  EXPECT_EQ(calls.load(), 1);  // only the valid call ran
  auto reqs = fake.requests();
  auto v = view_request(WireApi::openai_chat, reqs[1].json_body, reqs[1].target);
  ASSERT_EQ(v.items.size(), 4u);
  EXPECT_NE(v.items[2].text.find("/city: expected string, got integer"), std::string::npos)
      << v.items[2].text;
  EXPECT_NE(v.items[2].text.find("/days"), std::string::npos) << v.items[2].text;
  EXPECT_NE(v.items[3].text.find("Oslo"), std::string::npos);
}
}  // namespace
