// SPDX-License-Identifier: Apache-2.0
// The host-side attack table: what the model controls (tool arguments, `env`, file names,
// symlinks, FIFOs, timing) must never act on the host. Each class is a table of variants; races
// run at least 2,000 attempts against a flipper that swaps a real folder or file with a symlink
// (or a FIFO) leading outside, and every outcome is checked on the host side: a marker file
// outside the workspace, the host secret in what was read, the owner and mode bits of files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "cppflue/cppflue.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "cppflue/sandbox/shell_policy.hpp"
#include "cppflue/sandbox/subprocess.hpp"
#include "support/test_util.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSecret = "HOST-ONLY-SECRET-5b1e";
constexpr int kRaceAttempts = 2000;

// Swaps two names (a real entry and a symlink leading outside) until stopped.
class Flipper {
 public:
  Flipper(fs::path a, fs::path b) : a_(std::move(a)), b_(std::move(b)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        ::renameat2(AT_FDCWD, a_.c_str(), AT_FDCWD, b_.c_str(), RENAME_EXCHANGE);
        flips_.fetch_add(1);
      }
    });
  }
  ~Flipper() {
    stop_ = true;
    thread_.join();
  }
  long flips() const { return flips_.load(); }

 private:
  fs::path a_, b_;
  std::atomic<bool> stop_{false};
  std::atomic<long> flips_{0};
  std::thread thread_;
};

class HostEscape : public ::testing::Test {
 protected:
  void SetUp() override {
    outside_ = dir_.path() / "host_secret";
    fs::create_directories(outside_);
    write_file(outside_ / "secret.txt", kSecret);
    project_ = dir_.path() / "project";
    fs::create_directories(project_);
  }

  Agent agent(const std::string& toml, InitOptions o = {}) {
    write_file(project_ / "cppflue.toml", toml);
    o.model = "test:echo";
    o.root = project_.string();
    return init(std::move(o));
  }

  TempDir dir_;
  fs::path outside_;
  fs::path project_;
};

// ---- 1. No model-controlled bytes in a host process's environment ----------------------------

TEST_F(HostEscape, ModelEnvironmentDenyList) {
  ShellPolicy open;
  for (const char* name : {"LD_PRELOAD",
                           "LD_LIBRARY_PATH",
                           "LD_AUDIT",
                           "ld_preload",
                           "GCONV_PATH",
                           "GLIBC_TUNABLES",
                           "BASH_ENV",
                           "ENV",
                           "BASH_FUNC_x%%",
                           "PYTHONPATH",
                           "PYTHONSTARTUP",
                           "NODE_OPTIONS",
                           "PERL5OPT",
                           "RUBYOPT",
                           "JAVA_TOOL_OPTIONS",
                           "GIT_CONFIG_COUNT",
                           "GIT_CONFIG_KEY_0",
                           "GIT_SSH_COMMAND",
                           "GIT_PAGER",
                           "TAR_OPTIONS",
                           "PAGER",
                           "LESSOPEN",
                           "EDITOR",
                           "PATH",
                           "MALLOC_CHECK_"}) {
    auto r = check_model_env({{name, "x"}}, open);
    EXPECT_FALSE(r) << name;
  }
  for (const char* name : {"FOO", "PYTHONUNBUFFERED", "NODE_ENV", "MY_TOKEN_NAME"}) {
    EXPECT_TRUE(check_model_env({{name, "1"}}, open)) << name;
  }
  // Under an allowlist, only [sandbox] allowed_env names.
  ShellPolicy listed{.allow_shell = true, .allowed_commands = {"git"}, .allowed_env = {"FOO"}};
  EXPECT_TRUE(check_model_env({{"FOO", "1"}}, listed));
  auto refused = check_model_env({{"BAR", "1"}}, listed);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().details.at("rule").as_string(), "allowed_env");
}

