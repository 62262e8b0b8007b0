// SPDX-License-Identifier: Apache-2.0
// YAML frontmatter → JSON. yaml-cpp parses; the conversion types plain scalars by the YAML 1.2
// core schema, keeps quoted scalars as strings and reports every position as a line of the
// Markdown file (yaml-cpp marks are 0-based inside the YAML text).
#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>
#include <sstream>

#include "project_internal.hpp"

namespace cppflue {

namespace {

// Cycles (`&a [*a]` makes yaml-cpp build a self-referencing node) and alias bombs are caught
// by these bounds rather than by the stack or the allocator.
constexpr std::size_t kMaxDepth = 100;
constexpr int kMaxNodes = 100000;  // values, plus one per 256 bytes of text

struct ConvertError {
  int line;  // 0-based YAML line, or -1
  int column;
  std::string message;
};

bool all_of(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_oct(char c) {
  return c >= '0' && c <= '7';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::optional<json> resolve_int(std::string_view s) {
  bool negative = false;
  std::string_view digits = s;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && s[1] == 'o' && all_of(s.substr(2), is_oct)) {
    base = 8;
    digits = s.substr(2);
  } else if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && all_of(s.substr(2), is_hex)) {
    base = 16;
    digits = s.substr(2);
  } else {
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (!all_of(digits, is_digit)) return std::nullopt;
  }
  std::uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec == std::errc() && ptr == digits.data() + digits.size()) {
    if (!negative) {
      if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return json(static_cast<std::int64_t>(magnitude));
      return json(magnitude);
    }
    if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1)
      return json(static_cast<std::int64_t>(0 - magnitude));
  }
  // Too large for 64 bits: the nearest double for decimals, as JSON parsers do; hex and octal
  // keep their text.
  if (base != 10) return std::nullopt;
  double d = 0;
  auto [dptr, dec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
  if (dec != std::errc() || dptr != digits.data() + digits.size()) return std::nullopt;
  return json(negative ? -d : d);
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
std::optional<json> resolve_float(std::string_view s) {
  std::string_view rest = s;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) rest.remove_prefix(1);
  std::size_t i = 0;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < rest.size() && is_digit(rest[i])) ++i, ++int_digits;
  if (i < rest.size() && rest[i] == '.') {
    ++i;
    while (i < rest.size() && is_digit(rest[i])) ++i, ++frac_digits;
    if (int_digits == 0 && frac_digits == 0) return std::nullopt;
  } else if (int_digits == 0) {
    return std::nullopt;
  }
  if (i < rest.size() && (rest[i] == 'e' || rest[i] == 'E')) {
    ++i;
    if (i < rest.size() && (rest[i] == '-' || rest[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < rest.size() && is_digit(rest[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != rest.size()) return std::nullopt;
  double d = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), d);
  // Out of range (1e999) is not representable in JSON: keep the text.
  if (ec != std::errc() || ptr != rest.data() + rest.size()) return std::nullopt;
  return json(s[0] == '-' ? -d : d);
}

// YAML 1.2 core schema for a plain scalar. `.inf` and `.nan` stay strings: JSON has no such
// numbers.
json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (auto i = resolve_int(s)) return *i;
  if (auto f = resolve_float(s)) return *f;
  return json(s);
}

// Builds JSON straight from yaml-cpp's parser events. Working from events (rather than from
// YAML::Node) means an alias can only name a finished value, so self-references are errors
// instead of cycles, and alias copies are counted against the size budget.
class JsonBuilder : public YAML::EventHandler {
 public:
  std::optional<json> root;
  int root_line = 0;                          // 0-based YAML line where the root value starts
  std::map<std::string, int> root_key_lines;  // 0-based YAML lines of the top-level keys

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    add(mark, nullptr, anchor, /*plain_key=*/false);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) fail(mark, "an alias refers to the value that contains it");
    count(mark, it->second.second);
    place(mark, it->second.first, false);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    // "?" is a plain scalar, "!" a quoted or block one; core-schema tags resolve, others
    // (!!str, application tags) keep the text as written.
    bool resolve = tag == "?" || tag == "tag:yaml.org,2002:null" ||
                   tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:int" ||
                   tag == "tag:yaml.org,2002:float";
    add(mark, resolve ? resolve_plain(value) : json(value), anchor, resolve);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, json_array{}, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, json_object{}, anchor);
  }
  void OnMapEnd() override { close(); }

  [[noreturn]] static void fail(const YAML::Mark& mark, std::string message) {
    throw ConvertError{mark.is_null() ? -1 : mark.line, mark.column, std::move(message)};
  }

 private:
  struct Frame {
    json value;  // the array or object being filled
    YAML::anchor_t anchor = 0;
    int first_node = 0;              // nodes_ when the frame opened, to size it for alias copies
    std::optional<std::string> key;  // a mapping's key waiting for its value
  };

  void count(const YAML::Mark& mark, int n) {
    nodes_ += n;
    if (nodes_ > kMaxNodes)
      fail(mark, "frontmatter is too large (aliases expand to too many values)");
  }

  bool expecting_key() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key;
  }

  void open(const YAML::Mark& mark, json value, YAML::anchor_t anchor) {
    if (expecting_key()) fail(mark, "keys must be strings, not lists or mappings");
    if (stack_.size() >= kMaxDepth) fail(mark, "frontmatter is nested too deeply");
    count(mark, 1);
    stack_.push_back(Frame{std::move(value), anchor, nodes_, std::nullopt});
    marks_.push_back(mark);
  }

  void close() {
    Frame frame = std::move(stack_.back());
    YAML::Mark mark = marks_.back();
    stack_.pop_back();
    marks_.pop_back();
    if (frame.anchor != 0) {
      anchors_[frame.anchor] = {frame.value, nodes_ - frame.first_node + 1};
    }
    place(mark, std::move(frame.value), false);
  }

  void add(const YAML::Mark& mark, json value, YAML::anchor_t anchor, bool plain_key) {
    // Long strings weigh more, so aliases of a big text cannot multiply it unnoticed.
    int cost = 1 + (value.is_string() ? static_cast<int>(value.get_string().size() / 256) : 0);
    count(mark, cost);
    if (anchor != 0) anchors_[anchor] = {value, cost};
    place(mark, std::move(value), plain_key);
  }

  void place(const YAML::Mark& mark, json value, bool plain) {
    if (stack_.empty()) {
      root = std::move(value);
      root_line = mark.is_null() ? 0 : mark.line;
      return;
    }
    Frame& top = stack_.back();
    if (top.value.is_array()) {
      top.value.get_array().push_back(std::move(value));
      return;
    }
    if (!top.key) {
      if (!value.is_string()) {
        if (value.is_null() && !plain) fail(mark, "a key is empty; keys must be strings");
        std::string text = dump(value);
        fail(mark, fmt::format("key {} is a {}, not a string (quote it: \"{}\")", text,
                               kind_name(value), text));
      }
      std::string key(value.get_string());
      if (top.value.get_object().contains(key)) {
        fail(mark, fmt::format("duplicate key '{}'", key));
      }
      if (stack_.size() == 1) root_key_lines[key] = mark.line;
      top.key = std::move(key);
      return;
    }
    top.value.get_object()[*top.key] = std::move(value);
    top.key.reset();
  }

  std::vector<Frame> stack_;
  std::vector<YAML::Mark> marks_;
  std::map<YAML::anchor_t, std::pair<json, int>> anchors_;
  int nodes_ = 0;
};

