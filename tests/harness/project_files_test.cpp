// SPDX-License-Identifier: Apache-2.0
// Project files (docs/concepts/skills-and-roles.md): frontmatter typing and errors, skills (names,
// discovery, supporting files, confinement, prompt), roles, declarative agents and instructions.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <random>

#include "cppflue/harness/project.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
namespace fs = std::filesystem;

namespace {

class ProjectFiles : public ::testing::Test {
 protected:
  fs::path write(const std::string& rel, const std::string& text) {
    fs::path p = dir_.path() / rel;
    write_file(p, text);
    return p;
  }
  fs::path skills() const { return dir_.path() / ".agents" / "skills"; }
  TempDir dir_;
};

// The message starts with `<file>:<line>: ` and mentions every one of `parts`.
void expect_error_at(const Error& e, const std::string& file, int line,
                     std::initializer_list<std::string> parts = {}) {
  EXPECT_EQ(e.type, ErrorType::config_error) << e.message;
  EXPECT_EQ(e.message.rfind(file + ":" + std::to_string(line) + ": ", 0), 0u) << e.message;
  for (const auto& p : parts) EXPECT_NE(e.message.find(p), std::string::npos) << e.message;
}

TEST_F(ProjectFiles, FrontmatterTypesScalarsByTheCoreSchema) {
  auto fm = parse_frontmatter(
      "---\n"
      "quoted_true: \"true\"\n"
      "single: 'false'\n"
      "plain_true: true\n"
      "one: 1\n"
      "quoted_one: \"1\"\n"
      "neg: -3\n"
      "hex: 0x1F\n"
      "half: 1.5\n"
      "exp: 1e3\n"
      "tilde: ~\n"
      "nul: null\n"
      "empty:\n"
      "quoted_null: \"null\"\n"
      "yes_is_text: yes\n"
      "inf: .inf\n"
      "tagged: !!str 5\n"
      "block: |\n"
      "  line one\n"
      "list: [a, 2]\n"
      "map: {k: v}\n"
      "---\n"
      "\n"
      "  Body text.\n\n",
      "f.md");
  ASSERT_TRUE(fm) << fm.error().message;
  const json& d = fm->data;
  EXPECT_EQ(d.at("quoted_true"), json("true"));
  EXPECT_EQ(d.at("single"), json("false"));
  EXPECT_EQ(d.at("plain_true"), json(true));
  EXPECT_TRUE(d.at("one").is_int64());
  EXPECT_EQ(d.at("one").as_int64(), 1);
  EXPECT_EQ(d.at("quoted_one"), json("1"));
  EXPECT_EQ(d.at("neg").as_int64(), -3);
  EXPECT_EQ(d.at("hex").as_int64(), 31);
  EXPECT_TRUE(d.at("half").is_double());
  EXPECT_DOUBLE_EQ(d.at("half").as_double(), 1.5);
  EXPECT_DOUBLE_EQ(d.at("exp").as_double(), 1000.0);
  EXPECT_TRUE(d.at("tilde").is_null());
  EXPECT_TRUE(d.at("nul").is_null());
  EXPECT_TRUE(d.at("empty").is_null());
  EXPECT_EQ(d.at("quoted_null"), json("null"));
  EXPECT_EQ(d.at("yes_is_text"), json("yes"));
  EXPECT_EQ(d.at("inf"), json(".inf"));
  EXPECT_EQ(d.at("tagged"), json("5"));
  EXPECT_EQ(d.at("block"), json("line one\n"));
  EXPECT_EQ(d.at("list"), (json(json_array{"a", 2})));
  EXPECT_EQ(d.at("map"), (json(json_object{{"k", "v"}})));
  EXPECT_EQ(fm->body, "Body text.");
  EXPECT_EQ(fm->body_line, 24);
  EXPECT_EQ(fm->key_lines.at("quoted_true"), 2);
  EXPECT_EQ(fm->key_lines.at("map"), 21);
}

TEST_F(ProjectFiles, NoFrontmatterMeansAnEmptyObjectAndTheWholeBody) {
  auto fm = parse_frontmatter("\n\n# Title\n\nText --- here\n", "f.md");
  ASSERT_TRUE(fm);
  EXPECT_TRUE(fm->data.is_object());
  EXPECT_TRUE(fm->data.get_object().empty());
  EXPECT_EQ(fm->body, "# Title\n\nText --- here");
  EXPECT_EQ(fm->body_line, 3);

  // `----` is not an opening line; an empty block is fine; `...` also closes.
  auto dashes = parse_frontmatter("----\nbody", "f.md");
  ASSERT_TRUE(dashes);
  EXPECT_EQ(dashes->body, "----\nbody");
  auto empty = parse_frontmatter("---\n---\nbody", "f.md");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->data.get_object().empty());
  EXPECT_EQ(empty->body, "body");
  auto dots = parse_frontmatter("---\na: 1\n...\nbody", "f.md");
  ASSERT_TRUE(dots);
  EXPECT_EQ(dots->data.at("a").as_int64(), 1);
  auto comments = parse_frontmatter("---\n# only a comment\n---\nbody", "f.md");
  ASSERT_TRUE(comments);
  EXPECT_TRUE(comments->data.get_object().empty());
}

