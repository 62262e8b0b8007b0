// SPDX-License-Identifier: Apache-2.0
// cppflue-exec --serve FD: the resident process of a session's jail (docs/security.md).
//
// The jail (namespaces, mounts, seccomp, Landlock) is set up once; this process then runs the
// commands the host sends over FD one at a time. For each it forks a child that takes a new
// session, gets exactly the descriptors of the request, reads the command from its memfd, enters
// its working directory, sets the resource limits and execs it — what a fresh jail's helper does.
// When the command ends, every other process in the jail is killed (kill(-1) from here reaches
// all of the jail's processes but its init, and they are ours to reap as the subreaper), /tmp is
// emptied and System V IPC is checked, so nothing of one command is there for the next; only then
// does the host get the exit status. What cannot be cleaned is reported ("dirty") and the host
// discards the jail.
//
// This process is not dumpable, so a command (same uid) cannot reach its descriptors through
// /proc; seccomp refuses ptrace. A command can still kill it: the jail then ends as a whole (its
// init exits with it) and the host starts a new one.
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "helper/exec_common.hpp"
#include "sandbox/jail_protocol.hpp"

namespace cppflue::exec {

namespace {

namespace proto = cppflue::detail::jail_protocol;

struct Request {
  std::string cwd;
  std::vector<int> fds;  // memfd, stdout, stderr[, stdin]
  bool valid = false;
};

void close_all(const std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
}

// One request; false when the host closed the socket (or it failed).
bool receive(int sock, Request& r) {
  char buf[proto::kMaxRequest];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * proto::kMaxFds)];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  r = Request{};
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      r.fds.push_back(fd);
    }
  }
  r.cwd.assign(buf + 1, static_cast<std::size_t>(n) - 1);
  r.valid = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0 && buf[0] == proto::kRun &&
            (r.fds.size() == 3 || r.fds.size() == 4) && !r.cwd.empty() && r.cwd.front() == '/' &&
            r.cwd.find('\0') == std::string::npos;
  return true;
}

// The command's process: the request's descriptors as 0-3 and no other, a session of its own,
// then the command.
[[noreturn]] void run_child(const ExecOptions& o, const Request& r) {
  // A received descriptor may already sit on 0..3: move them all out of the way first (dup2
  // onto a different number also clears close-on-exec).
  int high[proto::kMaxFds];
  for (std::size_t i = 0; i < r.fds.size(); ++i) {
    high[i] = ::fcntl(r.fds[i], F_DUPFD, 64);
    if (high[i] < 0) _exit(126);
  }
  int in = r.fds.size() == 4 ? high[3] : ::open("/dev/null", O_RDONLY);
  if (in < 0 || ::dup2(in, 0) < 0 || ::dup2(high[1], 1) < 0 || ::dup2(high[2], 2) < 0 ||
      ::dup2(high[0], 3) < 0) {
    _exit(126);
  }
  ::close_range(4, ~0U, 0);
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<std::string> env, args;
  read_command(3, env, args);
  if (::chdir(r.cwd.c_str()) != 0) {
    die(126, "cannot enter the working directory " + r.cwd + ": " + std::strerror(errno));
  }
  exec_command(o, env, args);
}

// Kills every process of the jail but its init and this one, and reaps them. False when some
// could not be made to go.
bool kill_the_rest() {
  for (int round = 0; round < 10000; ++round) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (::kill(-1, SIGKILL) != 0) return errno == ESRCH;  // nothing left to signal
    pid_t w = ::waitpid(-1, nullptr, 0);
    if (w < 0 && errno == ECHILD) return false;  // alive, and not ours to reap
  }
  return false;
}

// /tmp as the jail was set up: its device (the jail's own tmpfs) and the directories bwrap made
// on it for the mounts beneath (a workspace under /tmp is bound at its own path there). Those
// directories stay; what a command adds is removed; nothing on another device (the workspace
// itself) is ever touched.
struct TmpLayout {
  dev_t dev = 0;
  mode_t mode = 0;                         // /tmp's own
  std::map<std::string, mode_t> skeleton;  // "a", "a/b", ...: relative to /tmp, their modes
};

TmpLayout g_tmp;

void record_skeleton(int dir, const std::string& rel, int depth) {
  if (depth > 32) return;
  int copy = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
  DIR* d = copy < 0 ? nullptr : ::fdopendir(copy);
  if (d == nullptr) {
    if (copy >= 0) ::close(copy);
    return;
  }
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st {};
    if (::fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_dev != g_tmp.dev) {
      continue;
    }
    std::string path = rel.empty() ? e->d_name : rel + "/" + e->d_name;
    g_tmp.skeleton.emplace(path, st.st_mode & 07777);
    int sub = ::openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) {
      record_skeleton(sub, path, depth + 1);
      ::close(sub);
    }
  }
  ::closedir(d);
}

