// SPDX-License-Identifier: Apache-2.0
// The line-safe rewrite of a grep pattern (why a buffer search with it misses no line: see
// search_pattern.cpp).
//
// Line-safe: the rewrite wraps every atom that may match "\n" (\s \v \D \W \H \C \p \P, \n
// and other character escapes, classes such as [^x] or [\s]) as `(?:(?!\n)atom)`, which matches
// what the atom matches inside a line. Constructs that depend on the subject's ends or change how
// the rest is read make the whole search run line by line: \A \z \Z \G \R \X \E, (*VERB)s and
// (*CR)-like settings, option changes other than i m n U J (e.g. (?s), (?x), (?-m)), conditionals,
// callouts, non-atomic lookarounds, multi-digit back references, a literal newline.
#include <cctype>

#include "search_internal.hpp"

namespace cppflue::search_detail {
namespace {

constexpr std::size_t npos = std::string_view::npos;

bool is_ascii_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Length of the escape sequence starting at p[i] == '\\' (the letter is p[i + 1]), for the
// escapes that take an argument: \x{..} \xhh \o{..} \p{..} \pL \cX \0oo \N{..}. 0 if malformed.
std::size_t escape_length(std::string_view p, std::size_t i) {
  const std::size_t n = p.size();
  auto braced = [&](std::size_t open) -> std::size_t {
    std::size_t close = p.find('}', open);
    return close == npos ? 0 : close + 1 - i;
  };
  const bool brace = i + 2 < n && p[i + 2] == '{';
  switch (p[i + 1]) {
    case 'x': {
      if (brace) return braced(i + 2);
      std::size_t k = i + 2;
      while (k < n && k < i + 4 && std::isxdigit(static_cast<unsigned char>(p[k]))) ++k;
      return k - i;
    }
    case 'o':
      return brace ? braced(i + 2) : 0;
    case 'p':
    case 'P':
      if (i + 2 >= n) return 0;
      return brace ? braced(i + 2) : 3;
    case 'N':
      return brace ? braced(i + 2) : 2;
    case 'c':
      return i + 2 < n ? 3 : 0;
    case '0': {
      std::size_t k = i + 2;
      while (k < n && k < i + 4 && p[k] >= '0' && p[k] <= '7') ++k;
      return k - i;
    }
    default:
      return 2;
  }
}

// ---------------------------------------------------------------------------------------------
// Character classes

// POSIX classes that cannot contain "\n" (ASCII only: the patterns are compiled without UCP).
bool safe_posix_class(std::string_view name) {
  for (std::string_view ok : {"alpha", "alnum", "digit", "upper", "lower", "word", "xdigit",
                              "punct", "graph", "print", "blank"}) {
    if (name == ok) return true;
  }
  return false;
}

// The escape at p[j] == '\\' inside a class: the index just after it, npos when it cannot be
// analysed. Sets `may_newline` when it might match "\n".
std::size_t class_escape_end(std::string_view p, std::size_t j, bool& may_newline) {
  if (j + 1 >= p.size()) return npos;
  auto e = static_cast<unsigned char>(p[j + 1]);
  if (!is_ascii_alnum(e)) {  // an escaped literal (a control byte might be a range end)
    if (e < 0x20) may_newline = true;
    return j + 2;
  }
  switch (e) {
    case 'd':
    case 'w':
    case 'S':
    case 'h':
    case 'V':
      return j + 2;
    case 'Q':
    case 'E':
      return npos;
    default: {  // \s \v \D \W \H \p \P \n \x.. \t (a range end) ...: assume the worst
      may_newline = true;
      std::size_t len = escape_length(p, j);
      if (len == 0) return npos;
      return j + len;
    }
  }
}

// The "[:name:]" at p[j] == '[' (followed by ':', '.' or '=') inside a class: the index just
// after it, npos when it cannot be analysed (only the plain "[:name:]" / "[:^name:]" form is).
// Sets `may_newline` when it might match "\n".
std::size_t posix_class_end(std::string_view p, std::size_t j, bool& may_newline) {
  const std::size_t n = p.size();
  std::size_t k = j + 2;
  while (k < n && (p[k] == '^' || ((p[k] | 0x20) >= 'a' && (p[k] | 0x20) <= 'z'))) ++k;
  if (p[j + 1] != ':' || k + 1 >= n || p[k] != ':' || p[k + 1] != ']') return npos;
  if (!safe_posix_class(p.substr(j + 2, k - (j + 2)))) may_newline = true;
  return k + 2;
}

// Parses the character class starting at p[i] == '['. Returns the index just after its closing
// "]" and sets `may_newline` when the class might match "\n"; npos when it cannot be analysed.
std::size_t parse_class(std::string_view p, std::size_t i, bool& may_newline) {
  const std::size_t n = p.size();
  std::size_t j = i + 1;
  may_newline = false;
  if (j < n && p[j] == '^') {
    may_newline = true;
    ++j;
  }
  bool first = true;  // a "]" right after "[" or "[^" is a literal
  while (j < n) {
    auto c = static_cast<unsigned char>(p[j]);
    if (c == ']' && !first) return j + 1;
    first = false;
    if (c == '\\') {
      j = class_escape_end(p, j, may_newline);
      if (j == npos) return npos;
      continue;
    }
    if (c == '[' && j + 1 < n && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
      j = posix_class_end(p, j, may_newline);
      if (j == npos) return npos;
      continue;
    }
    if (c < 0x20) may_newline = true;
    ++j;
  }
  return npos;
}

// ---------------------------------------------------------------------------------------------
// Escapes outside classes

// Escapes copied as they are: they cannot match "\n" (\d \w \S \h \V), are zero-width (\b \B
// \K), stand for a character other than "\n" (\t \f \a \e \r), or are a back reference or
// subroutine call whose argument reads as literals (\g \k).
constexpr std::string_view kCopiedEscapes = "dwShVbBKtfaergk";
// Escapes wrapped: they may match "\n" (\s \v \D \W \H \C \p \P, \n and character codes).
constexpr std::string_view kWrappedEscapes = "svDWHCpPxoc0n";

enum class EscapeStep { copy, quote, wrap, refuse };

// What the rewrite does with the escape at p[i] == '\\' (p[i + 1] exists).
EscapeStep escape_step(std::string_view p, std::size_t i) {
  const auto e = static_cast<unsigned char>(p[i + 1]);
  if (!is_ascii_alnum(e)) return EscapeStep::copy;  // an escaped literal
  const auto c = static_cast<char>(e);
  if (kCopiedEscapes.find(c) != npos) return EscapeStep::copy;
  if (c == 'N') {
    // \N{U+hh} is a character (wrapped); \N alone any character but a newline (a "{" after it
    // is a quantifier).
    return p.substr(i + 2, 3) == "{U+" ? EscapeStep::wrap : EscapeStep::copy;
  }
  if (c >= '1' && c <= '9') {  // \12: octal or reference
    return i + 2 < p.size() && is_digit(p[i + 2]) ? EscapeStep::refuse : EscapeStep::copy;
  }
  if (c == 'Q') return EscapeStep::quote;  // literal text up to \E
  if (kWrappedEscapes.find(c) != npos) return EscapeStep::wrap;
  return EscapeStep::refuse;  // \A \z \Z \G \R \X \E ...
}

// ---------------------------------------------------------------------------------------------
// The rewrite

// Reads the pattern construct by construct, from `i_`, appending the rewrite to `out_`. Each step
// consumes one construct and returns false when the pattern is not line-safe.
class LineSafeRewrite {
 public:
  explicit LineSafeRewrite(std::string_view p) : p_(p), n_(p.size()) { out_.reserve(n_ + 32); }