TEST_F(ProjectFiles, FrontmatterAcceptsBomAndCrlf) {
  auto fm =
      parse_frontmatter("\xEF\xBB\xBF---\r\nname: x\r\nn: 2\r\n---\r\nHello\r\nWorld\r\n", "f.md");
  ASSERT_TRUE(fm) << fm.error().message;
  EXPECT_EQ(fm->data.at("name"), json("x"));
  EXPECT_EQ(fm->data.at("n").as_int64(), 2);
  EXPECT_EQ(fm->body, "Hello\nWorld");
  EXPECT_EQ(fm->body_line, 5);
}

TEST_F(ProjectFiles, FrontmatterErrorsNameTheFileAndLine) {
  auto unclosed = parse_frontmatter("---\nname: x\nbody\n", "skills/u.md");
  ASSERT_FALSE(unclosed);
  expect_error_at(unclosed.error(), "skills/u.md", 1, {"not closed"});
  EXPECT_EQ(unclosed.error().details.at("file"), json("skills/u.md"));

  // The bad line is line 4 of the file (line 3 of the YAML).
  auto syntax =
      parse_frontmatter("---\nname: x\ndescription: y\nbad: [unclosed, list\n---\n", "skills/s.md");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("invalid YAML"), std::string::npos);
  const json& line = syntax.error().details.at("line");
  ASSERT_TRUE(line.is_int64()) << syntax.error().message;
  EXPECT_GE(line.as_int64(), 4) << syntax.error().message;
  EXPECT_LE(line.as_int64(), 5) << syntax.error().message;

  auto mapping = parse_frontmatter("---\nname: x\ndescription: y\n  indented: z\n---\n", "m.md");
  ASSERT_FALSE(mapping);
  expect_error_at(mapping.error(), "m.md", 4, {"invalid YAML"});

  auto list = parse_frontmatter("---\n- a\n- b\n---\nbody", "l.md");
  ASSERT_FALSE(list);
  expect_error_at(list.error(), "l.md", 2, {"mapping"});
  auto scalar = parse_frontmatter("---\njust text\n---\nbody", "l.md");
  ASSERT_FALSE(scalar);
  expect_error_at(scalar.error(), "l.md", 2, {"mapping"});

  auto int_key = parse_frontmatter("---\na: 1\n200: ok\n---\n", "k.md");
  ASSERT_FALSE(int_key);
  expect_error_at(int_key.error(), "k.md", 3, {"200", "string"});
  auto quoted_key = parse_frontmatter("---\n\"200\": ok\n---\n", "k.md");
  ASSERT_TRUE(quoted_key);
  EXPECT_EQ(quoted_key->data.at("200"), json("ok"));

  auto dup = parse_frontmatter("---\na: 1\nb: 2\na: 3\n---\n", "d.md");
  ASSERT_FALSE(dup);
  expect_error_at(dup.error(), "d.md", 4, {"duplicate key 'a'"});
}

TEST_F(ProjectFiles, SelfReferencingAliasesAndAliasBombsAreErrors) {
  auto cycle = parse_frontmatter("---\na: &x [*x]\n---\n", "c.md");
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.error().type, ErrorType::config_error);

  std::string bomb = "---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 12; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 0; k < 9; ++k) bomb += ", " + prev;
    bomb += "]\n";
  }
  bomb += "---\n";
  auto big = parse_frontmatter(bomb, "b.md");
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("too large"), std::string::npos) << big.error().message;

  std::string deep = "---\na: " + std::string(5000, '[') + std::string(5000, ']') + "\n---\n";
  EXPECT_FALSE(parse_frontmatter(deep, "deep.md"));
}

// ---- Skills ----------------------------------------------------------------------------------