// The root cause: even a variable that gets past the tool (the library API is the developer's)
// is set inside the jail only. A preloaded library that would write a marker on the host is
// loaded by the jailed command, never by bubblewrap or the launch step.
TEST_F(HostEscape, LoaderVariablesReachOnlyTheJailedCommand) {
  REQUIRE_JAIL();
  auto gcc = find_executable("gcc", "/usr/bin:/bin");
  if (!gcc) GTEST_SKIP() << "no gcc to build the test library";
  fs::path marker = outside_ / "HOST_CODE_EXEC";
  write_file(dir_.path() / "evil.c",
             "#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void "
             "f(void){FILE*m=fopen(\"" +
                 marker.string() +
                 "\",\"a\");if(m){fprintf(m,\"uid %d\\n\",(int)getuid());fclose(m);}"
                 "fprintf(stderr,\"[loaded]\");}\n");
  SubprocessOptions cc;
  cc.argv = {*gcc,
             "-shared",
             "-fPIC",
             "-o",
             (project_ / "evil.so").string(),
             (dir_.path() / "evil.c").string()};
  cc.env = {"PATH=/usr/bin:/bin"};
  auto built = boost::asio::co_spawn(Runtime::shared()->executor(),
                                     run_subprocess(cc, CancelToken{}), boost::asio::use_future)
                   .get();
  ASSERT_TRUE(built && built->exit_code == 0) << (built ? built->stderr_text : "spawn failed");
  give_to_jail_user(project_);
  auto a = agent("[sandbox]\nworkspace = \".\"\n", InitOptions{.allow_shell = true});
  auto s = a.session("env");
  std::string so = (project_ / "evil.so").string();
  for (const char* name : {"LD_PRELOAD", "LD_AUDIT"}) {
    auto r = s.shell("true", ShellOptions{.env = {{name, so}}});
    EXPECT_FALSE(fs::exists(marker)) << name << " ran code on the host: " << read_file(marker);
    if (std::string(name) == "LD_PRELOAD") {
      EXPECT_NE(r.stderr_text.find("[loaded]"), std::string::npos) << r.stderr_text;
    }
  }
}

// The review's A10: under an allowlist, `env` made an allowed program run others (git's
// core.fsmonitor, tar's checkpoint action). The model's env is refused before anything runs.
TEST_F(HostEscape, EnvCannotTurnAnAllowedProgramIntoAnother) {
  REQUIRE_JAIL();
  fs::path marker = project_ / "PWNED";
  struct Attempt {
    const char* command;
    json env;
  };
  std::vector<Attempt> attempts = {
      {"git status --short", json_object{{"GIT_CONFIG_COUNT", "1"},
                                         {"GIT_CONFIG_KEY_0", "core.fsmonitor"},
                                         {"GIT_CONFIG_VALUE_0", "touch PWNED; false"}}},
      {"tar -cf /dev/null cppflue.toml",
       json_object{{"TAR_OPTIONS", "--checkpoint=1 --checkpoint-action=exec=touch\\ PWNED"}}},
      {"git log", json_object{{"PAGER", "touch PWNED"}, {"GIT_PAGER", "touch PWNED"}}},
      {"git status", json_object{{"PATH", "/workspace:/usr/bin"}}},
      {"git status", json_object{{"BASH_ENV", "/workspace/x.sh"}}},
  };
  json_array calls;
  for (const auto& at : attempts) {
    calls.push_back(json_object{
        {"name", "bash"}, {"arguments", json_object{{"command", at.command}, {"env", at.env}}}});
  }
  json script = json_object{{"turns", json_array{json_object{{"tool_calls", calls}},
                                                 json_object{{"text", "{{tool_result}}"}}}}};
  write_file(dir_.path() / "script.json", dump(script));
  give_to_jail_user(project_);
  write_file(project_ / "cppflue.toml", "");
  InitOptions o{.allow_shell = true, .allowed_commands = {"git", "tar"}};
  o.model = "test:" + (dir_.path() / "script.json").string();
  o.root = project_.string();
  auto a = init(std::move(o));
  auto s = a.session("env");
  s.prompt("go");
  int refused = 0;
  for (const auto& m : s.history()) {
    if (m.role == Role::tool && m.is_error &&
        m.text.find("cannot be set by a tool call") != std::string::npos) {
      ++refused;
    }
  }
  EXPECT_EQ(refused, static_cast<int>(attempts.size()));
  EXPECT_FALSE(fs::exists(marker));
}

TEST_F(HostEscape, CommandToolsNameVariablesAfterDeclaredArgumentsOnly) {
  Command declared{.name = "show", .command = "echo \"$WHAT\""};
  declared.schema = json_object{
      {"type", "object"}, {"properties", json_object{{"what", json_object{{"type", "string"}}}}}};
  Command evil = declared;
  evil.name = "evil";
  evil.schema =
      json_object{{"type", "object"},
                  {"properties", json_object{{"ld_preload", json_object{{"type", "string"}}}}}};
  InitOptions o;
  o.commands = {evil};
  EXPECT_THROW(agent("", std::move(o)), Exception);  // a declared name on the deny list
  InitOptions ok;
  ok.commands = {declared};
  EXPECT_NO_THROW(agent("", std::move(ok)));
}

