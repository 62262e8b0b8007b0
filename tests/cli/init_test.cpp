// SPDX-License-Identifier: Apache-2.0
// `cppflue init` and `cppflue skill new`, called as functions: the scaffold holds every file,
// the generated skill, role, agent and config load with the real parsers, existing files are
// never overwritten without --force, and skill names follow the skill name rule.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "../../src/cli/init.hpp"
#include "cppflue/core/config.hpp"
#include "cppflue/harness/project.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using cppflue::testing::contains;
using cppflue::testing::read_file;
using cppflue::testing::TempDir;
using cppflue::testing::write_file;

const std::vector<std::string> kScaffold = {
    "cppflue.toml",
    "AGENTS.md",
    ".agents/skills/summarize-text/SKILL.md",
    ".agents/skills/summarize-text/style.md",
    ".agents/roles/reviewer.md",
    ".agents/agents/helper.md",
    "src/agents/assistant.cpp",
    "src/workflows/summarize.cpp",
    "src/main.cpp",
    "CMakeLists.txt",
    "README.md",
    ".gitignore",
};

// Runs `fn` with stdout and stderr captured.
struct Captured {
  int status = 0;
  std::string out;
  std::string err;
};
template <class Fn>
Captured capture(Fn fn) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  Captured c;
  c.status = fn();
  c.out = ::testing::internal::GetCapturedStdout();
  c.err = ::testing::internal::GetCapturedStderr();
  return c;
}

Captured run_init(const fs::path& dir, bool force = false) {
  cli::InitOptions o;
  o.dir = dir.string();
  o.force = force;
  return capture([&] { return cli::init_command(o); });
}

Captured run_skill_new(const std::string& name, const std::string& config = "") {
  return capture([&] { return cli::skill_new_command(config, name); });
}

// Changes the working directory for the lifetime of the object.
class ScopedCwd {
 public:
  explicit ScopedCwd(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~ScopedCwd() {
    std::error_code ec;
    fs::current_path(old_, ec);
  }

 private:
  fs::path old_;
};

std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = read_file(e.path());
  }
  return out;
}

TEST(InitCommand, WritesEveryFileIntoANewDirectory) {
  TempDir tmp;
  fs::path dir = tmp.path() / "demo";
  auto r = run_init(dir);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& rel : kScaffold) {
    EXPECT_TRUE(fs::is_regular_file(dir / rel)) << rel;
    EXPECT_FALSE(read_file(dir / rel).empty()) << rel;
    EXPECT_TRUE(contains(r.out, rel)) << "not listed: " << rel << "\n" << r.out;
  }
  EXPECT_TRUE(contains(r.out, "cmake --build build")) << r.out;
  EXPECT_TRUE(contains(r.out, "./build/demo run --agent assistant")) << r.out;

  std::string cmake = read_file(dir / "CMakeLists.txt");
  EXPECT_TRUE(contains(cmake, "cmake_minimum_required(VERSION 3.25)"));
  EXPECT_TRUE(contains(cmake, "project(demo CXX)"));
  EXPECT_TRUE(contains(cmake, "find_package(cppflue REQUIRED)"));
  EXPECT_TRUE(contains(cmake, "add_executable(demo "));
  EXPECT_TRUE(contains(cmake, "target_link_libraries(demo PRIVATE cppflue::cli cppflue::cppflue)"));
  EXPECT_TRUE(contains(cmake, "src/agents/*.cpp"));
  EXPECT_TRUE(contains(cmake, "src/workflows/*.cpp"));

  EXPECT_TRUE(contains(read_file(dir / "src/main.cpp"), "return cppflue::cli_main(argc, argv);"));
  std::string agent = read_file(dir / "src/agents/assistant.cpp");
  EXPECT_TRUE(contains(agent, "CPPFLUE_AGENT("));
  EXPECT_TRUE(contains(agent, "options.instructions ="));
  std::string workflow = read_file(dir / "src/workflows/summarize.cpp");
  EXPECT_TRUE(contains(workflow, "cppflue::create_agent("));
  EXPECT_TRUE(contains(workflow, "CPPFLUE_WORKFLOW("));
  EXPECT_TRUE(contains(workflow, "ctx.log().info("));
  EXPECT_TRUE(contains(workflow, "{\"summary\", response.text}"));

  std::string readme = read_file(dir / "README.md");
  for (std::string_view cmd :
       {"cmake -S . -B build -G Ninja", "cmake --build build",
        "./build/demo run --agent assistant -p \"Hello\"", "./build/demo run summarize --payload '",
        "./build/demo run --agent helper -p \"List the files\"",
        "./build/demo run --skill summarize-text --args '"}) {
    EXPECT_TRUE(contains(readme, cmd)) << cmd;
  }
  std::string gitignore = read_file(dir / ".gitignore");
  EXPECT_TRUE(contains(gitignore, "build/"));
  EXPECT_TRUE(contains(gitignore, ".cppflue/"));
  EXPECT_TRUE(contains(gitignore, ".env")) << "keys in .env must stay out of version control";
}

