// SPDX-License-Identifier: Apache-2.0
// The sandbox seen through an agent: built-in tools driven by a scripted model (the fake
// provider speaking the OpenAI Chat wire format) and the same operations through the library
// API (session.read_file, session.shell, ...). The escape table is the security contract of
// docs/security.md: every attempt must be refused or harmless, both ways.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "cppflue/cppflue.hpp"
#include "cppflue/store/store.hpp"
#include "support/fake_provider.hpp"
#include "support/test_util.hpp"
#include "support/turns.hpp"

using namespace cppflue;
using namespace cppflue::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kHostMarker = "HOST-SECRET-MARKER-7f3a";

// True while a process whose command line contains `needle` exists on the host.
bool process_running(const std::string& needle) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = cppflue::testing::read_proc_file(e.path() / "cmdline");
    for (auto& c : cmd) {
      if (c == '\0') c = ' ';
    }
    if (cmd.find(needle) != std::string::npos && e.path().filename() != std::to_string(getpid())) {
      return true;
    }
  }
  return false;
}

// The processes whose command line contains `needle`, with parent and cgroup (diagnostics).
std::string describe_processes(const std::string& needle) {
  std::string out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string cmd = cppflue::testing::read_proc_file(e.path() / "cmdline");
    for (auto& c : cmd) {
      if (c == '\0') c = ' ';
    }
    if (cmd.find(needle) == std::string::npos) continue;
    std::istringstream st(cppflue::testing::read_proc_file(e.path() / "status"));
    std::string line, ppid;
    while (std::getline(st, line)) {
      if (line.rfind("PPid:", 0) == 0) ppid = line;
    }
    out += e.path().filename().string() + " (" + ppid + "): " + cmd.substr(0, 60) + "\n";
  }
  return out;
}

bool wait_gone(const std::string& needle, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (!process_running(needle)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return !process_running(needle);
}

// A project with a fake provider, a secret outside the workspace and a custom config.
class SandboxAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    outside_ = dir_.path() / "outside";
    fs::create_directories(outside_);
    write_file(outside_ / "secret.txt", kHostMarker);
  }

  Agent make_agent(std::string extra_toml = "", InitOptions o = {}) {
    write_file(dir_.path() / "cppflue.toml",
               "[providers.fake]\napi = \"openai-chat\"\nbase_url = \"" + fake_.base_url() +
                   "/v1\"\napi_key = \"sk-test\"\n" + extra_toml);
    o.model = "fake:m";
    o.root = dir_.path().string();
    o.on_event = [this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    };
    o.retry = RetryPolicy{.max_attempts = 1, .base_delay = 1ms, .max_delay = 1ms};
    return init(std::move(o));
  }

  Agent open_agent(InitOptions o = {}) {
    if (!o.allow_write) o.allow_write = true;
    if (!o.allow_shell) o.allow_shell = true;
    if (!o.allow_compound_commands) o.allow_compound_commands = true;
    return make_agent("", std::move(o));
  }

  // One prompt in which the model calls `tool` once; returns the tool message.
  Message tool_via_model(Session& s, const std::string& tool, json args,
                         PromptOptions options = {}) {
    fake_.enqueue_turn(
        WireApi::openai_chat,
        calls_turn({tool_call("call_" + std::to_string(++calls_), tool, std::move(args))}), false);
    fake_.enqueue_turn(WireApi::openai_chat, text_turn("done"), false);
    s.prompt("go", std::move(options));
    auto h = s.history();
    for (auto it = h.rbegin(); it != h.rend(); ++it) {
      if (it->role == Role::tool) return *it;
    }
    ADD_FAILURE() << "no tool message";
    return {};
  }

  std::vector<Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

  TempDir dir_;
  fs::path outside_;
  FakeProvider fake_;
  std::mutex mu_;
  std::vector<Event> events_;
  int calls_ = 0;
};

// ---- the escape table ----

struct Escape {
  std::string name;
  std::string setup;  // shell command run first (through session.shell), may be empty
  std::string tool;   // read, write, edit, stat, exists, mkdir, rm, glob, grep, bash
  std::function<json(const std::string& outside)> args;
  // After the attempt, this must hold on the host (e.g. nothing was created outside).
  std::function<bool(const std::string& outside)> host_ok;
};

json a(json_object o) {
  return o;
}

