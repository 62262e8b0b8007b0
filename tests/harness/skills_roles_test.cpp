// SPDX-License-Identifier: Apache-2.0
// Skills and roles in a running agent (docs/concepts/skills-and-roles.md), against the scripted
// fake provider: session.skill with argument validation and typed results, the catalogue and
// activate_skill, SKILL.md supporting files read through `read`, role precedence, bad project
// files.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <mutex>

#include "cppflue/cppflue.hpp"
#include "support/conversation.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"
#include "support/wire_script.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;

namespace triage {
struct Verdict {
  bool fix_applied = false;
  std::string summary;
  int priority = 0;
};
CPPFLUE_STRUCT(Verdict, fix_applied, summary, priority)
}  // namespace triage

namespace {

constexpr WireApi kApi = WireApi::openai_chat;

class Skills : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& root = dir_.path();
    write_file(root / ".agents/skills/triage.md", R"(---
description: Triage one issue and say whether a fix was applied.
input_schema:
  type: object
  properties:
    issue_number: {type: integer, minimum: 1}
    labels: {type: array, items: {type: string}}
  required: [issue_number]
  additionalProperties: false
---
Look at the issue and decide.
)");
    write_file(root / ".agents/skills/release-notes/SKILL.md", R"(---
description: Write release notes in the house style.
output_schema:
  type: object
  properties:
    notes: {type: string}
  required: [notes]
---
Write the release notes. Follow style.md.
)");
    write_file(root / ".agents/skills/release-notes/style.md", "Use short bullet points.\n");
    write_file(root / ".agents/skills/group/deep.md",
               "---\ndescription: nested\n---\nDeep skill.\n");
    write_file(root / ".agents/roles/reviewer.md", R"(---
description: Reviews code
model: fake:role-model
thinking_level: high
---
You review code strictly.
)");
  }

  Agent make_agent(InitOptions o = {}) {
    write_file(dir_.path() / "cppflue.toml",
               "[providers.fake]\napi = \"openai-chat\"\nbase_url = \"" + fake_.base_url() +
                   "/v1\"\napi_key = \"k\"\n[sandbox]\nisolation = \"none\"\n");
    if (o.model.empty()) o.model = "fake:agent-model";
    o.root = dir_.path().string();
    if (o.sandbox.empty()) o.sandbox = "none";
    o.retry = RetryPolicy{.max_attempts = 1};
    return init(std::move(o));
  }

  void reply(ScriptedTurn t) { fake_.enqueue_turn(kApi, t, false); }
  void reply_text(std::string text) { reply(text_turn(std::move(text))); }

  ConversationView view(std::size_t i) {
    auto r = fake_.requests().at(i);
    auto v = view_request(kApi, r.json_body, r.target);
    EXPECT_EQ(check_invariants(v), "");
    return v;
  }

  TempDir dir_;
  FakeProvider fake_;
};