TEST_F(ProjectFiles, SkillKeysAndDefaultNames) {
  auto s = parse_skill(
      "---\n"
      "description: Triage an issue.\n"
      "input_schema:\n"
      "  type: object\n"
      "  properties: {issue: {type: integer}}\n"
      "output_schema: {type: object}\n"
      "license: Apache-2.0\n"
      "metadata: {author: me, version: \"1.0\"}\n"
      "allowed-tools: Bash(git add:*) Read, Write\n"
      "compatibility: linux\n"
      "---\n"
      "Do the triage.\n",
      "/p/.agents/skills/triage.md");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->name, "triage");
  EXPECT_EQ(s->description, "Triage an issue.");
  EXPECT_EQ(s->instructions, "Do the triage.");
  EXPECT_EQ(s->input_schema.at("properties").at("issue").at("type"), json("integer"));
  EXPECT_EQ(s->output_schema, (json(json_object{{"type", "object"}})));
  EXPECT_EQ(s->license, "Apache-2.0");
  EXPECT_EQ(s->metadata.at("version"), json("1.0"));
  EXPECT_EQ(s->allowed_tools, (std::vector<std::string>{"Bash(git add:*)", "Read", "Write"}));
  EXPECT_EQ(s->extra, (json(json_object{{"compatibility", "linux"}})));
  EXPECT_TRUE(s->directory.empty());

  auto list = parse_skill("---\nallowed-tools: [read, grep]\n---\n", "x.md");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->allowed_tools, (std::vector<std::string>{"read", "grep"}));

  auto folder = parse_skill("Body", "/p/.agents/skills/pdf-tools/SKILL.md");
  ASSERT_TRUE(folder);
  EXPECT_EQ(folder->name, "pdf-tools");
  EXPECT_EQ(folder->directory, fs::path("/p/.agents/skills/pdf-tools"));
  auto lower = parse_skill("Body", "/p/.agents/skills/pdf/skill.md");
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->name, "pdf");

  auto explicit_name = parse_skill("---\nname: other-name\n---\n", "/p/x.md");
  ASSERT_TRUE(explicit_name);
  EXPECT_EQ(explicit_name->name, "other-name");
  auto null_name = parse_skill("---\nname:\n---\n", "/p/x.md");
  ASSERT_TRUE(null_name);
  EXPECT_EQ(null_name->name, "x");
}

TEST_F(ProjectFiles, InvalidSkillNamesAreErrorsWithFileAndLine) {
  for (const std::string& bad : std::vector<std::string>{"Bad", "a--b", "-a", "a-", "a_b", "a b",
                                                         "\"\"", std::string(65, 'a')}) {
    auto s = parse_skill("---\ndescription: d\nname: " + bad + "\n---\n", "s/x.md");
    ASSERT_FALSE(s) << bad;
    expect_error_at(s.error(), "s/x.md", 3, {"not a valid skill name"});
  }
  EXPECT_TRUE(parse_skill("---\nname: " + std::string(64, 'a') + "\n---\n", "x.md"));
  EXPECT_TRUE(parse_skill("---\nname: a-1-b2\n---\n", "x.md"));

  auto derived = parse_skill("Body", "s/My_Skill.md");
  ASSERT_FALSE(derived);
  EXPECT_EQ(derived.error().type, ErrorType::config_error);
  EXPECT_EQ(derived.error().message.rfind("s/My_Skill.md: ", 0), 0u) << derived.error().message;
  EXPECT_NE(derived.error().message.find("derived from the file name"), std::string::npos);

  auto number = parse_skill("---\nname: 42\n---\n", "s/x.md");
  ASSERT_FALSE(number);
  expect_error_at(number.error(), "s/x.md", 2, {"name", "string"});
}

TEST_F(ProjectFiles, WrongTypesForSkillKeysNameKeyAndLine) {
  auto schema = parse_skill("---\ndescription: d\n\ninput_schema: [a, b]\n---\n", "s/x.md");
  ASSERT_FALSE(schema);
  expect_error_at(schema.error(), "s/x.md", 4, {"input_schema", "object", "array"});
  EXPECT_EQ(schema.error().details.at("key"), json("input_schema"));
  EXPECT_EQ(schema.error().details.at("line"), json(4));

  auto out = parse_skill("---\noutput_schema: \"{}\"\n---\n", "s/x.md");
  ASSERT_FALSE(out);
  expect_error_at(out.error(), "s/x.md", 2, {"output_schema"});
  auto desc = parse_skill("---\ndescription: [x]\n---\n", "s/x.md");
  ASSERT_FALSE(desc);
  expect_error_at(desc.error(), "s/x.md", 2, {"description"});
  auto meta = parse_skill("---\nmetadata: text\n---\n", "s/x.md");
  ASSERT_FALSE(meta);
  expect_error_at(meta.error(), "s/x.md", 2, {"metadata"});
  auto tools = parse_skill("---\nallowed-tools: [read, 3]\n---\n", "s/x.md");
  ASSERT_FALSE(tools);
  expect_error_at(tools.error(), "s/x.md", 2, {"allowed-tools", "item 1"});
}

