// SPDX-License-Identifier: Apache-2.0
// The files of every deployment target, for a fixed project: each one equals its golden copy in
// tests/deploy/golden/<case>/ (CPPFLUE_UPDATE_GOLDEN=1 rewrites them), and each one is valid for
// the tool that reads it: yamllint on YAML, a TOML and a JSON parser, the published JSON schemas
// of GitHub workflows, GitLab CI, Kubernetes, fly.toml and wrangler (tests/deploy/schemas,
// with their sources), systemd-analyze on the unit, and sh -n on the scripts.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "cli/deploy.hpp"
#include "cppflue/schema/validator.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using cli::deploy::File;
using cli::deploy::Project;
using testing::TempDir;

const fs::path kDeployData = fs::path(CPPFLUE_SOURCE_DIR) / "tests" / "deploy";

Project fixture(const std::string& target, bool compiled) {
  Project p;
  p.root = "/srv/demo";
  p.name = "demo";
  p.image = "demo";
  p.context = "dist/" + target;
  p.agents = {"helper", "reviewer"};
  p.env = {"CPPFLUE_SERVER_TOKEN", "OPENAI_API_KEY"};
  p.auth_token_env = "CPPFLUE_SERVER_TOKEN";
  p.optional_env = {"GITHUB_WEBHOOK_SECRET", "SLACK_SIGNING_SECRET", "CPPFLUE_WEBHOOK_SECRET"};
  p.runtime_packages = {"libcurl4", "libsqlite3-0"};
  p.upstream = "https://agents.example.com";
  if (compiled) {
    p.compiled = true;
    p.app_executable = "demo";
    p.agents.insert(p.agents.begin(), "assistant");
  }
  return p;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The golden cases: every target, and the docker files of a compiled project.
std::vector<std::pair<std::string, std::vector<File>>> cases() {
  std::vector<std::pair<std::string, std::vector<File>>> out;
  for (const auto& t : cli::deploy_targets()) {
    out.emplace_back(t, cli::deploy::target_files(t, fixture(t, false)));
  }
  out.emplace_back("docker-compiled", cli::deploy::target_files("docker", fixture("docker", true)));
  return out;
}

// Files several targets share are stored once: the image files of every container target in
// golden/docker/, the bundle's own files (which systemd ships too) in golden/bundle/. Another
// target's copy must equal them, but for the target a Dockerfile's first lines name.
std::string shared_with(const std::string& name, const std::string& path) {
  if (name != "docker" && name != "docker-compiled" && name != "bundle" && name != "systemd" &&
      (path == "Dockerfile" || path == ".dockerignore" || path == "start.sh")) {
    return "docker";
  }
  if (name == "systemd" && (path == "start" || path == "Containerfile" ||
                            path == ".containerignore" || path == "Containerfile.dockerignore")) {
    return "bundle";
  }
  return "";
}

bool shared_image_file(const std::string& name, const std::string& path) {
  return !shared_with(name, path).empty();
}

std::string expected_content(const std::string& name, const std::string& path) {
  const std::string owner = shared_with(name, path);
  if (owner.empty()) return read(kDeployData / "golden" / name / path);
  std::string text = read(kDeployData / "golden" / owner / path);
  const std::string from = "--target " + owner + "`";
  if (auto at = text.find(from); at != std::string::npos && path == "Dockerfile") {
    text.replace(at, from.size(), "--target " + name + "`");
  }
  return text;
}

TEST(DeployFiles, EveryTargetMatchesItsGoldenFiles) {
  const bool update = std::getenv("CPPFLUE_UPDATE_GOLDEN") != nullptr;
  for (const auto& [name, files] : cases()) {
    const fs::path dir = kDeployData / "golden" / name;
    std::set<std::string> expected;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_regular_file()) {
        expected.insert(it->path().lexically_relative(dir).string());
      }
    }
    std::set<std::string> made;
    for (const File& f : files) {
      if (shared_image_file(name, f.path)) {
        EXPECT_EQ(f.content, expected_content(name, f.path)) << name << ": " << f.path;
        continue;
      }
      made.insert(f.path);
      if (update) {
        fs::create_directories((dir / f.path).parent_path());
        std::ofstream(dir / f.path, std::ios::binary) << f.content;
        continue;
      }
      EXPECT_EQ(f.content, expected_content(name, f.path)) << name << ": " << f.path;
    }
    if (!update) {
      EXPECT_EQ(made, expected) << name;
    }
  }
}