std::vector<Escape> escape_table() {
  auto none_created = [](std::string rel) {
    return [rel](const std::string& outside) { return !fs::exists(fs::path(outside) / rel); };
  };
  auto unchanged = [](const std::string& outside) {
    return read_file(fs::path(outside) / "secret.txt") == kHostMarker;
  };
  auto path = [](std::string p) { return [p](const std::string&) { return a({{"path", p}}); }; };
  auto outside_path = [](std::string rel) {
    return [rel](const std::string& o) { return a({{"path", o + "/" + rel}}); };
  };
  auto sh = [](std::string cmd) {
    return [cmd](const std::string& o) {
      std::string c = cmd;
      for (std::size_t p; (p = c.find("$OUT")) != std::string::npos;) c.replace(p, 4, o);
      return a({{"command", c}});
    };
  };
  auto write_args = [](std::string p) {
    return [p](const std::string& o) {
      std::string q = p;
      for (std::size_t i; (i = q.find("$OUT")) != std::string::npos;) q.replace(i, 4, o);
      return a({{"path", q}, {"content", "pwned"}});
    };
  };
  return {
      // ---- file tools: lexical escapes ----
      {"dotdot_read", "", "read", path("../../outside/secret.txt"), unchanged},
      {"dotdot_chain_read", "", "read", path("a/../../../../../../../etc/passwd"), unchanged},
      {"dotdot_write", "", "write", write_args("../../../outside/pwned.txt"),
       none_created("pwned.txt")},
      {"absolute_host_read", "", "read", outside_path("secret.txt"), unchanged},
      {"absolute_host_write", "", "write", write_args("$OUT/pwned2.txt"),
       none_created("pwned2.txt")},
      {"etc_shadow_read", "", "read", path("/etc/shadow"), unchanged},
      {"etc_passwd_stat", "", "stat", path("/etc/passwd"), unchanged},
      {"root_ssh_exists", "", "exists", path("/root/.ssh"), unchanged},
      {"home_ssh_read", "", "read", path("~/../../root/.ssh/id_rsa"), unchanged},
      {"proc_self_root", "", "read", path("/proc/self/root/etc/passwd"), unchanged},
      {"proc_self_cwd", "", "read", path("/proc/self/cwd/cppflue.toml"), unchanged},
      {"proc_self_environ", "", "read", path("/proc/self/environ"), unchanged},
      {"workspace_prefix_escape", "", "read", path("/workspace/../outside/secret.txt"), unchanged},
      {"mkdir_outside", "", "mkdir", outside_path("newdir"), none_created("newdir")},
      {"rm_outside", "", "rm", outside_path("secret.txt"), unchanged},
      {"rm_root", "", "rm",
       [](const std::string&) {
         return a({{"path", "/"}, {"recursive", true}});
       },
       unchanged},
      {"rm_dot", "", "rm",
       [](const std::string&) {
         return a({{"path", "."}, {"recursive", true}});
       },
       unchanged},
      {"glob_outside", "", "glob",
       [](const std::string&) {
         return a({{"pattern", "../../outside/*"}});
       },
       unchanged},
      {"grep_outside", "", "grep",
       [](const std::string& o) {
         return a({{"pattern", "HOST"}, {"path", o}});
       },
       unchanged},
      {"grep_dotdot", "", "grep",
       [](const std::string&) {
         return a({{"pattern", "HOST"}, {"path", "../.."}});
       },
       unchanged},
      // ---- symlinks made with the shell, followed by file tools ----
      {"symlink_etc_read", "ln -s /etc etc_link", "read", path("etc_link/passwd"), unchanged},
      {"symlink_etc_write", "ln -s /etc etc_link2", "write", write_args("etc_link2/cppflue-pwned"),
       [](const std::string&) { return !fs::exists("/etc/cppflue-pwned"); }},
      {"symlink_outside_edit", "ln -s $OUT out_link", "edit",
       [](const std::string&) {
         return a({{"path", "out_link/secret.txt"}, {"old_text", "HOST"}, {"new_text", "PWND"}});
       },
       unchanged},
      {"symlink_file_write", "ln -s $OUT/secret.txt sfile", "write", write_args("sfile"),
       unchanged},
      {"symlink_dir_mkdir", "ln -s $OUT out_link3", "mkdir", path("out_link3/made"),
       none_created("made")},
      {"symlink_rm_through", "ln -s $OUT out_link4", "rm", path("out_link4/secret.txt"), unchanged},
      {"symlink_proc_root", "ln -s /proc/self/root rootlink", "read", path("rootlink/etc/passwd"),
       unchanged},
      {"symlink_chain", "ln -s $OUT l1 && ln -s l1 l2", "read", path("l2/secret.txt"), unchanged},
      {"symlink_dotdot", "ln -s ../../../.. up", "read", path("up/outside/secret.txt"), unchanged},
      {"grep_through_symlink", "ln -s $OUT out_link5", "grep",
       [](const std::string&) {
         return a({{"pattern", "HOST"}, {"path", "out_link5"}});
       },
       unchanged},
      // ---- the shell, inside the jail ----
      {"shell_cat_host_file", "", "bash", sh("cat $OUT/secret.txt"), unchanged},
      {"shell_write_outside", "", "bash", sh("echo pwned > $OUT/pwned3.txt"),
       none_created("pwned3.txt")},
      {"shell_write_usr", "", "bash", sh("touch /usr/cppflue-pwned"),
       [](const std::string&) { return !fs::exists("/usr/cppflue-pwned"); }},
      {"shell_write_etc", "", "bash", sh("echo x >> /etc/hosts; touch /etc/cppflue-pwned"),
       [](const std::string&) { return !fs::exists("/etc/cppflue-pwned"); }},
      {"shell_etc_shadow", "", "bash", sh("cat /etc/shadow; cat /etc/gshadow"), unchanged},
      {"shell_root_ssh", "", "bash", sh("ls -la /root/.ssh; cat /root/.ssh/*"), unchanged},
      {"shell_home_dirs", "", "bash", sh("ls /home /root"), unchanged},
      {"shell_state_db", "", "bash", sh("cat $OUT/../.cppflue/state.db | head -c 100"), unchanged},
      {"shell_proc_root", "", "bash", sh("cat /proc/self/root$OUT/secret.txt"), unchanged},
      {"shell_proc_1_root", "", "bash", sh("ls /proc/1/root$OUT; cat /proc/1/environ"), unchanged},
      {"shell_hardlink", "", "bash", sh("ln /etc/passwd hl && echo linked >> hl"),
       [](const std::string&) {
         return read_file("/etc/passwd").find("linked") == std::string::npos;
       }},
      {"shell_mknod", "", "bash", sh("mknod sda b 8 0 && head -c 16 sda"), unchanged},
      {"shell_mount", "", "bash", sh("mount -t tmpfs x /usr; mount --bind / mnt"), unchanged},
      {"shell_chroot_breakout", "", "bash", sh("mkdir -p d && chroot d /bin/true"), unchanged},
      {"shell_ptrace", "", "bash",
       sh("python3 -c 'import ctypes; print(ctypes.CDLL(None).ptrace(0,0,0,0))'"), unchanged},
      {"shell_dev_listing", "", "bash", sh("ls /dev; cat /dev/sda /dev/vda 2>&1 | head -c 10"),
       unchanged},
      {"shell_sys", "", "bash", sh("ls /sys/fs/cgroup; cat /sys/kernel/security/lsm"), unchanged},
  };
}

