// SPDX-License-Identifier: Apache-2.0
// Reflection: generated JSON Schemas, the strict converter's error paths, and round trips.
#include "cppflue/schema/reflect.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {
namespace {

enum class Color { red, green, blue };
CPPFLUE_ENUM(Color, red, green, blue);
CPPFLUE_DOCS(Color, "Paint colour.");

struct Item {
  std::string name;
  double price = 0;
  int quantity = 0;
};
CPPFLUE_STRUCT(Item, name, price, quantity);
CPPFLUE_DOCS(Item, "One line of an order.", (price, "Unit price in EUR."),
             (quantity, "How many units."));

struct Address {
  std::string city;
  std::optional<std::string> zip;
};
CPPFLUE_STRUCT(Address, city, zip);

struct Order {
  std::string id;
  std::vector<Item> items;
  std::optional<std::string> note;
  std::map<std::string, int> tags;
  Color color = Color::red;
  unsigned count = 0;
  Address address;
  bool paid = false;
  json extra;
};
CPPFLUE_STRUCT(Order, id, items, note, tags, color, count, address, paid, extra);
CPPFLUE_DOCS(Order, "", (note, "Free text."), (address, "Where to ship."));

struct Containers {
  std::list<std::int64_t> list;
  std::array<float, 2> pair{};
  std::unordered_map<std::string, std::vector<bool>> flags;
  std::optional<std::vector<Color>> colors;
  std::uint8_t small = 0;
};
CPPFLUE_STRUCT(Containers, list, pair, flags, colors, small);

// More documented fields than a naive preprocessor loop would handle.
struct Wide {
  int f00 = 0;
  int f01 = 0;
  int f02 = 0;
  int f03 = 0;
  int f04 = 0;
  int f05 = 0;
  int f06 = 0;
  int f07 = 0;
  int f08 = 0;
  int f09 = 0;
  int f10 = 0;
  int f11 = 0;
  int f12 = 0;
  int f13 = 0;
  int f14 = 0;
  int f15 = 0;
  int f16 = 0;
  int f17 = 0;
  int f18 = 0;
  int f19 = 0;
  int f20 = 0;
  int f21 = 0;
  int f22 = 0;
  int f23 = 0;
  int f24 = 0;
  int f25 = 0;
  int f26 = 0;
  int f27 = 0;
  int f28 = 0;
  int f29 = 0;
  int f30 = 0;
  int f31 = 0;
  int f32 = 0;
  int f33 = 0;
  int f34 = 0;
  int f35 = 0;
  int f36 = 0;
  int f37 = 0;
  int f38 = 0;
  int f39 = 0;
};
CPPFLUE_STRUCT(Wide, f00, f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13, f14, f15,
               f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30, f31, f32,
               f33, f34, f35, f36, f37, f38, f39);
CPPFLUE_DOCS(Wide, "wide", (f00, "doc 0"), (f01, "doc 1"), (f02, "doc 2"), (f03, "doc 3"),
             (f04, "doc 4"), (f05, "doc 5"), (f06, "doc 6"), (f07, "doc 7"), (f08, "doc 8"),
             (f09, "doc 9"), (f10, "doc 10"), (f11, "doc 11"), (f12, "doc 12"), (f13, "doc 13"),
             (f14, "doc 14"), (f15, "doc 15"), (f16, "doc 16"), (f17, "doc 17"), (f18, "doc 18"),
             (f19, "doc 19"), (f20, "doc 20"), (f21, "doc 21"), (f22, "doc 22"), (f23, "doc 23"),
             (f24, "doc 24"), (f25, "doc 25"), (f26, "doc 26"), (f27, "doc 27"), (f28, "doc 28"),
             (f29, "doc 29"), (f30, "doc 30"), (f31, "doc 31"), (f32, "doc 32"), (f33, "doc 33"),
             (f34, "doc 34"), (f35, "doc 35"), (f36, "doc 36"), (f37, "doc 37"), (f38, "doc 38"),
             (f39, "doc 39"));

json parse(std::string_view text) {
  return parse_json(text).value();
}

json valid_order() {
  return parse(R"({
    "id": "A-1",
    "items": [{"name": "pen", "price": 1.5, "quantity": 2},
              {"name": "ink", "price": 9.99, "quantity": 1}],
    "note": "fragile",
    "tags": {"priority": 1, "a/b~c": 2},
    "color": "green",
    "count": 7,
    "address": {"city": "Paris", "zip": "75001"},
    "paid": true,
    "extra": {"anything": [1, "two", null]}
  })");
}

