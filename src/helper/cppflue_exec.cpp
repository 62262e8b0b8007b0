// SPDX-License-Identifier: Apache-2.0
// cppflue-exec: the last step of the jail (the README's "Security model"). bubblewrap cannot apply
// Landlock (a Landlock domain forbids the mounts bwrap performs), so the jail runs this helper
// inside the namespaces, after the mounts:
//
//   cppflue-exec [--rw PATH]... [--dev PATH]... [--nproc N] [--as BYTES]
//                [--allow-abstract-unix] (--exec-fd FD | --serve FD | -- PROGRAM ARGS...)
//
// In order, it:
//   1. sets no_new_privs;
//   2. restricts filesystem writes with Landlock to the --rw paths (full write rights) and --dev
//      paths (writing to existing files only), and with Landlock ABI 6 scopes connections to
//      abstract UNIX sockets and signals to the jail's own processes (--allow-abstract-unix
//      lifts the socket scope);
//   3. reads the command from FD (--exec-fd): NUL-terminated strings, first the environment
//      entries ("K=V"), then an empty string, then argv. The command and its environment thus
//      never appear in the arguments or the environment of a process on the host (bwrap); and
//   4. sets the resource limits (RLIMIT_NPROC, RLIMIT_AS) last, when nothing is allocated any
//      more, and execs the command with exactly that environment (argv[0] without '/' is looked
//      up in the PATH of that environment).
// With --serve FD, steps 3 and 4 happen once per command the host sends over the control socket
// FD, in a child of this process, which stays as the session's jail (serve.cpp).
//
// With --launch it is instead the first step, run on the host by CppFlue when it is root:
//
//   cppflue-exec --launch --uid U --gid G --ws-fd FD [--ro REL]... -- BWRAP ARGS...
//
// It enters a private mount namespace, mounts a tmpfs on /tmp there, attaches the workspace
// (the directory FD, opened by CppFlue beneath nothing the model controls) at /tmp/cppflue/ws and
// itself at /tmp/cppflue/exec, re-binds each REL beneath the workspace read-only (opened with
// openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS and mounted by descriptor, so a path swapped by a
// jailed command can never redirect a mount), drops to U/G and execs bubblewrap, which binds
// /tmp/cppflue/ws as the jail's workspace. bubblewrap thus never runs as host root, resolves no
// path inside the workspace with host privileges, and no jailed process can hold host root.
//
// Reads are not restricted (the mount namespace decides what is visible). When the kernel has no
// Landlock it execs anyway (the probe reports it); when Landlock is available but a step fails,
// it refuses to run (exit 126): a protection that cannot be enforced is not silently dropped.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "helper/exec_common.hpp"
#include "sandbox/beneath.hpp"
#include "sandbox/landlock_abi.hpp"

namespace ll = cppflue::landlock;

namespace cppflue::exec {

[[noreturn]] void die(int code, const std::string& what) {
  std::fprintf(stderr, "cppflue-exec: %s\n", what.c_str());
  std::fflush(stderr);
  _exit(code);
}

}  // namespace cppflue::exec

namespace {

using cppflue::exec::die;
using cppflue::exec::ExecOptions;

constexpr std::size_t kMaxExecBytes = std::size_t{8} << 20;

bool add_rule(int ruleset, const char* path, std::uint64_t rights) {
  int fd = ::open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;  // a missing path needs no rule
  ll::PathBeneathAttr attr{rights, fd};
  long rc = ::syscall(ll::kSysAddRule, ruleset, ll::kRulePathBeneath, &attr, 0);
  ::close(fd);
  return rc == 0;
}

unsigned long long number(const std::string& flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0) die(125, "bad value for " + flag);
  return v;
}

