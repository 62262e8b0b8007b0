// SPDX-License-Identifier: Apache-2.0
// cppflue/schema/reflect.hpp — C++ types ↔ JSON Schema and JSON values (Boost.Describe).
//
// Describe a struct once, right after it, at namespace scope:
//
//   struct Item { std::string name; double price; std::optional<int> qty; };
//   CPPFLUE_STRUCT(Item, name, price, qty);
//   CPPFLUE_DOCS(Item, "One line of an invoice.", (price, "Unit price in EUR."));
//
// Then `schema_of<Item>()` is its JSON Schema, `to_json_value(item)` its JSON and
// `from_json_value<Item>(v)` a strict conversion back that reports every problem with a JSON
// pointer ("/items/1/price: expected number, got string"). Supported members: bool, integers,
// floating point, std::string, described enums (as their names), described structs (nested
// inline), std::optional (not required), std::vector/list/deque/array, std::map and
// std::unordered_map with string keys, and `cppflue::json` (any value).
#pragma once

#include <array>
#include <boost/describe.hpp>
#include <boost/mp11/algorithm.hpp>
#include <concepts>
#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/schema/validator.hpp"  // PathError

// Describes the public data members of struct T (they become the JSON properties, in order).
#define CPPFLUE_STRUCT(T, ...) BOOST_DESCRIBE_STRUCT(T, (), (__VA_ARGS__))
// Describes enum E; its JSON form is the enumerator name.
#define CPPFLUE_ENUM(E, ...) BOOST_DESCRIBE_ENUM(E, __VA_ARGS__)

// Optional documentation for a described struct or enum, used as JSON Schema "description":
//   CPPFLUE_DOCS(T, "type description or empty", (field, "text"), (other_field, "text"));
// Put it in T's namespace (like CPPFLUE_STRUCT). Field names are checked at compile time.
#define CPPFLUE_DOCS(T, description, ...)                                                      \
  [[maybe_unused]] inline ::cppflue::TypeDoc cppflue_type_doc(T**) {                           \
    return {description, {CPPFLUE_DETAIL_FOR_EACH(CPPFLUE_DETAIL_FIELD_DOC, T, __VA_ARGS__)}}; \
  }

