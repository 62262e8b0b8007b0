// SPDX-License-Identifier: Apache-2.0
// Broken project files on the command line: `doctor` and `routes` report them and exit 1, `run`
// and `chat` with a broken agent name its file and line, and the other agents still run.
#include <gtest/gtest.h>

#include <string>

#include "support/run_cli.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

using testing::CliRun;
using testing::contains;
using testing::TempDir;
using testing::write_file;

class ProjectProblemsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_.path() / "cppflue.toml", "");
    write_file(dir_.path() / ".agents/agents/helper.md", "---\ndescription: Helps\n---\nHelp.\n");
  }
  CliRun run(const std::vector<std::string>& args) {
    return testing::run_cli(
        dir_.path(), args, {},
        {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "CPPFLUE_MODEL"}, CPPFLUE_BINARY);
  }
  TempDir dir_;
};

TEST_F(ProjectProblemsTest, DoctorAndRoutesReportBrokenFilesAndFail) {
  auto fine = run({"doctor"});
  EXPECT_EQ(fine.code, 0) << fine.out << fine.err;
  EXPECT_TRUE(contains(fine.out, "1 Markdown agent(s) ready")) << fine.out;
  EXPECT_EQ(run({"routes"}).code, 0);

  write_file(dir_.path() / ".agents/agents/reviewer.md",
             "---\ndescription: Reviews\ntools: [read, grp]\n---\nReview.\n");
  write_file(dir_.path() / ".agents/skills/sort.md", "---\ndescripton: sorts\n---\nSort.\n");
  auto doctor = run({"doctor"});
  EXPECT_EQ(doctor.code, 1) << doctor.out << doctor.err;
  EXPECT_TRUE(contains(doctor.out, "2 problem(s)")) << doctor.out;
  EXPECT_TRUE(contains(doctor.out, "reviewer.md:3: tools: unknown tool 'grp'")) << doctor.out;
  EXPECT_TRUE(contains(doctor.out, "did you mean 'grep'?")) << doctor.out;
  EXPECT_TRUE(contains(doctor.out, "sort.md:2: unknown key 'descripton'")) << doctor.out;

  auto routes = run({"routes"});
  EXPECT_EQ(routes.code, 1) << routes.out << routes.err;
  EXPECT_TRUE(contains(routes.out, "\"problem\"")) << "the broken agent is listed: " << routes.out;
  EXPECT_TRUE(contains(routes.err, ".agents/agents/reviewer.md:3:")) << routes.err;
}

TEST_F(ProjectProblemsTest, RunNamesTheFileAndLineOfABrokenAgentAndTheOthersStillRun) {
  write_file(dir_.path() / ".agents/agents/reviewer.md",
             "---\ndescription: Reviews\n\nmodel: antropic:claude-sonnet-4-6\n---\nReview.\n");
  auto broken = run({"run", "--agent", "reviewer", "-p", "hi"});
  EXPECT_EQ(broken.code, 1) << broken.out << broken.err;
  EXPECT_TRUE(contains(broken.err, "reviewer.md:4: model: unknown provider 'antropic'"))
      << broken.err;
  EXPECT_TRUE(contains(broken.err, "did you mean 'anthropic'?")) << broken.err;

  auto other = run({"run", "--agent", "helper", "-m", "test:echo", "-p", "hi"});
  EXPECT_EQ(other.code, 0) << other.out << other.err;
  EXPECT_TRUE(contains(other.out, "You said: hi")) << other.out;

  write_file(dir_.path() / ".agents/agents/reviewer.md", "---\nname: [x\n---\n");
  auto unparsable = run({"chat", "--agent", "reviewer", "-m", "test:echo"});
  EXPECT_EQ(unparsable.code, 1);
  EXPECT_TRUE(contains(unparsable.err, "reviewer.md:3: invalid YAML")) << unparsable.err;
  EXPECT_EQ(run({"run", "--agent", "helper", "-m", "test:echo", "-p", "hi"}).code, 0);
}

}  // namespace
}  // namespace cppflue