  std::optional<std::string> run() {
    if (p_.find('\n') != npos) return std::nullopt;
    while (i_ < n_) {
      if (!step()) return std::nullopt;
    }
    return std::move(out_);
  }

 private:
  bool step() {
    const char c = p_[i_];
    if (c == '\\') return escape();
    if (c == '[') return char_class();
    if (c == '(' && i_ + 1 < n_ && p_[i_ + 1] == '*') return false;  // verbs, (*CR), ...
    if (c == '(' && i_ + 1 < n_ && p_[i_ + 1] == '?') return group();
    if (c == '^') {  // a line start, or a position after a "\r" inside the line
      out_.append("(?:(?<![^\\n])|(?<=\\r)(?!\\n|\\z))");
      ++i_;
      return true;
    }
    return copy(1);
  }

  bool escape() {
    if (i_ + 1 >= n_) return false;
    switch (escape_step(p_, i_)) {
      case EscapeStep::copy:
        return copy(2);
      case EscapeStep::quote: {
        std::size_t end = p_.find("\\E", i_ + 2);
        return copy((end == npos ? n_ : end + 2) - i_);
      }
      case EscapeStep::wrap: {
        std::size_t len = escape_length(p_, i_);
        return len != 0 && wrap(len);
      }
      case EscapeStep::refuse:
        return false;
    }
    return false;
  }

