// SPDX-License-Identifier: Apache-2.0
// The secret-leak table: a granted secret re-encoded by commands (reversed, base64, hex, cut),
// copied into the workspace and read back by a later call without the grant, and the literal
// secrets and provider keys of a project's cppflue.toml. No raw value may reach the history in
// state.db, the events, or what the model is sent; `cppflue sessions scrub` removes values from
// an existing store.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "cppflue/cppflue.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "cppflue/sandbox/subprocess.hpp"
#include "cppflue/store/store.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
namespace fs = std::filesystem;

namespace {

constexpr const char* kToken = "ghp-RT-very-secret-ABCDEF123456";
constexpr const char* kLiteral = "ghp-LITERAL-secret-777777";
constexpr const char* kProviderKey = "sk-LITERAL-provider-key-888888";

// Everything CppFlue wrote under .cppflue (the database, its WAL), as bytes.
std::string stored_bytes(const fs::path& project) {
  std::string all;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(project / ".cppflue", ec)) {
    if (e.is_regular_file(ec) && e.path().filename().string().rfind("state.db", 0) == 0) {
      all += read_file(e.path());
    }
  }
  return all;
}

// The secret and the forms the commands below produce of it.
std::vector<std::string> forms(const std::string& s) {
  std::string reversed(s.rbegin(), s.rend());
  return {s, reversed, s.substr(1), "Z2hwLVJULXZlcnktc2VjcmV0LUFCQ0RFRjEyMzQ1Ng",
          "6768702d52542d766572792d736563726574"};
}

class Secrets : public ::testing::Test {
 protected:
  void SetUp() override {
    project_ = dir_.path() / "project";
    fs::create_directories(project_);
    ::setenv("RT_TOKEN", kToken, 1);
  }
  void TearDown() override { ::unsetenv("RT_TOKEN"); }

  // An agent whose offline model calls bash with each command, then echoes the tool results.
  Agent agent_running(const std::vector<std::string>& commands, const std::string& extra = "") {
    json_array calls;
    for (const auto& c : commands) {
      calls.push_back(json_object{{"name", "bash"}, {"arguments", json_object{{"command", c}}}});
    }
    json script =
        json_object{{"turns", json_array{json_object{{"text", "running"}, {"tool_calls", calls}},
                                         json_object{{"text", "results: {{tool_result}}"}}}}};
    write_file(dir_.path() / "script.json", dump(script));
    write_file(project_ / "cppflue.toml", "[secrets]\ntok = { env = \"RT_TOKEN\" }\n" + extra);
    InitOptions o{.allow_shell = true, .allow_compound_commands = true};
    o.model = "test:" + (dir_.path() / "script.json").string();
    o.root = project_.string();
    o.on_event = [this](const Event& e) {
      std::lock_guard lock(mu_);
      events_ += dump(e.data);
    };
    return init(std::move(o));
  }

  TempDir dir_;
  fs::path project_;
  std::mutex mu_;
  std::string events_;
};

TEST_F(Secrets, ReencodedAndCopiedSecretsNeverReachStorageEventsOrTheModel) {
  if (!jail_status().available) GTEST_SKIP() << jail_status().reason;
  auto a = agent_running({
      "printenv RT_TOKEN | rev",
      "printenv RT_TOKEN | base64",
      "echo ${RT_TOKEN#?}",
      "printenv RT_TOKEN | od -An -tx1 | tr -d ' \\n'",
      "printenv RT_TOKEN | cut -c2-",
      "cp /proc/self/environ envdump",
  });
  auto s = a.session("leak");
  PromptOptions granted;
  granted.secrets = {"tok"};
  auto first = s.prompt("go", granted);
  // A later prompt without the grant reads the copy back.
  auto b = agent_running({"tr '\\0' '\\n' < envdump | grep RT_TOKEN"});
  auto t = b.session("leak");
  auto second = t.prompt("again");
  std::string model_saw;
  for (const auto& m : t.history()) model_saw += m.text;
  std::string stored = stored_bytes(project_);
  for (const auto& f : forms(kToken)) {
    EXPECT_EQ(stored.find(f), std::string::npos) << "state.db holds " << f;
    EXPECT_EQ(events_.find(f), std::string::npos) << "events hold " << f;
    EXPECT_EQ(model_saw.find(f), std::string::npos) << "the model saw " << f;
    EXPECT_EQ(first.text.find(f), std::string::npos) << f;
    EXPECT_EQ(second.text.find(f), std::string::npos) << f;
  }
  EXPECT_NE(model_saw.find("[REDACTED:tok]"), std::string::npos) << model_saw;
}