bool never_leaks(const std::string& text) {
  return text.find(kHostMarker) == std::string::npos &&
         text.find("root:x:0:0") == std::string::npos &&
         text.find("root:*:") == std::string::npos && text.find("root:$") == std::string::npos &&
         text.find("SQLite format 3") == std::string::npos;
}

TEST_F(SandboxAgent, EscapeAttemptsThroughTheModelsTools) {
  REQUIRE_JAIL();
  auto table = escape_table();
  ASSERT_GE(table.size(), 40u);
  auto agent = open_agent();
  int index = 0;
  for (const auto& e : table) {
    SCOPED_TRACE(e.name);
    // A fresh session (workspace) per attempt.
    auto s = agent.session("esc-" + std::to_string(index++));
    if (!e.setup.empty()) {
      std::string setup = e.setup;
      for (std::size_t p; (p = setup.find("$OUT")) != std::string::npos;) {
        setup.replace(p, 4, outside_.string());
      }
      auto r = s.shell(setup);
      ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    }
    Message m = tool_via_model(s, e.tool, e.args(outside_.string()));
    EXPECT_TRUE(never_leaks(m.text)) << m.text;
    EXPECT_TRUE(e.host_ok(outside_.string())) << m.text;
    EXPECT_EQ(read_file(outside_ / "secret.txt"), kHostMarker);
  }
}

TEST_F(SandboxAgent, EscapeAttemptsThroughTheLibraryApi) {
  REQUIRE_JAIL();
  auto agent = open_agent();
  int index = 0;
  for (const auto& e : escape_table()) {
    SCOPED_TRACE(e.name);
    auto s = agent.session("api-" + std::to_string(index++));
    if (!e.setup.empty()) {
      std::string setup = e.setup;
      for (std::size_t p; (p = setup.find("$OUT")) != std::string::npos;) {
        setup.replace(p, 4, outside_.string());
      }
      ASSERT_EQ(s.shell(setup).exit_code, 0);
    }
    json args = e.args(outside_.string());
    auto str = [&](const char* k) {
      const json* v = find(args, k);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    std::string seen;
    try {
      if (e.tool == "read") {
        seen = s.read_file(str("path"));
      } else if (e.tool == "write") {
        s.write_file(str("path"), "pwned");
      } else if (e.tool == "edit") {
        // No edit call in the API: read-modify-write is what a user would do.
        seen = s.read_file(str("path"));
        s.write_file(str("path"), "PWND");
      } else if (e.tool == "stat") {
        seen = s.stat(str("path")).path;
      } else if (e.tool == "exists") {
        seen = s.exists(str("path")) ? "true" : "false";
      } else if (e.tool == "mkdir") {
        s.mkdir(str("path"));
      } else if (e.tool == "rm") {
        const json* rec = find(args, "recursive");
        s.rm(str("path"), rec && rec->as_bool());
      } else if (e.tool == "bash") {
        auto r = s.shell(str("command"));
        seen = r.stdout_text + r.stderr_text;
      } else if (e.tool == "glob" || e.tool == "grep") {
        for (const auto& d : s.readdir(str("path").empty() ? "." : str("path"))) {
          seen += d.name + "\n";
        }
      }
    } catch (const Exception& ex) {
      seen = ex.what();
    }
    EXPECT_TRUE(never_leaks(seen)) << seen;
    EXPECT_TRUE(e.host_ok(outside_.string())) << seen;
    EXPECT_EQ(read_file(outside_ / "secret.txt"), kHostMarker);
  }
}

TEST_F(SandboxAgent, FileToolEscapesAreRefusedWithPathEscape) {
  auto agent = open_agent();
  auto s = agent.session("refusals");
  for (const char* p : {"../x", "/etc/passwd", "/proc/self/root/etc/passwd", "/proc/self/cwd"}) {
    Message m = tool_via_model(s, "read", a({{"path", p}}));
    EXPECT_TRUE(m.is_error) << p;
    EXPECT_NE(m.text.find("file tools only reach the workspace"), std::string::npos) << m.text;
    try {
      s.read_file(p);
      ADD_FAILURE() << p;
    } catch (const Exception& e) {
      EXPECT_EQ(e.error().details.at("rule").as_string(), "path_escape") << p;
    }
  }
}

TEST_F(SandboxAgent, SymlinkSwappedBetweenCheckAndUseNeverLeaks) {
  auto agent = open_agent();
  auto s = agent.session("swap");
  fs::path ws = s.workspace_path();
  fs::create_directories(ws / "real");
  write_file(ws / "real" / "passwd", "harmless");
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    while (!stop) {
      std::error_code ec;
      fs::remove(ws / "link", ec);
      fs::create_directory_symlink(ws / "real", ws / "link", ec);
      fs::remove(ws / "link", ec);
      fs::create_directory_symlink("/etc", ws / "link", ec);
    }
  });
  int leaks = 0;
  for (int i = 0; i < 3000; ++i) {
    try {
      std::string text = s.read_file("link/passwd");
      if (!never_leaks(text)) ++leaks;
    } catch (const Exception&) {
    }
  }
  stop = true;
  flipper.join();
  EXPECT_EQ(leaks, 0);
}

