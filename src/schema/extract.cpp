// SPDX-License-Identifier: Apache-2.0
#include "cppflue/schema/extract.hpp"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace cppflue {

namespace {

// Upper bound on characters examined by the embedded-value scan (step 4).
constexpr std::size_t kScanBudget = std::size_t{1} << 24;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Lenient parse of exactly one JSON value; `why` receives the parser's complaint.
std::optional<json> parse(std::string_view s, std::string* why = nullptr) {
  boost::json::parse_options opts;
  opts.max_depth = 64;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  boost::system::error_code ec;
  json v = boost::json::parse(boost::json::string_view(s.data(), s.size()), ec, {}, opts);
  if (ec) {
    if (why) *why = ec.message();
    return std::nullopt;
  }
  return v;
}

struct Fence {
  std::string_view info;
  std::string_view body;
};

// Fenced code blocks, line based: an opening line starts with ``` (after up to 3 spaces) and
// carries an info string; the block ends at a line of only backticks, or at the end of text.
std::vector<Fence> fenced_blocks(std::string_view text) {
  std::vector<Fence> out;
  bool open = false;
  Fence cur;
  std::size_t body_start = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    std::size_t indent = 0;
    while (indent < line.size() && indent < 3 && line[indent] == ' ') ++indent;
    std::string_view rest = line.substr(indent);
    if (rest.substr(0, 3) == "```") {
      if (!open) {
        std::size_t ticks = rest.find_first_not_of('`');
        cur.info = trim(ticks == std::string_view::npos ? std::string_view{} : rest.substr(ticks));
        body_start = std::min(eol + 1, text.size());
        open = true;
      } else if (trim(rest).find_first_not_of('`') == std::string_view::npos) {
        cur.body = text.substr(body_start, pos - body_start);
        out.push_back(cur);
        open = false;
      }
    }
    pos = eol + 1;
  }
  if (open) {
    cur.body = text.substr(body_start);
    out.push_back(cur);
  }
  return out;
}

bool json_fence(const Fence& f) {
  return f.info.empty() || iequals(f.info, "json");
}

// The end (exclusive) of the balanced {…} or […] starting at text[start], or npos.
std::size_t match_end(std::string_view text, std::size_t start, std::size_t& budget) {
  std::string stack;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t j = start; j < text.size(); ++j) {
    if (budget == 0) return std::string_view::npos;
    --budget;
    char c = text[j];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      stack.push_back(c == '{' ? '}' : ']');
    } else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back() != c) return std::string_view::npos;
      stack.pop_back();
      if (stack.empty()) return j + 1;
    }
  }
  return std::string_view::npos;
}

// Step 4: the last embedded object (else array) that parses.
std::optional<json> embedded(std::string_view text) {
  std::optional<json> last_object, last_array;
  std::size_t budget = kScanBudget;
  std::size_t i = 0;
  while (i < text.size() && budget > 0) {
    char c = text[i];
    if (c != '{' && c != '[') {
      ++i;
      continue;
    }
    std::size_t end = match_end(text, i, budget);
    if (end != std::string_view::npos) {
      std::size_t len = end - i;
      budget -= std::min(budget, len);
      if (auto v = parse(text.substr(i, len))) {
        (v->is_object() ? last_object : last_array) = std::move(v);
        i = end;
        continue;
      }
    }
    ++i;
  }
  return last_object ? last_object : last_array;
}

Result<Extracted> from_result_block(std::string_view text, std::size_t start) {
  std::string_view body = text.substr(start + kResultStart.size());
  std::size_t end = body.find(kResultEnd);
  if (end != std::string_view::npos) body = body.substr(0, end);
  body = trim(body);
  if (body.substr(0, 3) == "```") {
    std::vector<Fence> fences = fenced_blocks(body);
    if (!fences.empty()) body = trim(fences.front().body);
  }
  std::string why;
  if (auto v = parse(body, &why)) return Extracted{std::move(*v), ExtractSource::result_block};
  if (auto v = embedded(body)) return Extracted{std::move(*v), ExtractSource::result_block};
  if (body.empty()) why = "it is empty";
  return fail(ErrorType::invalid_input,
              fmt::format("the {} block does not contain valid JSON: {}", kResultStart, why));
}

}  // namespace

Result<Extracted> try_extract_json(std::string_view text) {
  if (std::size_t start = text.rfind(kResultStart); start != std::string_view::npos) {
    return from_result_block(text, start);
  }
  if (auto v = parse(trim(text))) return Extracted{std::move(*v), ExtractSource::whole_text};
  std::vector<Fence> fences = fenced_blocks(text);
  for (auto it = fences.rbegin(); it != fences.rend(); ++it) {
    if (!json_fence(*it)) continue;
    if (auto v = parse(trim(it->body)))
      return Extracted{std::move(*v), ExtractSource::fenced_block};
  }
  if (auto v = embedded(text)) return Extracted{std::move(*v), ExtractSource::embedded};
  return fail(ErrorType::invalid_input,
              trim(text).empty()
                  ? "the answer is empty"
                  : "no JSON value found in the answer (expected it between " +
                        std::string(kResultStart) + " and " + std::string(kResultEnd) + ")");
}

std::optional<json> extract_json(std::string_view text) {
  auto r = try_extract_json(text);
  if (!r) return std::nullopt;
  return std::move(r->value);
}

}  // namespace cppflue