TEST_F(ProjectFiles, LoadSkillMissingFileNamesIt) {
  auto s = load_skill(dir_.path() / "nope.md");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().type, ErrorType::not_found);
  EXPECT_NE(s.error().message.find("nope.md"), std::string::npos);
}

TEST_F(ProjectFiles, DiscoverSkillsFilesAndFolders) {
  EXPECT_TRUE(discover_skills(dir_.path() / "missing")->empty());
  write(".agents/skills/b.md", "---\ndescription: B\n---\nB body");
  write(".agents/skills/a.md", "A body");
  write(".agents/skills/pdf/SKILL.md", "---\ndescription: PDF\n---\nRead PDFs.");
  write(".agents/skills/pdf/reference.md", "# Reference");
  write(".agents/skills/pdf/scripts/extract.py", "print(1)");
  write(".agents/skills/pdf/.hidden", "x");
  write(".agents/skills/pdf/.git/config", "x");
  write(".agents/skills/notes/readme.md", "not a skill: no SKILL.md here");
  write(".agents/skills/.draft.md", "hidden");
  write(".agents/skills/c.txt", "not markdown");
  auto set = discover_skills(skills());
  ASSERT_TRUE(set) << set.error().message;
  std::vector<std::string> names;
  for (const auto& [name, _] : *set) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "pdf"}));
  const Skill& pdf = set->at("pdf");
  EXPECT_EQ(pdf.directory, skills() / "pdf");
  EXPECT_EQ(pdf.resources, (std::vector<std::string>{"reference.md", "scripts/extract.py"}));
  EXPECT_TRUE(set->at("a").resources.empty());
  EXPECT_EQ(set->at("b").description, "B");
}

TEST_F(ProjectFiles, DuplicateSkillNamesNameBothFiles) {
  write(".agents/skills/a.md", "A");
  write(".agents/skills/a/SKILL.md", "A folder");
  auto set = discover_skills(skills());
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().type, ErrorType::config_error);
  EXPECT_NE(set.error().message.find((skills() / "a.md").string()), std::string::npos)
      << set.error().message;
  EXPECT_NE(set.error().message.find((skills() / "a" / "SKILL.md").string()), std::string::npos)
      << set.error().message;
  EXPECT_NE(set.error().message.find("duplicate skill name 'a'"), std::string::npos);

  TempDir other;
  write_file(other.path() / "x.md", "---\nname: same\n---\n");
  write_file(other.path() / "y.md", "---\nname: same\n---\n");
  auto renamed = discover_skills(other.path());
  ASSERT_FALSE(renamed);
  EXPECT_NE(renamed.error().message.find("x.md"), std::string::npos);
  EXPECT_NE(renamed.error().message.find("y.md"), std::string::npos);

  // A broken skill fails discovery with its own file and line.
  TempDir broken;
  write_file(broken.path() / "z.md", "---\ninput_schema: 3\n---\n");
  auto bad = discover_skills(broken.path());
  ASSERT_FALSE(bad);
  expect_error_at(bad.error(), (broken.path() / "z.md").string(), 2, {"input_schema"});
}