// ---- shell isolation details ----

int listen_local(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(fd, 4);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

TEST_F(SandboxAgent, NetworkIsRefusedByDefaultAndAllowedWithNetworkTrue) {
  REQUIRE_JAIL();
  std::uint16_t port = 0;
  int fd = listen_local(port);
  std::string cmd =
      "bash -c 'echo hi > /dev/tcp/127.0.0.1/" + std::to_string(port) + "' && echo connected";
  {
    auto agent = open_agent();
    auto r = agent.session("net-off").shell(cmd);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.stdout_text.find("connected"), std::string::npos);
    // Not even a socket: seccomp allows AF_UNIX only.
    auto py =
        agent.session("net-off").shell("python3 -c 'import socket; socket.socket(socket.AF_INET)'");
    EXPECT_NE(py.exit_code, 0);
    EXPECT_NE(py.stderr_text.find("PermissionError"), std::string::npos) << py.stderr_text;
    auto unix_ok = agent.session("net-off").shell(
        "python3 -c 'import socket; socket.socket(socket.AF_UNIX); print(\"unix ok\")'");
    EXPECT_EQ(unix_ok.stdout_text, "unix ok\n") << unix_ok.stderr_text;
  }
  {
    InitOptions o;
    o.allow_shell = true;
    o.allow_compound_commands = true;
    auto agent = make_agent("[sandbox]\nnetwork = true\n", std::move(o));
    auto r = agent.session("net-on").shell(cmd);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(r.stdout_text, "connected\n");
  }
  ::close(fd);
}

TEST_F(SandboxAgent, ForkBombIsBoundedAndCleanedUp) {
  REQUIRE_JAIL();
  auto agent = open_agent();
  auto start = std::chrono::steady_clock::now();
  ShellOptions so;
  so.timeout = 3s;
  auto r =
      agent.session("bomb").shell("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", so);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 6s);
  EXPECT_TRUE(wait_gone("bomb", 2s));
  // The host still forks fine.
  EXPECT_EQ(agent.session("after").shell("echo ok").stdout_text, "ok\n");
  (void)r;
}

TEST_F(SandboxAgent, HugeOutputIsCapped) {
  REQUIRE_JAIL();
  auto agent = open_agent();
  auto s = agent.session("big");
  Message m =
      tool_via_model(s, "bash", a({{"command", "head -c 100000000 /dev/zero | tr '\\0' a"}}));
  auto v = parse_json(m.text);
  ASSERT_TRUE(v) << m.text.substr(0, 200);
  EXPECT_TRUE(v->at("truncated").as_bool());
  EXPECT_LE(v->at("stdout").as_string().size(), 50 * 1024 + 300);
  EXPECT_EQ(v->at("exit_code").as_int64(), 0);
}

TEST_F(SandboxAgent, NeverEndingCommandTimesOutWith124) {
  REQUIRE_JAIL();
  auto agent = open_agent();
  auto s = agent.session("forever");
  auto start = std::chrono::steady_clock::now();
  Message m = tool_via_model(s, "bash", a({{"command", "sleep 987654"}, {"timeout", 1}}));
  auto took = std::chrono::steady_clock::now() - start;
  auto v = parse_json(m.text);
  ASSERT_TRUE(v) << m.text;
  EXPECT_EQ(v->at("exit_code").as_int64(), 124);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(wait_gone("sleep 987654", 1s));
}

TEST_F(SandboxAgent, GrandchildHoldingThePipeReturnsPromptly) {
  REQUIRE_JAIL();
  auto agent = open_agent();
  ShellOptions so;
  so.timeout = 2s;
  auto start = std::chrono::steady_clock::now();
  auto r = agent.session("grandchild").shell("(sleep 876543 &); echo started", so);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.stdout_text, "started\n");
  EXPECT_LT(took, 2s + 500ms);
  EXPECT_TRUE(wait_gone("sleep 876543", 1s));
}

TEST_F(SandboxAgent, JailSeesWorkspaceAtItsPathAndAtSlashWorkspace) {
  REQUIRE_JAIL();
  auto agent = open_agent();
  auto s = agent.session("paths");
  s.write_file("notes/a.txt", "from file tools");
  auto r = s.shell("cat /workspace/notes/a.txt; cat " + s.workspace_path() +
                   "/notes/a.txt; pwd; echo $HOME; echo made > /workspace/b.txt");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "from file toolsfrom file tools" + s.workspace_path() + "\n" +
                               s.workspace_path() + "\n");
  EXPECT_EQ(s.read_file("b.txt"), "made\n");
  // cwd is a workspace path.
  ShellOptions so;
  so.cwd = "/workspace/notes";
  EXPECT_EQ(s.shell("ls", so).stdout_text, "a.txt\n");
  so.cwd = "../..";
  EXPECT_THROW(s.shell("ls", so), Exception);
}

