// SPDX-License-Identifier: Apache-2.0
#include "cppflue/sandbox/shell_policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "cppflue/core/json.hpp"

namespace cppflue {
namespace {

using Strings = std::vector<std::string>;

ShellPolicy shell_only() {
  return ShellPolicy{true, false, {}};
}
ShellPolicy compound_ok(Strings allowed = {}) {
  return ShellPolicy{true, true, std::move(allowed)};
}

Strings constructs_of(const Error& e) {
  Strings out;
  if (const json* c = find(e.details, "constructs"); c != nullptr && c->is_array()) {
    for (const auto& v : c->as_array()) {
      if (v.is_string()) out.emplace_back(v.as_string());
    }
  }
  return out;
}

TEST(ShellPolicy, ShellOffRefusesEverything) {
  for (std::string_view text : {"ls", "", "echo 'a;b'"}) {
    auto r = check_command(text, ShellPolicy{}, {"ls"});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().type, ErrorType::policy);
    EXPECT_EQ(r.error().message, "shell commands are not allowed (allow_shell is off)");
    EXPECT_EQ(get_string_or(r.error().details, "rule", ""), "allow_shell");
  }
}

struct CompoundCase {
  std::string_view text;
  std::string_view construct;  // substring of one of the named constructs
};

TEST(ShellPolicy, CompoundConstructsAreRefusedAndNamed) {
  const std::vector<CompoundCase> cases = {
      {"a;b", "';'"},
      {"a ;", "';'"},
      {"a && b", "'&&'"},
      {"a&&b", "'&&'"},
      {"a||b", "'||'"},
      {"a|b", "pipe"},
      {"a |& b", "pipe '|&'"},
      {"a &", "background '&'"},
      {"a & b", "background '&'"},
      {"a>f", "redirection '>'"},
      {"a > f", "redirection '>'"},
      {"a >> f", "redirection '>>'"},
      {"cat < f", "redirection '<'"},
      {"a 2>&1", "redirection '>&'"},
      {"a &> f", "redirection '&>'"},
      {"a >| f", "redirection '>|'"},
      {"a <> f", "redirection '<>'"},
      {"cat <<EOF\nx\nEOF", "heredoc"},
      {"cat <<-'EOF'\n\tx\n\tEOF", "heredoc"},
      {"a <<< x", "here-string '<<<'"},
      {"echo $(id)", "command substitution $( )"},
      {"$(id)", "command substitution $( )"},
      {"echo `id`", "command substitution ` `"},
      {"echo \"$(id)\"", "command substitution $( )"},
      {"echo \"`id`\"", "command substitution ` `"},
      {"echo ${x:-$(id)}", "command substitution $( )"},
      {"echo $(( $(id) ))", "command substitution $( )"},
      {"X=$(id)", "command substitution $( )"},
      {"diff <(ls) <(ls)", "process substitution <( )"},
      {"tee >(x)", "process substitution >( )"},
      {"a\nb", "newline"},
      {"a\r\nb", "newline"},
      {"(a)", "subshell ( )"},
      {"{ a; }", "brace group { }"},
      {"if true; then a; fi", "if statement"},
      {"while true; do a; done", "while loop"},
      {"until a; do b; done", "until loop"},
      {"for x in a b; do echo $x; done", "for loop"},
      {"case x in x) a;; esac", "case statement"},
      {"f() { a; }", "function definition"},
      {"function f { a; }", "function definition"},
      {"! a", "negation '!'"},
      {"[[ -f x ]]", "conditional [[ ]]"},
      {"(( x = 1 ))", "arithmetic command (( ))"},
      {"a # c\nb", "newline"},
  };
  ASSERT_GE(cases.size(), 40u);
  for (const auto& c : cases) {
    // Refused without allow_compound_commands...
    auto r = check_command(c.text, shell_only());
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error().type, ErrorType::policy) << c.text;
    EXPECT_EQ(get_string_or(r.error().details, "rule", ""), "compound_command") << c.text;
    const Strings named = constructs_of(r.error());
    bool found = false;
    for (const auto& n : named) found = found || n.find(c.construct) != std::string::npos;
    EXPECT_TRUE(found) << c.text << " should name " << c.construct
                       << "; message: " << r.error().message;
    EXPECT_NE(r.error().message.find(std::string(c.construct)), std::string::npos) << c.text;
    // ...and allowed with it.
    auto ok = check_command(c.text, compound_ok());
    EXPECT_TRUE(ok.has_value()) << c.text << ": " << (ok ? "" : ok.error().message);
    if (ok) {
      EXPECT_TRUE(ok->compound) << c.text;
    }
  }
}