  bool char_class() {
    bool may_newline = false;
    std::size_t end = parse_class(p_, i_, may_newline);
    if (end == npos) return false;
    return may_newline ? wrap(end - i_) : copy(end - i_);
  }

  // "(?" at i_: groups, lookarounds, references, comments, option settings.
  bool group() {
    if (i_ + 2 >= n_) return false;
    const char k = p_[i_ + 2];
    switch (k) {
      case ':':
      case '|':
      case '>':
      case '=':
      case '!':
      case '\'':  // named group
      case 'P':   // (?P<name>, (?P=name), (?P>name)
      case '&':
      case 'R':
      case '+':
        return copy(3);
      case '<':
        if (i_ + 3 < n_ && p_[i_ + 3] == '*') return false;  // non-atomic lookbehind
        return copy(i_ + 3 < n_ && (p_[i_ + 3] == '=' || p_[i_ + 3] == '!') ? 4 : 3);
      case '#': {
        std::size_t close = p_.find(')', i_ + 3);
        if (close == npos) return false;
        return copy(close + 1 - i_);
      }
      default:
        break;
    }
    if (is_digit(k) || (k == '-' && i_ + 3 < n_ && is_digit(p_[i_ + 3]))) {  // (?1) (?-1)
      return copy(3);
    }
    return option_setting();
  }

  // Option settings: (?i) (?i: (?-i) ...; only options that keep the analysis valid.
  bool option_setting() {
    std::size_t j = i_ + 2;
    bool unset = false;
    for (; j < n_ && p_[j] != ')' && p_[j] != ':'; ++j) {
      char o = p_[j];
      if (o == '-' && !unset) {
        unset = true;
      } else if (o == 'i' || o == 'n' || o == 'U' || o == 'J' || (o == 'm' && !unset)) {
        continue;
      } else {
        return false;  // s, x, xx, -m, ^, (?( conditionals, (?C callouts, (?* ...
      }
    }
    if (j >= n_) return false;
    return copy(j + 1 - i_);
  }

  bool copy(std::size_t len) {
    out_.append(p_.substr(i_, len));
    i_ += len;
    return true;
  }
  bool wrap(std::size_t len) {
    out_.append("(?:(?!\\n)").append(p_.substr(i_, len)).append(1, ')');
    i_ += len;
    return true;
  }

  std::string_view p_;
  std::size_t n_;
  std::size_t i_ = 0;
  std::string out_;
};

}  // namespace

std::optional<std::string> line_safe_pattern(std::string_view p) {
  return LineSafeRewrite(p).run();
}

}  // namespace cppflue::search_detail