TEST_F(SandboxAgent, ProjectWorkspaceHidesStateAndProtectsGit) {
  REQUIRE_JAIL();
  fs::create_directories(dir_.path() / ".git");
  write_file(dir_.path() / ".git" / "HEAD", "ref: refs/heads/main\n");
  write_file(dir_.path() / "src.txt", "code");
  give_to_jail_user(dir_.path());
  InitOptions o;
  o.allow_write = true;
  o.allow_shell = true;
  o.allow_compound_commands = true;
  auto agent = make_agent("[sandbox]\nworkspace = \".\"\n", std::move(o));
  auto s = agent.session("coder");
  EXPECT_EQ(fs::path(s.workspace_path()), fs::canonical(dir_.path()));
  EXPECT_EQ(s.read_file("src.txt"), "code");
  // .cppflue (state.db) is invisible to file tools and the shell.
  EXPECT_FALSE(s.exists(".cppflue/state.db"));
  auto r = s.shell("ls -A .cppflue; cat .cppflue/state.db | head -c 20; echo x > .cppflue/y");
  EXPECT_TRUE(never_leaks(r.stdout_text + r.stderr_text));
  EXPECT_FALSE(fs::exists(dir_.path() / ".cppflue" / "y"));
  // .git is readable but not writable, both ways.
  EXPECT_EQ(s.read_file(".git/HEAD"), "ref: refs/heads/main\n");
  EXPECT_THROW(s.write_file(".git/HEAD", "x"), Exception);
  auto w = s.shell("echo x > .git/HEAD; cat .git/HEAD");
  EXPECT_EQ(w.stdout_text, "ref: refs/heads/main\n");
  EXPECT_NE(w.stderr_text.find("Read-only"), std::string::npos) << w.stderr_text;
  // The rest of the project is writable from the shell.
  EXPECT_EQ(s.shell("echo new > made.txt && cat made.txt").stdout_text, "new\n");
  EXPECT_EQ(read_file(dir_.path() / "made.txt"), "new\n");
}

// ---- environment and secrets ----

TEST_F(SandboxAgent, ShellEnvironmentHidesHostVariables) {
  REQUIRE_JAIL();
  ::setenv("OPENAI_API_KEY", "sk-test", 1);
  ::setenv("CPPFLUE_TEST_HOST_ONLY", "visible-on-host", 1);
  auto agent =
      make_agent("[sandbox]\nenv = { EXTRA = \"configured\" }\n", InitOptions{.allow_shell = true});
  auto s = agent.session("env");
  Message m = tool_via_model(s, "bash", a({{"command", "env"}}));
  ::unsetenv("OPENAI_API_KEY");
  ::unsetenv("CPPFLUE_TEST_HOST_ONLY");
  EXPECT_FALSE(m.is_error) << m.text;
  EXPECT_EQ(m.text.find("sk-test"), std::string::npos) << m.text;
  EXPECT_EQ(m.text.find("OPENAI_API_KEY"), std::string::npos) << m.text;
  EXPECT_EQ(m.text.find("visible-on-host"), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("EXTRA=configured"), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("HOME=" + s.workspace_path()), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("PATH="), std::string::npos) << m.text;
}

TEST_F(SandboxAgent, GrantedSecretIsVisibleInThatCallOnlyAndRedactedEverywhere) {
  REQUIRE_JAIL();
  ::setenv("CPPFLUE_TEST_GH_TOKEN", "ghp-very-secret-value-123", 1);
  auto agent = make_agent("[secrets]\ngithub = { env = \"CPPFLUE_TEST_GH_TOKEN\" }\n",
                          InitOptions{.allow_shell = true});
  auto s = agent.session("secret");
  PromptOptions with;
  with.secrets = {"github"};
  Message granted =
      tool_via_model(s, "bash", a({{"command", "echo token=$CPPFLUE_TEST_GH_TOKEN"}}), with);
  Message later = tool_via_model(s, "bash", a({{"command", "echo token=$CPPFLUE_TEST_GH_TOKEN"}}));
  ::unsetenv("CPPFLUE_TEST_GH_TOKEN");
  EXPECT_NE(granted.text.find("token=[REDACTED:github]"), std::string::npos) << granted.text;
  EXPECT_NE(later.text.find("token=\\n"), std::string::npos) << later.text;
  // Not in the stored history, not in any event, not in what the model was sent.
  auto entries = agent.store()->entries("secret");
  ASSERT_TRUE(entries);
  for (const auto& e : *entries) {
    EXPECT_EQ(dump(e.content).find("ghp-very-secret"), std::string::npos) << dump(e.content);
  }
  for (const auto& e : events()) {
    EXPECT_EQ(dump(e.data).find("ghp-very-secret"), std::string::npos) << e.type;
  }
  for (const auto& r : fake_.requests()) {
    EXPECT_EQ(r.body.find("ghp-very-secret"), std::string::npos);
  }
  bool saw_redacted_event = false;
  for (const auto& e : events()) {
    if (e.type == "tool_end" && dump(e.data).find("[REDACTED:github]") != std::string::npos) {
      saw_redacted_event = true;
    }
  }
  EXPECT_TRUE(saw_redacted_event);
  // session.shell takes secrets too.
  ::setenv("CPPFLUE_TEST_GH_TOKEN", "ghp-very-secret-value-123", 1);
  ShellOptions so;
  so.secrets = {"github"};
  auto r = s.shell("echo $CPPFLUE_TEST_GH_TOKEN", so);
  ::unsetenv("CPPFLUE_TEST_GH_TOKEN");
  EXPECT_EQ(r.stdout_text, "[REDACTED:github]\n");
}