struct Line {
  std::string_view text;  // without the line ending
  std::size_t next;       // offset of the following line
};

Line line_at(std::string_view s, std::size_t pos) {
  std::size_t nl = s.find('\n', pos);
  if (nl == std::string_view::npos) return {s.substr(pos), s.size()};
  return {s.substr(pos, nl - pos), nl + 1};
}

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The YAML text starts on file line 2 (line 1 is the opening `---`).
constexpr int kYamlFirstLine = 2;

int file_line(int yaml_line) {
  return yaml_line >= 0 ? yaml_line + kYamlFirstLine : 1;
}

Result<json> load_yaml(const std::string& yaml, const std::string& origin,
                       std::map<std::string, int>& key_lines) {
  auto error_at = [&](int yaml_line, std::string message) {
    return fail(project_detail::file_error(origin, file_line(yaml_line), "", std::move(message)));
  };
  try {
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    JsonBuilder builder;
    if (!parser.HandleNextDocument(builder) || !builder.root || builder.root->is_null()) {
      builder.root = json_object{};
    }
    // yaml-cpp reports a stray top-level ',' as endless empty documents: ask for one more
    // document only, never loop.
    struct Probe : JsonBuilder {
      int line = -1;
      void OnDocumentStart(const YAML::Mark& mark) override { line = mark.line; }
    } probe;
    if (parser.HandleNextDocument(probe)) {
      return error_at(probe.line,
                      "invalid YAML frontmatter: unexpected content after the first YAML "
                      "value (a second document, or a stray ',' or ']')");
    }
    if (!builder.root->is_object()) {
      std::string_view got = builder.root->is_array() ? "a list" : "a single value";
      return error_at(
          builder.root_line,
          fmt::format("frontmatter must be a mapping of `key: value` lines, got {}", got));
    }
    for (const auto& [key, line] : builder.root_key_lines) key_lines[key] = file_line(line);
    return std::move(*builder.root);
  } catch (const ConvertError& e) {
    return error_at(e.line, e.message);
  } catch (const YAML::Exception& e) {
    return error_at(e.mark.is_null() ? -1 : e.mark.line,
                    fmt::format("invalid YAML frontmatter: {}", e.msg));
  } catch (const std::exception& e) {
    return error_at(-1, fmt::format("invalid YAML frontmatter: {}", e.what()));
  } catch (...) {
    return error_at(-1, "invalid YAML frontmatter");
  }
}

}  // namespace