TEST(ShellPolicy, QuotedLookAlikesArePlainWords) {
  const std::vector<std::string_view> cases = {
      "echo 'a;b'",
      "echo \"a && b\"",
      "echo ''",
      "echo \"\"",
      "git commit -m ''",
      "echo a\\;b",
      "echo '$(id)'",
      "echo \\$\\(id\\)",
      "echo \"a|b\"",
      "echo \\>",
      "echo \\&",
      "grep -e '<(' f",
      "echo '>(x)'",
      "echo '`id`'",
      "echo 'a\nb'",
      "echo \"x\ny\"",
      "echo '(a)' '{ a; }'",
      "echo 'if true; then a; fi'",
      "echo a#b",
      "echo ok # trailing comment; rm -rf /",
      "FOO=1 git status",
      "echo $HOME ${HOME} ~/x *.txt {a,b}",
      "echo $((1 + 2))",
      "ls -la\n",
      "echo \"<<EOF\"",
      "echo 2\\>\\&1",
  };
  ASSERT_GE(cases.size(), 15u);
  for (std::string_view text : cases) {
    auto r = check_command(text, shell_only());
    ASSERT_TRUE(r.has_value()) << text << ": " << r.error().message;
    EXPECT_FALSE(r->compound) << text;
    EXPECT_EQ(r->commands.size(), 1u) << text;
  }
}

TEST(ShellPolicy, AllowlistChecksEveryCommandWord) {
  const ShellPolicy git_only = compound_ok({"git"});
  struct Case {
    std::string_view text;
    std::string_view denied;  // empty: allowed
  };
  const std::vector<Case> cases = {
      {"git status", ""},
      {"FOO=1 git status", ""},
      {"FOO=1 BAR=$(git rev-parse HEAD) git log", ""},
      {"/usr/bin/git status", ""},
      {"'git' status", ""},
      {"g\\it status", ""},
      {"git status && git diff | git apply", ""},
      {"git status && rm -rf x", "rm"},
      {"git log | less", "less"},
      {"git log; /bin/rm -rf /", "/bin/rm"},
      {"echo $(rm x)", "echo"},
      {"git $(rm x)", "rm"},
      {"git \"$(rm x)\"", "rm"},
      {"git `rm x`", "rm"},
      {"git log <(rm x)", "rm"},
      {"git log >(rm x)", "rm"},
      {"(rm x)", "rm"},
      {"{ rm x; }", "rm"},
      {"if git status; then rm x; fi", "rm"},
      {"for f in $(rm x); do git add $f; done", "rm"},
      {"case a in a) rm x;; esac", "rm"},
      {"f() { rm x; }", "rm"},
      {"git log <<EOF\n$(rm x)\nEOF", "rm"},
      {"git log ${x:-$(rm x)}", "rm"},
      {"git log $(( $(rm x) ))", "rm"},
      {"env git status", "env"},
      {"sudo git status", "sudo"},
      {"exec git status", "exec"},
      {"command git status", "command"},
      {"xargs git add", "xargs"},
      {"timeout 5 git status", "timeout"},
      {"nohup git fetch", "nohup"},
      {"time git status", "time"},
      {"nice git gc", "nice"},
      {"sh -c 'git status'", "sh"},
      {"$cmd arg", "$cmd"},
      {"\"$cmd\" arg", "$cmd"},
      {"$(echo git) status", "$(echo git)"},
      {"gi${t} status", "gi${t}"},
      {"/usr/bin/ status", "/usr/bin/"},
      {"gitx status", "gitx"},
      {"\"FOO=1\" git", "FOO=1"},
  };
  for (const auto& c : cases) {
    auto r = check_command(c.text, git_only);
    if (c.denied.empty()) {
      EXPECT_TRUE(r.has_value()) << c.text << ": " << (r ? "" : r.error().message);
      continue;
    }
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error().type, ErrorType::policy) << c.text;
    EXPECT_EQ(get_string_or(r.error().details, "rule", ""), "allowed_commands") << c.text;
    EXPECT_EQ(get_string_or(r.error().details, "command", ""), c.denied) << c.text;
    EXPECT_NE(r.error().message.find(std::string(c.denied)), std::string::npos) << c.text;
    const json* allowed = find(r.error().details, "allowed");
    ASSERT_NE(allowed, nullptr);
    EXPECT_EQ(dump(*allowed), "[\"git\"]");
  }
}