// ---- 2. Descriptors, not paths: races ----------------------------------------------------------

TEST_F(HostEscape, TaskFolderRaceNeverRootsAWorkspaceOutside) {
  fs::create_directories(project_ / "sub");
  write_file(project_ / "sub" / "secret.txt", "decoy");
  fs::create_directory_symlink(outside_, project_ / "subl");
  auto ws = Workspace::open(project_);
  ASSERT_TRUE(ws);
  int leaks = 0, opened = 0;
  {
    Flipper flip(project_ / "sub", project_ / "subl");
    for (int i = 0; i < kRaceAttempts; ++i) {
      auto sub = ws->subdirectory("sub");
      if (!sub) continue;
      ++opened;
      auto text = sub->read_file("secret.txt");
      if (text && *text == kSecret) ++leaks;
      auto wrote = sub->write_file("pwned.txt", "x");
      (void)wrote;
    }
  }
  EXPECT_EQ(leaks, 0);
  EXPECT_GT(opened, 0);
  EXPECT_FALSE(fs::exists(outside_ / "pwned.txt"));
}

TEST_F(HostEscape, GitBindRaceNeverBindsAHostPath) {
  REQUIRE_JAIL();
  fs::create_directories(project_ / ".gitD");
  write_file(project_ / ".gitD" / "secret.txt", "decoy");
  fs::create_directory_symlink(outside_, project_ / ".git");
  give_to_jail_user(project_);
  JailSpec spec;
  spec.workspace = fs::canonical(project_);
  spec.read_only = {".git"};
  if (::geteuid() == 0) {
    spec.uid = kJailDefaultId;
    spec.gid = kJailDefaultId;
  }
  int leaks = 0, ran = 0;
  {
    Flipper flip(project_ / ".gitD", project_ / ".git");
    for (int i = 0; i < kRaceAttempts; ++i) {
      SubprocessOptions o;
      o.argv = {"/bin/sh", "-c", "cat .git/secret.txt /workspace/.git/secret.txt 2>/dev/null"};
      o.env = {"PATH=/usr/bin:/bin"};
      auto r = boost::asio::co_spawn(Runtime::shared()->executor(),
                                     run_jailed(spec, o, CancelToken{}), boost::asio::use_future)
                   .get();
      if (!r) continue;
      ++ran;
      if (r->stdout_text.find(kSecret) != std::string::npos) ++leaks;
    }
  }
  EXPECT_EQ(leaks, 0);
  EXPECT_GT(ran, kRaceAttempts / 2);
}

TEST_F(HostEscape, SkillFileRaceNeverReadsAHostFile) {
  fs::path skill = project_ / ".agents" / "skills" / "sk";
  fs::create_directories(skill / "x");
  write_file(skill / "SKILL.md", "---\ndescription: d\n---\nbody\n");
  write_file(skill / "x" / "secret.txt", "decoy");
  fs::create_directory_symlink(outside_, skill / "xl");
  auto loaded = load_skill(skill / "SKILL.md");
  ASSERT_TRUE(loaded);
  int leaks = 0;
  {
    Flipper flip(skill / "x", skill / "xl");
    for (int i = 0; i < kRaceAttempts; ++i) {
      auto text = read_skill_resource(*loaded, "x/secret.txt");
      if (text && *text == kSecret) ++leaks;
    }
  }
  EXPECT_EQ(leaks, 0);
  // The skill folder itself swapped after loading: reads stay with the folder as loaded.
  fs::rename(skill, project_ / "moved");
  fs::create_directory_symlink(outside_, skill);
  auto after = read_skill_resource(*loaded, "secret.txt");
  EXPECT_FALSE(after && *after == kSecret);
}

TEST_F(HostEscape, SkillFileFifoRaceNeverBlocksAHostThread) {
  fs::path skill = project_ / ".agents" / "skills" / "sk";
  fs::create_directories(skill);
  write_file(skill / "SKILL.md", "---\ndescription: d\n---\nbody\n");
  write_file(skill / "f", "regular");
  ASSERT_EQ(::mkfifo((skill / "ff").c_str(), 0644), 0);
  auto loaded = load_skill(skill / "SKILL.md");
  ASSERT_TRUE(loaded);
  int done = 0;
  {
    Flipper flip(skill / "f", skill / "ff");
    auto reads = std::async(std::launch::async, [&] {
      for (int i = 0; i < kRaceAttempts; ++i) {
        (void)read_skill_resource(*loaded, "f");
        ++done;
      }
    });
    ASSERT_EQ(reads.wait_for(60s), std::future_status::ready) << "a read blocked after " << done;
  }
  EXPECT_EQ(done, kRaceAttempts);
}

