// SPDX-License-Identifier: Apache-2.0
// SchemaValidator: the only translation unit that includes valijson (it is slow to compile).
//
// valijson reports a failure as a chain: the specific error ("Value type not permitted by
// 'type' constraint.") and then one wrapper per enclosing level ("Failed to validate against
// schema associated with property name 'items'."). We keep the specific errors, rewrite them
// with the schema and the instance at hand ("expected number, got string"), and drop wrappers
// that a more specific error already explains.
#define VALIJSON_USE_EXCEPTIONS 1

#include "cppflue/schema/validator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <regex>
#include <unordered_set>
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace cppflue {

struct SchemaValidator::Impl {
  json document;
  valijson::Schema schema;
};

namespace {

using Tokens = std::vector<std::string>;

enum class Kind {
  chain,               // a wrapper around errors reported deeper down
  type,                // "expected X, got Y" at a place whose schema we could read
  type_noise,          // a type mismatch we could not explain (usually one anyOf/oneOf branch)
  alternatives,        // no anyOf/oneOf branch matched
  typed_alternatives,  // same, rewritten as "expected A or B, got C"
  other,
};

struct Item {
  Tokens tokens;
  std::string message;
  Kind kind = Kind::other;
};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string show(const json& v) {
  if (v.is_double()) return fmt::format("{}", v.get_double());  // dump() writes 2.5 as 2.5E0
  std::string s = dump(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string pointer(const Tokens& tokens) {
  std::string out;
  for (const std::string& t : tokens) {
    out += '/';
    out += escape_pointer_token(t);
  }
  return out;
}

// valijson context ["<root>", "[items]", "[1]"] → {"items", "1"}.
Tokens tokens_of(const std::vector<std::string>& context) {
  Tokens out;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view c = context[i];
    if (c.size() >= 2 && c.front() == '[' && c.back() == ']') c = c.substr(1, c.size() - 2);
    out.emplace_back(c);
  }
  return out;
}

const json* child(const json& v, const std::string& token) {
  if (v.is_object()) return v.get_object().if_contains(token);
  if (v.is_array()) {
    if (token.empty() || token.size() > 18) return nullptr;
    std::size_t idx = 0;
    for (char c : token) {
      if (c < '0' || c > '9') return nullptr;
      idx = idx * 10 + static_cast<std::size_t>(c - '0');
    }
    const json_array& a = v.get_array();
    return idx < a.size() ? &a[idx] : nullptr;
  }
  return nullptr;
}

const json* instance_at(const json& root, const Tokens& tokens) {
  const json* cur = &root;
  for (const std::string& t : tokens) {
    cur = child(*cur, t);
    if (!cur) return nullptr;
  }
  return cur;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One token of a "$ref" fragment: URI percent-decoding, then RFC 6901 unescaping.
std::string unescape_token(std::string_view raw) {
  std::string decoded;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    int hi = raw[i] == '%' && i + 2 < raw.size() ? hex_digit(raw[i + 1]) : -1;
    int lo = hi >= 0 ? hex_digit(raw[i + 2]) : -1;
    if (lo >= 0) {
      decoded += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      decoded += raw[i];
    }
  }
  std::string token;
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    if (decoded[i] == '~' && i + 1 < decoded.size() &&
        (decoded[i + 1] == '0' || decoded[i + 1] == '1')) {
      token += decoded[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      token += decoded[i];
    }
  }
  return token;
}

// Follows local "$ref"s ("#/definitions/x", "#/$defs/x"); nullptr for anything else.
const json* resolve_refs(const json& root, const json* s) {
  for (int hops = 0; s && s->is_object() && hops < 32; ++hops) {
    const json* ref = find(*s, "$ref");
    if (!ref) return s;
    if (!ref->is_string()) return nullptr;
    std::string_view r = ref->get_string();
    if (r.empty() || r.front() != '#') return nullptr;
    r.remove_prefix(1);
    const json* cur = &root;
    while (cur && !r.empty()) {
      if (r.front() != '/') return nullptr;
      r.remove_prefix(1);
      std::size_t end = std::min(r.find('/'), r.size());
      std::string token = unescape_token(r.substr(0, end));
      r.remove_prefix(end);
      cur = child(*cur, token);
    }
    s = cur;
  }
  return s && s->is_object() ? s : nullptr;
}

// The patternProperties schema whose pattern matches `key`: nullptr when none does, nullopt
// when several do (their constraints combine; too subtle to explain). compile() checked them.
std::optional<const json*> pattern_schema(const json& pattern_properties, const std::string& key) {
  const json* found = nullptr;
  if (!pattern_properties.is_object()) return found;
  for (const auto& kv : pattern_properties.get_object()) {
    if (!std::regex_search(key, std::regex(std::string(kv.key())))) continue;
    if (found) return std::nullopt;
    found = &kv.value();
  }
  return found;
}

// The subschema that applies at `tokens`, when it can be found by following properties,
// additionalProperties and items; nullptr when it depends on combinators or patterns.
const json* schema_at(const json& root, const json& instance, const Tokens& tokens) {
  const json* s = resolve_refs(root, &root);
  const json* inst = &instance;
  for (const std::string& t : tokens) {
    if (!s || !inst) return nullptr;
    const json* next = nullptr;
    if (inst->is_object()) {
      const json* props = find(*s, "properties");
      if (props) next = find(*props, t);
      if (const json* pp = find(*s, "patternProperties"); pp && !next) {
        std::optional<const json*> match = pattern_schema(*pp, t);
        if (!match) return nullptr;
        next = *match;
      }
      if (const json* ap = find(*s, "additionalProperties"); ap && ap->is_object() && !next) {
        next = ap;
      }
    } else if (inst->is_array()) {
      const json* items = find(*s, "items");
      if (items && items->is_object()) {
        next = items;
      } else if (items && items->is_array()) {
        next = child(*items, t);
        if (!next) next = find(*s, "additionalItems");
      }
    }
    if (!next) return nullptr;
    s = resolve_refs(root, next);
    inst = child(*inst, t);
  }
  return s;
}

bool has_type(std::string_view type, const json& v) {
  if (type == "integer") {
    return v.is_int64() || v.is_uint64();  // as valijson's strict mode: 3.0 is a number
  }
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_bool();
  return kind_name(v) == type;
}

// The names in a "type" keyword (a string or an array of strings).
std::vector<std::string> type_names(const json* type) {
  std::vector<std::string> out;
  if (!type) return out;
  if (type->is_string()) out.emplace_back(type->get_string());
  if (type->is_array()) {
    for (const json& t : type->get_array()) {
      if (t.is_string()) out.emplace_back(t.get_string());
    }
  }
  return out;
}

// "expected A or B, got C" when `v` has none of the types; nullopt when it has one of them.
std::optional<std::string> type_message(const std::vector<std::string>& types, const json& v) {
  if (types.empty()) return std::nullopt;
  std::string expected;
  for (const std::string& t : types) {
    if (has_type(t, v)) return std::nullopt;
    if (!expected.empty()) expected += " or ";
    expected += t;
  }
  return fmt::format("expected {}, got {}", expected, kind_name(v));
}

// The text between the first and the last single quote of a valijson message.
std::string quoted(std::string_view message) {
  auto a = message.find('\'');
  auto b = message.rfind('\'');
  if (a == std::string_view::npos || b <= a) return {};
  return std::string(message.substr(a + 1, b - a - 1));
}

// A property name as a JSON string, so that quotes and control characters stay readable.
std::string quote(std::string_view name) {
  return boost::json::serialize(boost::json::string_view(name.data(), name.size()));
}

// Lower-case first letter, no final period, "1.000000" → "1".
std::string tidy(std::string_view message) {
  std::string s(message);
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    bool decimal = s[i] >= '0' && s[i] <= '9' && i + 2 < s.size() && s[i + 1] == '.' &&
                   s[i + 2] >= '0' && s[i + 2] <= '9';
    if (!decimal) continue;
    std::size_t end = i + 2;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
    std::string frac = s.substr(i + 2, end - i - 2);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    if (!frac.empty()) out += "." + frac;
    i = end - 1;
  }
  return out;
}

bool is_chain(std::string_view d) {
  return starts_with(d, "Failed to validate against schema associated with") ||
         starts_with(d, "Failed to validate item #") ||
         starts_with(d, "Failed to validate against additional properties schema") ||
         starts_with(d, "Failed to validate against child schema #") ||
         starts_with(d, "Failed to validate against dependent schema") ||
         starts_with(d, "Failed to validate against a conditional schema");
}

// The message for a wrapper error ("Failed to validate against schema associated with ...").
std::string chain_message(const std::string& d) {
  if (starts_with(d, "Failed to validate against schema associated with property name")) {
    return fmt::format("property {} is not allowed by its schema", quote(quoted(d)));
  }
  if (starts_with(d, "Failed to validate against schema associated with pattern")) {
    return fmt::format("a property matching '{}' is not allowed by its schema", quoted(d));
  }
  if (starts_with(d, "Failed to validate item #")) {
    std::string_view n =
        std::string_view(d).substr(std::string_view("Failed to validate item #").size());
    n = n.substr(0, n.find(' '));
    return fmt::format("item {} is not allowed by the items schema", n);
  }
  return tidy(d);
}

// "Value type not permitted": "expected X, got Y" when the subschema's "type" explains it.
void explain_type_mismatch(const json* inst, const json* sub, Item& item) {
  std::optional<std::string> m;
  if (inst && sub) m = type_message(type_names(find(*sub, "type")), *inst);
  item.kind = m ? Kind::type : Kind::type_noise;
  item.message = m ? *m : fmt::format("type {} is not allowed here", inst ? kind_name(*inst) : "");
}

// "Object contains a property that could not be validated": one item per unexpected property.
void add_unexpected_properties(const std::string& d, const json* inst, const json* sub,
                               const Tokens& tokens, std::vector<Item>& out) {
  // valijson names only the first one; list them all when the schema is simple enough.
  const json* props = sub ? find(*sub, "properties") : nullptr;
  std::size_t at = d.rfind(": '");
  std::string named = at == std::string::npos ? std::string() : d.substr(at + 3);
  if (!named.empty() && named.back() == '.') named.pop_back();
  if (!named.empty() && named.back() == '\'') named.pop_back();
  std::vector<std::string> names;
  if (inst && inst->is_object() && sub && !find(*sub, "patternProperties")) {
    for (const auto& kv : inst->get_object()) {
      if (!props || !find(*props, kv.key())) names.emplace_back(kv.key());
    }
  }
  // Trust our own list only if it agrees with valijson about the first one.
  if (names.empty() || names.front() != named) names = {named};
  for (const std::string& name : names) {
    out.push_back({tokens, fmt::format("unexpected property {}", quote(name)), Kind::other});
  }
}

// "Failed to match against any enum values": lists (up to 20 of) the allowed values.
std::string enum_message(const json* inst, const json* sub) {
  const json* values = sub ? find(*sub, "enum") : nullptr;
  if (!values || !values->is_array() || !inst) {
    return "value is not one of the allowed values (enum)";
  }
  std::string allowed;
  std::size_t n = 0;
  for (const json& v : values->get_array()) {
    if (n++ == 20) {
      allowed += ", ...";
      break;
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += show(v);
  }
  return fmt::format("expected one of {}, got {}", allowed, show(*inst));
}

// "Failed to match expected value set by 'const'".
std::string const_message(const json* inst, const json* sub) {
  const json* c = sub ? find(*sub, "const") : nullptr;
  return c && inst ? fmt::format("expected {}, got {}", show(*c), show(*inst))
                   : "value is not the required constant (const)";
}

// No anyOf/oneOf branch matched; when every branch only differs by type, say which types
// were allowed.
void explain_alternatives(const json& root, const std::string& d, const json* inst, const json* sub,
                          Item& item) {
  const bool any = starts_with(d, "Failed to validate against any schemas");
  item.kind = Kind::alternatives;
  item.message =
      fmt::format("does not match any of the allowed schemas ({})", any ? "anyOf" : "oneOf");
  const json* branches = sub ? find(*sub, any ? "anyOf" : "oneOf") : nullptr;
  if (!branches || !branches->is_array() || !inst) return;
  std::vector<std::string> types;
  bool all_typed = !branches->get_array().empty();
  for (const json& b : branches->get_array()) {
    const json* r = resolve_refs(root, &b);
    std::vector<std::string> t = type_names(r ? find(*r, "type") : nullptr);
    all_typed = all_typed && !t.empty();
    for (std::string& name : t) {
      if (std::find(types.begin(), types.end(), name) == types.end()) types.push_back(name);
    }
  }
  std::optional<std::string> m = all_typed ? type_message(types, *inst) : std::nullopt;
  if (m) {
    item.kind = Kind::typed_alternatives;
    item.message = *m;
  }
}

// Rewrites one valijson error; may add several items (one per unexpected property).
void translate(const json& root, const json& instance, const valijson::ValidationResults::Error& e,
               std::vector<Item>& out) {
  Item item{tokens_of(e.context), {}, Kind::other};
  const std::string& d = e.description;
  const json* inst = instance_at(instance, item.tokens);
  // The subschema at the error's place; looked up only by the messages that use it.
  const json* sub = nullptr;
  if (inst && !is_chain(d) && !starts_with(d, "Missing required property")) {
    sub = schema_at(root, instance, item.tokens);
  }

  if (is_chain(d)) {
    // Usually dropped; kept only when nothing deeper explains it (e.g. a `false` subschema).
    item.kind = Kind::chain;
    item.message = chain_message(d);
  } else if (starts_with(d, "Value type not permitted")) {
    explain_type_mismatch(inst, sub, item);
  } else if (starts_with(d, "Missing required property")) {
    item.message = fmt::format("missing required property {}", quote(quoted(d)));
  } else if (starts_with(d, "Object contains a property that could not be validated")) {
    add_unexpected_properties(d, inst, sub, item.tokens, out);
    return;
  } else if (starts_with(d, "Failed to match against any enum values")) {
    item.message = enum_message(inst, sub);
  } else if (starts_with(d, "Failed to match expected value set by 'const'")) {
    item.message = const_message(inst, sub);
  } else if (starts_with(d, "Failed to validate against any schemas allowed by anyOf") ||
             starts_with(d, "Failed to validate against any child schemas allowed by oneOf")) {
    explain_alternatives(root, d, inst, sub, item);
  } else if (starts_with(d, "Failed to validate against exactly one child schema")) {
    item.message = "matches more than one of the allowed schemas (oneOf)";
  } else if (starts_with(d, "Failed to any values against subschema in 'contains'")) {
    item.message = "no item matches the 'contains' schema";
  } else {
    item.message = tidy(d);
  }
  out.push_back(std::move(item));
}

// Where `tokens` points in the instance, as positions (object member index, array index),
// so that errors can be listed in document order, each object's own errors first.
std::vector<std::size_t> position(const json& instance, const Tokens& tokens) {
  std::vector<std::size_t> out;
  const json* cur = &instance;
  for (const std::string& t : tokens) {
    std::size_t pos = std::numeric_limits<std::size_t>::max();
    if (cur && cur->is_object()) {
      const json_object& o = cur->get_object();
      auto it = o.find(t);
      if (it != o.end()) pos = static_cast<std::size_t>(it - o.begin());
    } else if (cur && cur->is_array()) {
      pos = std::strtoull(t.c_str(), nullptr, 10);
    }
    out.push_back(pos);
    cur = cur ? child(*cur, t) : nullptr;
  }
  return out;
}

std::vector<PathError> simplify(const json& instance, std::vector<Item> items) {
  // Hash sets keep this linear: a failing array of 100k items gives ~300k raw errors.
  std::unordered_set<std::string> explained;     // pointers with a specific error at/below
  std::unordered_set<std::string> alternatives;  // pointers with an anyOf/oneOf failure
  std::unordered_set<std::string> typed_alternatives;
  std::vector<std::string> pointers;
  pointers.reserve(items.size());
  for (const Item& i : items) {
    pointers.push_back(pointer(i.tokens));
    if (i.kind == Kind::alternatives) alternatives.insert(pointers.back());
    if (i.kind == Kind::typed_alternatives) typed_alternatives.insert(pointers.back());
    if (i.kind == Kind::chain) continue;
    std::string prefix;
    explained.insert(prefix);
    for (const std::string& t : i.tokens) {
      prefix += '/';
      prefix += escape_pointer_token(t);
      explained.insert(prefix);
    }
  }
  std::vector<std::pair<std::vector<std::size_t>, std::size_t>> kept;  // (position, index)
  for (std::size_t n = 0; n < items.size(); ++n) {
    const Item& i = items[n];
    const std::string& p = pointers[n];
    if (i.kind == Kind::chain && explained.count(p)) continue;
    if (i.kind == Kind::type_noise && (alternatives.count(p) || typed_alternatives.count(p))) {
      continue;
    }
    if (i.kind == Kind::type && typed_alternatives.count(p)) continue;
    kept.emplace_back(position(instance, i.tokens), n);
  }
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<PathError> out;
  std::unordered_set<std::string> seen;
  for (const auto& [pos, n] : kept) {
    if (!seen.insert(pointers[n] + '\0' + items[n].message).second) continue;
    out.push_back({pointers[n], std::move(items[n].message)});
  }
  return out;
}

// valijson compiles "pattern" regexes only while validating; check them up front.
std::optional<std::string> bad_pattern(const json& schema) {
  if (schema.is_array()) {
    for (const json& v : schema.get_array()) {
      if (auto bad = bad_pattern(v)) return bad;
    }
  }
  if (!schema.is_object()) return std::nullopt;
  for (const auto& kv : schema.get_object()) {
    std::string_view key = kv.key();
    if (key == "enum" || key == "const" || key == "default" || key == "examples") continue;
    std::vector<std::string_view> patterns;
    if (key == "pattern" && kv.value().is_string()) patterns.push_back(kv.value().get_string());
    if (key == "patternProperties" && kv.value().is_object()) {
      for (const auto& p : kv.value().get_object()) patterns.push_back(p.key());
    }
    for (std::string_view p : patterns) {
      try {
        std::regex re{std::string(p)};
      } catch (const std::regex_error& e) {
        return fmt::format("invalid regular expression \"{}\": {}", p, e.what());
      }
    }
    if (auto bad = bad_pattern(kv.value())) return bad;
  }
  return std::nullopt;
}

}  // namespace

Result<SchemaValidator> SchemaValidator::compile(const json& schema) {
  if (!schema.is_object()) {
    return fail(ErrorType::invalid_input,
                fmt::format("invalid JSON Schema: expected an object, got {}", kind_name(schema)));
  }
  auto impl = std::make_shared<Impl>();
  impl->document = schema;
  if (auto bad = bad_pattern(impl->document)) {
    return fail(ErrorType::invalid_input, "invalid JSON Schema: " + *bad);
  }
  auto version = valijson::SchemaParser::kDraft7;
  if (auto s = get_string(schema, "$schema")) {
    if (s->find("draft-04") != std::string::npos) version = valijson::SchemaParser::kDraft4;
    if (s->find("draft-03") != std::string::npos) version = valijson::SchemaParser::kDraft3;
  }
  try {
    valijson::SchemaParser parser(version);
    valijson::adapters::BoostJsonAdapter adapter(impl->document);
    parser.populateSchema(adapter, impl->schema);
  } catch (const std::exception& e) {
    return fail(ErrorType::invalid_input, fmt::format("invalid JSON Schema: {}", e.what()));
  }
  return SchemaValidator(std::move(impl));
}

std::vector<PathError> SchemaValidator::validate(const json& instance) const {
  // A Validator caches regexes while it runs, so each call gets its own (thread safety).
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::BoostJsonAdapter target(instance);
  try {
    if (validator.validate(impl_->schema, target, &results)) return {};
  } catch (const std::exception& e) {
    return {{"", fmt::format("the schema could not be applied: {}", e.what())}};
  }
  std::vector<Item> items;
  for (const auto& e : results) translate(impl_->document, instance, e, items);
  return simplify(instance, std::move(items));
}

const json& SchemaValidator::schema() const {
  return impl_->document;
}

}  // namespace cppflue