TEST(DeployFiles, ScriptsAreExecutableAndParse) {
  TempDir tmp;
  int scripts = 0;
  for (const auto& [name, files] : cases()) {
    for (const File& f : files) {
      if (!f.executable) continue;
      ++scripts;
      EXPECT_EQ(f.content.rfind("#!/bin/sh\n", 0), 0u) << name << ": " << f.path;
      const fs::path p = tmp.path() / (name + "-" + fs::path(f.path).filename().string());
      testing::write_file(p, f.content);
      auto r = testing::run_cli(tmp.path(), {"-n", p.string()}, {}, {}, "sh");
      EXPECT_EQ(r.code, 0) << name << ": " << f.path << "\n" << r.err;
    }
  }
  EXPECT_GE(scripts, 6);
}

TEST(DeployFiles, YamlPassesYamllint) {
  TempDir tmp;
  int checked = 0;
  for (const auto& [name, files] : cases()) {
    for (const File& f : files) {
      const auto ext = fs::path(f.path).extension();
      if (ext != ".yml" && ext != ".yaml") continue;
      const fs::path p = tmp.path() / name / f.path;
      fs::create_directories(p.parent_path());
      testing::write_file(p, f.content);
      // Strict: warnings (document start, truthy keys, line length) fail too.
      auto r = testing::run_cli(tmp.path(), {"--strict", "-f", "parsable", p.string()}, {}, {},
                                "yamllint");
      EXPECT_EQ(r.code, 0) << name << ": " << f.path << "\n" << r.out << r.err;
      ++checked;
    }
  }
  EXPECT_GE(checked, 7);  // render, github, gitlab, 4 kubernetes
}

// YAML node -> JSON (scalars typed the way YAML 1.2's core schema types them).
json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json_object o;
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json_array a;
    for (const auto& v : n) a.push_back(yaml_to_json(v));
    return a;
  }
  if (n.IsNull()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return json(s);  // quoted
  if (s == "true") return true;
  if (s == "false") return false;
  char* end = nullptr;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (!s.empty() && end != nullptr && *end == '\0') return json(static_cast<std::int64_t>(i));
  return json(s);
}

json toml_to_json(const toml::node& n) {
  if (const auto* t = n.as_table()) {
    json_object o;
    for (const auto& [k, v] : *t) o[std::string(k.str())] = toml_to_json(v);
    return o;
  }
  if (const auto* a = n.as_array()) {
    json_array out;
    for (const auto& v : *a) out.push_back(toml_to_json(v));
    return out;
  }
  if (const auto* s = n.as_string()) return json(s->get());
  if (const auto* i = n.as_integer()) return json(i->get());
  if (const auto* d = n.as_floating_point()) return json(d->get());
  if (const auto* b = n.as_boolean()) return json(b->get());
  ADD_FAILURE() << "unexpected TOML value";
  return nullptr;
}

// JSON with // comments (JSONC), comments removed outside strings.
std::string strip_jsonc(const std::string& text) {
  std::string out;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i < text.size() && text[i] != '\n') ++i;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

const File& file_of(const std::vector<File>& files, const std::string& path) {
  for (const File& f : files) {
    if (f.path == path) return f;
  }
  throw std::runtime_error("no generated file " + path);
}

void expect_valid(const json& instance, const fs::path& schema_file, const std::string& what) {
  auto schema = parse_json(read(kDeployData / "schemas" / schema_file));
  ASSERT_TRUE(schema) << schema_file;
  auto validator = SchemaValidator::compile(*schema);
  ASSERT_TRUE(validator) << schema_file << ": " << validator.error().message;
  auto errors = validator->validate(instance);
  EXPECT_TRUE(errors.empty()) << what << " against " << schema_file << ":\n"
                              << format_path_errors(errors);
}