TEST(Reflect, SchemaOfNestedStructIsExact) {
  json expected = parse(R"({
    "type": "object",
    "properties": {
      "id": {"type": "string"},
      "items": {
        "type": "array",
        "items": {
          "type": "object",
          "properties": {
            "name": {"type": "string"},
            "price": {"type": "number", "description": "Unit price in EUR."},
            "quantity": {"type": "integer", "description": "How many units."}
          },
          "required": ["name", "price", "quantity"],
          "additionalProperties": false,
          "description": "One line of an order."
        }
      },
      "note": {"type": "string", "description": "Free text."},
      "tags": {"type": "object", "additionalProperties": {"type": "integer"}},
      "color": {"type": "string", "enum": ["red", "green", "blue"], "description": "Paint colour."},
      "count": {"type": "integer", "minimum": 0},
      "address": {
        "type": "object",
        "properties": {
          "city": {"type": "string"},
          "zip": {"type": "string"}
        },
        "required": ["city"],
        "additionalProperties": false,
        "description": "Where to ship."
      },
      "paid": {"type": "boolean"},
      "extra": {}
    },
    "required": ["id", "items", "tags", "color", "count", "address", "paid", "extra"],
    "additionalProperties": false
  })");
  json actual = schema_of<Order>();
  EXPECT_EQ(actual, expected) << dump_pretty(actual);
  // Declaration order is kept, so the text is deterministic (prompt caches, readability).
  EXPECT_EQ(dump(actual), dump(expected));
}

TEST(Reflect, SchemaOfContainersAndScalars) {
  json expected = parse(R"({
    "type": "object",
    "properties": {
      "list": {"type": "array", "items": {"type": "integer"}},
      "pair": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
      "flags": {"type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "boolean"}}},
      "colors": {"type": "array",
                 "items": {"type": "string", "enum": ["red", "green", "blue"],
                           "description": "Paint colour."}},
      "small": {"type": "integer", "minimum": 0}
    },
    "required": ["list", "pair", "flags", "small"],
    "additionalProperties": false
  })");
  EXPECT_EQ(schema_of<Containers>(), expected) << dump_pretty(schema_of<Containers>());
  EXPECT_EQ(schema_of<std::string>(), parse(R"({"type": "string"})"));
  EXPECT_EQ(schema_of<std::optional<double>>(), parse(R"({"type": "number"})"));
  EXPECT_EQ(schema_of<json>(), json_object{});
  EXPECT_EQ(schema_of<std::vector<std::string>>(),
            parse(R"({"type": "array", "items": {"type": "string"}})"));
}

TEST(Reflect, RoundTripThroughJson) {
  auto order = from_json_value<Order>(valid_order());
  ASSERT_TRUE(order) << order.error().message;
  EXPECT_EQ(order->items.size(), 2u);
  EXPECT_EQ(order->items[1].price, 9.99);
  EXPECT_EQ(order->color, Color::green);
  EXPECT_EQ(order->address.zip, "75001");
  EXPECT_EQ(to_json_value(*order), valid_order());

  Order minimal;
  minimal.id = "B";
  minimal.extra = nullptr;
  json j = to_json_value(minimal);
  EXPECT_EQ(j.as_object().if_contains("note"), nullptr);  // absent optional → key omitted
  EXPECT_EQ(j.at("color"), "red");
  EXPECT_EQ(j.at("address"), parse(R"({"city": ""})"));
  auto back = from_json_value<Order>(j);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(to_json_value(*back), j);

  Containers c;
  c.list = {1, -2, 3};
  c.pair = {0.5f, 2.0f};
  c.flags["x"] = {true, false};
  c.colors = std::vector<Color>{Color::blue};
  c.small = 255;
  auto c2 = from_json_value<Containers>(to_json_value(c));
  ASSERT_TRUE(c2) << c2.error().message;
  EXPECT_EQ(to_json_value(*c2), to_json_value(c));
  EXPECT_EQ(to_json_value(c).at("colors"), parse(R"(["blue"])"));
}

TEST(Reflect, WrongTypeNamesTheJsonPointer) {
  json v = valid_order();
  v.at("items").at(1).at("price") = "9.99";
  std::vector<PathError> errors;
  Order out;
  errors = convert(v, out);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/items/1/price");
  EXPECT_EQ(errors[0].message, "expected number, got string");

  auto r = from_json_value<Order>(v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, ErrorType::invalid_input);
  EXPECT_EQ(r.error().message, "/items/1/price: expected number, got string");
  EXPECT_EQ(r.error().details.at("errors"),
            parse(R"([{"path": "/items/1/price", "message": "expected number, got string"}])"));
}

TEST(Reflect, CollectsEveryError) {
  json v = valid_order();
  v.at("items").at(0).as_object().erase("quantity");
  v.at("items").at(1).at("price") = "cheap";
  v.at("items").at(1).at("quantity") = 2.5;
  v.as_object()["colour"] = "blue";
  v.at("color") = "purple";
  v.at("count") = -1;
  v.at("tags").at("a/b~c") = true;
  v.at("address").as_object().erase("city");
  v.at("paid") = "yes";
  Order out;
  EXPECT_EQ(format_path_errors(convert(v, out)),
            "(root): unexpected property \"colour\"\n"
            "/items/0: missing required property \"quantity\"\n"
            "/items/1/price: expected number, got string\n"
            "/items/1/quantity: expected integer, got 2.5\n"
            "/tags/a~1b~0c: expected integer, got boolean\n"
            "/color: expected one of \"red\", \"green\", \"blue\", got \"purple\"\n"
            "/count: -1 is out of range [0, 4294967295]\n"
            "/address: missing required property \"city\"\n"
            "/paid: expected boolean, got string");
}