TEST_F(SandboxAgent, UnknownSecretIsAnError) {
  auto agent =
      make_agent("[secrets]\ngithub = { value = \"v\" }\n", InitOptions{.allow_shell = true});
  auto s = agent.session("unknown-secret");
  PromptOptions o;
  o.secrets = {"gitlab"};
  try {
    s.prompt("hi", o);
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(std::string(e.what()).find("unknown secret gitlab"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("github"), std::string::npos) << e.what();
  }
  ShellOptions so;
  so.secrets = {"nope"};
  EXPECT_THROW(s.shell("true", so), Exception);
}

TEST_F(SandboxAgent, CodeDefinedSecretUsesTheUpperCasedName) {
  REQUIRE_JAIL();
  InitOptions o;
  o.allow_shell = true;
  o.secrets = {{"deploy-key", "dk-12345678"}};
  auto agent = make_agent("", std::move(o));
  ShellOptions so;
  so.secrets = {"deploy-key"};
  auto r = agent.shell("echo $DEPLOY_KEY", so);
  EXPECT_EQ(r.stdout_text, "[REDACTED:deploy-key]\n");
}

// ---- policy through the tools ----

TEST_F(SandboxAgent, AllowlistAndGrants) {
  REQUIRE_JAIL();
  InitOptions o;
  o.allow_shell = true;
  o.allow_compound_commands = true;
  o.allowed_commands = {"git"};
  auto agent = make_agent("", std::move(o));
  auto s = agent.session("allow");
  Message m = tool_via_model(s, "bash", a({{"command", "git status && rm -rf x"}}));
  EXPECT_TRUE(m.is_error);
  EXPECT_NE(m.text.find("'rm' is not allowed"), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("allowed_commands"), std::string::npos) << m.text;
  for (const char* ok : {"FOO=1 git --version", "/usr/bin/git --version"}) {
    Message g = tool_via_model(s, "bash", a({{"command", ok}}));
    EXPECT_FALSE(g.is_error) << ok << ": " << g.text;
  }
  PromptOptions grant;
  grant.commands = {"ls"};
  EXPECT_FALSE(tool_via_model(s, "bash", a({{"command", "ls"}}), grant).is_error);
  EXPECT_TRUE(tool_via_model(s, "bash", a({{"command", "ls"}})).is_error);
  // session.shell: the same policy, per-call grants.
  EXPECT_THROW(s.shell("ls"), Exception);
  ShellOptions so;
  so.commands = {"ls"};
  EXPECT_EQ(s.shell("ls", so).exit_code, 0);
}

TEST_F(SandboxAgent, EmptyAllowlistStaysUnrestrictedWithGrants) {
  REQUIRE_JAIL();
  auto agent = make_agent("", InitOptions{.allow_shell = true, .commands = {"ls"}});
  auto s = agent.session("unrestricted");
  PromptOptions grant;
  grant.commands = {"git"};
  Message m = tool_via_model(s, "bash", a({{"command", "echo still-free"}}), grant);
  EXPECT_FALSE(m.is_error) << m.text;
  EXPECT_NE(m.text.find("still-free"), std::string::npos);
}

TEST_F(SandboxAgent, CompoundCommandsAreRefusedThroughTheToolUnlessAllowed) {
  REQUIRE_JAIL();
  auto agent = make_agent("", InitOptions{.allow_shell = true});
  auto s = agent.session("compound");
  for (const char* c : {"a;b", "a && b", "a | b", "a &", "a > f", "echo $(id)", "echo `id`",
                        "cat <(ls)", "(ls)", "{ ls; }", "ls\nid", "cat <<EOF\nx\nEOF"}) {
    Message m = tool_via_model(s, "bash", a({{"command", c}}));
    EXPECT_TRUE(m.is_error) << c;
    EXPECT_NE(m.text.find("allow_compound_commands"), std::string::npos) << m.text;
  }
  for (const char* c : {"echo 'a;b'", "echo \"a && b\"", "echo ''", "echo a\\;b"}) {
    Message m = tool_via_model(s, "bash", a({{"command", c}}));
    EXPECT_FALSE(m.is_error) << c << ": " << m.text;
  }
}

TEST_F(SandboxAgent, ShellOffRefusesBashAndSessionShell) {
  auto agent = make_agent();
  auto s = agent.session("noshell");
  Message m = tool_via_model(s, "bash", a({{"command", "echo hi"}}));
  EXPECT_TRUE(m.is_error);
  EXPECT_NE(m.text.find("allow_shell is off"), std::string::npos) << m.text;
  EXPECT_THROW(s.shell("echo hi"), Exception);
  // Not offered: the request's tool list has no bash (and, with allow_write off, no tool that
  // changes files), while the tools that can run are there.
  auto requests = fake_.requests();
  ASSERT_FALSE(requests.empty());
  std::set<std::string> offered;
  for (const auto& t : requests.front().json_body.at("tools").as_array()) {
    offered.insert(std::string(t.at("function").at("name").as_string()));
  }
  for (const char* name : {"bash", "write", "edit", "mkdir", "rm"}) {
    EXPECT_FALSE(offered.count(name)) << name << " is offered";
  }
  for (const char* name : {"read", "stat", "exists", "grep", "glob"}) {
    EXPECT_TRUE(offered.count(name)) << name << " is not offered";
  }
}

// ---- documented file tool errors ----

TEST_F(SandboxAgent, DocumentedFileToolErrors) {
  auto agent = open_agent();
  auto s = agent.session("errors");
  s.write_file("a.txt", "one two two\n");
  s.write_bytes("bin.dat", std::string("\x00\x01\x02zzz", 6));
  Message zero =
      tool_via_model(s, "edit", a({{"path", "a.txt"}, {"old_text", "three"}, {"new_text", "x"}}));
  EXPECT_TRUE(zero.is_error);
  EXPECT_NE(zero.text.find("not found"), std::string::npos) << zero.text;
  Message two =
      tool_via_model(s, "edit", a({{"path", "a.txt"}, {"old_text", "two"}, {"new_text", "x"}}));
  EXPECT_TRUE(two.is_error);
  EXPECT_NE(two.text.find("2"), std::string::npos) << two.text;
  EXPECT_NE(two.text.find("replace_all"), std::string::npos) << two.text;
  Message all = tool_via_model(
      s, "edit",
      a({{"path", "a.txt"}, {"old_text", "two"}, {"new_text", "x"}, {"replace_all", true}}));
  EXPECT_FALSE(all.is_error) << all.text;
  EXPECT_EQ(s.read_file("a.txt"), "one x x\n");
  Message bin = tool_via_model(s, "read", a({{"path", "bin.dat"}}));
  EXPECT_TRUE(bin.is_error);
  EXPECT_NE(bin.text.find("binary"), std::string::npos) << bin.text;
  EXPECT_EQ(s.read_bytes("bin.dat"), std::string("\x00\x01\x02zzz", 6));
  Message root = tool_via_model(s, "rm", a({{"path", "/"}, {"recursive", true}}));
  EXPECT_TRUE(root.is_error);
  EXPECT_NE(root.text.find("workspace root"), std::string::npos) << root.text;
  EXPECT_THROW(s.rm(".", true), Exception);
  EXPECT_TRUE(s.exists("a.txt"));

  auto ro_agent = make_agent();  // allow_write = false
  auto ro = ro_agent.session("errors");
  for (const auto& [tool, args] : std::vector<std::pair<std::string, json>>{
           {"write", a({{"path", "n.txt"}, {"content", "x"}})},
           {"edit", a({{"path", "a.txt"}, {"old_text", "one"}, {"new_text", "1"}})},
           {"mkdir", a({{"path", "d"}})},
           {"rm", a({{"path", "a.txt"}})}}) {
    Message m = tool_via_model(ro, tool, args);
    EXPECT_TRUE(m.is_error) << tool;
    EXPECT_NE(m.text.find("allow_write is off"), std::string::npos) << m.text;
  }
  EXPECT_THROW(ro.write_file("n.txt", "x"), Exception);
  EXPECT_THROW(ro.mkdir("d"), Exception);
  EXPECT_THROW(ro.rm("a.txt"), Exception);
  EXPECT_EQ(ro.read_file("a.txt"), "one x x\n");  // reads still work
}

TEST_F(SandboxAgent, LibraryFileApiRoundTrips) {
  auto agent = open_agent();
  auto s = agent.session("files");
  s.mkdir("d/e");
  s.write_file("d/e/f.txt", "hello");
  EXPECT_TRUE(s.exists("/workspace/d/e/f.txt"));
  EXPECT_EQ(s.stat("d/e/f.txt").size, 5u);
  auto entries = s.readdir("d");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "e");
  EXPECT_TRUE(entries[0].is_dir);
  s.write_bytes("bad.txt",
                "a\xff"
                "b");
  EXPECT_EQ(s.read_file("bad.txt"),
            "a\xEF\xBF\xBD"
            "b");
  s.rm("d", true);
  EXPECT_FALSE(s.exists("d"));
  // Workspaces are per session and persistent.
  auto other = agent.session("files-2");
  EXPECT_FALSE(other.exists("bad.txt"));
  EXPECT_NE(other.workspace_path(), s.workspace_path());
  auto again = open_agent().session("files");
  EXPECT_TRUE(again.exists("bad.txt"));
}

