// SPDX-License-Identifier: Apache-2.0
// Checking a project as a whole (project_check.hpp): every file read on its own, agents checked
// against what they name, problems with file, line and the closest valid name; and the agents
// without a problem staying usable next to a broken one.
#include <gtest/gtest.h>

#include <algorithm>

#include "cppflue/core/config.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/project_check.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
namespace fs = std::filesystem;

namespace {

class ProjectCheckTest : public ::testing::Test {
 protected:
  void write(const std::string& rel, const std::string& text) {
    write_file(dir_.path() / rel, text);
  }
  ProjectCheck check(const std::string& toml = "") {
    write("cppflue.toml", toml);
    auto config = discover_config(dir_.path() / "cppflue.toml", dir_.path());
    EXPECT_TRUE(config) << config.error().message;
    return check_project(*config);
  }
  std::string file(const std::string& rel) const { return (dir_.path() / rel).string(); }

  // The one problem of `name`, which must start with "<file>:<line>: " and hold every part.
  static void expect_problem(const ProjectCheck& c, const std::string& kind,
                             const std::string& name, const std::string& file, int line,
                             std::initializer_list<std::string> parts) {
    auto it = std::find_if(c.problems.begin(), c.problems.end(), [&](const ProjectProblem& p) {
      return p.kind == kind && p.name == name;
    });
    ASSERT_NE(it, c.problems.end()) << "no problem for " << kind << " " << name;
    EXPECT_EQ(it->file.string(), file);
    EXPECT_EQ(it->line, line) << it->error.message;
    EXPECT_EQ(it->error.type, ErrorType::config_error);
    const std::string prefix = file + ":" + std::to_string(line) + ": ";
    EXPECT_EQ(it->error.message.rfind(prefix, 0), 0u) << it->error.message;
    for (const auto& part : parts) {
      EXPECT_NE(it->error.message.find(part), std::string::npos)
          << "'" << part << "' not in: " << it->error.message;
    }
  }

  TempDir dir_;
};

TEST_F(ProjectCheckTest, AGoodProjectHasNoProblems) {
  write(".agents/skills/triage.md",
        "---\ndescription: Sorts issues\ncompatibility: any\n---\nDo.\n");
  write(".agents/roles/reviewer.md", "---\nmodel: openai:gpt-5.5\n---\nReview.\n");
  write(".agents/agents/helper.md",
        "---\ndescription: Helps\nmodel: test:demo\nsandbox: virtual\n"
        "tools: [read, grep, bash, task]\nskills: [triage]\nsubagents: [other]\n---\nHelp.\n");
  write(".agents/agents/other.md", "---\ndescription: Other\n---\nOther.\n");
  auto c = check();
  EXPECT_TRUE(c.ok()) << (c.problems.empty() ? "" : c.problems.front().error.message);
  EXPECT_EQ(c.agents.size(), 2u);
  EXPECT_EQ(c.skills.items.at("triage").extra.at("compatibility"), json("any"))
      << "a key of another skill ecosystem is kept";
}

TEST_F(ProjectCheckTest, ABrokenAgentFileDoesNotHideTheOthers) {
  write(".agents/agents/good.md", "---\ndescription: fine\n---\nGood.\n");
  write(".agents/agents/bad.md", "---\ndescription: fine\ncolour: red\n---\nBad.\n");
  write(".agents/agents/ugly.md", "---\nname: [x\n---\n");
  write(".agents/agents/typo.md", "---\ndescripton: reviews\n---\nTypo.\n");
  auto c = check();
  EXPECT_EQ(c.agents.count("good"), 1u);
  EXPECT_EQ(c.problems.size(), 3u);
  expect_problem(c, "agent", "bad", file(".agents/agents/bad.md"), 3,
                 {"unknown key 'colour' in agent frontmatter", "known keys:"});
  expect_problem(c, "agent", "typo", file(".agents/agents/typo.md"), 2,
                 {"unknown key 'descripton'", "did you mean 'description'?"});
  auto ugly = c.agent_problem("ugly");
  ASSERT_NE(ugly, nullptr) << "an unparsable file is listed under its file's name";
  EXPECT_NE(ugly->error.message.find("invalid YAML"), std::string::npos) << ugly->error.message;
  EXPECT_EQ(c.agent_problem("good"), nullptr);

  // find_agent: the good one is found, a broken one answers its own problem.
  auto good = find_agent("good", dir_.path());
  EXPECT_TRUE(good) << good.error().message;
  auto bad = find_agent("bad", dir_.path());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bad.md:3"), std::string::npos) << bad.error().message;
  auto files = load_project_files(dir_.path());
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->agents.count("good"), 1u);
  EXPECT_EQ(files->problems.size(), 3u);
}

TEST_F(ProjectCheckTest, ABrokenFileDoesNotTakeTheNameOfAGoodOne) {
  write(".agents/agents/a-file.md", "---\nname: reviewer\ndescription: fine\n---\nGood.\n");
  write(".agents/agents/reviewer.md", "---\nname: [x\n---\n");
  auto c = check();
  EXPECT_EQ(c.problems.size(), 1u);
  EXPECT_EQ(c.agent_problem("reviewer"), nullptr)
      << "reviewer is defined by a-file.md; reviewer.md's problem is its own";
  EXPECT_EQ(c.shared_problem(), nullptr);
  auto found = find_agent("reviewer", dir_.path());
  EXPECT_TRUE(found) << found.error().message;
}

