// SPDX-License-Identifier: Apache-2.0
// `cppflue build` and `cppflue deploy` through the real binary: bad input (an unknown target, a
// project without agents, an existing output folder, secret values in cppflue.toml, options
// that cannot work), what the project copy leaves out, the manifest and the platform's CLI, the
// runtime packages of the image, and the bundle started in an empty root.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "cli/deploy_system.hpp"
#include "server/serve_util.hpp"
#include "support/run_cli.hpp"
#include "support/test_util.hpp"

namespace cppflue {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;
using testing::contains;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

// Whether bubblewrap can make an empty root here (it needs unprivileged user namespaces).
bool deploy_bwrap_usable() {
  if (!fs::exists("/usr/bin/bwrap")) return false;
  auto r = testing::run_cli("/", {"--unshare-all", "--ro-bind", "/", "/", "true"}, {}, {},
                            "/usr/bin/bwrap");
  return r.code == 0;
}

class DeployCli : public ::testing::Test {
 protected:
  void SetUp() override {
    project_ = tmp_.path() / "demo";
    serve_testing::write_helper_project(project_);
    write_file(project_ / "AGENTS.md", "Be brief.\n");
  }
  CliRun cppflue(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    return testing::run_cli(project_, args, env,
                            {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                             "CPPFLUE_MODEL", "CPPFLUE_STATE_DIR"},
                            CPPFLUE_BINARY);
  }
  fs::path dist(const std::string& target) const { return project_ / "dist" / target; }