TEST_F(Skills, SkillWithArgsAndTypedResult) {
  auto agent = make_agent();
  EXPECT_EQ(agent.skill_names(),
            (std::vector<std::string>{"release-notes", "triage"}));  // group/deep is by path
  reply_text(R"({"fix_applied":true,"summary":"patched the parser","priority":2})");
  auto s = agent.session("sk");
  triage::Verdict v = s.skill<triage::Verdict>(
      "triage", json_object{{"issue_number", 123}, {"labels", json_array{"bug"}}});
  EXPECT_TRUE(v.fix_applied);
  EXPECT_EQ(v.summary, "patched the parser");
  EXPECT_EQ(v.priority, 2);
  auto req = view(0);
  const std::string& text = req.items.at(0).text;
  EXPECT_NE(text.find("Look at the issue and decide."), std::string::npos) << text;
  EXPECT_NE(
      text.find("Arguments:\n{\n  \"issue_number\": 123,\n  \"labels\": [\n    \"bug\"\n  ]\n}"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("\"fix_applied\""), std::string::npos) << text;  // the result schema
  // The schema also went natively.
  auto body = fake_.requests().at(0).json_body;
  EXPECT_EQ(*find_path(body, "response_format/json_schema/schema"), schema_of<triage::Verdict>());
}

TEST_F(Skills, InvalidArgsNameThePathAndSendNothing) {
  auto agent = make_agent();
  auto s = agent.session("bad");
  try {
    s.skill("triage", json_object{{"issue_number", "123"}});
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::invalid_input);
    EXPECT_NE(e.error().message.find("/issue_number: expected integer, got string"),
              std::string::npos)
        << e.error().message;
  }
  try {
    s.skill("triage", json_object{{"issue_number", 1}, {"extra", true}});
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("extra"), std::string::npos) << e.error().message;
  }
  EXPECT_THROW(s.skill("triage", json_object{}), Exception);  // missing required
  try {
    s.skill("nope");
    FAIL();
  } catch (const Exception& e) {
    EXPECT_EQ(e.error().type, ErrorType::not_found);
    EXPECT_NE(e.error().message.find("available: release-notes, triage"), std::string::npos)
        << e.error().message;
  }
  // Path-form names are confined to .agents/skills.
  EXPECT_THROW(s.skill("../cppflue.toml.md"), Exception);
  EXPECT_THROW(s.skill("/etc/passwd.md"), Exception);
  EXPECT_EQ(fake_.request_count(), 0u);
  // ... and a nested skill loads by path.
  reply_text("deep done");
  EXPECT_EQ(s.skill("group/deep.md").text, "deep done");
  EXPECT_NE(view(0).items.at(0).text.find("Deep skill."), std::string::npos);
}

TEST_F(Skills, AsyncSkillValidatesThenRuns) {
  auto runtime = std::make_shared<Runtime>();
  auto agent = make_agent(InitOptions{.runtime = runtime});
  auto s = agent.session("async");
  EXPECT_THROW(
      {
        auto bad = boost::asio::co_spawn(runtime->executor(),
                                         s.async_skill("triage", json_object{}, PromptOptions{}),
                                         boost::asio::use_future);
        bad.get();
      },
      Exception);
  EXPECT_EQ(fake_.request_count(), 0u);
  reply_text("async done");
  auto fut = boost::asio::co_spawn(
      runtime->executor(),
      s.async_skill("triage", json_object{{"issue_number", 7}}, PromptOptions{}),
      boost::asio::use_future);
  EXPECT_EQ(fut.get().text, "async done");
}

TEST_F(Skills, OutputSchemaValidatesUntypedResult) {
  auto agent = make_agent();
  reply_text(R"({"note":"typo"})");
  reply_text(R"({"notes":"- faster"})");
  auto r = agent.session("rn").skill("release-notes");
  EXPECT_EQ(r.result, (json_object{{"notes", "- faster"}}));
  EXPECT_NE(view(1).items.back().text.find("notes"), std::string::npos);
}

TEST_F(Skills, ModelActivatesASkillAndReadsItsSupportingFile) {
  auto agent = make_agent(InitOptions{.sandbox = "virtual"});
  reply(calls_turn({tool_call("a1", "activate_skill", json_object{{"name", "release-notes"}})}));
  reply(calls_turn(
      {tool_call("r1", "read", json_object{{"path", "/.skills/release-notes/style.md"}}),
       tool_call("r2", "read", json_object{{"path", "/.skills/release-notes/../../x"}})}));
  reply_text("- Faster builds");
  auto r = agent.session("act").prompt("Write release notes for 1.2");
  EXPECT_EQ(r.text, "- Faster builds");
  auto first = view(0);
  // The catalogue is in the system prompt and activate_skill is offered.
  EXPECT_NE(first.system.find("- release-notes: Write release notes in the house style."),
            std::string::npos)
      << first.system;
  EXPECT_NE(std::find(first.tool_names.begin(), first.tool_names.end(), "activate_skill"),
            first.tool_names.end());
  auto second = view(1);
  const std::string& activated = second.items.at(2).text;
  EXPECT_NE(activated.find("Write the release notes. Follow style.md."), std::string::npos)
      << activated;
  EXPECT_NE(activated.find("/.skills/release-notes/style.md"), std::string::npos) << activated;
  auto third = view(2);
  EXPECT_NE(third.items.at(4).text.find("Use short bullet points."), std::string::npos)
      << third.items.at(4).text;
  EXPECT_EQ(third.items.at(5).text.find("[providers"), std::string::npos);
  EXPECT_NE(third.items.at(5).text.find("escapes"), std::string::npos) << third.items.at(5).text;
}