TEST_F(ProjectCheckTest, ToolsSkillsAndSubagentsMustExist) {
  write(".agents/skills/triage.md", "---\ndescription: ok\n---\nDo.\n");
  write(".agents/skills/broken.md", "---\ndescription: [x\n---\n");
  write(".agents/agents/tools.md", "---\ndescription: d\ntools:\n  - read\n  - bassh\n---\nT.\n");
  write(".agents/agents/mcp.md", "---\ntools: [mcp__nowhere__x]\n---\nM.\n");
  write(".agents/agents/skills.md", "---\n\nskills: [triag]\n---\nS.\n");
  write(".agents/agents/skill2.md", "---\nskills: [broken]\n---\nS.\n");
  write(".agents/agents/subs.md", "---\nsubagents: [ghost]\n---\nS.\n");
  write(".agents/agents/parent.md", "---\nsubagents: [tools]\n---\nP.\n");
  auto c = check();
  expect_problem(c, "agent", "tools", file(".agents/agents/tools.md"), 3,
                 {"tools: unknown tool 'bassh'", "did you mean 'bash'?", "available: "});
  expect_problem(c, "agent", "mcp", file(".agents/agents/mcp.md"), 2,
                 {"'mcp__nowhere__x' names no enabled MCP server", "enabled servers: none"});
  expect_problem(c, "agent", "skills", file(".agents/agents/skills.md"), 3,
                 {"unknown skill 'triag'", "did you mean 'triage'?"});
  expect_problem(c, "agent", "skill2", file(".agents/agents/skill2.md"), 2,
                 {"skill 'broken' is broken", "broken.md"});
  expect_problem(c, "agent", "subs", file(".agents/agents/subs.md"), 2,
                 {"subagents: unknown agent 'ghost'"});
  EXPECT_EQ(c.agent_problem("parent"), nullptr)
      << "a subagent that parses is usable as one (a task as it takes only its instructions, "
         "model and thinking level); its own problems are its own";
  EXPECT_NE(std::find_if(c.problems.begin(), c.problems.end(),
                         [](const ProjectProblem& p) { return p.kind == "skill"; }),
            c.problems.end())
      << "the broken skill is a problem of its own";
}

TEST_F(ProjectCheckTest, McpToolsOfAConfiguredServerAreAccepted) {
  write(".agents/agents/mcp.md", "---\ntools: [read, mcp__files__list]\n---\nM.\n");
  write(".agents/agents/half.md", "---\ntools: [mcp__files__]\n---\nM.\n");
  auto c = check("[mcp.servers.files]\ncommand = \"true\"\n");
  EXPECT_EQ(c.agent_problem("mcp"), nullptr);
  EXPECT_NE(c.agent_problem("half"), nullptr) << "a server name alone is no tool";
  auto search =
      check("[mcp]\nmode = \"search_execute\"\n[mcp.servers.files]\ncommand = \"true\"\n");
  EXPECT_NE(search.agent_problem("mcp"), nullptr)
      << "in search_execute mode the tools are mcp_search and mcp_execute";
}

TEST_F(ProjectCheckTest, ModelsAndSandboxesMustBeKnown) {
  write(".agents/agents/provider.md", "---\nmodel: opneai:gpt-5.5\n---\nP.\n");
  write(".agents/agents/shape.md", "---\nmodel: gpt-5.5\n---\nS.\n");
  write(".agents/agents/sandbox.md", "---\ndescription: d\nsandbox: virtaul\n---\nS.\n");
  write(".agents/agents/mine.md", "---\nmodel: mine:m\n---\nM.\n");
  write(".agents/roles/critic.md", "---\nmodel: nope:x\n---\nC.\n");
  auto c = check("[providers.mine]\napi = \"openai-chat\"\nbase_url = \"http://127.0.0.1:1/v1\"\n");
  expect_problem(c, "agent", "provider", file(".agents/agents/provider.md"), 2,
                 {"unknown provider 'opneai'", "did you mean 'openai'?"});
  expect_problem(c, "agent", "shape", file(".agents/agents/shape.md"), 2,
                 {"invalid model 'gpt-5.5': expected 'provider:model'"});
  expect_problem(c, "agent", "sandbox", file(".agents/agents/sandbox.md"), 3,
                 {"unknown sandbox 'virtaul'", "did you mean 'virtual'?"});
  expect_problem(c, "role", "critic", file(".agents/roles/critic.md"), 2,
                 {"unknown provider 'nope'"});
  EXPECT_EQ(c.agent_problem("mine"), nullptr) << "a provider of cppflue.toml is known";
}

TEST_F(ProjectCheckTest, SkillKeyTyposAreErrorsOtherKeysAreKept) {
  write(".agents/skills/one.md", "---\ndescripton: sorts\n---\nDo.\n");
  write(".agents/skills/two/SKILL.md", "---\ndescription: fine\nlicence: MIT\n---\nDo.\n");
  write(".agents/skills/three.md",
        "---\ndescription: fine\nversion: 2\ninput: x\nmeta: y\ndesc: z\n---\nDo.\n");
  auto c = check();
  expect_problem(c, "skill", "one", file(".agents/skills/one.md"), 2,
                 {"unknown key 'descripton' in skill frontmatter", "did you mean 'description'?"});
  expect_problem(c, "skill", "two", file(".agents/skills/two/SKILL.md"), 3,
                 {"did you mean 'license'?"});
  EXPECT_EQ(c.skills.items.count("three"), 1u);
  EXPECT_EQ(c.skills.items.at("three").extra.at("version"), json(2));
  EXPECT_EQ(c.skills.items.at("three").extra.as_object().size(), 4u)
      << "keys that only start like ours are another ecosystem's, not typos";
  ASSERT_NE(c.shared_problem(), nullptr) << "a broken skill stops every agent";
  EXPECT_FALSE(discover_skills(dir_.path() / ".agents/skills"))
      << "discover_skills still fails on the first problem";
}

}  // namespace