// Drops to uid/gid: supplementary groups first, then gid, then uid (which clears the permitted
// and effective capability sets), then the inheritable and ambient sets too.
void drop_to(uid_t uid, gid_t gid) {
  if (uid == 0 || gid == 0) die(126, "refusing to run a jailed command as uid or gid 0");
  if (::setgroups(0, nullptr) != 0) die(126, std::string("setgroups: ") + std::strerror(errno));
  if (::setresgid(gid, gid, gid) != 0) die(126, std::string("setresgid: ") + std::strerror(errno));
  if (::setresuid(uid, uid, uid) != 0) die(126, std::string("setresuid: ") + std::strerror(errno));
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &header, data) != 0) {
    die(126, std::string("capset: ") + std::strerror(errno));
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::getuid() != uid || ::geteuid() != uid || ::getgid() != gid || ::getegid() != gid) {
    die(126, "the uid/gid switch did not take effect");
  }
}

}  // namespace

namespace cppflue::exec {

// The command of --exec-fd: environment entries, "", argv.
void read_command(int fd, std::vector<std::string>& env, std::vector<std::string>& args) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(126, std::string("cannot read the command: ") + std::strerror(errno));
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxExecBytes) die(126, "the command is too large");
  }
  ::close(fd);
  bool in_env = true;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t end = data.find('\0', pos);
    if (end == std::string::npos) die(126, "malformed command (no terminating NUL)");
    std::string item = data.substr(pos, end - pos);
    pos = end + 1;
    if (in_env) {
      if (item.empty()) {
        in_env = false;
      } else if (item.find('=') == std::string::npos || item.front() == '=') {
        die(126, "malformed environment entry");
      } else {
        env.push_back(std::move(item));
      }
    } else {
      args.push_back(std::move(item));
    }
  }
  if (in_env || args.empty() || args.front().empty()) die(126, "malformed command (no program)");
}

}  // namespace cppflue::exec

namespace {

using cppflue::exec::read_command;

long sys_open_tree(int dirfd, const char* path, unsigned flags) {
  return ::syscall(SYS_open_tree, dirfd, path, flags);
}

long sys_move_mount(int from, const char* from_path, int to, const char* to_path, unsigned flags) {
  return ::syscall(SYS_move_mount, from, from_path, to, to_path, flags);
}

long sys_mount_setattr(int dirfd, const char* path, unsigned flags, mount_attr* attr) {
  return ::syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof *attr);
}

// A detached copy of the mount or directory tree at `fd` (optionally read-only). The source
// must be in the caller's mount namespace.
int clone_tree(int fd, bool read_only, const std::string& what) {
  int tree = static_cast<int>(
      sys_open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH));
  if (tree < 0) die(126, "open_tree " + what + ": " + std::strerror(errno));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0);
  if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) != 0) {
    die(126, "mount_setattr " + what + ": " + std::strerror(errno));
  }
  return tree;
}

// Attaches a detached tree onto the object `target_fd` refers to: nothing is resolved by path,
// so nothing can be swapped.
void attach(int tree, int target_fd, const std::string& what) {
  if (sys_move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
      0) {
    die(126, "move_mount " + what + ": " + std::strerror(errno));
  }
  ::close(tree);
}

void set_no_new_privs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    die(126, std::string("cannot set no_new_privs: ") + std::strerror(errno));
  }
}

// --launch's arguments; `command` is the index of BWRAP in argv.
struct LaunchOptions {
  long long uid = -1;
  long long gid = -1;
  int ws_fd = -1;
  std::vector<std::string> read_only;
  int command = 0;
};

LaunchOptions parse_launch(int argc, char** argv, int i) {
  LaunchOptions o;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if ((a == "--uid" || a == "--gid") && i + 1 < argc) {
      auto v = number(a, argv[++i]);
      if (v == 0 || v > 0xFFFFFFFEULL) die(125, "bad value for " + a);
      (a == "--uid" ? o.uid : o.gid) = static_cast<long long>(v);
      continue;
    }
    if (a == "--ws-fd" && i + 1 < argc) {
      o.ws_fd = static_cast<int>(number(a, argv[++i]));
      continue;
    }
    if (a == "--ro" && i + 1 < argc) {
      o.read_only.emplace_back(argv[++i]);
      continue;
    }
    die(125, "--launch: unknown argument '" + a + "'");
  }
  if (o.uid <= 0 || o.gid <= 0 || o.ws_fd < 0 || i >= argc) {
    die(125, "usage: cppflue-exec --launch --uid U --gid G --ws-fd FD [--ro REL]... -- BWRAP ...");
  }
  o.command = i;
  return o;
}