TEST_F(Skills, RolePrecedenceCallOverRoleOverConfig) {
  auto agent = make_agent();
  auto s = agent.session("roles");
  reply_text("a");
  s.prompt("plain");
  reply_text("b");
  s.prompt("as reviewer", PromptOptions{.role = "reviewer"});
  reply_text("c");
  s.prompt("as reviewer, call model",
           PromptOptions{.model = "fake:call-model", .thinking_level = "low", .role = "reviewer"});
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].json_body.at("model"), "agent-model");
  EXPECT_EQ(find(reqs[0].json_body, "reasoning_effort"), nullptr);
  EXPECT_EQ(view(0).system.find("You review code strictly."), std::string::npos);
  EXPECT_EQ(reqs[1].json_body.at("model"), "role-model");
  EXPECT_EQ(reqs[1].json_body.at("reasoning_effort"), "high");
  EXPECT_NE(view(1).system.find("Role: reviewer\nYou review code strictly."), std::string::npos);
  EXPECT_EQ(reqs[2].json_body.at("model"), "call-model");
  EXPECT_EQ(reqs[2].json_body.at("reasoning_effort"), "low");
  try {
    s.prompt("x", PromptOptions{.role = "ghost"});
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("unknown role or subagent 'ghost' (available: reviewer)"),
              std::string::npos)
        << e.error().message;
  }
  EXPECT_EQ(agent.role_names(), std::vector<std::string>{"reviewer"});
}

TEST_F(Skills, WorkspaceInstructionsAreAppended) {
  write_file(dir_.path() / "AGENTS.md", "Project rule.");
  write_file(dir_.path() / "ws/AGENTS.md", "Workspace rule.");
  write_file(dir_.path() / "cppflue.toml", "");
  auto agent = make_agent(InitOptions{.sandbox = local(dir_.path() / "ws")});
  reply_text("ok");
  agent.session("w").prompt("hi");
  auto sys = view(0).system;
  auto p = sys.find("Project rule.");
  auto w = sys.find("Workspace rule.");
  ASSERT_NE(p, std::string::npos) << sys;
  ASSERT_NE(w, std::string::npos) << sys;
  EXPECT_LT(p, w);
}

TEST_F(Skills, BadProjectFilesFailInitNamingFileAndLine) {
  write_file(dir_.path() / ".agents/skills/broken.md", "---\ndescription: [unclosed\n---\nx\n");
  try {
    make_agent();
    FAIL();
  } catch (const Exception& e) {
    // yaml-cpp notices the unclosed flow sequence where the frontmatter ends (line 3).
    EXPECT_NE(e.error().message.find("broken.md:3: invalid YAML"), std::string::npos)
        << e.error().message;
  }
  std::filesystem::remove(dir_.path() / ".agents/skills/broken.md");
  write_file(dir_.path() / ".agents/skills/other.md", "---\nname: triage\n---\nDuplicate.\n");
  try {
    make_agent();
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("other.md"), std::string::npos) << e.error().message;
    EXPECT_NE(e.error().message.find("triage.md"), std::string::npos) << e.error().message;
  }
  std::filesystem::remove(dir_.path() / ".agents/skills/other.md");
  write_file(dir_.path() / ".agents/roles/bad.md", "---\nthinking_level: 7\n---\nx\n");
  try {
    make_agent();
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(e.error().message.find("bad.md:2"), std::string::npos) << e.error().message;
  }
}

}  // namespace