TEST_F(Secrets, ProjectConfigurationSecretsAreNeitherReadableNorStored) {
  if (!jail_status().available) GTEST_SKIP() << jail_status().reason;
  std::string extra = std::string("gh = { value = \"") + kLiteral +
                      "\" }\n[sandbox]\nworkspace = \".\"\n[providers.mine]\napi = "
                      "\"openai-chat\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"" +
                      kProviderKey + "\"\n";
  give_to_jail_user(project_);
  auto a =
      agent_running({"cat cppflue.toml", "cat .env; ls -la", "grep -r LITERAL . || true"}, extra);
  auto s = a.session("cfg");
  auto r = s.prompt("go");
  EXPECT_THROW(s.read_file("cppflue.toml"), Exception);
  std::string stored = stored_bytes(project_);
  for (const char* v : {kLiteral, kProviderKey}) {
    EXPECT_EQ(stored.find(v), std::string::npos) << v;
    EXPECT_EQ(events_.find(v), std::string::npos) << v;
    EXPECT_EQ(r.text.find(v), std::string::npos) << v;
  }
}

TEST_F(Secrets, ASecretInTheUsersOwnPromptIsNeitherStoredNorSentBack) {
  // Not only tool results: the user's text (and whatever the model echoes of it) is redacted
  // before it is stored or kept for the next model call.
  write_file(project_ / "cppflue.toml", "[secrets]\ntok = { env = \"RT_TOKEN\" }\n");
  InitOptions o;
  o.model = "test:echo";
  o.root = project_.string();
  o.on_event = [this](const Event& e) {
    std::lock_guard lock(mu_);
    events_ += dump(e.data);
  };
  auto a = init(std::move(o));
  auto s = a.session("pasted");
  std::string reversed(kToken);
  std::reverse(reversed.begin(), reversed.end());
  auto r = s.prompt(std::string("deploy with ") + kToken + " (or " + reversed + ")");
  std::string history;
  for (const auto& m : s.history()) history += m.text;
  std::string stored = stored_bytes(project_);
  for (const std::string& f : {std::string(kToken), reversed}) {
    EXPECT_EQ(stored.find(f), std::string::npos) << "state.db holds " << f;
    EXPECT_EQ(events_.find(f), std::string::npos) << "events hold " << f;
    EXPECT_EQ(history.find(f), std::string::npos) << "history holds " << f;
    EXPECT_EQ(r.text.find(f), std::string::npos) << r.text;
  }
  EXPECT_NE(history.find("[REDACTED:tok]"), std::string::npos) << history;
}

TEST_F(Secrets, ScrubRemovesAValueFromAnExistingStore) {
  fs::create_directories(project_ / ".cppflue");
  write_file(project_ / "cppflue.toml", "[secrets]\ntok = { env = \"RT_TOKEN\" }\n");
  fs::path db = project_ / ".cppflue" / "state.db";
  {
    auto store = open_sqlite_store(db);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE((*store)->open_session("old", SessionInit{}));
    Entry e;
    e.kind = "message";
    e.role = "tool";
    e.content = json_object{{"role", "tool"}, {"text", std::string("token=") + kToken}};
    ASSERT_TRUE((*store)->append_entry("old", e));
  }
  ASSERT_NE(stored_bytes(project_).find(kToken), std::string::npos);
  SubprocessOptions o;
  o.argv = {CPPFLUE_BINARY, "sessions", "scrub", "--secret", "tok"};
  o.env = {"PATH=/usr/bin:/bin", std::string("RT_TOKEN=") + kToken};
  o.cwd = project_.string();
  auto run = [&](SubprocessOptions opts) {
    return boost::asio::co_spawn(Runtime::shared()->executor(),
                                 run_subprocess(std::move(opts), CancelToken{}),
                                 boost::asio::use_future)
        .get();
  };
  auto r = run(o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->stderr_text;
  EXPECT_NE(r->stdout_text.find("1 of"), std::string::npos) << r->stdout_text;
  EXPECT_EQ(stored_bytes(project_).find(kToken), std::string::npos);
  auto store = open_sqlite_store(db);
  ASSERT_TRUE(store);
  auto entries = (*store)->entries("old");
  ASSERT_TRUE(entries && entries->size() == 1);
  EXPECT_EQ(dump(entries->front().content).find("[REDACTED:tok]") != std::string::npos, true);
  // Bad invocations are clear errors.
  o.argv = {CPPFLUE_BINARY, "sessions", "scrub"};
  auto none = run(o);
  ASSERT_TRUE(none);
  EXPECT_NE(none->exit_code, 0);
  EXPECT_NE(none->stderr_text.find("--secret"), std::string::npos) << none->stderr_text;
  o.argv = {CPPFLUE_BINARY, "sessions", "scrub", "--secret", "nope"};
  auto unknown = run(o);
  ASSERT_TRUE(unknown);
  EXPECT_NE(unknown->stderr_text.find("unknown secret 'nope'"), std::string::npos);
  // --stdin keeps the value off the command line.
  o.argv = {CPPFLUE_BINARY, "sessions", "scrub", "--stdin"};
  o.stdin_data = "token=[REDACTED:tok]\n";
  auto piped = run(o);
  ASSERT_TRUE(piped);
  EXPECT_EQ(piped->exit_code, 0) << piped->stderr_text;
}

}  // namespace