TEST(ShellPolicy, ExpansionCommandWordIsRefusedOnlyUnderAnAllowlist) {
  auto r = check_command("$cmd arg", compound_ok({"git"}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(get_string_or(r.error().details, "reason", ""), "expansion");
  EXPECT_NE(r.error().message.find("cannot be checked"), std::string::npos);
  EXPECT_TRUE(check_command("$cmd arg", compound_ok()).has_value());
  EXPECT_TRUE(check_command("$cmd arg", shell_only()).has_value());
}

TEST(ShellPolicy, WrapperMustBeAllowlistedAndThenTrustsItsArguments) {
  // Documented: wrappers are not looked through.
  EXPECT_TRUE(check_command("env rm -rf x", compound_ok({"env", "git"})).has_value());
  EXPECT_FALSE(check_command("env git", compound_ok({"git"})).has_value());
}

TEST(ShellPolicy, GrantsExtendANonEmptyAllowlistForOneCall) {
  const ShellPolicy git_only = compound_ok({"git"});
  EXPECT_FALSE(check_command("ls -la", git_only).has_value());
  auto granted = check_command("ls -la && git status", git_only, {"ls"});
  EXPECT_TRUE(granted.has_value()) << (granted ? "" : granted.error().message);
  // The grant does not persist.
  EXPECT_FALSE(check_command("ls -la", git_only).has_value());
  // Denials list policy + grants, deduplicated, in order.
  auto r = check_command("rm x", git_only, {"ls", "git", "", "ls", "cat"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(dump(*find(r.error().details, "allowed")), "[\"git\",\"ls\",\"cat\"]");
  EXPECT_EQ(get_string_or(r.error().details, "command", ""), "rm");
}

TEST(ShellPolicy, GrantsNeverRestrictAnUnrestrictedPolicy) {
  // PyFlue bug (§13.3 item 10): a grant turned "any command" into "only the granted ones".
  const ShellPolicy unrestricted = compound_ok();
  for (std::string_view text : {"rm -rf x", "python x.py | wc", "$cmd"}) {
    EXPECT_TRUE(check_command(text, unrestricted, {"ls"}).has_value()) << text;
  }
  const ShellPolicy simple_only = shell_only();
  EXPECT_TRUE(check_command("rm -rf x", simple_only, {"ls"}).has_value());
  // Grants do not relax the compound rule either.
  EXPECT_FALSE(check_command("ls; ls", simple_only, {"ls"}).has_value());
}

TEST(ShellPolicy, EmptyCommandAndAssignmentsOnly) {
  const ShellPolicy git_only = compound_ok({"git"});
  auto r = check_command("", git_only);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->commands.empty());
  EXPECT_TRUE(check_command("FOO=1", git_only).has_value());
  EXPECT_FALSE(check_command("FOO=$(rm x)", git_only).has_value());
}

TEST(ShellPolicy, UnparseableCommandsAreRefusedWithTheOffset) {
  for (const ShellPolicy& policy : {shell_only(), compound_ok(), compound_ok({"git"})}) {
    auto r = check_command("git commit -m 'oops", policy);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().type, ErrorType::invalid_input);
    EXPECT_EQ(get_string_or(r.error().details, "rule", ""), "shell_syntax");
    EXPECT_EQ(get_int(r.error().details, "offset").value_or(-1), 14);
  }
}

TEST(ShellPolicy, CommandBasename) {
  EXPECT_EQ(command_basename("git"), "git");
  EXPECT_EQ(command_basename("/usr/bin/git"), "git");
  EXPECT_EQ(command_basename("./git"), "git");
  EXPECT_EQ(command_basename("dir/"), "");
}

}  // namespace
}  // namespace cppflue