TEST_F(ProjectFiles, SkillResourcesAreConfinedToTheSkillFolder) {
  write(".agents/skills/pdf/SKILL.md", "Read PDFs.");
  write(".agents/skills/pdf/reference.md", "# Reference");
  write(".agents/skills/pdf/sub/data.txt", "data");
  write(".agents/skills/secret.md", "skills-level secret");
  write("outside.txt", "outside secret");
  fs::create_symlink(dir_.path() / "outside.txt", skills() / "pdf" / "link.txt");
  fs::create_symlink(dir_.path(), skills() / "pdf" / "up");
  fs::create_symlink("reference.md", skills() / "pdf" / "alias.md");

  auto skill = load_skill(skills() / "pdf" / "SKILL.md");
  ASSERT_TRUE(skill) << skill.error().message;
  // The symlink out and the symlinked folder are not listed; the inside alias is.
  EXPECT_EQ(skill->resources,
            (std::vector<std::string>{"alias.md", "reference.md", "sub/data.txt"}));

  EXPECT_EQ(*read_skill_resource(*skill, "reference.md"), "# Reference");
  EXPECT_EQ(*read_skill_resource(*skill, "sub/data.txt"), "data");
  EXPECT_EQ(*read_skill_resource(*skill, "./sub/../reference.md"), "# Reference");
  EXPECT_EQ(*read_skill_resource(*skill, "alias.md"), "# Reference");

  for (const std::string& bad : std::vector<std::string>{
           "../secret.md", "../../outside.txt", "sub/../../secret.md",
           (dir_.path() / "outside.txt").string(), "/etc/passwd", "link.txt", "up/outside.txt"}) {
    auto r = read_skill_resource(*skill, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().type, ErrorType::permission) << bad << ": " << r.error().message;
    EXPECT_NE(r.error().message.find("escapes"), std::string::npos) << r.error().message;
  }
  auto missing = read_skill_resource(*skill, "nope.md");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type, ErrorType::not_found);
  EXPECT_FALSE(read_skill_resource(*skill, "sub"));
  EXPECT_FALSE(read_skill_resource(*skill, ""));

  ASSERT_EQ(mkfifo((skills() / "pdf" / "pipe").c_str(), 0600), 0);
  auto pipe = read_skill_resource(*skill, "pipe");  // must not block
  ASSERT_FALSE(pipe);
  EXPECT_NE(pipe.error().message.find("not a regular file"), std::string::npos);

  auto flat = parse_skill("x", "/p/flat.md");
  ASSERT_TRUE(flat);
  EXPECT_FALSE(read_skill_resource(*flat, "reference.md"));
}

TEST_F(ProjectFiles, LoadSkillByPathStaysInsideTheSkillsDirectory) {
  write(".agents/skills/group/triage.md", "---\ndescription: T\n---\nTriage.");
  write(".agents/skills/pdf/SKILL.md", "Read PDFs.");
  write(".agents/skills/pdf/reference.md", "# Reference");
  write("outside.md", "Outside.");
  write("elsewhere/SKILL.md", "Elsewhere.");
  fs::create_symlink(dir_.path() / "outside.md", skills() / "link.md");
  fs::create_symlink(dir_.path() / "elsewhere", skills() / "linkdir");

  auto t = load_skill_by_path(skills(), "group/triage.md");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->name, "triage");
  EXPECT_EQ(t->instructions, "Triage.");
  auto no_ext = load_skill_by_path(skills(), "group/triage");
  ASSERT_TRUE(no_ext) << no_ext.error().message;
  EXPECT_EQ(no_ext->name, "triage");
  auto folder = load_skill_by_path(skills(), "pdf/");
  ASSERT_TRUE(folder) << folder.error().message;
  EXPECT_EQ(folder->name, "pdf");
  EXPECT_EQ(folder->resources, (std::vector<std::string>{"reference.md"}));
  auto folder_md = load_skill_by_path(skills(), "pdf/SKILL.md");
  ASSERT_TRUE(folder_md);
  EXPECT_EQ(folder_md->name, "pdf");

  for (const std::string& bad : std::vector<std::string>{
           "../outside.md", "group/../../outside.md", "../outside",
           (dir_.path() / "outside.md").string(), "link.md", "linkdir", "linkdir/SKILL.md"}) {
    auto r = load_skill_by_path(skills(), bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().type, ErrorType::permission) << bad << ": " << r.error().message;
    EXPECT_NE(r.error().message.find("escapes the skills directory"), std::string::npos)
        << r.error().message;
  }
  auto missing = load_skill_by_path(skills(), "group/nope.md");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type, ErrorType::not_found);
  auto empty_dir = load_skill_by_path(skills(), "group");
  ASSERT_FALSE(empty_dir);
  EXPECT_EQ(empty_dir.error().type, ErrorType::not_found);
  EXPECT_NE(empty_dir.error().message.find("SKILL.md"), std::string::npos);
}