// Records /tmp as the jail was set up; refuses (dies) unless it is the jail's own tmpfs, apart
// from every writable path the commands get: cleaning it must never reach the workspace (a
// workspace at /tmp, /var/tmp or above them covers or contains it).
void record_tmp(const ExecOptions& o) {
  int tmp = ::open("/tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  struct statfs fs {};
  if (tmp < 0 || ::fstat(tmp, &st) != 0 || ::fstatfs(tmp, &fs) != 0) die(126, "cannot read /tmp");
  if (fs.f_type != TMPFS_MAGIC) die(126, "--serve: /tmp is not the jail's own tmpfs");
  for (const char* path : o.rw) {
    if (std::strcmp(path, "/tmp") == 0) continue;
    std::string p = path;
    struct stat other {};
    if (p == "/" || std::string("/tmp/").rfind(p + "/", 0) == 0 ||
        std::string("/var/tmp/").rfind(p + "/", 0) == 0 ||
        (::stat(path, &other) == 0 && other.st_dev == st.st_dev)) {
      die(126, "--serve: the writable path " + p + " is /tmp or holds it");
    }
  }
  g_tmp.dev = st.st_dev;
  g_tmp.mode = st.st_mode & 07777;
  record_skeleton(tmp, "", 0);
  ::close(tmp);
}

// Whether `path` carries extended attributes of the user namespace (the only ones a command can
// set).
bool has_user_xattrs(const char* path) {
  char names[4096];
  ssize_t n = ::llistxattr(path, names, sizeof names);
  if (n < 0) return errno == ERANGE;  // a list too long to read: there are some
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    if (std::strncmp(names + i, "user.", 5) == 0) return true;
  }
  return false;
}

// Restores the modes of /tmp and its skeleton; false when one of them carries extended
// attributes (a channel to the next command this cannot clear without knowing their names).
bool reset_tmp_metadata() {
  bool ok = ::chmod("/tmp", g_tmp.mode) == 0 && !has_user_xattrs("/tmp");
  for (const auto& [rel, mode] : g_tmp.skeleton) {
    std::string path = "/tmp/" + rel;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_dev != g_tmp.dev) {
      ok = false;
      continue;
    }
    if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0) ok = false;
    if (has_user_xattrs(path.c_str())) ok = false;
  }
  return ok;
}

// Cleans the directory `dir` (at `rel` beneath /tmp; `keep_skeleton`: it is part of the
// skeleton, whose directories stay): removes what is not skeleton, never following a symbolic
// link nor entering another device. False when something is left (too many entries, too deep,
// an error).
bool clean_directory(int dir, const std::string& rel, bool keep_skeleton, int depth, long& budget) {
  if (depth > 64) return false;
  int copy = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
  DIR* d = copy < 0 ? nullptr : ::fdopendir(copy);
  if (d == nullptr) {
    if (copy >= 0) ::close(copy);
    return false;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (--budget < 0) break;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  bool ok = budget >= 0;
  for (const auto& name : names) {
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ok = false;
      continue;
    }
    if (st.st_dev != g_tmp.dev) continue;  // a mount point (the workspace): not ours
    std::string path = rel.empty() ? name : rel + "/" + name;
    bool skeleton = keep_skeleton && S_ISDIR(st.st_mode) && g_tmp.skeleton.count(path) > 0;
    if (skeleton) ::fchmodat(dir, name.c_str(), 0700 | g_tmp.skeleton[path], 0);
    if (S_ISDIR(st.st_mode)) {
      // Nothing runs any more, so nothing can swap it: make it ours to empty, then clean it.
      if (!skeleton) ::fchmodat(dir, name.c_str(), 0700, 0);
      int sub = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0 || !clean_directory(sub, path, skeleton, depth + 1, budget)) ok = false;
      if (sub >= 0) ::close(sub);
      if (!skeleton && ::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) ok = false;
    } else if (::unlinkat(dir, name.c_str(), 0) != 0) {
      ok = false;
    }
  }
  return ok;
}

