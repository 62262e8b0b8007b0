// SPDX-License-Identifier: Apache-2.0
// The server-side CLI commands: `routes`, `invoke` (local and --server), `logs` (the project's
// store and --server, with --follow) and `dev` (reloads on file changes, keeps connections).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "server/serve_util.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::serve_testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Ran = cppflue::testing::CliRun;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `binary args...` in `cwd` with a scrubbed provider environment.
Ran run_in(const fs::path& cwd, const std::vector<std::string>& args,
           const std::string& binary = CPPFLUE_BINARY) {
  return cppflue::testing::run_cli(
      cwd, args, {}, {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"}, binary);
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto parsed = parse_json(line);
    EXPECT_TRUE(parsed) << line;
    if (parsed) out.push_back(*parsed);
  }
  return out;
}

class CliRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path();
    write_helper_project(root_);
    cppflue::testing::write_file(
        root_ / ".agents/agents/quiet.md",
        "---\nname: quiet\ndescription: q\ntriggers:\n  webhook: false\n---\nShh.\n");
  }
  cppflue::testing::TempDir dir_;
  fs::path root_;
};

TEST_F(CliRoutesTest, RoutesListsAgentsAndWorkflows) {
  auto r = run_in(root_, {"routes"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto parsed = parse_json(r.out);
  ASSERT_TRUE(parsed) << r.out;
  const auto& agents = parsed->at("agents").as_array();
  ASSERT_EQ(agents.size(), 2u) << r.out;
  EXPECT_EQ(agents[0].at("name"), "helper");
  EXPECT_EQ(agents[0].at("path"), "/agents/helper/{agent_id}");
  EXPECT_EQ(agents[1].at("triggers").at("webhook"), false);
  EXPECT_TRUE(parsed->at("workflows").as_array().empty());
  // A compiled application also lists its workflows.
  auto app = run_in(root_, {"routes"}, CPPFLUE_TEST_APP);
  ASSERT_EQ(app.code, 0) << app.err;
  EXPECT_NE(app.out.find("\"/workflows/greet\""), std::string::npos) << app.out;
  // Bad project files are errors.
  cppflue::testing::write_file(root_ / ".agents/agents/bad.md", "---\nname: [oops\n---\nx\n");
  auto bad = run_in(root_, {"routes"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("bad.md"), std::string::npos) << bad.err;
}

TEST_F(CliRoutesTest, InvokeLocallyAndAgainstAServer) {
  auto r = run_in(root_,
                  {"invoke", "helper", "u1", "--payload", R"({"message":"hello","session":"s"})"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto parsed = parse_json(r.out);
  ASSERT_TRUE(parsed) << r.out;
  EXPECT_EQ(parsed->at("result").at("session_id"), "u1:s");
  EXPECT_FALSE(parsed->at("result").at("text").as_string().empty());
  EXPECT_NE(r.err.find("offline test model"), std::string::npos) << r.err;

  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& b : std::vector<Bad>{
           {{"invoke", "nobody"}, "Unknown route: nobody. Available routes: helper, quiet"},
           {{"invoke", "helper", "--payload", "{"}, "--payload is not valid JSON"},
           {{"invoke", "helper", "--payload", "[1]"}, "--payload must be a JSON object"},
           {{"invoke", "helper", "--payload", "{}"}, "needs a \"message\""},
           {{"invoke"}, "name is required"},
       }) {
    auto e = run_in(root_, b.args);
    EXPECT_EQ(e.code, 1) << b.message;
    EXPECT_NE(e.err.find(b.message), std::string::npos) << e.err;
  }

  ServeProcess server(root_);
  ASSERT_GT(server.port(), 0) << server.output();
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  auto remote = run_in(
      root_, {"invoke", "helper", "u2", "--server", url, "--payload", R"({"message":"hi"})"});
  ASSERT_EQ(remote.code, 0) << remote.err;
  auto body = parse_json(remote.out);
  ASSERT_TRUE(body) << remote.out;
  EXPECT_EQ(body->at("result").at("session_id"), "u2:default");
  auto refused =
      run_in(root_, {"invoke", "quiet", "--server", url, "--payload", R"({"message":"hi"})"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("agent_not_webhook"), std::string::npos) << refused.err;
}

TEST_F(CliRoutesTest, LogsFromTheStoreAndFromAServer) {
  ServeProcess server(root_, {}, {}, CPPFLUE_TEST_APP);
  ASSERT_GT(server.port(), 0) << server.output();
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  auto done = call(server.port(), "POST", "/workflows/greet?wait=result", R"({"name":"Ada"})");
  ASSERT_EQ(done.status, 200) << done.body;
  std::string id(done.json_body.at("run_id").as_string());

  // The project's store (the server writes the same database).
  auto local = run_in(root_, {"logs", id, "--format", "ndjson"}, CPPFLUE_TEST_APP);
  ASSERT_EQ(local.code, 0) << local.err;
  auto events = json_lines(local.out);
  ASSERT_GE(events.size(), 2u) << local.out;
  EXPECT_EQ(events.front().at("type"), "run_start");
  EXPECT_EQ(events.back().at("type"), "run_end");

  auto pretty = run_in(root_, {"logs", id}, CPPFLUE_TEST_APP);
  ASSERT_EQ(pretty.code, 0) << pretty.err;
  EXPECT_EQ(pretty.out.rfind("[1] ", 0), 0u) << pretty.out;
  for (const char* expected : {" run_start workflow=greet\n", " log info: greeting name=Ada\n",
                               " -> glob({\"pattern\":\"*\"})\n", " <- glob (",
                               " turn model=test:demo tokens in=", " run_end completed: "}) {
    EXPECT_NE(pretty.out.find(expected), std::string::npos) << expected << "\n" << pretty.out;
  }
  EXPECT_EQ(pretty.out.find("0E0"), std::string::npos) << pretty.out;

  auto remote =
      run_in(root_, {"logs", id, "--server", url, "--types", "run_end", "--format", "json"});
  ASSERT_EQ(remote.code, 0) << remote.err;
  auto list = parse_json(remote.out);
  ASSERT_TRUE(list && list->is_array()) << remote.out;
  ASSERT_EQ(list->as_array().size(), 1u);
  EXPECT_EQ(list->at(0).at("type"), "run_end");

  // --follow waits for a running run to end, locally and through the server.
  for (bool through_server : {false, true}) {
    auto started = call(server.port(), "POST", "/workflows/slow", R"({"steps":4,"ms":150})");
    ASSERT_EQ(started.status, 202) << started.body;
    std::string slow(started.json_body.at("run_id").as_string());
    std::vector<std::string> args = {"logs", slow, "--follow", "--format", "ndjson"};
    if (through_server) {
      args.push_back("--server");
      args.push_back(url);
    }
    auto followed = run_in(root_, args, CPPFLUE_TEST_APP);
    ASSERT_EQ(followed.code, 0) << followed.err;
    auto lines = json_lines(followed.out);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back().at("type"), "run_end") << followed.out;
    int logs = 0;
    for (const auto& l : lines) logs += l.at("type") == "log";
    EXPECT_EQ(logs, 4) << followed.out;
  }

  auto missing = run_in(root_, {"logs", "run_missing"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("run_missing"), std::string::npos);
  auto missing_remote = run_in(root_, {"logs", "run_missing", "--server", url});
  EXPECT_EQ(missing_remote.code, 1);
  EXPECT_NE(missing_remote.err.find("run_not_found"), std::string::npos) << missing_remote.err;
  auto bad_format = run_in(root_, {"logs", id, "--format", "xml"});
  EXPECT_EQ(bad_format.code, 1);
  EXPECT_NE(bad_format.err.find("--format"), std::string::npos);
}

// Reads one HTTP/1.1 response (Content-Length bodies) from a keep-alive socket.
Response read_one(int fd) {
  std::string raw;
  char buf[4096];
  for (int i = 0; i < 200; ++i) {
    auto end = raw.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string lower = raw.substr(0, end);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto at = lower.find("content-length: ");
      std::size_t length = at == std::string::npos ? 0 : std::stoul(lower.substr(at + 16));
      if (raw.size() >= end + 4 + length) return parse_response(raw.substr(0, end + 4 + length));
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  return parse_response(raw);
}

TEST_F(CliRoutesTest, DevReloadsAgentsWithoutDroppingConnections) {
  ServeProcess dev(root_, {"--poll", "0.1"}, {}, CPPFLUE_BINARY, "dev");
  ASSERT_GT(dev.port(), 0) << dev.output();
  EXPECT_NE(dev.output().find("/__cppflue"), std::string::npos) << dev.output();
  int fd = connect_to(dev.port());
  ASSERT_GE(fd, 0);
  const std::string get_agents = "GET /agents HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(send_all(fd, get_agents));
  auto before = read_one(fd);
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.json_body.at("agents").as_array().size(), 2u);

  // A new agent appears, and instructions edits reach new instances.
  cppflue::testing::write_file(root_ / ".agents/agents/second.md",
                               "---\nname: second\ndescription: two\n---\nYou are second.\n");
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(50ms);
    seen = dev.output().find("reloaded (3 agent(s))") != std::string::npos;
  }
  ASSERT_TRUE(seen) << dev.output();
  ASSERT_TRUE(send_all(fd, get_agents)) << "the connection survived the reload";
  auto after = read_one(fd);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.json_body.at("agents").as_array().size(), 3u) << after.body;
  ::close(fd);
  auto prompt = call(dev.port(), "POST", "/agents/second/x", R"({"message":"hi"})");
  EXPECT_EQ(prompt.status, 200) << prompt.body;

  // A broken agent file is reported and answers its problem, with file and line; every other
  // agent keeps answering 200.
  auto wait_for = [&dev](const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (dev.output().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  auto error_of = [](const Response& r) {
    const json* e = find(r.json_body, "error");
    return e ? std::string(get_string_or(*e, "type", "")) + ": " + get_string_or(*e, "message", "")
             : r.body;
  };
  cppflue::testing::write_file(root_ / ".agents/agents/broken.md", "---\nname: [x\n---\nx\n");
  ASSERT_TRUE(wait_for("reloaded (4 agent(s), 1 problem(s))")) << dev.output();
  // yaml-cpp places an unclosed [ at the line where it gave up looking for the ].
  EXPECT_NE(dev.output().find(".agents/agents/broken.md:3: invalid YAML frontmatter"),
            std::string::npos)
      << dev.output();
  EXPECT_EQ(call(dev.port(), "POST", "/agents/second/x", R"({"message":"hi"})").status, 200);
  auto unparsable = call(dev.port(), "POST", "/agents/broken/x", R"({"message":"hi"})");
  EXPECT_EQ(unparsable.status, 500) << unparsable.body;
  EXPECT_EQ(error_of(unparsable).rfind("agent_invalid: ", 0), 0u) << unparsable.body;
  EXPECT_NE(unparsable.body.find(".agents/agents/broken.md:3: invalid YAML"), std::string::npos)
      << unparsable.body;
  EXPECT_EQ(unparsable.body.find(root_.string()), std::string::npos)
      << "paths are relative to the project: " << unparsable.body;

  // The key typo of a real user: parses, but names a key that does not exist.
  cppflue::testing::write_file(root_ / ".agents/agents/broken.md",
                               "---\nname: broken\ndescripton: reviews\n---\nYou review.\n");
  ASSERT_TRUE(wait_for("did you mean 'description'?")) << dev.output();
  for (const char* agent : {"/agents/second/y", "/agents/broken/y"}) {
    auto r = call(dev.port(), "POST", agent, R"({"message":"hi"})");
    if (std::string(agent) == "/agents/second/y") {
      EXPECT_EQ(r.status, 200) << r.body;
    } else {
      EXPECT_EQ(r.status, 500) << r.body;
      EXPECT_NE(error_of(r).find(".agents/agents/broken.md:3: unknown key 'descripton'"),
                std::string::npos)
          << r.body;
    }
  }
  auto status = call(dev.port(), "GET", "/__cppflue/status");
  ASSERT_EQ(status.status, 200) << status.body;
  const auto& problems = status.json_body.at("problems").as_array();
  ASSERT_EQ(problems.size(), 1u) << status.body;
  EXPECT_NE(std::string(problems[0].as_string()).find("broken.md:3"), std::string::npos);
  EXPECT_EQ(call(dev.port(), "GET", "/agents").json_body.at("agents").as_array().size(), 4u);

  // Fixing the file brings it back.
  cppflue::testing::write_file(root_ / ".agents/agents/broken.md",
                               "---\nname: broken\ndescription: reviews\n---\nYou review.\n");
  ASSERT_TRUE(wait_for("reloaded (4 agent(s))\n")) << dev.output();
  auto fixed = call(dev.port(), "POST", "/agents/broken/z", R"({"message":"hi"})");
  EXPECT_EQ(fixed.status, 200) << fixed.body;
  EXPECT_TRUE(
      call(dev.port(), "GET", "/__cppflue/status").json_body.at("problems").as_array().empty());
  EXPECT_EQ(dev.stop(), 0);
}

// `serve` reads the files once: a skill broken after the start is found when an agent is built,
// and answered as agent_invalid naming the file relative to the project; a configuration error
// about the machine (a missing workspace folder) stays an internal_error.
TEST_F(CliRoutesTest, AFileBrokenAfterTheStartIsNamedRelativeToTheProject) {
  ServeProcess serve(root_);
  ASSERT_GT(serve.port(), 0) << serve.output();
  EXPECT_EQ(call(serve.port(), "POST", "/agents/helper/a", R"({"message":"hi"})").status, 200);
  cppflue::testing::write_file(root_ / ".agents/skills/sort.md", "---\ndescripton: x\n---\nS.\n");
  auto broken = call(serve.port(), "POST", "/agents/helper/b", R"({"message":"hi"})");
  EXPECT_EQ(broken.status, 500) << broken.body;
  const json* error = find(broken.json_body, "error");
  ASSERT_NE(error, nullptr) << broken.body;
  EXPECT_EQ(get_string_or(*error, "type", ""), "agent_invalid") << broken.body;
  EXPECT_EQ(get_string_or(*error, "message", "")
                .rfind("Agent \"helper\" cannot run: .agents/skills/sort.md:2: unknown key", 0),
            0u)
      << broken.body;
  const json* details = find(*error, "details");
  ASSERT_NE(details, nullptr) << broken.body;
  EXPECT_EQ(get_string_or(*details, "file", ""), ".agents/skills/sort.md") << broken.body;
  EXPECT_EQ(broken.body.find(root_.string()), std::string::npos) << broken.body;
  std::filesystem::remove(root_ / ".agents/skills/sort.md");

  // A workspace folder that disappears: a configuration error about this machine.
  cppflue::testing::write_file(root_ / "cppflue.toml",
                               "[agent]\nmodel = \"test:demo\"\n[sandbox]\nworkspace = \"ws\"\n");
  std::filesystem::create_directories(root_ / "ws");
  ServeProcess second(root_);
  ASSERT_GT(second.port(), 0) << second.output();
  std::filesystem::remove_all(root_ / "ws");
  auto hidden = call(second.port(), "POST", "/agents/helper/c", R"({"message":"hi"})");
  EXPECT_EQ(hidden.status, 500) << hidden.body;
  EXPECT_NE(hidden.body.find("internal_error"), std::string::npos) << hidden.body;
  EXPECT_EQ(hidden.body.find(root_.string()), std::string::npos) << hidden.body;
}

// In project mode with protect_config = false the agents can write their own definitions: dev
// reports such changes instead of loading them, unless started with --allow-agent-edits.
TEST_F(CliRoutesTest, DevDoesNotLoadWhatAgentsCouldHaveWritten) {
  std::string toml = slurp(root_ / "cppflue.toml");
  cppflue::testing::write_file(root_ / "cppflue.toml",
                               toml + "\n[sandbox]\nworkspace = \".\"\nprotect_config = false\n");
  auto wait_for = [](ServeProcess& p, const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (p.output().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  {
    ServeProcess dev(root_, {"--poll", "0.1"}, {}, CPPFLUE_BINARY, "dev");
    ASSERT_GT(dev.port(), 0) << dev.output();
    EXPECT_NE(dev.output().find("may be an agent's edits"), std::string::npos) << dev.output();
    cppflue::testing::write_file(root_ / ".agents/agents/planted.md",
                                 "---\nname: planted\ndescription: p\n---\nHi.\n");
    ASSERT_TRUE(wait_for(dev, "not reloaded (restart cppflue dev")) << dev.output();
    EXPECT_EQ(call(dev.port(), "GET", "/agents").json_body.at("agents").as_array().size(), 2u);
    EXPECT_EQ(dev.stop(), 0);
  }
  {
    ServeProcess dev(root_, {"--poll", "0.1", "--allow-agent-edits"}, {}, CPPFLUE_BINARY, "dev");
    ASSERT_GT(dev.port(), 0) << dev.output();
    EXPECT_EQ(dev.output().find("may be an agent's edits"), std::string::npos) << dev.output();
    EXPECT_EQ(call(dev.port(), "GET", "/agents").json_body.at("agents").as_array().size(), 3u);
    cppflue::testing::write_file(root_ / ".agents/agents/more.md",
                                 "---\nname: more\ndescription: m\n---\nHi.\n");
    ASSERT_TRUE(wait_for(dev, "reloaded (4 agent(s))")) << dev.output();
    EXPECT_EQ(dev.stop(), 0);
  }
}

}  // namespace

namespace {

// The port of the n-th (0-based) "listening on" line of `output`, or 0.
int nth_port(const std::string& output, int n) {
  std::size_t at = 0;
  for (int i = 0; i <= n; ++i) {
    at = output.find("listening on http://", at);
    if (at == std::string::npos) return 0;
    if (i < n) at += 20;
  }
  auto colon = output.find(':', at + 20);
  auto eol = output.find('\n', colon);
  if (colon == std::string::npos || eol == std::string::npos) return 0;
  return std::stoi(output.substr(colon + 1, eol - colon - 1));
}

TEST_F(CliRoutesTest, DevRebuildsAndRestartsACompiledApplication) {
  cppflue::testing::write_file(root_ / "src/app.cpp", "// v1\n");
  // A stand-in for `cmake --build`: fails until the file `ok` exists.
  ServeProcess dev(root_,
                   {"--poll", "0.1", "--build-command", "test -f ok && echo built >> built.log"},
                   {}, CPPFLUE_TEST_APP, "dev");
  ASSERT_GT(dev.port(), 0) << dev.output();
  EXPECT_NE(dev.output().find("rebuilds with: test -f ok"), std::string::npos) << dev.output();
  pid_t pid = dev.pid();

  // Up to 30 s: under a sanitizer and a parallel suite, a rebuild plus a re-exec can take over
  // the 10 s this used to allow.
  auto wait_for = [&](const std::string& text, int occurrences = 1) {
    for (int i = 0; i < 600; ++i) {
      std::string out = dev.output();
      int count = 0;
      for (auto at = out.find(text); at != std::string::npos; at = out.find(text, at + 1)) ++count;
      if (count >= occurrences) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  // A failing build keeps the running one.
  cppflue::testing::write_file(root_ / "src/app.cpp", "// v2, longer\n");
  ASSERT_TRUE(wait_for("the build failed")) << dev.output();
  EXPECT_EQ(call(dev.port(), "GET", "/health").status, 200);

  // A successful build restarts the same process on the new binary.
  cppflue::testing::write_file(root_ / "ok", "");
  cppflue::testing::write_file(root_ / "src/app.cpp", "// v3, longer still\n");
  ASSERT_TRUE(wait_for("rebuilt; restarting")) << dev.output();
  ASSERT_TRUE(wait_for("listening on http://", 2)) << dev.output();
  int port = nth_port(dev.output(), 1);
  ASSERT_GT(port, 0) << dev.output();
  EXPECT_TRUE(dev.alive());
  EXPECT_EQ(dev.pid(), pid) << "re-executed in place";
  auto workflows = call(port, "POST", "/workflows/greet?wait=result", R"({"name":"Ada"})");
  EXPECT_EQ(workflows.status, 200) << workflows.body;
  EXPECT_NE(slurp(root_ / "built.log").find("built"), std::string::npos);
  EXPECT_EQ(dev.stop(), 0) << dev.output();
}

}  // namespace