TEST_F(ProjectFiles, RenderSkillPromptExactText) {
  Skill s;
  s.name = "triage";
  s.instructions = "  Triage the issue.\n";
  json args = json_object{{"zeta", 1},
                          {"alpha", json_object{{"b", 1.5}, {"a", json_array{}}}},
                          {"flag", true},
                          {"ratio", 2.0}};
  json schema = json_object{{"type", "object"},
                            {"properties", json_object{{"ok", json_object{{"type", "boolean"}}}}}};
  EXPECT_EQ(render_skill_prompt(s, args, schema),
            "Triage the issue.\n"
            "\n"
            "Arguments:\n"
            "{\n"
            "  \"alpha\": {\n"
            "    \"a\": [],\n"
            "    \"b\": 1.5\n"
            "  },\n"
            "  \"flag\": true,\n"
            "  \"ratio\": 2,\n"
            "  \"zeta\": 1\n"
            "}\n"
            "\n"
            "Return the final answer as JSON that satisfies this JSON schema:\n"
            "{\n"
            "  \"properties\": {\n"
            "    \"ok\": {\n"
            "      \"type\": \"boolean\"\n"
            "    }\n"
            "  },\n"
            "  \"type\": \"object\"\n"
            "}");
  EXPECT_EQ(render_skill_prompt(s, nullptr, nullptr), "Triage the issue.");
  EXPECT_EQ(render_skill_prompt(s, json_object{}), "Triage the issue.");
  EXPECT_EQ(render_skill_prompt(s, json_array{"x"}),
            "Triage the issue.\n\nArguments:\n[\n  \"x\"\n]");

  s.directory = "/p/.agents/skills/triage";
  s.resources = {"reference.md", "scripts/run.sh"};
  EXPECT_EQ(render_skill_prompt(s, json_object{{"n", 1}}),
            "Triage the issue.\n"
            "\n"
            "This skill has supporting files; read them with the `read` tool when you need them:\n"
            "- /.skills/triage/reference.md\n"
            "- /.skills/triage/scripts/run.sh\n"
            "\n"
            "Arguments:\n"
            "{\n"
            "  \"n\": 1\n"
            "}");
  EXPECT_EQ(skill_resource_virtual_path(s, "reference.md"), "/.skills/triage/reference.md");
}

// ---- Roles -----------------------------------------------------------------------------------

TEST_F(ProjectFiles, RolesParseAndRejectUnknownKeys) {
  auto r = parse_role_definition(
      "---\nname: Reviewer_1\ndescription: Reviews.\nmodel: openai:gpt-5.5\n"
      "thinking_level: high\n---\nReview carefully.\n",
      "roles/reviewer.md");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->name, "Reviewer_1");
  EXPECT_EQ(r->description, "Reviews.");
  EXPECT_EQ(r->model, "openai:gpt-5.5");
  EXPECT_EQ(r->thinking_level, "high");
  EXPECT_EQ(r->instructions, "Review carefully.");
  auto stem = parse_role_definition("Body", "roles/writer.md");
  ASSERT_TRUE(stem);
  EXPECT_EQ(stem->name, "writer");

  auto typo = parse_role_definition("---\ndescription: d\nmodle: x\n---\n", "roles/r.md");
  ASSERT_FALSE(typo);
  expect_error_at(typo.error(), "roles/r.md", 3, {"unknown key 'modle'"});
  EXPECT_EQ(typo.error().details.at("key"), json("modle"));

  auto level = parse_role_definition("---\nthinking_level: extreme\n---\n", "roles/r.md");
  ASSERT_FALSE(level);
  expect_error_at(level.error(), "roles/r.md", 2, {"thinking_level", "extreme"});
  auto bad_name = parse_role_definition("---\nname: 1abc\n---\n", "roles/r.md");
  ASSERT_FALSE(bad_name);
  expect_error_at(bad_name.error(), "roles/r.md", 2, {"name"});
  auto bad_stem = parse_role_definition("Body", "roles/2nd.md");
  ASSERT_FALSE(bad_stem);
  EXPECT_NE(bad_stem.error().message.find("derived from the file name"), std::string::npos);
}

TEST_F(ProjectFiles, DiscoverRolesSortedWithDuplicateErrors) {
  write(".agents/roles/b.md", "B");
  write(".agents/roles/a.md", "---\nthinking_level: low\n---\nA");
  write(".agents/roles/sub/c.md", "not read: only the top level");
  auto roles = discover_roles(dir_.path() / ".agents" / "roles");
  ASSERT_TRUE(roles) << roles.error().message;
  ASSERT_EQ(roles->size(), 2u);
  EXPECT_EQ(roles->at("a").thinking_level, "low");
  EXPECT_TRUE(discover_roles(dir_.path() / "missing")->empty());

  write(".agents/roles/c.md", "---\nname: a\n---\n");
  auto dup = discover_roles(dir_.path() / ".agents" / "roles");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("a.md"), std::string::npos) << dup.error().message;
  EXPECT_NE(dup.error().message.find("c.md"), std::string::npos) << dup.error().message;
}