// A private mount namespace with a tmpfs on /tmp and the mount points /tmp/cppflue/ws and
// /tmp/cppflue/exec.
void enter_mount_namespace() {
  if (::unshare(CLONE_NEWNS) != 0) {
    die(126, std::string("cannot create a mount namespace: ") + std::strerror(errno));
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    die(126, std::string("cannot make the mounts private: ") + std::strerror(errno));
  }
  if (::mount("cppflue", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) {
    die(126, std::string("cannot mount a tmpfs on /tmp: ") + std::strerror(errno));
  }
  if (::mkdir("/tmp/cppflue", 0755) != 0 || ::mkdir("/tmp/cppflue/ws", 0755) != 0) {
    die(126, std::string("cannot create the mount points: ") + std::strerror(errno));
  }
}

// Re-binds each entry of `read_only` beneath the attached workspace read-only.
void rebind_read_only(const std::vector<std::string>& read_only) {
  int ws = ::open("/tmp/cppflue/ws", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ws < 0) die(126, "cannot open the attached workspace");
  for (const auto& rel : read_only) {
    if (rel.empty() || rel.front() == '/') die(125, "--ro takes a workspace-relative path");
    int fd = cppflue::detail::open_strictly_beneath(ws, rel.c_str(), O_PATH);
    if (fd < 0) {
      // Missing, or not reachable without crossing a symlink: nothing to re-bind (CppFlue checks
      // protected paths again after the command).
      if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == EXDEV) continue;
      die(126, "cannot open " + rel + ": " + std::strerror(errno));
    }
    struct stat est {};
    if (::fstat(fd, &est) != 0) die(126, "cannot stat " + rel);
    if (S_ISDIR(est.st_mode) || S_ISREG(est.st_mode)) attach(clone_tree(fd, true, rel), fd, rel);
    ::close(fd);
  }
  ::close(ws);
}

[[noreturn]] void launch(int argc, char** argv, int first) {
  LaunchOptions o = parse_launch(argc, argv, first);
  struct stat st {};
  if (::fstat(o.ws_fd, &st) != 0 || !S_ISDIR(st.st_mode)) die(126, "--ws-fd is not a directory");
  int self = ::open("/proc/self/exe", O_PATH | O_CLOEXEC);
  if (self < 0) die(126, std::string("cannot open /proc/self/exe: ") + std::strerror(errno));
  // Copies made in the host's mount namespace, attached in the private one below.
  int self_tree = clone_tree(self, true, "the helper");
  int ws_tree = clone_tree(o.ws_fd, false, "the workspace");
  ::close(self);
  ::close(o.ws_fd);

  enter_mount_namespace();
  int exec_target = ::open("/tmp/cppflue/exec", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0555);
  int ws_target = ::open("/tmp/cppflue/ws", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (exec_target < 0 || ws_target < 0) die(126, "cannot open the mount points");
  attach(self_tree, exec_target, "the helper");
  attach(ws_tree, ws_target, "the workspace");
  ::close(exec_target);
  ::close(ws_target);
  // The attached workspace, where the read-only entries are re-bound.
  rebind_read_only(o.read_only);
  drop_to(static_cast<uid_t>(o.uid), static_cast<gid_t>(o.gid));
  set_no_new_privs();
  // bubblewrap gets an empty environment: nothing of ours or of the model reaches its loader.
  char* empty_env[] = {nullptr};
  ::execve(argv[o.command], argv + o.command, empty_env);
  int e = errno;
  die(126, std::string(argv[o.command]) + ": " + std::strerror(e));
}

ExecOptions parse_exec(int argc, char** argv) {
  ExecOptions o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if ((a == "--rw" || a == "--dev") && i + 1 < argc) {
      (a == "--rw" ? o.rw : o.dev).push_back(argv[++i]);
      continue;
    }
    if (a == "--allow-abstract-unix") {
      o.allow_abstract_unix = true;
      continue;
    }
    if ((a == "--exec-fd" || a == "--serve") && i + 1 < argc) {
      auto v = number(a, argv[++i]);
      if (v < 3 || v > 1024) die(125, "bad value for " + a);
      (a == "--exec-fd" ? o.exec_fd : o.serve_fd) = static_cast<int>(v);
      continue;
    }
    if ((a == "--nproc" || a == "--as") && i + 1 < argc) {
      auto v = number(a, argv[++i]);
      if (v == 0) die(125, "bad value for " + a);
      o.limits.emplace_back(a == "--nproc" ? RLIMIT_NPROC : RLIMIT_AS, static_cast<rlim_t>(v));
      continue;
    }
    die(125, "unknown argument '" + a +
                 "' (usage: cppflue-exec [--rw P]... [--dev P]... (--exec-fd FD | -- CMD))");
  }
  o.command = i;
  return o;
}

