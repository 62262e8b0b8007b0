// SPDX-License-Identifier: Apache-2.0
// Differential test of the policy parser against the real /bin/sh: every input the parser
// accepts is run by /bin/sh under `strace -f -e trace=execve`, and every program that really
// started must be a command word the parser reported (the allowlist is checked against those
// words, so a program the parser did not see is a policy bypass). The corpus is a hand-written
// set covering the constructs of the POSIX shell grammar and the review's bypasses, plus
// inputs generated from tricky fragments (quotes, escapes, line continuations, expansions,
// operators, heredocs, keywords, odd blanks); CPPFLUE_DIFF_INPUTS sets how many (default 5000).
// Each input runs in a bubblewrap sandbox where everything but a scratch folder is read-only.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "cppflue/core/json.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/sandbox/shell_parse.hpp"
#include "cppflue/sandbox/shell_policy.hpp"
#include "cppflue/sandbox/subprocess.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kHandWritten = {
    // Simple commands, words, quoting, escapes.
    "id",
    "/usr/bin/id -u",
    "ls -la",
    "echo a b",
    "echo 'a;b'",
    "echo \"a && b\"",
    "echo a\\;id",
    "echo \\$(id)",
    "echo '$(id)'",
    "echo \"\\$(id)\"",
    "x=1 id",
    "x=$(id) ls",
    "echo \"`id`\"",
    "echo \"'`id`'\"",
    "echo ${x:-'$(id)'}",
    "echo \"${x:-'$(id)'}\"",
    "echo ${x:-\\}}$(id)",
    // Lists, pipelines, and-or, background, subshells, groups.
    "id; ls",
    "id && ls",
    "id || ls",
    "id | wc -l",
    "id & ls",
    "(id)",
    "{ id; }",
    "! id",
    "id;ls;uname",
    "(id; (ls))",
    "{ id && { ls; }; }",
    // Redirections and heredocs.
    "id > out",
    "id 2>&1 >out",
    "cat < /dev/null",
    "cat <<EOF\n$(id)\nEOF",
    "cat <<'EOF'\n$(id)\nEOF",
    "cat <<-EOF\n\t`ls`\n\tEOF",
    "cat <<EOF; id\nx\nEOF",
    // Expansions.
    "echo $((1+2))",
    "echo $((1+$(id)))",
    "echo ${#x} ${x%y} ${x#y} ${x:=z}",
    "echo $(id)",
    "echo `uname`",
    "echo $(echo $(id))",
    "$(echo id)",
    "`echo id`",
    // Compound commands and functions.
    "if id; then ls; fi",
    "if id; then ls; elif uname; then id; else ls; fi",
    "for x in a b; do id; done",
    "while false; do id; done",
    "until id; do ls; done",
    "case x in x) id;; *) ls;; esac",
    "f() { id; }; f",
    "f() ( ls ); f",
    // Comments, blanks.
    "id # ; ls",
    "id#;ls",
    "echo x#;touch X",
    "id\tls",
    "id\n ls",
    "echo\ttouch",
    // The review's bypasses (A9) and their neighbours.
    "echo $'\\' ; touch PWNED_1 ; id # '",
    "echo \"$\\\n(touch PWNED_2)\"",
    "echo ${x:-$\\\n(touch PWNED_3)}",
    "echo $\\\n(touch X)",
    "echo $'a\\' ; touch X ; echo '",
    "echo \"$'\" ; touch X ; echo \"'\"",
    "echo $\"$(id)\"",
    "echo \"$\"'(id)'",
    "echo \"${x\\\n:-$(id)}\"",
    "ls \\\n;id",
    "l\\\ns",
    "ls\\\nid",
    "echo \"`\\\ntouch X`\"",
    std::string("/usr/bin/id\0/echo", 17),
    "ls $'\\x3b' id",
    "ls\r;id",
    "ls\v;id",
};

const std::vector<std::string> kFragments = {
    "echo", "id",   "ls",     "uname", "touch P", "cat",      "wc -l", "/usr/bin/id", " ",
    " ",    " ",    "\t",     ";",     "&&",      "||",       "|",     "&",           "\n",
    "'",    "'",    "\"",     "\"",    "\\",      "\\\\",     "$",     "$(",          "(",
    ")",    ")",    "`",      "${x:-", "${x#",    "}",        "{",     "}",           "#",
    "$'",   "$\"",  "<<",     "<<-",   "EOF",     "'EOF'",    ">",     "<",           "2>&1",
    "$((",  "))",   "x=1",    "a",     "b c",     "\\\n",     "*",     "?",           "[",
    "]",    "!",    "if",     "then",  "fi",      "for",      "in",    "do",          "done",
    "case", "esac", "while",  "\r",    "\v",      "\xc2\xa0", "~",     ":",           "=",
    "f()",  "$x",   "\"$x\"", "'a;b'", "\"a|b\"",
};