Result<Frontmatter> parse_frontmatter(std::string_view input, const std::string& origin) {
  try {
    std::string text;
    text.reserve(input.size());
    if (input.substr(0, 3) == "\xEF\xBB\xBF") input.remove_prefix(3);
    for (std::size_t i = 0; i < input.size(); ++i) {
      if (input[i] == '\r' && i + 1 < input.size() && input[i + 1] == '\n') continue;
      text += input[i];
    }
    std::string_view s = text;

    Frontmatter fm;
    std::size_t body_start = 0;
    int body_first_line = 1;
    Line first = line_at(s, 0);
    if (rstrip(first.text) == "---") {
      std::size_t pos = first.next;
      int line_no = 2;
      std::optional<std::size_t> close;
      while (pos < s.size()) {
        Line l = line_at(s, pos);
        std::string_view t = rstrip(l.text);
        if (t == "---" || t == "...") {
          close = pos;
          body_start = l.next;
          body_first_line = line_no + 1;
          break;
        }
        pos = l.next;
        ++line_no;
      }
      if (!close) {
        return fail(project_detail::file_error(
            origin, 1, "", "frontmatter is not closed: no `---` line ends the block opened here"));
      }
      std::string yaml(s.substr(first.next, *close - first.next));
      auto data = load_yaml(yaml, origin, fm.key_lines);
      if (!data) return fail(std::move(data.error()));
      fm.data = std::move(*data);
    }

    std::string_view body = s.substr(body_start);
    std::size_t lead = 0;
    while (lead < body.size() && std::isspace(static_cast<unsigned char>(body[lead]))) ++lead;
    fm.body_line =
        body_first_line + static_cast<int>(std::count(body.begin(), body.begin() + lead, '\n'));
    fm.body = project_detail::trim(body);
    return fm;
  } catch (const std::exception& e) {
    return fail(project_detail::file_error(origin, 0, "",
                                           fmt::format("cannot read frontmatter: {}", e.what())));
  }
}

}  // namespace cppflue
