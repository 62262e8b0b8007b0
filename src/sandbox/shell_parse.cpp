// SPDX-License-Identifier: Apache-2.0
// POSIX-sh parser for command policy: a recursive-descent parser over the byte string. Errors
// are thrown internally as `ParseFailure` and turned into a Result at the API boundary.
#include "cppflue/sandbox/shell_parse.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {
namespace {

constexpr std::size_t npos = std::string_view::npos;

struct ParseFailure {
  std::string problem;
  std::size_t offset = 0;
};

struct Word {
  std::string text;
  std::size_t start = 0;
  std::size_t end = 0;
  bool quoted = false;
  bool expansion = false;
};

struct PendingHeredoc {
  std::string delimiter;
  bool strip_tabs = false;
  bool quoted = false;
  std::size_t offset = 0;
};

enum class Stop { end, paren, case_item };

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// Characters that end an unquoted word.
bool is_word_break(char c) {
  switch (c) {
    case ' ':
    case '\t':
    case '\n':
    case ';':
    case '&':
    case '|':
    case '(':
    case ')':
    case '<':
    case '>':
      return true;
    default:
      return false;
  }
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// `NAME=` or `NAME+=` at the start of the word as written (so a quoted name does not count).
bool is_assignment(std::string_view raw) {
  if (raw.empty() || !is_name_start(raw[0])) return false;
  std::size_t k = 1;
  while (k < raw.size() && is_name_char(raw[k])) ++k;
  if (k < raw.size() && raw[k] == '=') return true;
  return k + 1 < raw.size() && raw[k] == '+' && raw[k + 1] == '=';
}

std::string quote_char(char c) {
  if (c == '\n') return "newline";
  return std::string("'") + c + "'";
}

constexpr std::array<std::string_view, 19> kReserved = {
    "if",   "then", "elif",   "else",     "fi", "do", "done", "while", "until", "case",
    "esac", "for",  "select", "function", "{",  "}",  "!",    "[[",    "in"};

std::string reserved_construct(std::string_view kw) {
  if (kw == "if" || kw == "then" || kw == "elif" || kw == "else" || kw == "fi") {
    return "if statement";
  }
  if (kw == "while") return "while loop";
  if (kw == "until") return "until loop";
  if (kw == "do" || kw == "done") return "loop do/done";
  if (kw == "esac") return "case statement";
  if (kw == "{" || kw == "}") return "brace group { }";
  if (kw == "!") return "negation '!'";
  return "reserved word '" + std::string(kw) + "'";
}

class Parser {
 public:
  Parser(std::string_view text, int depth, std::size_t base)
      : s_(text), n_(text.size()), depth_(depth), base_(base) {}

  void parse_script() {
    parse_list(Stop::end, 0);
    finish_heredocs();
  }

  // An unquoted heredoc body: only `$...` and backquote expansions are special.
  void parse_heredoc_text() {
    Word scratch;
    while (i_ < n_) {
      const char c = s_[i_];
      if (c == '\\') {
        advance(2);
      } else if (c == '$') {
        read_dollar(scratch, true);
      } else if (c == '`') {
        read_backtick(scratch, true);
      } else {
        ++i_;
      }
    }
    finish_heredocs();
  }

  ParsedShell take() {
    out_.compound = !out_.constructs.empty() || out_.commands.size() > 1;
    return std::move(out_);
  }

 private:
  struct DepthGuard {
    Parser& p;
    DepthGuard(Parser& parser, std::size_t pos) : p(parser) {
      if (++p.depth_ > kShellMaxNesting) {
        p.fail_at("nesting deeper than " + std::to_string(kShellMaxNesting) + " levels", pos);
      }
    }
    ~DepthGuard() { --p.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
  };

  [[noreturn]] void fail_at(std::string problem, std::size_t pos) const {
    throw ParseFailure{std::move(problem), base_ + pos};
  }

  char at(std::size_t p) const { return p < n_ ? s_[p] : '\0'; }
  void advance(std::size_t k) { i_ = std::min(i_ + k, n_); }
  bool starts_with(std::string_view what) const { return s_.substr(i_).starts_with(what); }
  std::string_view slice(std::size_t from, std::size_t to) const {
    return s_.substr(from, to - from);
  }

  // Can an (unquoted) word start at i_? `<(` and `>(` start a process substitution word.
  bool word_can_start() const {
    if (i_ >= n_) return false;
    const char c = s_[i_];
    if (c == '<' || c == '>') return at(i_ + 1) == '(';
    return !is_word_break(c);
  }

  // `word` (a reserved word) written unquoted at i_ and followed by a word break.
  bool reserved_at(std::string_view word) const {
    if (!starts_with(word)) return false;
    const std::size_t after = i_ + word.size();
    return after >= n_ || is_word_break(s_[after]);
  }

  std::string_view reserved_here() const {
    for (std::string_view kw : kReserved) {
      if (kw != "in" && reserved_at(kw)) return kw;
    }
    return {};
  }

  void add_construct(std::string name) {
    if (std::find(out_.constructs.begin(), out_.constructs.end(), name) == out_.constructs.end()) {
      out_.constructs.push_back(std::move(name));
    }
  }

  void check_command_count(std::size_t pos) const {
    if (out_.commands.size() >= kShellMaxCommands) {
      fail_at("more than " + std::to_string(kShellMaxCommands) + " simple commands", pos);
    }
  }

  void merge(Parser& child, std::size_t pos) {
    for (auto& c : child.out_.commands) {
      check_command_count(pos);
      out_.commands.push_back(std::move(c));
    }
    for (auto& k : child.out_.constructs) add_construct(std::move(k));
  }

  // Blanks, line continuations, and a comment (a `#` at the start of a token) up to the newline.
  void skip_blanks() {
    while (i_ < n_) {
      const char c = s_[i_];
      if (is_blank(c)) {
        ++i_;
      } else if (c == '\\' && at(i_ + 1) == '\n') {
        i_ += 2;
      } else if (c == '#') {
        while (i_ < n_ && s_[i_] != '\n') ++i_;
        return;
      } else {
        return;
      }
    }
  }

  void skip_blanks_and_newlines() {
    for (;;) {
      skip_blanks();
      if (at(i_) != '\n' || i_ >= n_) return;
      consume_newline();
    }
  }

  void finish_heredocs() const {
    if (!pending_.empty()) {
      fail_at("unterminated heredoc: delimiter '" + pending_.front().delimiter + "' not found",
              pending_.front().offset);
    }
  }

  // Consumes a newline token, then the bodies of the heredocs started on that line.
  void consume_newline() {
    ++i_;
    if (pending_.empty()) return;
    std::vector<PendingHeredoc> docs = std::move(pending_);
    pending_.clear();
    for (const auto& doc : docs) {
      const std::size_t body_start = i_;
      std::size_t body_end = npos;
      while (i_ < n_) {
        const std::size_t eol = s_.find('\n', i_);
        const std::size_t line_end = eol == npos ? n_ : eol;
        std::string_view line = slice(i_, line_end);
        if (doc.strip_tabs) {
          while (!line.empty() && line.front() == '\t') line.remove_prefix(1);
        }
        const std::size_t next = eol == npos ? n_ : eol + 1;
        if (line == doc.delimiter) {
          body_end = i_;
          i_ = next;
          break;
        }
        i_ = next;
      }
      if (body_end == npos) {
        fail_at("unterminated heredoc: delimiter '" + doc.delimiter + "' not found", doc.offset);
      }
      if (!doc.quoted && body_end > body_start) {
        Parser child(slice(body_start, body_end), depth_ + 1, base_ + body_start);
        child.parse_heredoc_text();
        merge(child, body_start);
      }
    }
  }

  // A list of pipelines joined by ; & && || | |& and newlines, up to the end of input, a `)`
  // (Stop::paren) or a case-arm terminator / `esac` (Stop::case_item). Does not consume the stop.
  void parse_list(Stop stop, std::size_t open) {
    DepthGuard guard(*this, open);
    bool have_cmd = false;
    std::string need;  // operator that requires a following command
    std::size_t need_pos = 0;
    auto op = [&](std::string_view text, std::string construct, bool needs_next) {
      if (!have_cmd) fail_at("unexpected '" + std::string(text) + "'", i_);
      add_construct(std::move(construct));
      need_pos = i_;
      i_ += text.size();
      have_cmd = false;
      if (needs_next) need = std::string(text);
    };
    for (;;) {
      skip_blanks();
      const char c = at(i_);
      const bool case_stop =
          stop == Stop::case_item &&
          ((c == ';' && (at(i_ + 1) == ';' || at(i_ + 1) == '&')) || reserved_at("esac"));
      if (i_ >= n_ || c == ')' || case_stop) {
        if (!need.empty()) fail_at("expected a command after '" + need + "'", need_pos);
        if (i_ < n_ && c == ')' && stop != Stop::paren) fail_at("unbalanced ')'", i_);
        newline_pending_ = false;
        return;
      }
      if (c == '\n') {
        if (have_cmd) newline_pending_ = true;
        have_cmd = false;
        consume_newline();
        continue;
      }
      if (c == ';') {
        if (at(i_ + 1) == ';' || at(i_ + 1) == '&') {
          fail_at("unexpected '" + std::string(slice(i_, i_ + 2)) + "' outside a case statement",
                  i_);
        }
        op(";", "';'", false);
        continue;
      }
      if (c == '&' && at(i_ + 1) == '&') {
        op("&&", "'&&'", true);
        continue;
      }
      if (c == '&' && at(i_ + 1) != '>') {
        op("&", "background '&'", false);
        continue;
      }
      if (c == '|') {
        if (at(i_ + 1) == '|') {
          op("||", "'||'", true);
        } else if (at(i_ + 1) == '&') {
          op("|&", "pipe '|&'", true);
        } else {
          op("|", "pipe", true);
        }
        continue;
      }
      if (newline_pending_) {
        add_construct("newline");
        newline_pending_ = false;
      }
      parse_command();
      have_cmd = true;
      need.clear();
    }
  }

  // One command at command position: reserved-word constructs, ( ), (( )), or a simple command.
  void parse_command() {
    for (;;) {
      skip_blanks();
      if (i_ >= n_) return;
      if (s_[i_] == '(') {
        const std::size_t start = i_;
        if (at(i_ + 1) == '(') {
          const std::size_t close = scan_arith_end(i_ + 2);
          if (close != npos) {
            add_construct("arithmetic command (( ))");
            i_ += 2;
            arith_body(close, start);
            parse_tail();
            return;
          }
        }
        add_construct("subshell ( )");
        ++i_;
        parse_list(Stop::paren, start);
        if (i_ >= n_) fail_at("unterminated subshell '(' (no matching ')')", start);
        ++i_;
        parse_tail();
        return;
      }
      const std::string_view kw = reserved_here();
      if (kw.empty()) break;
      if (kw == "case") {
        parse_case();
        parse_tail();
        return;
      }
      if (kw == "for" || kw == "select") {
        parse_for(kw);
        return;
      }
      if (kw == "function") {
        parse_function_keyword();
        return;
      }
      if (kw == "[[") {
        parse_conditional();
        parse_tail();
        return;
      }
      add_construct(reserved_construct(kw));
      i_ += kw.size();
      if (kw == "fi" || kw == "done" || kw == "esac" || kw == "}") {
        parse_tail();
        return;
      }
      // An opener (if, then, while, do, {, !, ...): a command follows.
    }
    parse_simple();
  }

  // Redirections after a compound command (`done <f`, `) >out`): recorded as constructs only.
  void parse_tail() {
    SimpleCommand scratch;
    for (;;) {
      skip_blanks();
      if (i_ >= n_ || !try_redirection(scratch)) return;
    }
  }

  void parse_simple() {
    SimpleCommand cmd;
    const std::size_t slot = out_.commands.size();
    const std::size_t start = i_;
    std::size_t last_end = npos;  // end of the last word, if it looked like `name=`
    std::string* last_assignish = nullptr;
    for (;;) {
      skip_blanks();
      if (i_ >= n_) break;
      const char c = s_[i_];
      if (c == '\n' || c == ';' || c == '|' || c == ')') break;
      if (c == '&' && at(i_ + 1) != '>') break;
      if (c == '(') {
        if (last_assignish != nullptr && last_end == i_) {
          read_array(*last_assignish);
          last_assignish = nullptr;
          continue;
        }
        if (cmd.words.size() == 1 && cmd.assignments.empty() && cmd.redirections.empty()) {
          const std::size_t open = i_;
          ++i_;
          skip_blanks();
          if (at(i_) != ')' || i_ >= n_) {
            fail_at("expected ')' after '(' in a function definition", open);
          }
          ++i_;
          add_construct("function definition");
          parse_function_body(open);
          return;  // the name is not a command
        }
        fail_at("unexpected '('", i_);
      }
      last_assignish = nullptr;
      if (try_redirection(cmd)) continue;
      Word w = read_word();
      const std::string_view raw = slice(w.start, w.end);
      const bool assignish = is_assignment(raw) && raw.back() == '=';
      if (cmd.words.empty() && is_assignment(raw)) {
        cmd.assignments.push_back(std::move(w.text));
        if (assignish) last_assignish = &cmd.assignments.back();
      } else {
        if (cmd.words.empty()) cmd.command_is_expansion = w.expansion;
        cmd.words.push_back(std::move(w.text));
        if (assignish) last_assignish = &cmd.words.back();
      }
      last_end = i_;
    }
    if (!cmd.words.empty() || !cmd.assignments.empty() || !cmd.redirections.empty()) {
      check_command_count(start);
      out_.commands.insert(out_.commands.begin() + static_cast<std::ptrdiff_t>(slot),
                           std::move(cmd));
    }
  }

  // `name=(a b c)`: appends the array as written to `target`.
  void read_array(std::string& target) {
    const std::size_t open = i_;
    ++i_;
    for (;;) {
      skip_blanks();
      if (i_ >= n_) fail_at("unterminated array assignment '(' (no matching ')')", open);
      const char c = s_[i_];
      if (c == '\n') {
        consume_newline();
        continue;
      }
      if (c == ')') {
        ++i_;
        break;
      }
      if (!word_can_start()) fail_at("unexpected " + quote_char(c) + " in an array assignment", i_);
      read_word();
    }
    target.append(slice(open, i_));
  }

  void parse_function_body(std::size_t pos) {
    skip_blanks_and_newlines();
    if (i_ >= n_) fail_at("function definition without a body", pos);
    DepthGuard guard(*this, pos);
    parse_command();
  }

  void parse_function_keyword() {
    const std::size_t start = i_;
    add_construct("function definition");
    i_ += 8;
    skip_blanks();
    if (!word_can_start()) fail_at("expected a name after 'function'", start);
    read_word();
    skip_blanks();
    if (at(i_) == '(' && i_ < n_) {
      ++i_;
      skip_blanks();
      if (at(i_) != ')' || i_ >= n_) fail_at("expected ')' after '(' in a function definition", i_);
      ++i_;
    }
    parse_function_body(start);
  }

  void parse_case() {
    const std::size_t start = i_;
    add_construct("case statement");
    i_ += 4;
    skip_blanks();
    if (!word_can_start()) fail_at("expected a word after 'case'", start);
    read_word();
    skip_blanks_and_newlines();
    if (!reserved_at("in")) fail_at("expected 'in' after the word of 'case'", i_);
    i_ += 2;
    const std::string unterminated = "unterminated case statement (no 'esac')";
    for (;;) {
      skip_blanks_and_newlines();
      if (i_ >= n_) fail_at(unterminated, start);
      if (reserved_at("esac")) {
        i_ += 4;
        return;
      }
      if (s_[i_] == '(') ++i_;
      bool any = false;
      for (;;) {
        skip_blanks();
        if (i_ >= n_) fail_at(unterminated, start);
        const char c = s_[i_];
        if (c == ')') {
          if (!any) fail_at("empty case pattern", i_);
          ++i_;
          break;
        }
        if (c == '|') {
          ++i_;
          continue;
        }
        if (!word_can_start()) fail_at("unexpected " + quote_char(c) + " in a case pattern", i_);
        read_word();
        any = true;
      }
      parse_list(Stop::case_item, start);
      if (i_ >= n_) fail_at(unterminated, start);
      if (starts_with(";;&")) {
        i_ += 3;
      } else if (starts_with(";;") || starts_with(";&")) {
        i_ += 2;
      }
      // Otherwise `esac`, handled at the top of the loop.
    }
  }

  void parse_for(std::string_view kw) {
    const std::size_t start = i_;
    add_construct(kw == "for" ? "for loop" : "select loop");
    i_ += kw.size();
    skip_blanks();
    if (kw == "for" && at(i_) == '(' && at(i_ + 1) == '(') {
      const std::size_t close = scan_arith_end(i_ + 2);
      if (close == npos) fail_at("unterminated 'for ((' header", start);
      i_ += 2;
      arith_body(close, start);
      return;
    }
    if (!word_can_start()) fail_at("expected a name after '" + std::string(kw) + "'", start);
    read_word();
    skip_blanks_and_newlines();
    if (!reserved_at("in")) return;  // `for x do ...`
    i_ += 2;
    for (;;) {
      skip_blanks();
      if (i_ >= n_ || s_[i_] == '\n' || s_[i_] == ';') return;
      if (!word_can_start()) {
        fail_at("unexpected " + quote_char(s_[i_]) + " in a '" + std::string(kw) + "' word list",
                i_);
      }
      read_word();
    }
  }

  // `[[ ... ]]`: inside, && || < > ( ) ! are operators of the expression, not of the shell.
  void parse_conditional() {
    const std::size_t start = i_;
    add_construct("conditional [[ ]]");
    i_ += 2;
    for (;;) {
      skip_blanks();
      if (i_ >= n_) fail_at("unterminated '[[' (no ']]')", start);
      const char c = s_[i_];
      if (c == '\n') {
        consume_newline();
        continue;
      }
      if (reserved_at("]]")) {
        i_ += 2;
        return;
      }
      if (c == ';') fail_at("unexpected ';' inside '[[ ]]'", i_);
      if (!word_can_start() || c == '!') {
        ++i_;
        continue;
      }
      read_word();
    }
  }

  // Tries a redirection at i_ (optionally preceded by an IO number). Returns false, consuming
  // nothing, when there is none.
  bool try_redirection(SimpleCommand& cmd) {
    std::size_t p = i_;
    while (p < n_ && is_digit(s_[p])) ++p;
    static constexpr std::array<std::string_view, 12> kOps = {"&>>", "&>", "<<<", "<<-", "<<", "<>",
                                                              "<&",  ">>", ">&",  ">|",  "<",  ">"};
    const std::string_view rest = s_.substr(p);
    std::string_view op;
    for (std::string_view o : kOps) {
      if (rest.starts_with(o)) {
        op = o;
        break;
      }
    }
    if (op.empty()) return false;
    if (op[0] == '&' && p != i_) return false;  // `2&>f`: the digits are a word
    if ((op == "<" || op == ">") && at(p + 1) == '(') return false;  // process substitution
    const std::size_t start = i_;
    i_ = p + op.size();
    skip_blanks();
    if (!word_can_start()) {
      fail_at("redirection '" + std::string(op) + "' without a target", start);
    }
    Word target = read_word();
    std::string written(slice(start, p));
    written += op;
    written += slice(target.start, target.end);
    cmd.redirections.push_back(std::move(written));
    if (op == "<<" || op == "<<-") {
      add_construct("heredoc");
      pending_.push_back(PendingHeredoc{target.text, op == "<<-", target.quoted, start});
    } else if (op == "<<<") {
      add_construct("here-string '<<<'");
    } else {
      add_construct("redirection '" + std::string(op) + "'");
    }
    return true;
  }

  Word read_word() {
    Word w;
    w.start = i_;
    while (i_ < n_) {
      const char c = s_[i_];
      if ((c == '<' || c == '>') && at(i_ + 1) == '(') {
        read_process_substitution(w);
        continue;
      }
      if (is_word_break(c)) break;
      switch (c) {
        case '\\':
          if (i_ + 1 >= n_) {
            w.text += '\\';
            ++i_;
          } else if (s_[i_ + 1] == '\n') {
            i_ += 2;
          } else {
            w.text += s_[i_ + 1];
            w.quoted = true;
            i_ += 2;
          }
          break;
        case '\'':
          read_single_quote(w);
          break;
        case '"':
          read_double_quote(w);
          break;
        case '$':
          read_dollar(w, false);
          break;
        case '`':
          read_backtick(w, false);
          break;
        default:
          w.text += c;
          ++i_;
      }
    }
    w.end = i_;
    if (w.end == w.start) fail_at("unexpected " + quote_char(at(i_)), i_);
    return w;
  }

  void read_single_quote(Word& w) {
    const std::size_t close = s_.find('\'', i_ + 1);
    if (close == npos) fail_at("unterminated single quote", i_);
    w.text.append(slice(i_ + 1, close));
    w.quoted = true;
    i_ = close + 1;
  }

  void read_double_quote(Word& w) {
    const std::size_t open = i_;
    ++i_;
    w.quoted = true;
    for (;;) {
      if (i_ >= n_) fail_at("unterminated double quote", open);
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return;
      }
      if (c == '\\') {
        const char d = at(i_ + 1);
        if (i_ + 1 < n_ && (d == '$' || d == '`' || d == '"' || d == '\\')) {
          w.text += d;
          i_ += 2;
        } else if (i_ + 1 < n_ && d == '\n') {
          i_ += 2;
        } else {
          w.text += '\\';
          ++i_;
        }
      } else if (c == '$') {
        read_dollar(w, true);
      } else if (c == '`') {
        read_backtick(w, true);
      } else {
        w.text += c;
        ++i_;
      }
    }
  }

  void read_dollar(Word& w, bool in_dquote) {
    const std::size_t start = i_;
    const char d = at(i_ + 1);
    if (i_ + 1 >= n_) {
      w.text += '$';
      ++i_;
      return;
    }
    if (d == '(') {
      if (at(i_ + 2) == '(') {
        const std::size_t close = scan_arith_end(i_ + 3);
        if (close != npos) {
          i_ += 3;
          arith_body(close, start);
          w.text.append(slice(start, i_));
          w.expansion = true;
          return;
        }
      }
      add_construct("command substitution $( )");
      i_ += 2;
      parse_list(Stop::paren, start);
      if (i_ >= n_) fail_at("unterminated command substitution '$(' (no matching ')')", start);
      ++i_;
      w.text.append(slice(start, i_));
      w.expansion = true;
      return;
    }
    if (d == '{') {
      i_ += 2;
      scan_braced(start, in_dquote);
      w.text.append(slice(start, i_));
      w.expansion = true;
      return;
    }
    // $'...' (ANSI-C quoting) and $"..." (translation) mean different things to dash (a '$'
    // followed by an ordinary quote) and bash: what would run cannot be known, so refuse.
    if ((d == '\'' || d == '"') && !in_dquote) {
      fail_at(std::string("the quoting $") + d + "..." + d +
                  " is refused: /bin/sh shells disagree on what it means (use '...' or \"...\")",
              start);
    }
    if (is_name_start(d)) {
      ++i_;
      while (i_ < n_ && is_name_char(s_[i_])) ++i_;
      w.text.append(slice(start, i_));
      w.expansion = true;
      return;
    }
    if (is_digit(d) || d == '@' || d == '*' || d == '#' || d == '?' || d == '-' || d == '$' ||
        d == '!') {
      i_ += 2;
      w.text.append(slice(start, i_));
      w.expansion = true;
      return;
    }
    w.text += '$';
    ++i_;
  }

  // `${...}`: i_ is after `${`; consumes through the matching `}`.
  void scan_braced(std::size_t start, bool in_dquote) {
    DepthGuard guard(*this, start);
    Word scratch;
    for (;;) {
      if (i_ >= n_) fail_at("unterminated parameter expansion '${' (no matching '}')", start);
      const char c = s_[i_];
      if (c == '}') {
        ++i_;
        return;
      }
      if (c == '\\') {
        advance(2);
      } else if (c == '\'' && !in_dquote) {
        read_single_quote(scratch);
      } else if (c == '"') {
        read_double_quote(scratch);
      } else if (c == '$') {
        read_dollar(scratch, in_dquote);
      } else if (c == '`') {
        read_backtick(scratch, in_dquote);
      } else {
        ++i_;
      }
    }
  }

  // From `p` just inside `((`, finds the `))` that closes an arithmetic expression and returns
  // the offset of its first `)`, or npos when the text is not arithmetic (e.g. `$((a); b)` is a
  // command substitution holding a subshell). A side-effect-free scan.
  std::size_t scan_arith_end(std::size_t p) const {
    int depth = 0;
    while (p < n_) {
      const char c = s_[p];
      if (c == '\\') {
        p += 2;
        continue;
      }
      if (c == '\'' || c == '`') {
        const std::size_t q = s_.find(c, p + 1);
        if (q == npos) return npos;
        p = q + 1;
        continue;
      }
      if (c == '"') {
        ++p;
        while (p < n_ && s_[p] != '"') p += s_[p] == '\\' ? 2 : 1;
        if (p >= n_) return npos;
        ++p;
        continue;
      }
      if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (depth == 0) return at(p + 1) == ')' ? p : npos;
        --depth;
      }
      ++p;
    }
    return npos;
  }

  // The body of `$(( ))` / `(( ))` from i_ to `close` (found by scan_arith_end): expansions in
  // it may hold command substitutions.
  void arith_body(std::size_t close, std::size_t start) {
    DepthGuard guard(*this, start);
    Word scratch;
    while (i_ < close) {
      const char c = s_[i_];
      if (c == '\\') {
        advance(2);
      } else if (c == '\'') {
        read_single_quote(scratch);
      } else if (c == '"') {
        read_double_quote(scratch);
      } else if (c == '$') {
        read_dollar(scratch, true);
      } else if (c == '`') {
        read_backtick(scratch, true);
      } else {
        ++i_;
      }
    }
    if (i_ != close) fail_at("malformed arithmetic expression", start);
    i_ = close + 2;
  }

  void read_process_substitution(Word& w) {
    const std::size_t start = i_;
    add_construct(s_[i_] == '<' ? "process substitution <( )" : "process substitution >( )");
    i_ += 2;
    parse_list(Stop::paren, start);
    if (i_ >= n_) {
      fail_at("unterminated process substitution '" + std::string(slice(start, start + 2)) +
                  "' (no matching ')')",
              start);
    }
    ++i_;
    w.text.append(slice(start, i_));
    w.expansion = true;
  }

  // `...`: the content is unescaped (\` \\ \$, and \" inside double quotes) and parsed on its own.
  void read_backtick(Word& w, bool in_dquote) {
    const std::size_t start = i_;
    ++i_;
    std::string inner;
    for (;;) {
      if (i_ >= n_) fail_at("unterminated backquote command substitution", start);
      const char c = s_[i_];
      if (c == '`') {
        ++i_;
        break;
      }
      if (c == '\\' && i_ + 1 < n_) {
        const char d = s_[i_ + 1];
        if (d == '`' || d == '\\' || d == '$' || (in_dquote && d == '"')) {
          inner += d;
        } else {
          inner += c;
          inner += d;
        }
        i_ += 2;
        continue;
      }
      inner += c;
      ++i_;
    }
    add_construct("command substitution ` `");
    Parser child(inner, depth_ + 1, base_ + start + 1);
    child.parse_script();
    merge(child, start);
    w.text.append(slice(start, i_));
    w.expansion = true;
  }

  std::string_view s_;
  std::size_t n_;
  std::size_t i_ = 0;
  int depth_;
  std::size_t base_;
  bool newline_pending_ = false;
  std::vector<PendingHeredoc> pending_;
  ParsedShell out_;
};

}  // namespace