std::vector<std::string> corpus(std::size_t generated) {
  std::vector<std::string> out = kHandWritten;
  std::mt19937 rng(20261206);
  std::uniform_int_distribution<std::size_t> pick(0, kFragments.size() - 1);
  std::uniform_int_distribution<int> length(1, 10);
  for (std::size_t i = 0; i < generated; ++i) {
    std::string s = "id ";
    for (int k = length(rng); k > 0; --k) s += kFragments[pick(rng)];
    out.push_back(std::move(s));
  }
  return out;
}

// The programs that successfully started, from `strace -f -o` output, without the first one
// (/bin/sh itself).
std::vector<std::string> started_programs(const std::string& trace) {
  std::vector<std::string> out;
  std::istringstream in(trace);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    auto at = line.find("execve(\"");
    if (at == std::string::npos || line.find(") = 0") == std::string::npos) continue;
    auto begin = at + 8;
    auto end = line.find('"', begin);
    if (end == std::string::npos) continue;
    if (first) {
      first = false;
      continue;
    }
    out.push_back(std::string(command_basename(line.substr(begin, end - begin))));
  }
  return out;
}

Result<SubprocessResult> run(SubprocessOptions o) {
  return boost::asio::co_spawn(Runtime::shared()->executor(), run_subprocess(o, CancelToken{}),
                               boost::asio::use_future)
      .get();
}

TEST(ShellDifferential, PolicyParserSeesEveryProgramShRuns) {
  auto strace = find_executable("strace", "/usr/bin:/bin");
  if (!strace) GTEST_SKIP() << "strace is not installed (Debian: apt-get install strace)";
  auto bwrap = find_executable("bwrap", "/usr/bin:/bin");
  if (!bwrap) GTEST_SKIP() << "bubblewrap is not installed";
  std::size_t generated = 5000;
  if (const char* n = std::getenv("CPPFLUE_DIFF_INPUTS")) generated = std::strtoul(n, nullptr, 10);
  TempDir dir;
  const std::string scratch = dir.path().string();
  const std::string trace_file = (dir.path() / "trace").string();
  std::size_t refused = 0, traced = 0;
  std::vector<std::string> differences;
  auto inputs = corpus(generated);
  for (const auto& input : inputs) {
    auto parsed = parse_shell(input);
    bool unknowable = false;
    std::set<std::string> seen;
    if (parsed) {
      for (const auto& c : parsed->commands) {
        if (c.command_is_expansion) unknowable = true;
        if (!c.words.empty()) seen.insert(std::string(command_basename(c.words.front())));
      }
    }
    // What the policy refuses (unparseable, or a command word it cannot know) never runs.
    if (!parsed || unknowable) {
      ++refused;
      continue;
    }
    SubprocessOptions o;
    // Generated inputs can redirect into any path ("> /usr/bin/id"): the shell runs with the
    // whole filesystem read-only but for the scratch folder, without network, capabilities or
    // a way to outlive the test.
    o.argv = {*bwrap,
              "--ro-bind",
              "/",
              "/",
              "--dev",
              "/dev",
              "--proc",
              "/proc",
              "--tmpfs",
              "/tmp",
              "--bind",
              scratch,
              scratch,
              "--chdir",
              scratch,
              "--unshare-all",
              "--cap-drop",
              "ALL",
              "--die-with-parent",
              "--new-session",
              "--",
              *strace,
              "-f",
              "-qq",
              "-e",
              "trace=execve",
              "-e",
              "signal=none",
              "-o",
              trace_file,
              "/bin/sh",
              "-c",
              input};
    o.env = {"PATH=/usr/bin:/bin", "HOME=" + dir.path().string()};
    o.cwd = dir.path().string();
    o.timeout = std::chrono::seconds(10);
    auto r = run(o);
    ASSERT_TRUE(r) << r.error().message;
    ++traced;
    for (const auto& program : started_programs(read_file(trace_file))) {
      if (!seen.count(program)) {
        differences.push_back(dump(json(input)) + " → ran " + program);
      }
    }
  }
  std::cout << "[ differential ] " << inputs.size() << " inputs: " << refused << " refused, "
            << traced << " run under strace, " << differences.size() << " differences\n";
  EXPECT_GE(inputs.size(), 5000u);
  EXPECT_GT(traced, inputs.size() / 10);
  EXPECT_TRUE(differences.empty()) << differences.size() << " differences, e.g. "
                                   << (differences.empty() ? "" : differences.front());
  for (std::size_t i = 0; i < differences.size() && i < 20; ++i) {
    ADD_FAILURE() << "difference: " << differences[i];
  }
}

}  // namespace