// ---- 3. Host-trusted files ---------------------------------------------------------------------

TEST_F(HostEscape, ProjectFilesAreReadBeneathTheProject) {
  struct Plant {
    const char* name;
    std::function<void(const fs::path&)> make;
  };
  auto link = [this](const char* rel) {
    return [this, rel](const fs::path& root) {
      fs::create_directories((root / rel).parent_path());
      fs::create_symlink(outside_ / "secret.txt", root / rel);
    };
  };
  std::vector<Plant> plants = {
      {"CLAUDE.md symlink", link("CLAUDE.md")},
      {"AGENTS.md symlink", link("AGENTS.md")},
      {"agent file symlink", link(".agents/agents/x.md")},
      {"role file symlink", link(".agents/roles/r.md")},
      {"skill file symlink", link(".agents/skills/s.md")},
      {"SKILL.md symlink", link(".agents/skills/s/SKILL.md")},
      {".agents symlinked out",
       [this](const fs::path& root) {
         fs::create_directories(outside_ / "agents");
         write_file(outside_ / "agents" / "x.md", std::string("---\n---\n") + kSecret);
         fs::create_directory_symlink(outside_, root / ".agents");
       }},
      {"skill folder symlinked out",
       [this](const fs::path& root) {
         fs::create_directories(outside_ / "sk");
         write_file(outside_ / "sk" / "SKILL.md", std::string("---\n---\n") + kSecret);
         fs::create_directories(root / ".agents" / "skills");
         fs::create_directory_symlink(outside_ / "sk", root / ".agents" / "skills" / "sk");
       }},
      {"roles folder symlinked out",
       [this](const fs::path& root) {
         write_file(outside_ / "r.md", std::string("---\n---\n") + kSecret);
         fs::create_directories(root / ".agents");
         fs::create_directory_symlink(outside_, root / ".agents" / "roles");
       }},
      {"AGENTS.md FIFO",
       [](const fs::path& root) { ::mkfifo((root / "AGENTS.md").c_str(), 0644); }},
  };
  int n = 0;
  for (const auto& plant : plants) {
    fs::path root = dir_.path() / ("p" + std::to_string(n++));
    fs::create_directories(root);
    plant.make(root);
    auto result = std::async(std::launch::async, [&] {
      std::string seen = load_project_instructions(root);
      auto files = load_project_files(root);
      if (files) {
        seen += files->instructions;
        for (const auto& [k, v] : files->agents) seen += v.instructions;
        for (const auto& [k, v] : files->roles) seen += v.instructions;
        for (const auto& [k, v] : files->skills) seen += v.instructions;
      }
      return seen;
    });
    ASSERT_EQ(result.wait_for(10s), std::future_status::ready) << plant.name << " blocked";
    EXPECT_EQ(result.get().find(kSecret), std::string::npos) << plant.name;
  }
}

TEST_F(HostEscape, ProjectConfigurationIsReadOnlyToFileToolsAndTheJail) {
  REQUIRE_JAIL();
  write_file(project_ / "AGENTS.md", "be careful\n");
  fs::create_directories(project_ / ".agents" / "agents");
  write_file(project_ / ".agents" / "agents" / "a.md", "---\n---\nhi\n");
  fs::create_directories(project_ / ".git");
  write_file(project_ / ".git" / "config", "[core]\n");
  give_to_jail_user(project_);
  InitOptions o{.allow_write = true, .allow_shell = true, .allow_compound_commands = true};
  auto a = agent("[sandbox]\nworkspace = \".\"\n", o);
  std::string toml = read_file(project_ / "cppflue.toml");
  auto s = a.session("proj");
  // Existing files (bound read-only) and missing ones (moved aside after the command).
  for (const char* rel : {"cppflue.toml", ".env", "AGENTS.md", "CLAUDE.md", ".agents/agents/a.md",
                          ".agents/agents/new.md", ".git/config", ".git/hooks/pre-commit"}) {
    bool existed = fs::exists(project_ / rel);
    std::string before = existed ? read_file(project_ / rel) : "";
    EXPECT_THROW(s.write_file(rel, "[mcp.servers.x]\ncommand = \"/bin/sh\"\n"), Exception) << rel;
    auto r = s.shell(std::string("mkdir -p \"$(dirname ") + rel + ")\" 2>/dev/null; echo pwned > " +
                     rel + "; ln -sf /etc/passwd " + rel + " 2>/dev/null; true");
    if (existed) {
      EXPECT_EQ(read_file(project_ / rel), before) << rel;
    } else {
      EXPECT_FALSE(fs::exists(fs::symlink_status(project_ / rel))) << rel << ": " << r.stderr_text;
    }
  }
  EXPECT_EQ(read_file(project_ / "cppflue.toml"), toml);
  // A symlink planted where a protected file is missing is moved aside too.
  auto r = s.shell("ln -s /etc/shadow CLAUDE.md");
  EXPECT_FALSE(fs::exists(fs::symlink_status(project_ / "CLAUDE.md")));
  EXPECT_NE(r.stderr_text.find("protected path CLAUDE.md"), std::string::npos) << r.stderr_text;
  // Extra protected paths, and the opt-out.
  auto b =
      agent("[sandbox]\nworkspace = \".\"\nprotected = [\"ci.yml\"]\nprotect_config = false\n", o);
  auto t = b.session("optout");
  EXPECT_THROW(t.write_file("ci.yml", "x"), Exception);
  t.write_file("AGENTS.md", "edited by the agent\n");
  EXPECT_EQ(read_file(project_ / "AGENTS.md"), "edited by the agent\n");
}