// Implementation of CPPFLUE_DOCS: a C++20 __VA_OPT__ for-each over `(field, "text")` pairs.
#define CPPFLUE_DETAIL_FIELD_DOC(T, pair) CPPFLUE_DETAIL_FIELD_DOC_I(T, CPPFLUE_DETAIL_UNPAREN pair)
#define CPPFLUE_DETAIL_FIELD_DOC_I(T, ...) CPPFLUE_DETAIL_FIELD_DOC_II(T, __VA_ARGS__)
#define CPPFLUE_DETAIL_FIELD_DOC_II(T, field, text) \
  ::cppflue::FieldDoc{::cppflue::detail::checked_field<&T::field>(#field), text},
#define CPPFLUE_DETAIL_UNPAREN(...) __VA_ARGS__
#define CPPFLUE_DETAIL_PARENS ()
// 4 × 4 × 4 rescans: up to 64 documented fields per type.
#define CPPFLUE_DETAIL_EXPAND(...) \
  CPPFLUE_DETAIL_EXPAND3(          \
      CPPFLUE_DETAIL_EXPAND3(CPPFLUE_DETAIL_EXPAND3(CPPFLUE_DETAIL_EXPAND3(__VA_ARGS__))))
#define CPPFLUE_DETAIL_EXPAND3(...) \
  CPPFLUE_DETAIL_EXPAND2(           \
      CPPFLUE_DETAIL_EXPAND2(CPPFLUE_DETAIL_EXPAND2(CPPFLUE_DETAIL_EXPAND2(__VA_ARGS__))))
#define CPPFLUE_DETAIL_EXPAND2(...) \
  CPPFLUE_DETAIL_EXPAND1(           \
      CPPFLUE_DETAIL_EXPAND1(CPPFLUE_DETAIL_EXPAND1(CPPFLUE_DETAIL_EXPAND1(__VA_ARGS__))))
#define CPPFLUE_DETAIL_EXPAND1(...) __VA_ARGS__
#define CPPFLUE_DETAIL_FOR_EACH(F, a, ...) \
  __VA_OPT__(CPPFLUE_DETAIL_EXPAND(CPPFLUE_DETAIL_FOR_EACH_I(F, a, __VA_ARGS__)))
#define CPPFLUE_DETAIL_FOR_EACH_I(F, a, x, ...) \
  F(a, x) __VA_OPT__(CPPFLUE_DETAIL_FOR_EACH_AGAIN CPPFLUE_DETAIL_PARENS(F, a, __VA_ARGS__))
#define CPPFLUE_DETAIL_FOR_EACH_AGAIN() CPPFLUE_DETAIL_FOR_EACH_I

namespace cppflue {

struct FieldDoc {
  std::string_view field;
  std::string_view text;
};
struct TypeDoc {
  std::string_view description;
  std::vector<FieldDoc> fields;
};

namespace detail {

template <auto Member>
constexpr std::string_view checked_field(std::string_view name) {
  return name;
}

template <class T, template <class...> class Tpl>
inline constexpr bool is_instance_v = false;
template <class... A, template <class...> class Tpl>
inline constexpr bool is_instance_v<Tpl<A...>, Tpl> = true;

template <class T>
inline constexpr bool is_std_array_v = false;
template <class U, std::size_t N>
inline constexpr bool is_std_array_v<std::array<U, N>> = true;

template <class T>
inline constexpr bool is_string_map_v = false;
template <class U, class... Rest>
inline constexpr bool is_string_map_v<std::map<std::string, U, Rest...>> = true;
template <class U, class... Rest>
inline constexpr bool is_string_map_v<std::unordered_map<std::string, U, Rest...>> = true;

template <class T>
concept Optional = is_instance_v<T, std::optional>;
template <class T>
concept Sequence =
    is_instance_v<T, std::vector> || is_instance_v<T, std::list> || is_instance_v<T, std::deque>;
template <class T>
concept StringMap = is_string_map_v<T>;
template <class T>
concept Integer = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <class T>
concept DescribedStruct = std::is_class_v<T> && boost::describe::has_describe_members<T>::value;
template <class T>
concept DescribedEnum = boost::describe::has_describe_enumerators<T>::value;
template <class T>
concept Documented = requires(T** p) {
  { cppflue_type_doc(p) } -> std::same_as<TypeDoc>;
};

template <class T>
using members_of = boost::describe::describe_members<T, boost::describe::mod_public |
                                                            boost::describe::mod_inherited>;
template <class T, class D>
using member_t = std::remove_cvref_t<decltype(std::declval<T&>().*D::pointer)>;

template <class T>
TypeDoc type_doc() {
  if constexpr (Documented<T>) return cppflue_type_doc(static_cast<T**>(nullptr));
  return {};
}

template <class E>
std::vector<std::string_view> enum_names() {
  std::vector<std::string_view> names;
  boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>(
      [&](auto d) { names.emplace_back(d.name); });
  return names;
}

// T's member names, each with whether it is required (not a std::optional).
template <class T>
std::vector<std::pair<std::string_view, bool>> member_keys() {
  std::vector<std::pair<std::string_view, bool>> keys;
  boost::mp11::mp_for_each<members_of<T>>(
      [&](auto d) { keys.emplace_back(d.name, !Optional<member_t<T, decltype(d)>>); });
  return keys;
}

// The non-template half of the converter (src/schema/reflect.cpp): it keeps the current
// JSON pointer and collects errors, and checks scalars.
class Reader {
 public:
  std::size_t enter(std::string_view key);
  std::size_t enter(std::size_t index);
  void leave(std::size_t mark) { path_.resize(mark); }

  void error(std::string message);
  void type_error(std::string_view expected, const json& got);
  // Checks an object's keys: `missing required property "x"` / `unexpected property "y"`.
  void check_keys(const json_object& obj,
                  const std::vector<std::pair<std::string_view, bool>>& keys);

  std::optional<std::int64_t> read_signed(const json& v, std::int64_t lo, std::int64_t hi);
  std::optional<std::uint64_t> read_unsigned(const json& v, std::uint64_t hi);
  std::optional<double> read_number(const json& v, double max_abs);
  const boost::json::string* read_string(const json& v);
  std::optional<std::size_t> read_enum(const json& v, const std::vector<std::string_view>& names);

  std::vector<PathError> take() { return std::move(errors_); }

 private:
  std::string path_;
  std::vector<PathError> errors_;
};

template <class T>
json integer_schema() {
  json_object s{{"type", "integer"}};
  if constexpr (std::is_unsigned_v<T>) s["minimum"] = 0;
  return s;
}

}  // namespace detail

// JSON Schema (draft-7 ∩ 2020-12 subset) of T. Nested structs are inlined (no $ref).
template <class T>
json schema_of() {
  using namespace detail;
  json_object s;
  if constexpr (Optional<T>) {
    return schema_of<typename T::value_type>();
  } else if constexpr (std::is_same_v<T, json>) {
    return json_object{};
  } else if constexpr (std::is_same_v<T, json_object>) {
    s["type"] = "object";
  } else if constexpr (std::is_same_v<T, bool>) {
    s["type"] = "boolean";
  } else if constexpr (Integer<T>) {
    return integer_schema<T>();
  } else if constexpr (std::is_floating_point_v<T>) {
    s["type"] = "number";
  } else if constexpr (std::is_same_v<T, std::string>) {
    s["type"] = "string";
  } else if constexpr (DescribedEnum<T>) {
    s["type"] = "string";
    json_array names;
    for (std::string_view n : enum_names<T>()) names.emplace_back(n);
    s["enum"] = std::move(names);
  } else if constexpr (Sequence<T>) {
    s = {{"type", "array"}, {"items", schema_of<typename T::value_type>()}};
  } else if constexpr (is_std_array_v<T>) {
    constexpr std::size_t n = std::tuple_size_v<T>;
    s = {{"type", "array"}, {"items", schema_of<typename T::value_type>()}};
    s["minItems"] = static_cast<std::int64_t>(n);
    s["maxItems"] = static_cast<std::int64_t>(n);
  } else if constexpr (StringMap<T>) {
    s = {{"type", "object"}, {"additionalProperties", schema_of<typename T::mapped_type>()}};
  } else if constexpr (DescribedStruct<T>) {
    TypeDoc doc = type_doc<T>();
    json_object properties;
    json_array required;
    boost::mp11::mp_for_each<members_of<T>>([&](auto d) {
      using M = member_t<T, decltype(d)>;
      json p = schema_of<M>();
      for (const FieldDoc& f : doc.fields) {
        if (f.field == d.name) p.as_object()["description"] = f.text;
      }
      properties[d.name] = std::move(p);
      if constexpr (!Optional<M>) required.emplace_back(d.name);
    });
    s = {{"type", "object"},
         {"properties", std::move(properties)},
         {"required", std::move(required)},
         {"additionalProperties", false}};
  } else {
    static_assert(sizeof(T) == 0,
                  "schema_of: type not supported (describe it with CPPFLUE_STRUCT?)");
  }
  if constexpr (DescribedStruct<T> || DescribedEnum<T>) {
    std::string_view description = type_doc<T>().description;
    if (!description.empty()) s["description"] = description;
  }
  return s;
}

// T as JSON: absent optionals are omitted from objects (null at the top level), enums are names.
template <class T>
json to_json_value(const T& value) {
  using namespace detail;
  if constexpr (Optional<T>) {
    return value ? to_json_value(*value) : json(nullptr);
  } else if constexpr (std::is_same_v<T, json> || std::is_same_v<T, json_object> ||
                       std::is_same_v<T, bool> || std::is_same_v<T, std::string>) {
    return json(value);
  } else if constexpr (Integer<T> && std::is_signed_v<T>) {
    return json(static_cast<std::int64_t>(value));
  } else if constexpr (Integer<T>) {
    return json(static_cast<std::uint64_t>(value));
  } else if constexpr (std::is_floating_point_v<T>) {
    return json(static_cast<double>(value));
  } else if constexpr (DescribedEnum<T>) {
    const char* name = boost::describe::enum_to_string(value, nullptr);
    if (name) return json(name);
    return json(static_cast<std::int64_t>(value));
  } else if constexpr (Sequence<T> || is_std_array_v<T>) {
    json_array a;
    for (const auto& e : value) a.push_back(to_json_value(e));
    return a;
  } else if constexpr (StringMap<T>) {
    json_object o;
    for (const auto& [k, v] : value) o[k] = to_json_value(v);
    return o;
  } else if constexpr (DescribedStruct<T>) {
    json_object o;
    boost::mp11::mp_for_each<members_of<T>>([&](auto d) {
      const auto& m = value.*decltype(d)::pointer;
      if constexpr (Optional<member_t<T, decltype(d)>>) {
        if (!m) return;
      }
      o[d.name] = to_json_value(m);
    });
    return o;
  } else {
    static_assert(sizeof(T) == 0, "to_json_value: type not supported");
  }
}

namespace detail {

template <class T>
void read_value(const json& v, T& out, Reader& r);

// bool, integers (range-checked), floating point and std::string.
template <class T>
void read_scalar(const json& v, T& out, Reader& r) {
  if constexpr (std::is_same_v<T, bool>) {
    if (v.is_bool()) {
      out = v.get_bool();
    } else {
      r.type_error("boolean", v);
    }
  } else if constexpr (Integer<T> && std::is_signed_v<T>) {
    auto n = r.read_signed(v, std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    if (n) out = static_cast<T>(*n);
  } else if constexpr (Integer<T>) {
    auto n = r.read_unsigned(v, std::numeric_limits<T>::max());
    if (n) out = static_cast<T>(*n);
  } else if constexpr (std::is_floating_point_v<T>) {
    auto n = r.read_number(v, static_cast<double>(std::numeric_limits<T>::max()));
    if (n) out = static_cast<T>(*n);
  } else {
    static_assert(std::is_same_v<T, std::string>);
    if (const boost::json::string* s = r.read_string(v)) out.assign(s->data(), s->size());
  }
}

// A described enum, from its enumerator name.
template <class E>
void read_enumerator(const json& v, E& out, Reader& r) {
  auto index = r.read_enum(v, enum_names<E>());
  if (!index) return;
  std::size_t i = 0;
  boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>([&](auto d) {
    if (i++ == *index) out = d.value;
  });
}

// std::vector/list/deque (replaced), or std::array (the sizes must match).
template <class T>
void read_sequence(const json& v, T& out, Reader& r) {
  if (!v.is_array()) return r.type_error("array", v);
  const json_array& a = v.get_array();
  if constexpr (is_std_array_v<T>) {
    if (a.size() != out.size()) {
      return r.error("expected " + std::to_string(out.size()) + " items, got " +
                     std::to_string(a.size()));
    }
  } else {
    out.clear();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::size_t mark = r.enter(i);
    if constexpr (is_std_array_v<T>) {
      read_value(a[i], out[i], r);
    } else {
      typename T::value_type element{};  // not emplace_back(): std::vector<bool>
      read_value(a[i], element, r);
      out.push_back(std::move(element));
    }
    r.leave(mark);
  }
}

template <class T>
void read_string_map(const json& v, T& out, Reader& r) {
  if (!v.is_object()) return r.type_error("object", v);
  out.clear();
  for (const auto& kv : v.get_object()) {
    std::size_t mark = r.enter(kv.key());
    read_value(kv.value(), out[std::string(kv.key())], r);
    r.leave(mark);
  }
}

// A described struct. Absent optional members are reset; absent required ones (reported by
// check_keys) keep their value.
template <class T>
void read_struct(const json& v, T& out, Reader& r) {
  if (!v.is_object()) return r.type_error("object", v);
  const json_object& obj = v.get_object();
  r.check_keys(obj, member_keys<T>());  // the object's own errors first, then its members'
  boost::mp11::mp_for_each<members_of<T>>([&](auto d) {
    auto& member = out.*decltype(d)::pointer;
    const json* field = obj.if_contains(d.name);
    if (!field) {
      if constexpr (Optional<member_t<T, decltype(d)>>) member.reset();
      return;
    }
    std::size_t mark = r.enter(d.name);
    read_value(*field, member, r);
    r.leave(mark);
  });
}

template <class T>
void read_value(const json& v, T& out, Reader& r) {
  if constexpr (Optional<T>) {
    // null is accepted for an optional: models often write it for "no value".
    if (v.is_null()) {
      out.reset();
    } else {
      read_value(v, out.emplace(), r);
    }
  } else if constexpr (std::is_same_v<T, json>) {
    out = v;
  } else if constexpr (std::is_same_v<T, json_object>) {
    if (v.is_object()) {
      out = v.get_object();
    } else {
      r.type_error("object", v);
    }
  } else if constexpr (std::is_same_v<T, bool> || Integer<T> || std::is_floating_point_v<T> ||
                       std::is_same_v<T, std::string>) {
    read_scalar(v, out, r);
  } else if constexpr (DescribedEnum<T>) {
    read_enumerator(v, out, r);
  } else if constexpr (Sequence<T> || is_std_array_v<T>) {
    read_sequence(v, out, r);
  } else if constexpr (StringMap<T>) {
    read_string_map(v, out, r);
  } else if constexpr (DescribedStruct<T>) {
    read_struct(v, out, r);
  } else {
    static_assert(sizeof(T) == 0, "from_json_value: type not supported");
  }
}

}  // namespace detail

// Converts `v` into `out`, returning every problem found (empty = success). On errors `out`
// holds whatever could be converted.
template <class T>
std::vector<PathError> convert(const json& v, T& out) {
  detail::Reader reader;
  detail::read_value(v, out, reader);
  return reader.take();
}

// Strict conversion: unknown keys, missing required fields, wrong types, fractional or
// out-of-range integers and unknown enum names are errors (all of them are reported; see
// path_errors_to_error). T must be default-constructible.
template <class T>
Result<T> from_json_value(const json& v) {
  T out{};
  std::vector<PathError> errors = convert(v, out);
  if (!errors.empty()) return tl::unexpected<Error>(path_errors_to_error(errors));
  return out;
}

}  // namespace cppflue
