// SPDX-License-Identifier: Apache-2.0
#include "cppflue/sandbox/shell_parse.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {
namespace {

using Strings = std::vector<std::string>;

ParsedShell parse_ok(std::string_view text) {
  auto r = parse_shell(text);
  EXPECT_TRUE(r.has_value()) << "input: " << text << "\nerror: " << (r ? "" : r.error().message);
  return r ? *r : ParsedShell{};
}

// The command word of every simple command, in order.
Strings command_words(const ParsedShell& p) {
  Strings out;
  for (const auto& c : p.commands) out.push_back(c.words.empty() ? "" : c.words.front());
  return out;
}

bool has_construct(const ParsedShell& p, std::string_view needle) {
  for (const auto& c : p.constructs) {
    if (c.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(ShellParse, EmptyAndCommentOnlyInputHasNoCommands) {
  for (std::string_view text : {"", "   ", "\t\n  \n", "# just a comment", "  # c1\n# c2\n"}) {
    const auto p = parse_ok(text);
    EXPECT_TRUE(p.commands.empty()) << text;
    EXPECT_FALSE(p.compound) << text;
    EXPECT_TRUE(p.constructs.empty()) << text;
  }
}

struct WordsCase {
  std::string_view text;
  Strings words;
};

TEST(ShellParse, WordsHaveQuotesAndEscapesRemoved) {
  const std::vector<WordsCase> cases = {
      {"git status", {"git", "status"}},
      {"echo 'a;b'", {"echo", "a;b"}},
      {"echo \"a && b\"", {"echo", "a && b"}},
      {"echo ''", {"echo", ""}},
      {"echo \"\"", {"echo", ""}},
      {"git commit -m ''", {"git", "commit", "-m", ""}},
      {"echo a\\;b", {"echo", "a;b"}},
      {"echo \\>", {"echo", ">"}},
      {"echo \"a\\\"b\\$c\\d\"", {"echo", "a\"b$c\\d"}},
      {"echo 'it'\"'\"'s'", {"echo", "it's"}},
      {"echo a#b # comment", {"echo", "a#b"}},
      {"echo $HOME ${x:-a b} $1 $@", {"echo", "$HOME", "${x:-a b}", "$1", "$@"}},
      {"echo $((1 + (2 * 3)))", {"echo", "$((1 + (2 * 3)))"}},
      {"ls   -la\t/tmp", {"ls", "-la", "/tmp"}},
      {"find . -name '*.c' -exec wc {} \\;",
       {"find", ".", "-name", "*.c", "-exec", "wc", "{}", ";"}},
      {"echo {a,b} } {", {"echo", "{a,b}", "}", "{"}},
  };
  for (const auto& c : cases) {
    const auto p = parse_ok(c.text);
    ASSERT_EQ(p.commands.size(), 1u) << c.text;
    EXPECT_EQ(p.commands[0].words, c.words) << c.text;
    EXPECT_FALSE(p.compound) << c.text;
  }
}

TEST(ShellParse, AssignmentsAreSeparatedFromWords) {
  auto p = parse_ok("FOO=1 BAR=\"a b\" git -c x=y status");
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0].assignments, (Strings{"FOO=1", "BAR=a b"}));
  EXPECT_EQ(p.commands[0].words, (Strings{"git", "-c", "x=y", "status"}));
  EXPECT_FALSE(p.compound);

  p = parse_ok("\"FOO=1\" git");  // a quoted name is not an assignment
  EXPECT_TRUE(p.commands[0].assignments.empty());
  EXPECT_EQ(p.commands[0].words.front(), "FOO=1");

  p = parse_ok("arr=(a b c) x+=1");
  EXPECT_EQ(p.commands[0].assignments, (Strings{"arr=(a b c)", "x+=1"}));
  EXPECT_TRUE(p.commands[0].words.empty());

  p = parse_ok("X=$(id)");
  EXPECT_EQ(command_words(p), (Strings{"", "id"}));
}

TEST(ShellParse, RedirectionsAreRecordedAsWritten) {
  const auto p = parse_ok("cmd <in >out 2>&1 >>log 3<>rw >|clob &>all 2> 'q f' <&0");
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0].words, (Strings{"cmd"}));
  EXPECT_EQ(p.commands[0].redirections, (Strings{"<in", ">out", "2>&1", ">>log", "3<>rw", ">|clob",
                                                 "&>all", "2>'q f'", "<&0"}));
  EXPECT_TRUE(p.compound);
  EXPECT_TRUE(has_construct(p, "redirection '>'"));
}