// Landlock: writes only to the --rw paths (all write rights) and the --dev paths (writing to
// existing files). Nothing happens when the kernel has no Landlock.
void restrict_writes(const ExecOptions& o) {
  int abi = ll::abi_version();
  if (abi <= 0) return;
  std::uint64_t handled = ll::write_rights(abi);
  ll::RulesetAttr attr{handled};
  std::size_t attr_size = ll::kRulesetAttrSizeV1;
  if (abi >= 6) {
    // Abstract UNIX sockets of the host (D-Bus, X11, containerd, ...) are reachable when the
    // jail shares the host's network namespace; signals to processes outside are refused too.
    attr.scoped = ll::kScopeSignal | (o.allow_abstract_unix ? 0 : ll::kScopeAbstractUnixSocket);
    attr_size = sizeof attr;
  }
  int ruleset = static_cast<int>(::syscall(ll::kSysCreateRuleset, &attr, attr_size, 0));
  if (ruleset < 0) die(126, std::string("landlock_create_ruleset: ") + std::strerror(errno));
  for (const char* p : o.rw) {
    if (!add_rule(ruleset, p, handled)) {
      die(126, std::string("landlock rule for ") + p + ": " + std::strerror(errno));
    }
  }
  std::uint64_t dev_rights = ll::kWriteFile | (abi >= 3 ? ll::kTruncate : 0);
  for (const char* p : o.dev) {
    if (!add_rule(ruleset, p, dev_rights)) {
      die(126, std::string("landlock rule for ") + p + ": " + std::strerror(errno));
    }
  }
  if (::syscall(ll::kSysRestrictSelf, ruleset, 0) != 0) {
    die(126, std::string("landlock_restrict_self: ") + std::strerror(errno));
  }
  ::close(ruleset);
}

}  // namespace

namespace cppflue::exec {

// Sets the resource limits, then execs the command with exactly its environment.
[[noreturn]] void exec_command(const ExecOptions& o, std::vector<std::string>& env_items,
                               std::vector<std::string>& args) {
  std::vector<char*> envp, argp;
  for (auto& e : env_items) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);
  for (auto [resource, value] : o.limits) {
    rlimit lim{value, value};
    if (::setrlimit(resource, &lim) != 0) {
      die(126, std::string("setrlimit: ") + std::strerror(errno));
    }
  }
  // execvp searches the PATH of `environ`: make it the command's own.
  environ = envp.data();
  ::execvp(argp[0], argp.data());
  int e = errno;
  die(e == ENOENT ? 127 : 126, args.front() + ": " + std::strerror(e));
}

}  // namespace cppflue::exec

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--launch") launch(argc, argv, 2);
  ExecOptions o = parse_exec(argc, argv);
  set_no_new_privs();
  restrict_writes(o);
  if (o.serve_fd >= 0) {
    if (o.exec_fd >= 0 || o.command < argc) die(125, "--serve takes no command");
    cppflue::exec::serve(o);
  }

  std::vector<std::string> env_items, args;
  int i = o.command;
  if (o.exec_fd >= 0) {
    if (i < argc) die(125, "--exec-fd and a command on the command line exclude each other");
    read_command(o.exec_fd, env_items, args);
  } else {
    if (i >= argc) die(125, "no command given");
    for (; i < argc; ++i) args.emplace_back(argv[i]);
    for (char** e = environ; e && *e; ++e) env_items.emplace_back(*e);
  }
  cppflue::exec::exec_command(o, env_items, args);
}