bool empty_tmp() {
  int tmp = ::open("/tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tmp < 0) return false;
  struct stat st {};
  long budget = 20000;
  bool ok =
      ::fstat(tmp, &st) == 0 && st.st_dev == g_tmp.dev && clean_directory(tmp, "", true, 0, budget);
  ::close(tmp);
  return ok;
}

// System V IPC objects (shared memory, semaphores, message queues) live in the jail's IPC
// namespace, beyond the processes that made them.
bool ipc_in_use() {
  // POSIX message queues (the jail's mqueue file system, bwrap --mqueue).
  if (DIR* d = ::opendir("/dev/mqueue")) {
    bool any = false;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) any = true;
    }
    ::closedir(d);
    if (any) return true;
  } else {
    return true;
  }
  for (const char* table : {"/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg"}) {
    std::ifstream in(table);
    if (!in) return true;
    std::string line;
    int lines = 0;
    while (std::getline(in, line) && lines < 2) ++lines;
    if (lines > 1) return true;  // a header, then one line per object
  }
  return false;
}

// What a command can change of this process with the same uid (prlimit(1) --pid, renice,
// taskset, ionice, chrt), and every later command would inherit.
struct Attributes {
  std::vector<rlimit> limits;
  int nice = 0;
  int policy = 0;
  sched_param param{};
  cpu_set_t cpus{};
  long ioprio = 0;

  static Attributes now() {
    Attributes a;
    for (int r = 0; r < RLIM_NLIMITS; ++r) {
      rlimit l{};
      ::getrlimit(static_cast<__rlimit_resource>(r), &l);
      a.limits.push_back(l);
    }
    errno = 0;
    a.nice = ::getpriority(PRIO_PROCESS, 0);
    a.policy = ::sched_getscheduler(0);
    ::sched_getparam(0, &a.param);
    CPU_ZERO(&a.cpus);
    ::sched_getaffinity(0, sizeof a.cpus, &a.cpus);
    a.ioprio = ::syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
    return a;
  }

  bool operator==(const Attributes& o) const {
    for (std::size_t i = 0; i < limits.size(); ++i) {
      if (limits[i].rlim_cur != o.limits[i].rlim_cur ||
          limits[i].rlim_max != o.limits[i].rlim_max) {
        return false;
      }
    }
    return nice == o.nice && policy == o.policy && param.sched_priority == o.param.sched_priority &&
           CPU_EQUAL(&cpus, &o.cpus) && ioprio == o.ioprio;
  }
};

Attributes g_attributes;

proto::Done run_one(const ExecOptions& o, const Request& r) {
  proto::Done done;
  pid_t pid = ::fork();
  if (pid == 0) run_child(o, r);
  if (pid < 0) {
    std::string text = std::string("cppflue-exec: fork: ") + std::strerror(errno) + "\n";
    [[maybe_unused]] auto n = ::write(r.fds[2], text.data(), text.size());
    close_all(r.fds);
    done.code = 126;
    return done;
  }
  close_all(r.fds);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    done.signal = WTERMSIG(status);
    done.code = 128 + done.signal;
  } else {
    done.code = WEXITSTATUS(status);
  }
  bool clean = kill_the_rest();
  clean = empty_tmp() && clean;
  clean = reset_tmp_metadata() && clean;
  clean = !ipc_in_use() && clean;
  clean = Attributes::now() == g_attributes && clean;
  done.dirty = clean ? 0 : 1;
  return done;
}

void send_or_exit(int sock, const void* data, std::size_t size) {
  ssize_t n;
  do {
    n = ::send(sock, data, size, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(size)) _exit(0);  // the host is gone: so is the jail
}

}  // namespace

[[noreturn]] void serve(const ExecOptions& o) {
  const int sock = o.serve_fd;
  if (::fcntl(sock, F_SETFD, FD_CLOEXEC) != 0) die(126, "--serve: not a descriptor");
  // Not dumpable: a command (same uid) cannot open our descriptors through /proc.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die(126, "cannot clear the dumpable flag");
  // Orphans of a command become our children, to be killed and reaped after it.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die(126, "cannot become a subreaper");
  record_tmp(o);
  g_attributes = Attributes::now();
  send_or_exit(sock, &proto::kReady, 1);
  for (;;) {
    Request r;
    if (!receive(sock, r)) _exit(0);
    proto::Done done;
    if (r.valid) {
      done = run_one(o, r);
    } else {
      if (r.fds.size() >= 3) {
        const char text[] = "cppflue-exec: malformed request from the host\n";
        [[maybe_unused]] auto n = ::write(r.fds[2], text, sizeof text - 1);
      }
      close_all(r.fds);
      done.code = 126;
      done.dirty = 1;
    }
    send_or_exit(sock, &done, sizeof done);
  }
}

}  // namespace cppflue::exec