TEST(InitCommand, GeneratedConfigLoadsAndKeepsTheModelUnset) {
  TempDir tmp;
  ASSERT_EQ(run_init(tmp.path()).status, 0);
  auto config = load_config_file(tmp.path() / "cppflue.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->agent.model, "");  // so the offline test: model answers without a key
  EXPECT_EQ(config->agent.sandbox, "virtual");
  EXPECT_FALSE(config->agent.allow_write);
  EXPECT_FALSE(config->agent.allow_shell);
  EXPECT_EQ(config->sandbox.isolation, "auto");
  EXPECT_TRUE(config->compaction.enabled);
  EXPECT_TRUE(contains(read_file(tmp.path() / "cppflue.toml"), "# model = \"openai:gpt-5.5\""));
}

TEST(InitCommand, GeneratedSkillRoleAndAgentLoad) {
  TempDir tmp;
  ASSERT_EQ(run_init(tmp.path()).status, 0);
  auto project = load_project_files(tmp.path());
  ASSERT_TRUE(project) << project.error().message;

  ASSERT_EQ(project->skills.count("summarize-text"), 1u);
  const Skill& skill = project->skills.at("summarize-text");
  EXPECT_FALSE(skill.description.empty());
  EXPECT_FALSE(skill.instructions.empty());
  EXPECT_EQ(dump(skill.input_schema.at("required")), R"(["text"])");
  EXPECT_EQ(std::string_view(skill.input_schema.at("properties").at("text").at("type").as_string()),
            "string");
  EXPECT_EQ(
      std::string_view(skill.output_schema.at("properties").at("summary").at("type").as_string()),
      "string");
  EXPECT_EQ(skill.resources, std::vector<std::string>{"style.md"});

  ASSERT_EQ(project->roles.count("reviewer"), 1u);
  EXPECT_EQ(project->roles.at("reviewer").thinking_level, "low");
  EXPECT_FALSE(project->roles.at("reviewer").description.empty());
  EXPECT_FALSE(project->roles.at("reviewer").instructions.empty());

  ASSERT_EQ(project->agents.count("helper"), 1u);
  const AgentDefinition& helper = project->agents.at("helper");
  EXPECT_FALSE(helper.description.empty());
  EXPECT_EQ(helper.sandbox, "virtual");
  EXPECT_EQ(helper.allow_shell, std::optional<bool>(true));
  EXPECT_EQ(helper.allowed_commands, (std::vector<std::string>{"ls", "cat"}));
  EXPECT_FALSE(helper.instructions.empty());

  EXPECT_FALSE(project->instructions.empty());  // AGENTS.md
}

TEST(InitCommand, RefusesToOverwriteAndChangesNothing) {
  TempDir tmp;
  ASSERT_EQ(run_init(tmp.path()).status, 0);
  write_file(tmp.path() / "AGENTS.md", "my own instructions\n");
  fs::remove(tmp.path() / "README.md");
  fs::remove_all(tmp.path() / "src");
  auto before = snapshot(tmp.path());

  auto r = run_init(tmp.path());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "AGENTS.md")) << r.err;
  EXPECT_TRUE(contains(r.err, "cppflue.toml")) << r.err;
  EXPECT_TRUE(contains(r.err, "--force")) << r.err;
  EXPECT_FALSE(contains(r.err, "README.md")) << r.err;  // only the files that exist are named
  EXPECT_EQ(snapshot(tmp.path()), before);              // nothing written, nothing recreated
}

TEST(InitCommand, ForceOverwrites) {
  TempDir tmp;
  ASSERT_EQ(run_init(tmp.path()).status, 0);
  std::string original = read_file(tmp.path() / "AGENTS.md");
  write_file(tmp.path() / "AGENTS.md", "my own instructions\n");
  write_file(tmp.path() / "notes.txt", "untouched\n");
  auto r = run_init(tmp.path(), /*force=*/true);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(tmp.path() / "AGENTS.md"), original);
  EXPECT_EQ(read_file(tmp.path() / "notes.txt"), "untouched\n");
  EXPECT_TRUE(contains(r.out, "overwritten")) << r.out;
}

TEST(InitCommand, SanitisesTheApplicationName) {
  TempDir tmp;
  fs::path dir = tmp.path() / "My Demo!.app";
  ASSERT_EQ(run_init(dir).status, 0);
  std::string cmake = read_file(dir / "CMakeLists.txt");
  EXPECT_TRUE(contains(cmake, "project(My-Demo-app CXX)")) << cmake;
  EXPECT_TRUE(contains(cmake, "add_executable(My-Demo-app ")) << cmake;

  fs::path odd = tmp.path() / "...";
  ASSERT_EQ(run_init(odd).status, 0);
  EXPECT_TRUE(contains(read_file(odd / "CMakeLists.txt"), "project(app CXX)"));

  fs::path reserved = tmp.path() / "test";
  ASSERT_EQ(run_init(reserved).status, 0);
  EXPECT_TRUE(contains(read_file(reserved / "CMakeLists.txt"), "add_executable(test-app "));
}