Result<ParsedShell> parse_shell(std::string_view command) {
  auto syntax_error = [](const std::string& problem, std::size_t offset) {
    json_object details;
    details["rule"] = "shell_syntax";
    details["problem"] = problem;
    details["offset"] = static_cast<std::uint64_t>(offset);
    return fail(ErrorType::invalid_input,
                "cannot parse shell command: " + problem + " at offset " + std::to_string(offset),
                std::move(details));
  };
  if (command.size() > kShellMaxInputBytes) {
    return syntax_error("command is too long (" + std::to_string(command.size()) +
                            " bytes; the limit is " + std::to_string(kShellMaxInputBytes) + ")",
                        kShellMaxInputBytes);
  }
  // Refused before parsing, because shells disagree or the exec of the command would cut it:
  //  - a NUL byte (argv ends there: "/usr/bin/id\0/echo" would run id);
  //  - a line continuation (backslash-newline) anywhere: shells remove it before reading `$`,
  //    `${`, keywords and operators, which re-joins what a parser reads as separate text. A
  //    newline after an odd run of backslashes is one (inside single quotes it is literal, and
  //    refused all the same: fail closed).
  if (auto nul = command.find('\0'); nul != std::string_view::npos) {
    return syntax_error("a NUL byte", nul);
  }
  for (std::size_t nl = command.find('\n'); nl != std::string_view::npos;
       nl = command.find('\n', nl + 1)) {
    std::size_t run = 0;
    while (run < nl && command[nl - 1 - run] == '\\') ++run;
    if (run % 2 == 1) {
      return syntax_error("a line continuation (backslash-newline): put the command on one line",
                          nl - 1);
    }
  }
  try {
    Parser parser(command, 0, 0);
    parser.parse_script();
    return parser.take();
  } catch (const ParseFailure& f) {
    return syntax_error(f.problem, f.offset);
  } catch (const std::bad_alloc&) {
    return fail(ErrorType::internal, "out of memory while parsing a shell command");
  } catch (const std::exception& e) {
    return fail(ErrorType::internal, std::string("shell parser failure: ") + e.what());
  }
}

}  // namespace cppflue
