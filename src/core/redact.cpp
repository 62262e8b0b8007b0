// SPDX-License-Identifier: Apache-2.0
// Redaction of secret values and their common encodings (see cppflue/core/redact.hpp).
#include "cppflue/core/redact.hpp"

#include <algorithm>
#include <cctype>

namespace cppflue {

namespace {

std::string hex(std::string_view s, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += "0123456789ABCDEF"[c >> 4];
      out += "0123456789ABCDEF"[c & 15];
    }
  }
  return out;
}

std::string base64(std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(s[i]) << 16) |
                 (static_cast<unsigned char>(s[i + 1]) << 8) | static_cast<unsigned char>(s[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i < s.size()) {
    unsigned v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    std::size_t chars = s.size() - i + 1;
    for (std::size_t k = 0; k < chars; ++k) out += kAlphabet[(v >> (18 - 6 * k)) & 63];
  }
  return out;
}

// The base64 characters that depend on the value alone when it starts `pad` bytes into a longer
// encoded text: neither the bytes before it nor those after it change them.
std::string base64_core(std::string_view value, std::size_t pad) {
  std::string data(pad, '\0');
  data.append(value);
  std::string enc = base64(data);
  std::size_t first = (pad * 8 + 5) / 6;
  std::size_t last = (data.size() * 8) / 6;  // exclusive: the char holding the value's end bits
  if (last <= first || last > enc.size()) return {};
  return enc.substr(first, last - first);
}

}  // namespace

void Redactor::add_form(std::string form, std::size_t name) {
  if (form.empty()) return;
  forms_.push_back(std::make_unique<const std::string>(std::move(form)));
  std::string_view f = *forms_.back();
  if (f.size() < kMinFragment) {
    exact_.emplace_back(f, name);
    std::stable_sort(exact_.begin(), exact_.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    return;
  }
  for (std::size_t i = 0; i + kMinFragment <= f.size(); ++i) {
    fragments_.emplace(f.substr(i, kMinFragment), name);
  }
}

void Redactor::add(std::string name, std::string value) {
  if (value.empty()) return;
  std::size_t id = names_.size();
  names_.push_back(std::move(name));
  if (value.size() >= kMinEncoded) {
    std::string reversed(value.rbegin(), value.rend());
    add_form(reversed, id);
    add_form(hex(value, false), id);
    add_form(hex(value, true), id);
    if (auto u = url_encode(value); u != value) add_form(u, id);
    for (std::size_t pad = 0; pad < 3; ++pad) {
      std::string core = base64_core(value, pad);
      if (core.size() < kMinEncoded) continue;
      std::string url_safe = core;
      std::replace(url_safe.begin(), url_safe.end(), '+', '-');
      std::replace(url_safe.begin(), url_safe.end(), '/', '_');
      if (url_safe != core) add_form(url_safe, id);
      add_form(std::move(core), id);
    }
  }
  add_form(std::move(value), id);
}

std::string Redactor::apply(std::string_view text) const {
  if (names_.empty() || text.empty()) return std::string(text);
  struct Mark {
    std::size_t begin, end, name;
  };
  std::vector<Mark> marks;
  const std::size_t k = kMinFragment;
  if (!fragments_.empty() && text.size() >= k) {
    for (std::size_t i = 0; i + k <= text.size(); ++i) {
      auto it = fragments_.find(text.substr(i, k));
      if (it == fragments_.end()) continue;
      // Extend over consecutive fragments: the longest run that is made of the secret's pieces.
      std::size_t j = i;
      while (j + 1 + k <= text.size() && fragments_.count(text.substr(j + 1, k)) > 0) ++j;
      marks.push_back({i, j + k, it->second});
      i = j + k - 1;
    }
  }
  for (const auto& [form, name] : exact_) {
    for (std::size_t hit = text.find(form); hit != std::string_view::npos;
         hit = text.find(form, hit + form.size())) {
      marks.push_back({hit, hit + form.size(), name});
    }
  }
  if (marks.empty()) return std::string(text);
  std::sort(marks.begin(), marks.end(), [](const Mark& a, const Mark& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  for (std::size_t m = 0; m < marks.size();) {
    std::size_t begin = marks[m].begin, end = marks[m].end, name = marks[m].name;
    for (++m; m < marks.size() && marks[m].begin < end; ++m) end = std::max(end, marks[m].end);
    out.append(text.substr(pos, begin - pos));
    out += "[REDACTED:" + names_[name] + "]";
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

void Redactor::apply(json& value) const {
  if (names_.empty()) return;
  if (value.is_string()) {
    std::string_view s = value.get_string();
    std::string r = apply(s);
    if (r != s) value = r;
  } else if (value.is_array()) {
    for (auto& v : value.get_array()) apply(v);
  } else if (value.is_object()) {
    json_object fixed;
    for (auto& kv : value.get_object()) {
      json v = kv.value();
      apply(v);
      fixed[apply(kv.key())] = std::move(v);
    }
    value = std::move(fixed);
  }
}

}  // namespace cppflue