// ---- Declarative agents ----------------------------------------------------------------------

TEST_F(ProjectFiles, AgentDefinitionWithEveryKey) {
  auto a = parse_agent_definition(
      "---\n"
      "name: triager\n"
      "description: Triage bot.\n"
      "model: anthropic:claude\n"
      "sandbox: local\n"
      "thinking_level: minimal\n"
      "allow_write: true\n"
      "allow_shell: false\n"
      "allow_compound_commands: true\n"
      "allowed_commands: [git, ls]\n"
      "tools: read\n"
      "skills: [triage]\n"
      "subagents: [reviewer, writer]\n"
      "max_turns: 12\n"
      "triggers: {webhook: true}\n"
      "---\n"
      "You triage.\n",
      "agents/t.md");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->name, "triager");
  EXPECT_EQ(a->description, "Triage bot.");
  EXPECT_EQ(a->model, "anthropic:claude");
  EXPECT_EQ(a->sandbox, "local");
  EXPECT_EQ(a->thinking_level, "minimal");
  EXPECT_EQ(a->allow_write, true);
  EXPECT_EQ(a->allow_shell, false);
  EXPECT_EQ(a->allow_compound_commands, true);
  EXPECT_EQ(a->allowed_commands, (std::vector<std::string>{"git", "ls"}));
  EXPECT_EQ(a->tools, (std::vector<std::string>{"read"}));
  EXPECT_EQ(a->skills, (std::vector<std::string>{"triage"}));
  EXPECT_EQ(a->subagents, (std::vector<std::string>{"reviewer", "writer"}));
  EXPECT_EQ(a->max_turns, 12);
  EXPECT_EQ(a->triggers, (json(json_object{{"webhook", true}})));
  EXPECT_EQ(a->instructions, "You triage.");

  auto plain = parse_agent_definition("Just instructions.", "agents/helper.md");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->name, "helper");
  EXPECT_FALSE(plain->allow_shell.has_value());
  EXPECT_FALSE(plain->max_turns.has_value());
  EXPECT_TRUE(plain->triggers.get_object().empty());
}

TEST_F(ProjectFiles, AgentDefinitionWrongTypesAndUnknownKeys) {
  struct Case {
    std::string yaml;
    std::string key;
  };
  for (const Case& c : std::vector<Case>{
           {"allow_shell: \"yes\"", "allow_shell"},
           {"allow_write: yes", "allow_write"},
           {"allow_compound_commands: 1", "allow_compound_commands"},
           {"max_turns: many", "max_turns"},
           {"max_turns: 0", "max_turns"},
           {"max_turns: 2.5", "max_turns"},
           {"allowed_commands: {git: true}", "allowed_commands"},
           {"tools: [read, [x]]", "tools"},
           {"triggers: webhook", "triggers"},
           {"triggers: {webhook: \"true\"}", "triggers"},
           {"model: [a]", "model"},
           {"sandbox: 3", "sandbox"},
           {"thinking_level: max", "thinking_level"},
           {"name: 9lives", "name"},
           {"allow_shel: true", "allow_shel"},
       }) {
    auto a =
        parse_agent_definition("---\ndescription: d\n" + c.yaml + "\n---\nBody", "agents/x.md");
    ASSERT_FALSE(a) << c.yaml;
    expect_error_at(a.error(), "agents/x.md", 3, {c.key});
    EXPECT_EQ(a.error().details.at("key"), json(c.key)) << a.error().message;
  }
  auto yes = parse_agent_definition("---\nallow_shell: \"yes\"\n---\n", "agents/x.md");
  ASSERT_FALSE(yes);
  EXPECT_EQ(yes.error().message,
            "agents/x.md:2: allow_shell: expected true or false, got "
            "string \"yes\"");
}

TEST_F(ProjectFiles, DiscoverAgentDefinitionsWithDuplicates) {
  write(".agents/agents/one.md", "---\nmodel: x:y\n---\nOne.");
  write(".agents/agents/two.md", "Two.");
  auto agents = discover_agent_definitions(dir_.path() / ".agents" / "agents");
  ASSERT_TRUE(agents) << agents.error().message;
  EXPECT_EQ(agents->size(), 2u);
  EXPECT_EQ(agents->at("one").model, "x:y");
  write(".agents/agents/three.md", "---\nname: two\n---\n");
  auto dup = discover_agent_definitions(dir_.path() / ".agents" / "agents");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("three.md"), std::string::npos) << dup.error().message;
  EXPECT_NE(dup.error().message.find("two.md"), std::string::npos) << dup.error().message;
}