TEST_F(SandboxAgent, NoneSandboxHasNoFileOrShellTools) {
  auto agent = make_agent(
      "", InitOptions{
              .sandbox = "none", .allow_write = true, .allow_shell = true, .max_task_depth = 0});
  EXPECT_TRUE(agent.tool_names().empty());
  auto s = agent.session("none");
  EXPECT_THROW(s.read_file("a"), Exception);
  EXPECT_THROW(s.shell("true"), Exception);
  fake_.enqueue_turn(WireApi::openai_chat, text_turn("ok"), false);
  s.prompt("hi");
  auto body = fake_.requests().back().json_body;
  EXPECT_EQ(find(body, "tools"), nullptr) << dump(body);
}

TEST_F(SandboxAgent, LocalSandboxUsesTheRealDirectoryAndAnEnvAllowlist) {
  ::setenv("OPENAI_API_KEY", "sk-test", 1);
  fs::path real = dir_.path() / "real";
  fs::create_directories(real);
  auto agent = make_agent("", InitOptions{.sandbox = local(real, {{"MY_VAR", "mine"}}),
                                          .allow_write = true,
                                          .allow_shell = true});
  auto s = agent.session("local");
  s.write_file("x.txt", "real file");
  EXPECT_EQ(read_file(real / "x.txt"), "real file");
  auto r = s.shell("env");
  ::unsetenv("OPENAI_API_KEY");
  EXPECT_NE(r.stdout_text.find("MY_VAR=mine"), std::string::npos);
  EXPECT_EQ(r.stdout_text.find("sk-test"), std::string::npos);
  EXPECT_EQ(s.shell("pwd").stdout_text, fs::canonical(real).string() + "\n");
  EXPECT_THROW(s.read_file("../outside/secret.txt"), Exception);
}

TEST_F(SandboxAgent, CustomSandboxAndUnknownNames) {
  EXPECT_THROW(make_agent("", InitOptions{.sandbox = "does-not-exist"}), Exception);
  register_sandbox("test-none", [](const SandboxContext&) -> Result<std::shared_ptr<Sandbox>> {
    return create_sandbox(SandboxSpec("none"), SandboxContext{});
  });
  // A factory error surfaces on first use.
  auto agent = make_agent("", InitOptions{.sandbox = "test-none"});
  EXPECT_THROW(agent.session("c").read_file("x"), Exception);
}