TEST(DeployFiles, TomlAndJsonParse) {
  int parsed = 0;
  for (const auto& [name, files] : cases()) {
    for (const File& f : files) {
      const auto ext = fs::path(f.path).extension();
      if (ext == ".toml") {
        EXPECT_NO_THROW((void)toml::parse(f.content)) << name << ": " << f.path;
        ++parsed;
      } else if (ext == ".json" || ext == ".jsonc") {
        auto j = parse_json(ext == ".jsonc" ? strip_jsonc(f.content) : f.content);
        EXPECT_TRUE(j) << name << ": " << f.path;
        ++parsed;
      }
    }
  }
  EXPECT_GE(parsed,
            7);  // fly.toml, netlify.toml, railway.json, vercel.json, wrangler, package, tsconfig
}

TEST(DeployFiles, GithubAndGitlabPipelinesMatchTheirSchemas) {
  auto gh = cli::deploy::target_files("github-actions", fixture("github-actions", false));
  expect_valid(yaml_to_json(YAML::Load(file_of(gh, ".github/workflows/cppflue.yml").content)),
               "github-workflow.json", "the GitHub workflow");
  auto gl = cli::deploy::target_files("gitlab-ci", fixture("gitlab-ci", false));
  expect_valid(yaml_to_json(YAML::Load(file_of(gl, ".gitlab-ci.yml").content)), "gitlab-ci.json",
               "the GitLab pipeline");
}

TEST(DeployFiles, KubernetesManifestsMatchTheirSchemas) {
  auto files = cli::deploy::target_files("kubernetes", fixture("kubernetes", false));
  for (const char* d : {"deployment.yaml", "deployment-jail.yaml"}) {
    expect_valid(yaml_to_json(YAML::Load(file_of(files, d).content)),
                 "kubernetes/deployment-apps-v1.json", d);
  }
  expect_valid(yaml_to_json(YAML::Load(file_of(files, "service.yaml").content)),
               "kubernetes/service-v1.json", "service.yaml");
  expect_valid(yaml_to_json(YAML::Load(file_of(files, "pvc.yaml").content)),
               "kubernetes/persistentvolumeclaim-v1.json", "pvc.yaml");
  // The schema really checks: a misspelt field is refused.
  json bad = yaml_to_json(YAML::Load(file_of(files, "deployment.yaml").content));
  bad.as_object()["spec"].as_object()["replica"] = 1;
  auto schema = parse_json(read(kDeployData / "schemas/kubernetes/deployment-apps-v1.json"));
  ASSERT_TRUE(schema);
  EXPECT_FALSE(SchemaValidator::compile(*schema)->validate(bad).empty());
}

TEST(DeployFiles, FlyAndWranglerMatchTheirSchemas) {
  auto fly = cli::deploy::target_files("fly", fixture("fly", false));
  expect_valid(toml_to_json(toml::parse(file_of(fly, "fly.toml").content)), "fly.json", "fly.toml");
  auto cf = cli::deploy::target_files("cloudflare", fixture("cloudflare", false));
  auto wrangler = parse_json(strip_jsonc(file_of(cf, "wrangler.jsonc").content));
  ASSERT_TRUE(wrangler);
  expect_valid(*wrangler, "wrangler.json", "wrangler.jsonc");
}

TEST(DeployFiles, SystemdUnitPassesSystemdAnalyzeVerify) {
  TempDir tmp;
  auto files = cli::deploy::target_files("systemd", fixture("systemd", false));
  // The unit names /opt/cppflue-demo/start: a root holding it, as after the README's steps.
  const fs::path root = tmp.path() / "root";
  const fs::path unit = root / "etc/systemd/system/cppflue-demo.service";
  testing::write_file(unit, file_of(files, "systemd/cppflue-demo.service").content);
  testing::write_file(root / "opt/cppflue-demo/start", "#!/bin/sh\n");
  fs::permissions(root / "opt/cppflue-demo/start", fs::perms::owner_all);
  fs::create_directories(root / "opt/cppflue-demo/app");
  // The targets and services it is ordered against, as systemd installs them.
  fs::create_directories(root / "usr/lib/systemd");
  fs::copy("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
           fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  auto r = testing::run_cli(
      tmp.path(), {"verify", "--root=" + root.string(), "/etc/systemd/system/cppflue-demo.service"},
      {"SYSTEMD_LOG_LEVEL=notice"}, {}, "systemd-analyze");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.err.find("cppflue-demo.service:"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cppflue