TEST(ShellParse, NestedCommandsAreAllCollected) {
  struct Case {
    std::string_view text;
    Strings commands;
  };
  const std::vector<Case> cases = {
      {"echo $(ls $(pwd))", {"echo", "ls", "pwd"}},
      {"echo `id`", {"echo", "id"}},
      {"echo `echo \\`whoami\\``", {"echo", "echo", "whoami"}},
      {"echo \"x $(rm -rf y) `date`\"", {"echo", "rm", "date"}},
      {"diff <(ls a) >(wc -l)", {"diff", "ls", "wc"}},
      {"(cd x && make)", {"cd", "make"}},
      {"{ a; b; }", {"a", "b"}},
      {"if test -f x; then cat x; elif true; then :; else rm x; fi",
       {"test", "cat", "true", ":", "rm"}},
      {"for f in *.txt $(ls); do cat \"$f\"; done", {"ls", "cat"}},
      {"for ((i=0; i<3; i++)); do echo $i; done", {"echo"}},
      {"while read l; do echo $l; done < f", {"read", "echo"}},
      {"until false; do sleep 1; done", {"false", "sleep"}},
      {"case $x in a|b) echo a;; (*) ls;& esac", {"echo", "ls"}},
      {"case $(id) in\n  root) rm x ;;\nesac", {"id", "rm"}},
      {"f() { ls; }; f", {"ls", "f"}},
      {"function g { who; }", {"who"}},
      {"[[ -f x && $(id) == y ]] && echo ok", {"id", "echo"}},
      {"(( $(id) + 1 ))", {"id"}},
      {"echo $(( $(id -u) + 1 ))", {"echo", "id"}},
      {"echo $((ls); pwd)", {"echo", "ls", "pwd"}},
      {"echo ${x:-$(id)} ${y:-\"}\"}", {"echo", "id"}},
      {"cat <<EOF\n$(rm -rf x) `id`\nEOF", {"cat", "rm", "id"}},
      {"cat <<'EOF'\n$(rm -rf x)\nEOF", {"cat"}},
      {"cat <<EOF | wc\nnot a command; rm x\nEOF\nls", {"cat", "wc", "ls"}},
      {"! grep -q x f", {"grep"}},
      {"a | b |& c || d && e & f ; g", {"a", "b", "c", "d", "e", "f", "g"}},
      {"sudo env FOO=1 git status", {"sudo"}},
  };
  for (const auto& c : cases) {
    const auto p = parse_ok(c.text);
    EXPECT_EQ(command_words(p), c.commands) << c.text;
    EXPECT_TRUE(p.compound || c.commands.size() <= 1) << c.text;
  }
}

TEST(ShellParse, HeredocBodiesAreSkipped) {
  auto p = parse_ok("cat <<EOF\nrm -rf /; echo )\nEOF\necho done");
  EXPECT_EQ(command_words(p), (Strings{"cat", "echo"}));
  EXPECT_TRUE(has_construct(p, "heredoc"));
  EXPECT_EQ(p.commands[0].redirections, (Strings{"<<EOF"}));

  p = parse_ok("cat <<-\"END\"\n\t( unbalanced\n\tEND\n");
  EXPECT_EQ(command_words(p), (Strings{"cat"}));

  p = parse_ok("cat <<A <<B\na\nA\nb\nB");
  EXPECT_EQ(command_words(p), (Strings{"cat"}));

  p = parse_ok("echo $(cat <<X\n)\nX\n)");  // body read inside the substitution
  EXPECT_EQ(command_words(p), (Strings{"echo", "cat"}));
}

TEST(ShellParse, ExpansionCommandWordsAreFlagged) {
  EXPECT_TRUE(parse_ok("$cmd arg").commands[0].command_is_expansion);
  EXPECT_TRUE(parse_ok("\"$cmd\" arg").commands[0].command_is_expansion);
  EXPECT_TRUE(parse_ok("${cmd} arg").commands[0].command_is_expansion);
  EXPECT_TRUE(parse_ok("$(echo rm) x").commands[0].command_is_expansion);
  EXPECT_TRUE(parse_ok("`echo rm` x").commands[0].command_is_expansion);
  EXPECT_TRUE(parse_ok("git$x").commands[0].command_is_expansion);
  EXPECT_FALSE(parse_ok("'$cmd' arg").commands[0].command_is_expansion);
  EXPECT_FALSE(parse_ok("\\$cmd arg").commands[0].command_is_expansion);
  EXPECT_FALSE(parse_ok("echo $x").commands[0].command_is_expansion);
}

TEST(ShellParse, TrailingNewlineIsNotCompoundButSeparatingNewlineIs) {
  EXPECT_FALSE(parse_ok("ls -la\n").compound);
  EXPECT_FALSE(parse_ok("\n\nls\n\n").compound);
  const auto p = parse_ok("ls\npwd");
  EXPECT_TRUE(p.compound);
  EXPECT_EQ(p.constructs, (Strings{"newline"}));
}

struct ErrorCase {
  std::string_view text;
  std::string_view problem;
  std::uint64_t offset;
};