TEST_F(SandboxAgent, BuiltinToolNamesAreReserved) {
  ToolDefinition t;
  t.name = "read";
  t.execute = [](const json&, ToolContext&) -> json { return "x"; };
  try {
    make_agent("", InitOptions{.tools = {t}});
    FAIL();
  } catch (const Exception& e) {
    EXPECT_NE(std::string(e.what()).find("conflicts with a built-in tool"), std::string::npos);
  }
}

TEST_F(SandboxAgent, CommandEventsAndSystemPromptFacts) {
  REQUIRE_JAIL();
  auto agent = make_agent("", InitOptions{.allow_shell = true});
  auto s = agent.session("events");
  tool_via_model(s, "bash", a({{"command", "printf hi"}}));
  std::vector<std::string> types;
  for (const auto& e : events()) {
    if (e.type == "command_start") {
      EXPECT_EQ(e.data.at("command").as_string(), "printf");
      EXPECT_EQ(e.data.at("args").as_array().size(), 1u);
    }
    if (e.type == "command_end") {
      EXPECT_EQ(e.data.at("exitCode").as_int64(), 0);
    }
    if (e.type.rfind("command_", 0) == 0 || e.type.rfind("tool_", 0) == 0) {
      types.push_back(e.type);
    }
  }
  EXPECT_EQ(types,
            (std::vector<std::string>{"tool_start", "command_start", "command_end", "tool_end"}));
  std::string system =
      std::string(fake_.requests()[0].json_body.at("messages").at(0).at("content").as_string());
  EXPECT_NE(system.find(s.workspace_path()), std::string::npos) << system;
  EXPECT_NE(system.find("allow_write is off"), std::string::npos) << system;
  EXPECT_NE(system.find("no network"), std::string::npos) << system;
  // session.shell is an operation with its own events.
  {
    std::lock_guard lock(mu_);
    events_.clear();
  }
  s.shell("true");
  std::vector<std::string> shell_types;
  for (const auto& e : events()) shell_types.push_back(e.type);
  EXPECT_EQ(shell_types, (std::vector<std::string>{"operation_start", "command_start",
                                                   "command_end", "idle", "operation"}));
}

TEST_F(SandboxAgent, AbortDuringBashReturnsQuicklyAndLeavesNoProcess) {
  REQUIRE_JAIL();
  auto agent = make_agent("", InitOptions{.allow_shell = true});
  auto s = agent.session("abort");
  // Unique per run, so that processes of another run cannot be mistaken for ours.
  const std::string sleeper = "sleep " + std::to_string(500000 + ::getpid());
  fake_.enqueue_turn(WireApi::openai_chat,
                     calls_turn({tool_call("c1", "bash", a({{"command", sleeper}}))}), false);
  std::atomic<bool> started{false};
  PromptOptions po;
  po.on_event = [&](const Event& e) {
    if (e.type == "command_start") started = true;
  };
  std::chrono::steady_clock::time_point abort_at, returned_at;
  std::thread runner([&] {
    try {
      s.prompt("sleep", po);
    } catch (const Exception&) {
    }
    returned_at = std::chrono::steady_clock::now();
  });
  while (!started) std::this_thread::sleep_for(5ms);
  // Wait until the command itself runs.
  for (int i = 0; i < 200 && !process_running(sleeper); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(process_running(sleeper));
  abort_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(s.abort());
  runner.join();
  EXPECT_LE(returned_at - abort_at, 100ms);
  EXPECT_TRUE(wait_gone(sleeper, 500ms)) << describe_processes(sleeper);
  // The session is usable again.
  EXPECT_EQ(s.shell("echo again").stdout_text, "again\n");
}

TEST_F(SandboxAgent, IsolationNoneRunsUnjailedButStillWithTheMinimalEnvironment) {
  ::setenv("OPENAI_API_KEY", "sk-test", 1);
  auto agent = make_agent("[sandbox]\nisolation = \"none\"\n", InitOptions{.allow_shell = true});
  auto r = agent.session("nojail").shell("env");
  ::unsetenv("OPENAI_API_KEY");
  EXPECT_EQ(r.stdout_text.find("sk-test"), std::string::npos);
  EXPECT_NE(r.stdout_text.find("HOME="), std::string::npos);
}

}  // namespace

namespace {

// Aborts at every point of the jail's start-up (right at command_start, while bwrap is still
// setting up): nothing may be left behind, whatever moment the kill lands.
TEST_F(SandboxAgent, AbortDuringJailStartUpLeavesNoProcess) {
  REQUIRE_JAIL();
  auto agent = make_agent("", InitOptions{.allow_shell = true});
  const std::string sleeper = "sleep " + std::to_string(600000 + ::getpid());
  for (int round = 0; round < 10; ++round) {
    auto s = agent.session("abort-early-" + std::to_string(round));
    fake_.enqueue_turn(WireApi::openai_chat,
                       calls_turn({tool_call("c1", "bash", a({{"command", sleeper}}))}), false);
    PromptOptions po;
    po.on_event = [&s, round](const Event& e) {
      if (e.type == "command_start") {
        if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(round));
        s.abort();
      }
    };
    EXPECT_THROW(s.prompt("sleep", po), Exception);
  }
  EXPECT_TRUE(wait_gone(sleeper, 1s)) << describe_processes(sleeper);
}

}  // namespace