// ---- Instructions and the whole project ------------------------------------------------------

TEST_F(ProjectFiles, InstructionsJoinAgentsThenClaude) {
  EXPECT_EQ(load_project_instructions(dir_.path()), "");
  write("CLAUDE.md", "\n Claude rules.\n\n");
  EXPECT_EQ(load_project_instructions(dir_.path()), "Claude rules.");
  write("AGENTS.md", "\xEF\xBB\xBF# Agents\n\nBe brief.\n");
  EXPECT_EQ(load_project_instructions(dir_.path()), "# Agents\n\nBe brief.\n\nClaude rules.");
  write("CLAUDE.md", "   \n");
  EXPECT_EQ(load_project_instructions(dir_.path()), "# Agents\n\nBe brief.");
}

TEST_F(ProjectFiles, LoadProjectFilesReadsEverything) {
  auto empty = load_project_files(dir_.path());
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->skills.empty());
  EXPECT_TRUE(empty->roles.empty());
  EXPECT_TRUE(empty->agents.empty());

  write("AGENTS.md", "Project rules.");
  write(".agents/skills/s.md", "S");
  write(".agents/roles/r.md", "R");
  write(".agents/agents/a.md", "---\ntriggers: {webhook: true}\n---\nA");
  auto files = load_project_files(dir_.path());
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->skills.count("s"), 1u);
  EXPECT_EQ(files->roles.count("r"), 1u);
  EXPECT_EQ(files->agents.at("a").triggers.at("webhook"), json(true));
  EXPECT_EQ(files->instructions, "Project rules.");

  write(".agents/roles/bad.md", "---\nmodel: x\ncolour: red\n---\n");
  auto bad = load_project_files(dir_.path());
  ASSERT_FALSE(bad);
  expect_error_at(bad.error(), (dir_.path() / ".agents/roles/bad.md").string(), 3, {"colour"});
}

// ---- Robustness ------------------------------------------------------------------------------

TEST_F(ProjectFiles, ArbitraryBytesNeverCrashOrHang) {
  const std::string valid =
      "\xEF\xBB\xBF---\r\n"
      "name: fuzz-me\n"
      "description: \"quoted: value\"\n"
      "input_schema:\n"
      "  type: object\n"
      "  properties: {a: {type: [string, 'null']}, b: &x {c: [1, 2.5, ~, true]}}\n"
      "metadata: {ref: *x, tag: !!str 3}\n"
      "allowed-tools: Bash(git:*) Read\n"
      "block: |\n"
      "  text\n"
      "---\n"
      "Body [x](y) --- ...\n";
  std::mt19937 rng(12345);
  const std::string alphabet = "-:.[]{}&*!|>'\"#?~,\n\r\t %@`\\abc01";
  auto run = [](const std::string& text) {
    auto fm = parse_frontmatter(text, "fuzz.md");
    auto skill = parse_skill(text, "fuzz/SKILL.md");
    auto role = parse_role_definition(text, "fuzz.md");
    auto agent = parse_agent_definition(text, "fuzz.md");
    if (!fm) {
      EXPECT_FALSE(fm.error().message.empty());
    }
    (void)skill;
    (void)role;
    (void)agent;
  };
  for (std::size_t n = 0; n <= valid.size(); ++n) run(valid.substr(0, n));
  for (int i = 0; i < 3000; ++i) {
    std::string text = valid;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      std::size_t pos = rng() % (text.size() + 1);
      switch (rng() % 4) {
        case 0:
          text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (pos < text.size()) text.erase(pos, 1 + rng() % 8);
          break;
        case 2:
          if (pos < text.size()) text[pos] = static_cast<char>(rng() % 256);
          break;
        default:
          text.insert(pos, text.substr(rng() % text.size(), rng() % 16));
      }
    }
    run(text);
  }
  for (int i = 0; i < 500; ++i) {
    std::string text = "---\n";
    std::size_t len = rng() % 200;
    for (std::size_t k = 0; k < len; ++k) text += static_cast<char>(rng() % 256);
    if (rng() % 2) text += "\n---\n";
    run(text);
  }
}

}  // namespace