TEST(InitCommand, InitIntoTheWorkingDirectory) {
  TempDir tmp;
  fs::path dir = tmp.path() / "here";
  fs::create_directories(dir);
  ScopedCwd cwd(dir);
  cli::InitOptions o;  // dir "."
  auto r = capture([&] { return cli::init_command(o); });
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(dir / "cppflue.toml"));
  EXPECT_TRUE(contains(read_file(dir / "CMakeLists.txt"), "project(here CXX)"));
  EXPECT_FALSE(contains(r.out, "cd ")) << r.out;
}

TEST(InitCommand, RefusesAFileAsTheDirectory) {
  TempDir tmp;
  write_file(tmp.path() / "afile", "x");
  auto r = run_init(tmp.path() / "afile");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "not a directory")) << r.err;
}

TEST(InitCommand, RefusesAFileWhereAFolderGoesAndWritesNothing) {
  TempDir tmp;
  write_file(tmp.path() / ".agents", "not a folder");
  auto r = run_init(tmp.path(), /*force=*/true);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, ".agents")) << r.err;
  EXPECT_FALSE(fs::exists(tmp.path() / "cppflue.toml"));
}

TEST(InitSkillNew, CreatesALoadableSkillAtTheProjectRoot) {
  TempDir tmp;
  write_file(tmp.path() / "cppflue.toml", "[agent]\n");
  fs::create_directories(tmp.path() / "sub" / "dir");
  ScopedCwd cwd(tmp.path() / "sub" / "dir");  // the root is found upwards
  auto r = run_skill_new("triage-issue-2");
  ASSERT_EQ(r.status, 0) << r.err;
  fs::path file = tmp.path() / ".agents/skills/triage-issue-2/SKILL.md";
  ASSERT_TRUE(fs::is_regular_file(file));
  EXPECT_TRUE(contains(r.out, file.string())) << r.out;
  auto skill = load_skill(file);
  ASSERT_TRUE(skill) << skill.error().message;
  EXPECT_EQ(skill->name, "triage-issue-2");
  EXPECT_FALSE(skill->description.empty());
  EXPECT_FALSE(skill->instructions.empty());
  auto project = load_project_files(tmp.path());
  ASSERT_TRUE(project) << project.error().message;
  EXPECT_EQ(project->skills.count("triage-issue-2"), 1u);
}

TEST(InitSkillNew, UsesTheExplicitConfigAndFallsBackToTheWorkingDirectory) {
  TempDir tmp;
  write_file(tmp.path() / "proj" / "cppflue.toml", "");
  fs::create_directories(tmp.path() / "elsewhere");
  ScopedCwd cwd(tmp.path() / "elsewhere");
  ASSERT_EQ(run_skill_new("one", (tmp.path() / "proj" / "cppflue.toml").string()).status, 0);
  EXPECT_TRUE(fs::is_regular_file(tmp.path() / "proj/.agents/skills/one/SKILL.md"));

  ASSERT_EQ(run_skill_new("two").status, 0);  // no cppflue.toml upwards: the working directory
  EXPECT_TRUE(fs::is_regular_file(tmp.path() / "elsewhere/.agents/skills/two/SKILL.md"));

  auto r = run_skill_new("three", (tmp.path() / "missing.toml").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "missing.toml")) << r.err;
}

TEST(InitSkillNew, RejectsInvalidNames) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  for (const std::string& bad : {std::string(""), std::string("Triage"), std::string("a--b"),
                                 std::string("-a"), std::string("a-"), std::string("a_b"),
                                 std::string("../x"), std::string("a b"), std::string(65, 'a')}) {
    auto r = run_skill_new(bad);
    EXPECT_EQ(r.status, 1) << bad;
    EXPECT_TRUE(contains(r.err, "invalid skill name")) << r.err;
  }
  EXPECT_FALSE(fs::exists(tmp.path() / ".agents"));
  EXPECT_EQ(run_skill_new(std::string(64, 'a')).status, 0);
}

TEST(InitSkillNew, RefusesAnExistingSkill) {
  TempDir tmp;
  ScopedCwd cwd(tmp.path());
  ASSERT_EQ(run_skill_new("notes").status, 0);
  fs::path file = tmp.path() / ".agents/skills/notes/SKILL.md";
  write_file(file, "---\nname: notes\ndescription: mine\n---\nkeep me\n");
  auto r = run_skill_new("notes");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "already exists")) << r.err;
  EXPECT_TRUE(contains(read_file(file), "keep me"));

  write_file(tmp.path() / ".agents/skills/flat.md", "---\ndescription: a flat skill\n---\nx\n");
  r = run_skill_new("flat");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "flat.md")) << r.err;
  EXPECT_FALSE(fs::exists(tmp.path() / ".agents/skills/flat"));
}

}  // namespace
}  // namespace cppflue