// ---- 4. The jail never holds host root ----------------------------------------------------------

TEST_F(HostEscape, JailedCommandsNeverHoldRootOrSetIdBits) {
  REQUIRE_JAIL();
  auto a = agent(
      "", InitOptions{.allow_write = true, .allow_shell = true, .allow_compound_commands = true});
  auto s = a.session("uid");
  fs::path ws = s.workspace_path();
  auto id = s.shell("id -u; id -g");
  EXPECT_EQ(id.exit_code, 0) << id.stderr_text;
  EXPECT_NE(id.stdout_text.rfind("0\n", 0), 0u) << id.stdout_text;
  struct Attempt {
    const char* command;
    const char* file;
  };
  for (Attempt at : std::vector<Attempt>{
           {"cp /bin/sh a && chmod 4755 a", "a"},
           {"cp /bin/sh b && chmod u+s b", "b"},
           {"cp /bin/sh c && chmod g+s c", "c"},
           {"install -m 4755 /bin/sh d", "d"},
           {"mkdir -m 2775 e", "e"},
           {"python3 -c \"import os; os.close(os.open('f', os.O_CREAT|os.O_WRONLY, 0o6755))\"",
            "f"},
           {"cp /bin/sh g && chmod 755 g && chmod +s g", "g"},
       }) {
    auto r = s.shell(at.command);
    struct stat st {};
    if (::lstat((ws / at.file).c_str(), &st) == 0) {
      EXPECT_EQ(st.st_mode & (S_ISUID | S_ISGID), 0u) << at.command;
      if (::geteuid() == 0) {
        EXPECT_NE(st.st_uid, 0u) << at.command;
      }
    }
  }
  auto touched = s.shell("touch made");
  struct stat st {};
  ASSERT_EQ(::lstat((ws / "made").c_str(), &st), 0) << touched.stderr_text;
  if (::geteuid() == 0) {
    EXPECT_NE(st.st_uid, 0u);
  }
  // Private state: the session workspace 0700, state.db 0600.
  ASSERT_EQ(::stat(ws.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((project_ / ".cppflue" / "state.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST_F(HostEscape, RootOwnedProjectRefusesShellCommandsAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "only meaningful as root";
  REQUIRE_JAIL();
  auto a = agent("[sandbox]\nworkspace = \".\"\n", InitOptions{.allow_shell = true});
  auto s = a.session("root");
  try {
    s.shell("true");
    ADD_FAILURE() << "a root-owned project ran a jailed command";
  } catch (const Exception& e) {
    EXPECT_NE(std::string(e.what()).find("owned by root"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// ---- 5. Host services behind abstract UNIX sockets ----------------------------------------------

TEST_F(HostEscape, AbstractUnixSocketsOfTheHostAreOutOfReach) {
  REQUIRE_JAIL();
  if (jail_status().landlock_abi < 6) GTEST_SKIP() << "Landlock ABI 6 (scopes) unavailable";
  std::string name = "cppflue-test-" + std::to_string(::getpid());
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  give_to_jail_user(project_);
  JailSpec spec;
  spec.workspace = fs::canonical(project_);
  spec.network = true;  // the host's network namespace, where abstract sockets live
  SubprocessOptions o;
  o.argv = {"/usr/bin/python3", "-c",
            "import socket\ntry:\n s=socket.socket(socket.AF_UNIX)\n s.connect('\\0" + name +
                "')\n print('connected')\nexcept OSError as e:\n print('refused', e.errno)\n"};
  o.env = {"PATH=/usr/bin:/bin"};
  auto run = [&](const JailSpec& s) {
    return boost::asio::co_spawn(Runtime::shared()->executor(), run_jailed(s, o, CancelToken{}),
                                 boost::asio::use_future)
        .get();
  };
  auto refused = run(spec);
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->stdout_text.rfind("refused", 0), 0u)
      << refused->stdout_text << refused->stderr_text;
  spec.abstract_unix_sockets = true;  // [sandbox] abstract_unix_sockets = true
  auto allowed = run(spec);
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_EQ(allowed->stdout_text, "connected\n") << allowed->stderr_text;
  ::close(listener);
}

}  // namespace

namespace {

// ---- 6. Resources of jailed commands
// -------------------------------------------------------------

TEST_F(HostEscape, FullTmpAndMemoryBombEndWithClearErrors) {
  REQUIRE_JAIL();
  auto a = agent("", InitOptions{.allow_shell = true, .allow_compound_commands = true});
  auto s = a.session("res");
  // /tmp is bounded by [sandbox] tmp_size (512M by default), not by the host's memory.
  auto full = s.shell("head -c 2G /dev/zero > /tmp/x; echo status $?; df -m /tmp | tail -1");
  EXPECT_NE(full.stderr_text.find("No space left"), std::string::npos) << full.stderr_text;
  EXPECT_NE(full.stdout_text.find("status 1"), std::string::npos) << full.stdout_text;
  if (!jail_status().cgroup_memory) GTEST_SKIP() << "no memory cgroup here";
  auto bomb = s.shell("python3 -c 'b = bytearray(3 << 30); print(len(b))'");
  EXPECT_EQ(bomb.exit_code, 137) << bomb.stdout_text << bomb.stderr_text;
  EXPECT_NE(bomb.stderr_text.find("memory limit"), std::string::npos) << bomb.stderr_text;
  // The session goes on.
  EXPECT_EQ(s.shell("echo alive").stdout_text, "alive\n");
}

TEST_F(HostEscape, MemoryLimitIsConfigurable) {
  REQUIRE_JAIL();
  if (!jail_status().cgroup_memory) GTEST_SKIP() << "no memory cgroup here";
  auto a = agent("[sandbox]\nmemory_max = \"64M\"\ntmp_size = \"16M\"\n",
                 InitOptions{.allow_shell = true, .allow_compound_commands = true});
  auto s = a.session("res");
  auto bomb = s.shell("python3 -c 'b = bytearray(200 << 20); print(len(b))'");
  EXPECT_EQ(bomb.exit_code, 137) << bomb.stdout_text << bomb.stderr_text;
  EXPECT_NE(bomb.stderr_text.find("64 MiB"), std::string::npos) << bomb.stderr_text;
  auto full = s.shell("head -c 32M /dev/zero > /tmp/x; echo status $?");
  EXPECT_NE(full.stdout_text.find("status 1"), std::string::npos) << full.stdout_text;
}

TEST_F(HostEscape, CgroupsOfDeadProcessesAreRemovedAtTheNextStart) {
  REQUIRE_JAIL();
  if (!jail_status().cgroup_pids) GTEST_SKIP() << "no pids cgroup here";
  // A pid that is not running: what a kill -9'd cppflue leaves behind.
  pid_t dead = ::fork();
  if (dead == 0) _exit(0);
  ::waitpid(dead, nullptr, 0);
  fs::path leftover = fs::path("/sys/fs/cgroup/pids/cppflue") / (std::to_string(dead) + "-0");
  ASSERT_EQ(::mkdir(leftover.c_str(), 0755), 0) << std::strerror(errno);
  SubprocessOptions o;
  o.argv = {CPPFLUE_BINARY, "doctor"};
  o.env = {"PATH=/usr/bin:/bin"};
  o.cwd = project_.string();
  auto r = boost::asio::co_spawn(Runtime::shared()->executor(), run_subprocess(o, CancelToken{}),
                                 boost::asio::use_future)
               .get();
  ASSERT_TRUE(r);
  EXPECT_FALSE(fs::exists(leftover)) << r->stdout_text << r->stderr_text;
  ::rmdir(leftover.c_str());
}

}  // namespace