  TempDir tmp_;
  fs::path project_;
};

TEST_F(DeployCli, AnUnknownTargetIsAnErrorListingTheTargets) {
  auto r = cppflue({"build", "--target", "heroku"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "unknown target 'heroku'")) << r.err;
  for (const char* t : {"docker", "bundle", "github-actions", "gitlab-ci", "railway", "render",
                        "fly", "vercel", "netlify", "cloudflare", "systemd", "kubernetes"}) {
    EXPECT_TRUE(contains(r.err, t)) << t;
  }
  EXPECT_FALSE(fs::exists(project_ / "dist"));
  r = cppflue({"build"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "--target")) << r.err;
}

TEST_F(DeployCli, AProjectWithoutAgentsIsRefused) {
  fs::remove_all(project_ / ".agents");
  auto r = cppflue({"build", "--target", "docker"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "has no agents to deploy")) << r.err;
  EXPECT_FALSE(fs::exists(project_ / "dist"));
  // A broken agent file is named, not deployed.
  write_file(project_ / ".agents/agents/bad.md", "---\nname: bad\nmodle: x\n---\nHi\n");
  r = cppflue({"build", "--target", "docker"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "bad.md")) << r.err;
}

TEST_F(DeployCli, AnExistingOutputFolderIsReplacedOnlyWithForceAndOnlyIfOurs) {
  ASSERT_EQ(cppflue({"build", "--target", "fly"}).code, 0);
  write_file(dist("fly") / "marker", "old");
  auto again = cppflue({"build", "--target", "fly"});
  EXPECT_EQ(again.code, 1);
  EXPECT_TRUE(contains(again.err, "already exists: pass --force")) << again.err;
  EXPECT_TRUE(fs::exists(dist("fly") / "marker"));
  EXPECT_EQ(cppflue({"build", "--target", "fly", "--force"}).code, 0);
  EXPECT_FALSE(fs::exists(dist("fly") / "marker"));
  EXPECT_TRUE(fs::exists(dist("fly") / "fly.toml"));

  // A folder `build` did not make is never removed, even with --force.
  const fs::path mine = tmp_.path() / "mine";
  write_file(mine / "notes.txt", "keep me");
  auto refused = cppflue({"build", "--target", "fly", "-o", mine.string(), "--force"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(contains(refused.err, "was not made by `cppflue build`")) << refused.err;
  EXPECT_EQ(read_file(mine / "notes.txt"), "keep me");
  // Nor the project itself, or a folder holding it.
  for (const fs::path& bad : {project_, tmp_.path()}) {
    auto r = cppflue({"build", "--target", "fly", "-o", bad.string(), "--force"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "would hold the project itself")) << r.err;
  }
  EXPECT_TRUE(fs::exists(project_ / "cppflue.toml"));
}

TEST_F(DeployCli, SecretValuesInTheConfigAreRefusedAndTheLastOutputIsKept) {
  ASSERT_EQ(cppflue({"build", "--target", "docker"}).code, 0);
  const std::string before = read_file(dist("docker") / "Dockerfile");
  for (const std::string& toml :
       {std::string("[providers.mine]\napi = \"openai-chat\"\nbase_url = \"http://x/v1\"\n"
                    "api_key = \"sk-live-123456789\"\n"),
        std::string("[secrets]\ngithub = { value = \"ghp_abcdefghijkl\" }\n")}) {
    write_file(project_ / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n\n" + toml);
    auto r = cppflue({"build", "--target", "docker", "--force"});
    EXPECT_EQ(r.code, 1) << toml;
    EXPECT_TRUE(contains(r.err, "holds secret values")) << r.err;
    EXPECT_TRUE(contains(r.err, toml.find("api_key") != std::string::npos ? "providers.mine.api_key"
                                                                          : "secrets.github.value"))
        << r.err;
    EXPECT_FALSE(contains(r.err, "sk-live-123456789"));
    EXPECT_EQ(read_file(dist("docker") / "Dockerfile"), before);
  }
  for (const auto& e : fs::directory_iterator(project_ / "dist")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
}

TEST_F(DeployCli, TheProjectCopyLeavesOutSecretsStateBuildsAndLinks) {
  write_file(project_ / ".env", "OPENAI_API_KEY=sk-from-dotenv-1234\n");
  write_file(project_ / ".env.production", "X=1\n");
  write_file(project_ / ".cppflue/state.db", "state");
  write_file(project_ / ".git/config", "[core]\n");
  write_file(project_ / "node_modules/x/index.js", "x");
  write_file(project_ / "build/CMakeCache.txt", "cache");
  write_file(project_ / "out/release/CMakeCache.txt", "cache");
  write_file(project_ / "docs/guide.md", "guide");
  write_file(project_ / "docs/dist/keep.txt", "a nested dist/ is the project's own");
  fs::create_symlink("/etc/passwd", project_ / "docs/passwd");
  fs::create_directory_symlink("/etc", project_ / "docs/etc");
  fs::create_symlink("../../../", project_ / ".agents/up");
  int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = (project_ / "docs/sock").string();
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::mkfifo((project_ / "docs/fifo").c_str(), 0600), 0);
  auto r = cppflue({"build", "--target", "docker"});
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path app = dist("docker") / "app";
  EXPECT_TRUE(fs::exists(app / "cppflue.toml"));
  EXPECT_TRUE(fs::exists(app / "AGENTS.md"));
  EXPECT_TRUE(fs::exists(app / ".agents/agents/helper.md"));
  EXPECT_TRUE(fs::exists(app / "docs/guide.md"));
  EXPECT_TRUE(fs::exists(app / "docs/dist/keep.txt"));
  ::close(sock);
  for (const char* left_out :
       {".env", ".env.production", ".cppflue", ".git", "node_modules", "build", "out/release",
        "docs/passwd", "docs/fifo", "dist", "docs/etc", ".agents/up", "docs/sock"}) {
    EXPECT_FALSE(fs::exists(fs::symlink_status(app / left_out))) << left_out;
  }
  EXPECT_TRUE(contains(r.err, "docs/passwd is a symbolic link: not copied")) << r.err;
  EXPECT_TRUE(contains(r.err, "docs/fifo is not a regular file")) << r.err;
  EXPECT_TRUE(contains(r.err, "docs/etc is a symbolic link: not copied")) << r.err;
  EXPECT_TRUE(contains(r.err, "docs/sock is not a regular file")) << r.err;
  // The .env value is nowhere in the text files.
  for (const auto& e : fs::recursive_directory_iterator(dist("docker"))) {
    if (e.is_regular_file() && e.file_size() < 1000000) {
      EXPECT_FALSE(contains(read_file(e.path()), "sk-from-dotenv-1234")) << e.path();
    }
  }
}

TEST_F(DeployCli, OptionsThatCannotWorkAreRefused) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases{
      {{"--target", "kubernetes", "--replicas", "3"}, "replicas cannot share"},
      {{"--target", "kubernetes", "--replicas", "0"}, "at least 1"},
      {{"--target", "vercel"}, "needs --upstream URL"},
      {{"--target", "netlify"}, "needs --upstream URL"},
      {{"--target", "vercel", "--upstream", "ftp://x"}, "is not an http(s) URL"},
      {{"--target", "vercel", "--upstream", "https://a.example/\"}"}, "is not an http(s) URL"},
      {{"--target", "netlify", "--upstream", "https://a.example/x y"}, "is not an http(s) URL"},
      {{"--target", "docker", "--upstream", "https://a.example"}, "for the vercel and netlify"},
      {{"--target", "docker", "--image", "Bad Image"}, "is not an image reference"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"build"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = cppflue(args);
    EXPECT_EQ(r.code, 1) << c.args[1];
    EXPECT_TRUE(contains(r.err, c.message)) << c.message << "\n" << r.err;
  }
  EXPECT_FALSE(fs::exists(project_ / "dist"));
  auto ok = cppflue({"build", "--target", "vercel", "--upstream", "https://agents.example.com/"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_TRUE(contains(read_file(dist("vercel") / "vercel.json"),
                       "\"destination\": \"https://agents.example.com/:path*\""));
}

TEST_F(DeployCli, TheVariablesAreNamedNeverValued) {
  write_file(project_ / "cppflue.toml",
             "[agent]\nmodel = \"openai:gpt-5\"\n\n[secrets]\ngithub = { env = \"GITHUB_TOKEN\" "
             "}\n\n[server]\nauth_token_env = \"AGENTS_TOKEN\"\n");
  auto r = cppflue({"build", "--target", "kubernetes"},
                   {"OPENAI_API_KEY=sk-secret-value-42", "GITHUB_TOKEN=ghp-secret-43"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string readme = read_file(dist("kubernetes") / "README.md");
  for (const char* v : {"OPENAI_API_KEY", "GITHUB_TOKEN", "AGENTS_TOKEN"}) {
    EXPECT_TRUE(contains(readme, fmt::format("- `{}`", v))) << v;
  }
  EXPECT_TRUE(contains(readme, "--from-env-file=.env")) << readme;
  EXPECT_FALSE(contains(readme, "has no token"));
  for (const auto& e : fs::recursive_directory_iterator(dist("kubernetes"))) {
    if (!e.is_regular_file() || e.file_size() > 1000000) continue;
    const std::string text = read_file(e.path());
    EXPECT_FALSE(contains(text, "sk-secret-value-42")) << e.path();
    EXPECT_FALSE(contains(text, "ghp-secret-43")) << e.path();
  }
}

// What the project controls ends up in shell lines, YAML, a unit and TypeScript: a variable
// or agent name that is not a plain name is refused, not written.
TEST_F(DeployCli, NamesThatCouldInjectIntoTheFilesAreRefused) {
  for (const std::string& bad :
       {std::string("K\\nExecStartPre=+/bin/sh -c id\\n#"), std::string("A B"),
        std::string("X$(id)"), std::string("1ABC"), std::string("X: env.X, y")}) {
    write_file(project_ / "cppflue.toml",
               "[agent]\nmodel = \"test:demo\"\n\n[secrets]\ngh = { env = \"" + bad + "\" }\n");
    auto r = cppflue({"build", "--target", "systemd"});
    EXPECT_EQ(r.code, 1) << bad;
    EXPECT_TRUE(contains(r.err, "which is not a variable name")) << bad << "\n" << r.err;
  }
  EXPECT_FALSE(fs::exists(project_ / "dist"));
  // A compiled project's agent names come from its file names.
  write_file(project_ / "cppflue.toml", "[agent]\nmodel = \"test:demo\"\n");
  write_file(project_ / "CMakeLists.txt",
             "cmake_minimum_required(VERSION 3.25)\nproject(demo CXX)\nfind_package(cppflue)\n"
             "add_executable(demo src/main.cpp)\n");
  write_file(project_ / "src/agents/x; echo INJECTED; for a in y.cpp", "");
  auto r = cppflue({"build", "--target", "github-actions"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "is not a name the deployment files can hold")) << r.err;
  EXPECT_FALSE(fs::exists(project_ / "dist"));
}

// In project mode the agents can write the sources: compiling them would run their code here.
TEST_F(DeployCli, ACompiledProjectTheAgentsCanEditIsNotCompiledWithoutConsent) {
  write_file(project_ / "cppflue.toml",
             "[agent]\nmodel = \"test:demo\"\n\n[sandbox]\nworkspace = \".\"\n");
  write_file(project_ / "CMakeLists.txt",
             "cmake_minimum_required(VERSION 3.25)\nproject(demo CXX)\nfind_package(cppflue)\n"
             "add_executable(demo src/main.cpp)\n");
  auto r = cppflue({"build", "--target", "bundle"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "pass --allow-agent-edits")) << r.err;
  EXPECT_FALSE(fs::exists(project_ / "build"));  // nothing was configured
  // Files only (no compile): allowed.
  EXPECT_EQ(cppflue({"build", "--target", "vercel", "--upstream", "https://a.example"}).code, 0);
}

// The output is written through descriptors: a link planted in its path inside the project is
// refused, and -o through a link cannot reach the project.
TEST_F(DeployCli, LinksInTheOutputPathAreNotFollowed) {
  const fs::path victim = tmp_.path() / "victim";
  fs::create_directories(victim);
  fs::create_directory_symlink(victim, project_ / "dist");
  auto r = cppflue({"build", "--target", "fly"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "a symbolic link is never followed inside the project")) << r.err;
  EXPECT_TRUE(fs::is_empty(victim));
  fs::remove(project_ / "dist");

  // A link to the project's parent: the resolved -o holds the project.
  fs::create_directory_symlink(tmp_.path(), tmp_.path() / "up");
  write_file(project_ / ".cppflue-build.json", "{}");
  r = cppflue(
      {"build", "--target", "fly", "-o", (tmp_.path() / "up" / "demo").string(), "--force"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "would hold the project itself")) << r.err;
  EXPECT_TRUE(fs::exists(project_ / "cppflue.toml"));

  // An output inside the project, rebuilt: the earlier output is not copied into the new one.
  ASSERT_EQ(cppflue({"build", "--target", "docker", "-o", "out/image"}).code, 0);
  auto again = cppflue({"build", "--target", "docker", "-o", "out/image", "--force"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(fs::exists(project_ / "out/image/app/cppflue.toml"));
  EXPECT_FALSE(fs::exists(project_ / "out/image/app/out/image"));
  for (const auto& e : fs::directory_iterator(project_ / "out")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
}

TEST_F(DeployCli, HardLinksAndABundlesStateAreKept) {
  write_file(tmp_.path() / "outside-secret", "s3cr3t");
  fs::create_hard_link(tmp_.path() / "outside-secret", project_ / "notes.txt");
  auto r = cppflue({"build", "--target", "bundle"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "notes.txt has other hard links: not copied")) << r.err;
  EXPECT_FALSE(fs::exists(dist("bundle") / "app/notes.txt"));
  // The bundle ran and has a store: --force does not throw it away.
  write_file(dist("bundle") / "state/state.db", "sessions");
  auto forced = cppflue({"build", "--target", "bundle", "--force"});
  EXPECT_EQ(forced.code, 1);
  EXPECT_TRUE(contains(forced.err, "holds the state of a bundle")) << forced.err;
  EXPECT_EQ(read_file(dist("bundle") / "state/state.db"), "sessions");
}

TEST_F(DeployCli, DeployWritesTheManifestAndRunsThePlatformCli) {
  auto dry = cppflue({"deploy", "--target", "fly", "--dry-run"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_TRUE(
      contains(dry.out, "Dry run: not running `cd " + dist("fly").string() + " && fly deploy`"))
      << dry.out;
  auto manifest = parse_json(read_file(project_ / ".cppflue/deploy.json"));
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->at("target").as_string(), "fly");
  std::set<std::string> files;
  for (const auto& f : manifest->at("files").as_array()) files.insert(std::string(f.as_string()));
  for (const char* f : {"dist/fly/fly.toml", "dist/fly/Dockerfile", "dist/fly/README.md",
                        "dist/fly/app/", "dist/fly/cppflue/"}) {
    EXPECT_TRUE(files.count(f)) << f;
  }

  // A platform CLI on PATH runs in the output folder; its status is ours.
  const fs::path bin = tmp_.path() / "bin";
  const fs::path log = tmp_.path() / "fly.log";
  write_file(bin / "fly", "#!/bin/sh\necho \"$PWD|$*\" > " + log.string() + "\nexit 3\n");
  fs::permissions(bin / "fly", fs::perms::owner_all);
  const std::string path = "PATH=" + bin.string() + ":/usr/bin:/bin";
  auto ran = cppflue({"deploy", "--target", "fly", "--force"}, {path});
  EXPECT_EQ(ran.code, 1);
  EXPECT_TRUE(contains(ran.err, "fly deploy` exited with 3")) << ran.err;
  EXPECT_EQ(read_file(log), dist("fly").string() + "|deploy\n");

  // Without it, the command to run is printed.
  auto missing = cppflue({"deploy", "--target", "fly", "--force"}, {"PATH=/usr/bin:/bin"});
  EXPECT_EQ(missing.code, 0) << missing.err;
  EXPECT_TRUE(contains(missing.out, "fly is not installed here; to deploy, run:")) << missing.out;
  // A target without a CLI says where the steps are.
  auto render = cppflue({"deploy", "--target", "render"});
  EXPECT_EQ(render.code, 0) << render.err;
  EXPECT_TRUE(contains(render.out, "render has no command that deploys it from here"))
      << render.out;
}

// The pipelines' check: without the provider's key, `doctor --offline` passes (the key is
// given where the agents run); an unknown provider or a broken file still fails.
TEST_F(DeployCli, DoctorOfflineNeedsNoProviderKey) {
  write_file(project_ / "cppflue.toml", "[agent]\nmodel = \"openai:gpt-5\"\n");
  auto strict = cppflue({"doctor"});
  EXPECT_EQ(strict.code, 1);
  EXPECT_TRUE(contains(strict.out, "ERROR: no API key for provider 'openai'")) << strict.out;
  auto offline = cppflue({"doctor", "--offline"});
  EXPECT_EQ(offline.code, 0) << offline.out << offline.err;
  EXPECT_TRUE(contains(offline.out, "(not checked offline: no API key for provider 'openai'"))
      << offline.out;
  auto as_json = cppflue({"doctor", "--offline", "--json"});
  auto report = parse_json(as_json.out);
  ASSERT_TRUE(report) << as_json.out;
  EXPECT_TRUE(report->at("ok").as_bool());
  EXPECT_TRUE(report->at("model").at("offline_check").as_bool());
  write_file(project_ / "cppflue.toml", "[agent]\nmodel = \"nosuch:model\"\n");
  EXPECT_EQ(cppflue({"doctor", "--offline"}).code, 1);
  write_file(project_ / "cppflue.toml", "[agent]\nmodel = \"openai:gpt-5\"\n");
  write_file(project_ / ".agents/agents/bad.md", "---\nname: bad\ntools: [grp]\n---\nHi\n");
  EXPECT_EQ(cppflue({"doctor", "--offline"}).code, 1);
}

TEST_F(DeployCli, TheImageInstallsThePackagesOfEveryLibraryTheBinaryLoads) {
  ASSERT_EQ(cppflue({"build", "--target", "docker"}).code, 0);
  const std::string dockerfile = read_file(dist("docker") / "Dockerfile");
  auto runtime = dockerfile.find("FROM debian:12-slim");
  ASSERT_NE(runtime, std::string::npos);
  std::smatch m;
  const std::string tail = dockerfile.substr(runtime);
  ASSERT_TRUE(
      std::regex_search(tail, m, std::regex(R"(--no-install-recommends \\\n +([^\\\n]+))")));
  std::set<std::string> packages{"libc6", "libgcc-s1", "libstdc++6"};
  std::istringstream words(m[1].str());
  for (std::string w; words >> w;) packages.insert(w);
  for (const char* core : {"libcurl4", "libsqlite3-0", "libboost-json1.81.0", "libseccomp2"}) {
    EXPECT_TRUE(packages.count(core)) << core;
  }
  auto needed = cli::deploy::elf_needed(CPPFLUE_BINARY);
  ASSERT_TRUE(needed);
  auto libs = cli::deploy::shared_libraries(CPPFLUE_BINARY);
  ASSERT_TRUE(libs);
  for (const auto& soname : *needed) {
    std::string path;
    for (const auto& l : *libs) {
      if (l.name == soname) path = l.path;
    }
    ASSERT_FALSE(path.empty()) << soname;
    auto owner = cli::deploy::run_capture({"dpkg-query", "-S", fs::canonical(path).string()});
    ASSERT_TRUE(owner);
    if (owner->output.empty()) owner = cli::deploy::run_capture({"dpkg-query", "-S", path});
    const std::string pkg = owner->output.substr(0, owner->output.find(':'));
    EXPECT_TRUE(packages.count(pkg)) << soname << " is in " << pkg;
  }
}

TEST(DeployElf, ReadsTheLibrariesOfABinaryAndRefusesWhatIsNotOne) {
  auto needed = cli::deploy::elf_needed(CPPFLUE_BINARY);
  ASSERT_TRUE(needed) << needed.error().message;
  EXPECT_NE(std::find(needed->begin(), needed->end(), "libc.so.6"), needed->end());
  TempDir tmp;
  const std::string binary = read_file(CPPFLUE_BINARY);
  const std::vector<std::pair<std::string, std::string>> bad{
      {"script", "#!/bin/sh\necho hi\n"},
      {"empty", ""},
      {"header-only", binary.substr(0, 64)},
      {"truncated", binary.substr(0, 4096)},
      {"elf32", std::string("\x7f"
                            "ELF\x01\x01\x01",
                            7) +
                    std::string(80, '\0')},
  };
  for (const auto& [name, content] : bad) {
    write_file(tmp.path() / name, content);
    auto r = cli::deploy::elf_needed(tmp.path() / name);
    EXPECT_FALSE(r) << name;
    if (!r) {
      EXPECT_TRUE(contains(r.error().message, "is not a usable x86-64 ELF binary")) << name;
    }
  }
  EXPECT_FALSE(cli::deploy::elf_needed(tmp.path() / "missing"));
}

// The bundle in a root holding nothing but the bundle (bubblewrap: the bundle, /proc, /dev and
// an empty /tmp), as an unprivileged user: /health, a prompt with the offline model, SIGTERM.
TEST_F(DeployCli, TheBundleServesInAnEmptyRootAndStopsOnSigterm) {
  if (!deploy_bwrap_usable()) GTEST_SKIP() << "bubblewrap cannot start here";
  auto r = cppflue({"build", "--target", "bundle"});
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path bundle = dist("bundle");
  auto version = testing::run_cli(tmp_.path(), {"--version"}, {}, {}, (bundle / "start").string());
  EXPECT_EQ(version.code, 0) << version.err;
  EXPECT_TRUE(contains(version.out, "cppflue ")) << version.out;

  // The start script's exec line, with the bundle mounted at /bundle and nothing else.
  const fs::path wrapper = tmp_.path() / "empty-root";
  write_file(wrapper,
             "#!/bin/sh\nexec env -i /usr/bin/bwrap --unshare-all --share-net --die-with-parent "
             "--uid 10001 --gid 10001 --bind " +
                 bundle.string() +
                 " /bundle --proc /proc --dev /dev --tmpfs /tmp --chdir /bundle/app "
                 "--setenv CPPFLUE_EXEC_HELPER /bundle/libexec/cppflue/cppflue-exec "
                 "--setenv CPPFLUE_STATE_DIR /bundle/state /bundle/lib/ld-linux-x86-64.so.2 "
                 "--library-path /bundle/lib --argv0 cppflue /bundle/bin/cppflue \"$@\"\n");
  fs::permissions(wrapper, fs::perms::owner_all);
  fs::permissions(bundle / "state", fs::perms::all);
  serve_testing::ServeProcess server(project_, {"--host", "127.0.0.1"}, {}, wrapper.string());
  ASSERT_GT(server.port(), 0) << server.output();
  auto health = serve_testing::call(server.port(), "GET", "/health");
  EXPECT_EQ(health.status, 200) << server.output();
  auto prompt =
      serve_testing::call(server.port(), "POST", "/agents/helper/one", R"({"message":"hello"})");
  EXPECT_EQ(prompt.status, 200) << prompt.body << server.output();
  EXPECT_TRUE(contains(prompt.body, "[offline test model]")) << prompt.body;
  EXPECT_TRUE(fs::exists(bundle / "state" / "state.db"));

  // SIGTERM to the server inside (bwrap itself does not pass signals on).
  pid_t inner = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = testing::read_proc_file(e.path() / "cmdline");
    if (contains(cmdline, "/bundle/bin/cppflue") && !contains(cmdline, "bwrap")) {
      inner = std::stoi(name);
    }
  }
  ASSERT_GT(inner, 0);
  ASSERT_EQ(::kill(inner, SIGTERM), 0);
  for (int i = 0; i < 500 && server.alive(); ++i) ::usleep(10000);
  EXPECT_FALSE(server.alive());
  EXPECT_EQ(server.exit_status(), 0) << server.output();
  EXPECT_TRUE(contains(server.output(), "stopping")) << server.output();
}

}  // namespace
}  // namespace cppflue