TEST(Reflect, MissingUnknownAndRootErrors) {
  auto missing = from_json_value<Item>(parse(R"({"name": "x", "price": 1})"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "(root): missing required property \"quantity\"");

  auto unknown =
      from_json_value<Item>(parse(R"({"name": "x", "price": 1, "quantity": 1, "qty": 2})"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "(root): unexpected property \"qty\"");

  Item item;
  std::vector<PathError> root = convert(parse("[1, 2]"), item);
  ASSERT_EQ(root.size(), 1u);
  EXPECT_EQ(root[0].path, "");
  EXPECT_EQ(root[0].message, "expected object, got array");
  EXPECT_EQ(format_path_errors(convert(json(nullptr), item)), "(root): expected object, got null");
}

TEST(Reflect, IntegersAreCheckedForRangeAndFraction) {
  auto i = from_json_value<Item>(parse(R"({"name": "x", "price": 1, "quantity": 3.0})"));
  ASSERT_TRUE(i) << i.error().message;  // an integral double is an integer
  EXPECT_EQ(i->quantity, 3);

  auto big = from_json_value<Item>(parse(R"({"name": "x", "price": 1, "quantity": 3000000000})"));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, "/quantity: 3000000000 is out of range [-2147483648, 2147483647]");

  auto huge = from_json_value<Item>(parse(R"({"name": "x", "price": 1, "quantity": 1e300})"));
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("is out of range"), std::string::npos);

  auto frac = from_json_value<Item>(parse(R"({"name": "x", "price": 1, "quantity": 3.5})"));
  ASSERT_FALSE(frac);
  EXPECT_EQ(frac.error().message, "/quantity: expected integer, got 3.5");

  auto str = from_json_value<Item>(parse(R"({"name": "x", "price": 1, "quantity": "3"})"));
  ASSERT_FALSE(str);
  EXPECT_EQ(str.error().message, "/quantity: expected integer, got string");

  Containers c;
  EXPECT_EQ(format_path_errors(
                convert(parse(R"({"list": [1, 18446744073709551615], "pair": [1, 2, 3], "flags": {},
                          "small": 256})"),
                        c)),
            "/list/1: 18446744073709551615 is out of range [-9223372036854775808, "
            "9223372036854775807]\n"
            "/pair: expected 2 items, got 3\n"
            "/small: 256 is out of range [0, 255]");
}

TEST(Reflect, OptionalFieldsAcceptAbsenceAndNull) {
  auto a = from_json_value<Address>(parse(R"({"city": "Oslo"})"));
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->zip);
  auto b = from_json_value<Address>(parse(R"({"city": "Oslo", "zip": null})"));
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->zip);
  auto c = from_json_value<Address>(parse(R"({"city": "Oslo", "zip": 123})"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "/zip: expected string, got integer");
}

TEST(Reflect, EnumsUseTheirNames) {
  EXPECT_EQ(to_json_value(Color::blue), "blue");
  auto ok = from_json_value<Color>(json("green"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, Color::green);
  auto bad = from_json_value<Color>(json(1));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "(root): expected one of \"red\", \"green\", \"blue\", got 1");
  auto wrong_case = from_json_value<Color>(json("GREEN"));
  EXPECT_FALSE(wrong_case);
}

TEST(Reflect, DocsCoverManyFields) {
  json s = schema_of<Wide>();
  ASSERT_EQ(s.at("properties").as_object().size(), 40u);
  EXPECT_EQ(s.at("properties").at("f00").at("description"), "doc 0");
  EXPECT_EQ(s.at("properties").at("f39").at("description"), "doc 39");
  EXPECT_EQ(s.at("description"), "wide");
}

TEST(Reflect, ConvertIntoExistingValueResetsAbsentOptionals) {
  Address a;
  a.zip = "old";
  EXPECT_TRUE(convert(parse(R"({"city": "Rome"})"), a).empty());
  EXPECT_EQ(a.city, "Rome");
  EXPECT_FALSE(a.zip);
}

TEST(Reflect, PointerTokensAreEscaped) {
  EXPECT_EQ(escape_pointer_token("a/b~c"), "a~1b~0c");
  EXPECT_EQ(escape_pointer_token("~1"), "~01");
  EXPECT_EQ(escape_pointer_token(""), "");
  EXPECT_EQ(format_path_errors({}), "");
  EXPECT_EQ(format_path_errors({{"", "x"}, {"/a", "y"}}), "(root): x\n/a: y");
  // Control characters in keys are shown escaped so that each error stays on one line.
  EXPECT_EQ(format_path_errors({{"/a\nb", "x"}}), "/a\\u000ab: x");
  Item item;
  EXPECT_EQ(format_path_errors(convert(
                parse(R"({"name": "x", "price": 1, "quantity": 1, "say \"hi\"\n": 0})"), item)),
            "(root): unexpected property \"say \\\"hi\\\"\\n\"");
}

}  // namespace
}  // namespace cppflue