TEST(ShellParse, SyntaxErrorsNameTheProblemAndOffset) {
  const std::vector<ErrorCase> cases = {
      {"echo 'abc", "unterminated single quote", 5},
      {"echo \"abc", "unterminated double quote", 5},
      {"echo ok \"a $(b\" c", "unterminated double quote", 14},
      {"echo $(ls", "unterminated command substitution", 5},
      {"echo $(ls; (pwd)", "unterminated command substitution", 5},
      {"echo `ls", "unterminated backquote", 5},
      {"echo ${x", "unterminated parameter expansion", 5},
      {"echo $'x", "the quoting $'...' is refused", 5},
      {"echo $'a\\'b'", "the quoting $'...' is refused", 5},
      {"echo $\"x\"", "the quoting $\"...\" is refused", 5},
      {"echo a\\\nb", "a line continuation", 6},
      {"echo \"$\\\n(touch X)\"", "a line continuation", 7},
      {"echo ${x:-$\\\n(touch X)}", "a line continuation", 11},
      {std::string_view("/usr/bin/id\0/echo", 17), "a NUL byte", 11},
      {"echo 'a\\\nb'", "a line continuation", 7},  // literal there, refused all the same
      {"echo a\\\\\\\nb", "a line continuation", 8},
      {"diff <(ls", "unterminated process substitution", 5},
      {"cat <<EOF\nx\n", "unterminated heredoc", 4},
      {"cat <<EOF", "unterminated heredoc", 4},
      {"echo a)", "unbalanced ')'", 6},
      {")", "unbalanced ')'", 0},
      {"(a", "unterminated subshell", 0},
      {"a &&", "expected a command after '&&'", 2},
      {"a |", "expected a command after '|'", 2},
      {"a ||\n\n", "expected a command after '||'", 2},
      {"; a", "unexpected ';'", 0},
      {"a ;; b", "unexpected ';;'", 2},
      {"a && && b", "unexpected '&&'", 5},
      {"| a", "unexpected '|'", 0},
      {"a >", "redirection '>' without a target", 2},
      {"a 2>&", "redirection '>&' without a target", 2},
      {"echo a(b", "unexpected '('", 6},
      {"f(b", "expected ')' after '('", 1},
      {"case x in a) b", "unterminated case statement", 0},
      {"case x a) b;; esac", "expected 'in'", 7},
      {"[[ a == b", "unterminated '[['", 0},
      {"f() ", "function definition without a body", 1},
      {"echo `echo 'x`", "unterminated single quote", 11},
  };
  for (const auto& c : cases) {
    auto r = parse_shell(c.text);
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error().type, ErrorType::invalid_input) << c.text;
    EXPECT_NE(r.error().message.find(c.problem), std::string::npos)
        << c.text << " → " << r.error().message;
    EXPECT_NE(r.error().message.find("offset " + std::to_string(c.offset)), std::string::npos)
        << c.text << " → " << r.error().message;
    EXPECT_EQ(get_string_or(r.error().details, "rule", ""), "shell_syntax");
    EXPECT_EQ(get_int(r.error().details, "offset").value_or(-1),
              static_cast<std::int64_t>(c.offset))
        << c.text;
  }
}

TEST(ShellParse, DeepNestingIsRejectedCleanly) {
  const std::vector<std::string> deep = {
      std::string(100000, '('),
      [] {
        std::string s;
        for (int k = 0; k < 2000; ++k) s += "$(";
        for (int k = 0; k < 2000; ++k) s += ")";
        return s;
      }(),
      [] {
        std::string s;
        for (int k = 0; k < 2000; ++k) s += "${x:-";
        for (int k = 0; k < 2000; ++k) s += "}";
        return s;
      }(),
      [] {
        std::string s = "echo ";
        for (int k = 0; k < 2000; ++k) s += "\"$(";
        return s;
      }(),
      [] {
        std::string s;
        for (int k = 0; k < 2000; ++k) s += "f() ";
        return s + "{ a; }";
      }(),
  };
  for (const auto& text : deep) {
    auto r = parse_shell(text);
    ASSERT_FALSE(r.has_value()) << text.substr(0, 40);
    EXPECT_NE(r.error().message.find("nesting deeper than 64"), std::string::npos)
        << r.error().message;
  }
  // 60 levels is fine.
  std::string ok;
  for (int k = 0; k < 60; ++k) ok += "$(";
  ok += "id";
  for (int k = 0; k < 60; ++k) ok += ")";
  const auto p = parse_ok(ok);
  ASSERT_EQ(p.commands.size(), 61u);
  EXPECT_TRUE(p.commands[0].command_is_expansion);
  EXPECT_EQ(p.commands.back().words, (Strings{"id"}));

  // Reserved-word openers are handled iteratively, not by recursion.
  std::string braces;
  for (int k = 0; k < 50000; ++k) braces += "{ ";
  const auto b = parse_ok(braces + "a");
  EXPECT_EQ(command_words(b), (Strings{"a"}));
}

TEST(ShellParse, HugeInputIsRejectedCleanly) {
  auto r = parse_shell(std::string(kShellMaxInputBytes + 1, 'a'));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("too long"), std::string::npos);

  std::string many;
  while (many.size() < kShellMaxInputBytes - 4) many += "a;";
  r = parse_shell(many);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("more than 10000 simple commands"), std::string::npos)
      << r.error().message;

  // A long single command within the limit parses.
  std::string long_word = "echo " + std::string(kShellMaxInputBytes - 10, 'x');
  const auto p = parse_ok(long_word);
  ASSERT_EQ(p.commands.size(), 1u);
  EXPECT_EQ(p.commands[0].words[1].size(), kShellMaxInputBytes - 10);
}

}  // namespace
}  // namespace cppflue
