// SPDX-License-Identifier: Apache-2.0
// The jail of shell commands (docs/security.md): bubblewrap + seccomp + Landlock + a pids cgroup.
// See include/cppflue/sandbox/jail.hpp for what a jailed command can see and do.
#include "cppflue/sandbox/jail.hpp"
#include "sandbox/jail_internal.hpp"
#include "sandbox/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <cerrno>
#include <cstring>
#include <optional>

#include "cppflue/core/json.hpp"
#include "sandbox/beneath.hpp"
#include "sandbox/cgroups.hpp"
#include "sandbox/jail_protocol.hpp"
#include "sandbox/landlock_abi.hpp"
#include "sandbox/seccomp_filter.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace cppflue {

namespace {

// The helper's path inside the jail (bound read-only from wherever it is installed).
constexpr const char* kHelperInJail = "/run/cppflue-exec";

using detail::run_probe;
using detail::spawn_quiet;
using detail::UniqueFd;

// Where the per-command cgroups live: set once by probe() (inside jail_status()'s one-time
// initialisation), read-only afterwards.
detail::CgroupSupport g_cgroups;

// Moves `fd` to a number >= 10 (child fd numbers 3 and 4 are assigned by dup2, so our
// descriptors must not collide with them), close-on-exec.
UniqueFd high_fd(int fd) {
  if (fd < 0) return UniqueFd();
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  return UniqueFd(moved);
}

bool executable(const std::string& p) {
  return !p.empty() && ::access(p.c_str(), X_OK) == 0;
}

std::string find_bwrap() {
  for (const char* p : {"/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"}) {
    if (executable(p)) return p;
  }
  return {};
}

std::string find_helper() {
  if (const char* e = std::getenv("CPPFLUE_EXEC_HELPER"); e && *e) {
    return executable(e) ? std::string(e) : std::string();
  }
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    candidates.push_back(self.parent_path() / "cppflue-exec");
    candidates.push_back(self.parent_path().parent_path() / "libexec" / "cppflue" / "cppflue-exec");
  }
#ifdef CPPFLUE_EXEC_INSTALL_PATH
  candidates.emplace_back(CPPFLUE_EXEC_INSTALL_PATH);
#endif
#ifdef CPPFLUE_EXEC_BUILD_PATH
  candidates.emplace_back(CPPFLUE_EXEC_BUILD_PATH);
#endif
  for (const auto& c : candidates) {
    if (executable(c.string())) return c.string();
  }
  return {};
}

// The seccomp program handed to bwrap, built once per network setting.
const std::optional<std::string>& seccomp_program(bool network, bool no_unix_sockets = false) {
  static const std::optional<std::string> with_net = detail::build_seccomp(true, false);
  static const std::optional<std::string> with_net_no_unix = detail::build_seccomp(true, true);
  static const std::optional<std::string> without_net = detail::build_seccomp(false, false);
  if (!network) return without_net;
  return no_unix_sockets ? with_net_no_unix : with_net;
}

// Entries of /etc an unprivileged user could not read: masked inside the jail, where the
// command may be (mapped to) root.
struct EtcMasks {
  std::vector<std::string> files;
  std::vector<std::string> dirs;
};

const EtcMasks& etc_masks() {
  static const EtcMasks masks = [] {
    EtcMasks m;
    std::error_code ec;
    fs::recursive_directory_iterator it("/etc", fs::directory_options::none, ec), end;
    std::size_t seen = 0;
    for (; !ec && it != end && ++seen < 50000; it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if ((st.st_mode & (S_IROTH | S_IXOTH)) != (S_IROTH | S_IXOTH)) {
          m.dirs.push_back(it->path().string());
          it.disable_recursion_pending();
        }
      } else if (S_ISREG(st.st_mode) && (st.st_mode & S_IROTH) == 0) {
        m.files.push_back(it->path().string());
      }
    }
    return m;
  }();
  return masks;
}

struct Profile {
  bool seccomp = false;
  bool block = false;
  bool serve = false;  // the helper serves commands (a session's jail) instead of running one
};

// Descriptor numbers in the child (bwrap or the launch step).
constexpr int kSeccompFd = 3;
constexpr int kBlockFd = 4;
constexpr int kExecFd = 5;
constexpr int kWorkspaceFd = 6;       // the workspace (launch step), or its bind at its own path
constexpr int kWorkspaceAliasFd = 7;  // non-root: its bind at /workspace
constexpr int kFirstEntryFd = 8;      // non-root: read-only entries, one per bind

// Paths inside the launch step's private mount namespace.
constexpr const char* kLaunchWorkspace = "/tmp/cppflue/ws";
constexpr const char* kLaunchHelper = "/tmp/cppflue/exec";

bool running_as_root() {
  return ::geteuid() == 0;
}

// How the workspace reaches bwrap.
struct Layout {
  bool launch = false;  // root: through `cppflue-exec --launch` (see the helper)
  // Non-root: read-only entries that exist as real files or directories, each bound by
  // descriptor: {relative path, child fd for the bind at its own path, child fd for /workspace}.
  struct Entry {
    std::string rel;
    int fd = -1;
    int alias_fd = -1;
  };
  std::vector<Entry> entries;
};

std::vector<std::string> workspace_bases(const JailSpec& spec) {
  std::string ws = spec.workspace.string();
  std::vector<std::string> bases = {ws};
  if (ws != "/workspace") bases.emplace_back("/workspace");
  return bases;
}

using Args = std::vector<std::string>;

void add(Args& a, std::initializer_list<std::string> items) {
  a.insert(a.end(), items.begin(), items.end());
}

// Root: `cppflue-exec --launch ... --` in front of bwrap (see the helper).
void add_launch_step(Args& a, const JailSpec& spec, const JailStatus& st) {
  add(a, {st.helper, "--launch", "--uid", std::to_string(spec.uid), "--gid",
          std::to_string(spec.gid), "--ws-fd", std::to_string(kWorkspaceFd)});
  for (const auto& r : spec.read_only) add(a, {"--ro", r});
  a.emplace_back("--");
}

// bwrap and its namespaces.
void add_namespaces(Args& a, const JailSpec& spec, const JailStatus& st) {
  add(a, {st.bwrap.empty() ? "bwrap" : st.bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc",
          "--unshare-uts", "--unshare-cgroup-try"});
  if (!spec.network) a.emplace_back("--unshare-net");
  add(a, {"--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "cppflue",
          "--clearenv"});
}

// The system directories, read-only.
void add_system_mounts(Args& a, const JailSpec& spec) {
  add(a, {"--ro-bind", "/usr", "/usr"});
  for (const char* d : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat st_d {};
    if (::lstat(d, &st_d) != 0) continue;
    if (S_ISLNK(st_d.st_mode)) {
      std::error_code ec;
      fs::path target = fs::read_symlink(d, ec);
      if (!ec) add(a, {"--symlink", target.string(), d});
    } else if (S_ISDIR(st_d.st_mode)) {
      add(a, {"--ro-bind", d, d});
    }
  }
  add(a, {"--ro-bind", "/etc", "/etc"});
  for (const auto& f : etc_masks().files) add(a, {"--ro-bind", "/dev/null", f});
  for (const auto& d : etc_masks().dirs) add(a, {"--tmpfs", d, "--remount-ro", d});
  if (spec.network) {
    // /etc/resolv.conf often points into /run.
    add(a, {"--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve"});
    add(a, {"--ro-bind-try", "/run/resolvconf", "/run/resolvconf"});
  }
}

// /dev, /proc and a private /tmp (also /var/tmp).
void add_scratch_mounts(Args& a, const JailSpec& spec) {
  add(a, {"--dev", "/dev", "--proc", "/proc", "--perms", "1777"});
  if (spec.tmp_size > 0) add(a, {"--size", std::to_string(spec.tmp_size)});
  add(a, {"--tmpfs", "/tmp", "--dir", "/var", "--symlink", "../tmp", "/var/tmp"});
  // The jail's POSIX message queues, visible (a session's jail checks it is empty between
  // commands).
  add(a, {"--mqueue", "/dev/mqueue"});
}

// The workspace at each base, with its hidden and read-only entries.
void add_workspace_mounts(Args& a, const JailSpec& spec, const Layout& layout,
                          const std::vector<std::string>& bases) {
  if (layout.launch) {
    for (const auto& base : bases) add(a, {"--bind", kLaunchWorkspace, base});
  } else {
    add(a, {"--bind-fd", std::to_string(kWorkspaceFd), bases[0]});
    if (bases.size() > 1) add(a, {"--bind-fd", std::to_string(kWorkspaceAliasFd), bases[1]});
  }
  for (std::size_t b = 0; b < bases.size(); ++b) {
    const auto& base = bases[b];
    for (const auto& h : spec.hidden) {
      fs::path host = spec.workspace / h;
      struct stat st_h {};
      if (::lstat(host.c_str(), &st_h) != 0) continue;
      std::string inside = base + "/" + h;
      if (S_ISDIR(st_h.st_mode)) {
        add(a, {"--tmpfs", inside, "--remount-ro", inside});
      } else {
        add(a, {"--ro-bind", "/dev/null", inside});
      }
    }
    // Root: the launch step re-bound them read-only already (inherited by the binds above).
    for (const auto& e : layout.entries) {
      add(a, {"--ro-bind-fd", std::to_string(b == 0 ? e.fd : e.alias_fd), base + "/" + e.rel});
    }
  }
}

// The helper, the read-only root, seccomp, the cgroup block and the working directory.
void add_jail_setup(Args& a, const std::string& cwd, const JailStatus& st, const Profile& profile,
                    const Layout& layout, const std::vector<std::string>& bases) {
  if (!st.helper.empty()) {
    add(a, {"--ro-bind", layout.launch ? kLaunchHelper : st.helper, kHelperInJail});
  }
  add(a, {"--remount-ro", "/"});
  if (profile.seccomp) add(a, {"--seccomp", std::to_string(kSeccompFd)});
  if (profile.block) add(a, {"--block-fd", std::to_string(kBlockFd)});
  add(a, {"--chdir", cwd.empty() ? bases[0] : cwd});
}

// The helper's own arguments (after `-- kHelperInJail`).
void add_helper_arguments(Args& a, const JailSpec& spec, const Profile& profile,
                          const std::vector<std::string>& bases) {
  for (const auto& base : bases) add(a, {"--rw", base});
  add(a, {"--rw", "/tmp", "--dev", "/dev"});
  // Limits set by the helper itself, just before the command (no prlimit(1) process).
  if (!profile.block && spec.max_processes > 0) {
    add(a, {"--nproc", std::to_string(spec.max_processes)});
  }
  if (spec.max_address_space > 0) add(a, {"--as", std::to_string(spec.max_address_space)});
  if (spec.abstract_unix_sockets) a.emplace_back("--allow-abstract-unix");
  add(a, {profile.serve ? "--serve" : "--exec-fd", std::to_string(kExecFd)});
}

Args build_arguments(const JailSpec& spec, const std::string& cwd, const JailStatus& st,
                     const Profile& profile, const Layout& layout) {
  Args a;
  const auto bases = workspace_bases(spec);
  if (layout.launch) add_launch_step(a, spec, st);
  add_namespaces(a, spec, st);
  add_system_mounts(a, spec);
  add_scratch_mounts(a, spec);
  add_workspace_mounts(a, spec, layout, bases);
  add_jail_setup(a, cwd, st, profile, layout, bases);
  a.emplace_back("--");
  a.emplace_back(kHelperInJail);
  add_helper_arguments(a, spec, profile, bases);
  return a;
}

// Opens what the jail binds by descriptor. Non-root: the read-only entries that are real files
// or directories beneath the workspace (no symlink anywhere on the way), two descriptors each.
struct Prepared {
  Layout layout;
  UniqueFd workspace;        // the workspace (child fd kWorkspaceFd)
  UniqueFd workspace_alias;  // non-root: a second one (child fd kWorkspaceAliasFd)
  std::vector<UniqueFd> entry_fds;
  std::vector<std::pair<int, int>> child_fds() const {
    std::vector<std::pair<int, int>> out;
    out.emplace_back(workspace.get(), kWorkspaceFd);
    if (workspace_alias.get() >= 0) out.emplace_back(workspace_alias.get(), kWorkspaceAliasFd);
    int next = kFirstEntryFd;
    for (const auto& fd : entry_fds) out.emplace_back(fd.get(), next++);
    return out;
  }
};

Result<Prepared> prepare(const JailSpec& spec, bool launch) {
  Prepared p;
  p.layout.launch = launch;
  int root = spec.workspace_fd;
  UniqueFd own;
  if (root < 0) {
    own = UniqueFd(::open(spec.workspace.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (own.get() < 0) {
      return fail(ErrorType::invalid_input,
                  fmt::format("cannot open the workspace {}: {}", spec.workspace.string(),
                              std::strerror(errno)));
    }
    root = own.get();
  }
  p.workspace = high_fd(::fcntl(root, F_DUPFD_CLOEXEC, 10));
  if (!launch && workspace_bases(spec).size() > 1) {
    p.workspace_alias = high_fd(::fcntl(root, F_DUPFD_CLOEXEC, 10));
  }
  if (p.workspace.get() < 0 ||
      (!launch && workspace_bases(spec).size() > 1 && p.workspace_alias.get() < 0)) {
    return fail(ErrorType::internal, "cannot duplicate the workspace descriptor");
  }
  if (launch) return p;
  int next = kFirstEntryFd;
  for (const auto& rel : spec.read_only) {
    UniqueFd fd = high_fd(detail::open_strictly_beneath(root, rel.c_str(), O_PATH));
    if (fd.get() < 0) continue;  // missing, or reached through a symlink: not bound
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) continue;
    UniqueFd alias;
    Layout::Entry e{rel, next++, -1};
    if (workspace_bases(spec).size() > 1) {
      alias = high_fd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 10));
      if (alias.get() < 0) return fail(ErrorType::internal, "cannot duplicate a descriptor");
    }
    p.entry_fds.push_back(std::move(fd));
    if (alias.get() >= 0) {
      e.alias_fd = next++;
      p.entry_fds.push_back(std::move(alias));
    }
    p.layout.entries.push_back(std::move(e));
  }
  return p;
}

// The command and its environment for the helper's --exec-fd: env entries, "", argv.
Result<UniqueFd> command_memfd(const SubprocessOptions& options) {
  std::string blob;
  for (const auto& e : options.env) {
    if (e.empty() || e.find('\0') != std::string::npos || e.find('=') == std::string::npos ||
        e.front() == '=') {
      return fail(ErrorType::invalid_input, "malformed environment entry for a jailed command");
    }
    blob += e;
    blob += '\0';
  }
  blob += '\0';
  for (const auto& arg : options.argv) {
    if (arg.find('\0') != std::string::npos) {
      return fail(ErrorType::invalid_input, "a jailed command's argument contains a NUL byte");
    }
    blob += arg;
    blob += '\0';
  }
  UniqueFd fd = high_fd(::memfd_create("cppflue-command", MFD_CLOEXEC));
  if (fd.get() < 0) return fail(ErrorType::internal, "cannot create a memfd for the command");
  std::size_t off = 0;
  while (off < blob.size()) {
    ssize_t n = ::write(fd.get(), blob.data() + off, blob.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorType::internal, "cannot write the command to its memfd");
    off += static_cast<std::size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) {
    return fail(ErrorType::internal, "cannot rewind the command memfd");
  }
  return fd;
}

JailStatus probe() {
  JailStatus st;
  st.bwrap = find_bwrap();
  st.helper = find_helper();
  st.landlock_abi = std::max(0, landlock::abi_version());
  st.seccomp = seccomp_program(false).has_value() && seccomp_program(true).has_value() &&
               seccomp_program(true, true).has_value();
  g_cgroups = detail::probe_cgroups();
  st.cgroup_pids = g_cgroups.pids;
  st.cgroup_memory = g_cgroups.memory;
  st.cgroup_v2 = g_cgroups.pids_v2 || g_cgroups.memory_v2;
  if (st.bwrap.empty()) {
    st.reason = "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)";
    return st;
  }
  if (st.helper.empty()) {
    st.reason =
        "the cppflue-exec helper was not found (next to the cppflue executable, in "
        "libexec/cppflue/, or through CPPFLUE_EXEC_HELPER)";
    return st;
  }
  if (!st.seccomp) {
    st.reason = "the seccomp filter cannot be built (libseccomp)";
    return st;
  }
  // A real start: namespaces, mounts, the launch step and the helper, without seccomp.
  char tmpl[] = "/tmp/cppflue-probe-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    st.reason = std::string("cannot create a probe directory: ") + std::strerror(errno);
    return st;
  }
  JailSpec spec;
  spec.workspace = tmpl;
  bool root = running_as_root();
  if (root && ::chown(tmpl, spec.uid, spec.gid) != 0) {
    st.reason = std::string("cannot prepare the probe directory: ") + std::strerror(errno);
    ::rmdir(tmpl);
    return st;
  }
  auto prepared = prepare(spec, root);
  SubprocessOptions cmd;
  cmd.argv = {"/bin/true"};
  auto memfd = prepared ? command_memfd(cmd) : Result<UniqueFd>(fail(prepared.error()));
  std::pair<int, std::string> outcome{-1, "cannot prepare the probe"};
  if (prepared && memfd) {
    auto argv = build_arguments(spec, "", st, Profile{}, prepared->layout);
    auto fds = prepared->child_fds();
    fds.emplace_back(memfd->get(), kExecFd);
    outcome = run_probe(argv, fds);
  }
  ::rmdir(tmpl);
  auto [code, err] = outcome;
  if (code != 0) {
    st.reason = fmt::format(
        "bubblewrap cannot create the sandbox namespaces here (exit {}: {}); unprivileged user "
        "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone / "
        "user.max_user_namespaces) or the container forbids them",
        code, err.empty() ? "no message" : err);
    return st;
  }
  st.available = true;
  return st;
}

struct JailRequest {
  bool root = false;
  std::string cwd;  // the command's working directory (host path)
};

// Refuses what must not run: no jail here, host root without an unprivileged uid, a working
// directory outside the workspace.
Result<JailRequest> check_request(const JailSpec& spec, const SubprocessOptions& options,
                                  const JailStatus& st) {
  if (!st.available) {
    return fail(ErrorType::permission,
                "shell commands cannot run jailed on this machine: " + st.reason +
                    ". They are refused rather than run unjailed; to run them without the jail "
                    "(trusted work only) set [sandbox] isolation = \"none\" in cppflue.toml",
                json_object{{"rule", "isolation"}});
  }
  JailRequest r;
  r.root = running_as_root();
  if (r.root && (spec.uid == 0 || spec.gid == 0)) {
    return fail(ErrorType::permission,
                "jailed commands never run as host root, and no unprivileged uid was given",
                json_object{{"rule", "isolation"}});
  }
  r.cwd = options.cwd.empty() ? spec.workspace.string() : options.cwd;
  fs::path rel = fs::path(r.cwd).lexically_relative(spec.workspace);
  if (!fs::path(r.cwd).is_absolute() || rel.empty() || *rel.begin() == "..") {
    return fail(ErrorType::invalid_input, "working directory is outside the workspace: " + r.cwd);
  }
  return r;
}

// seccomp program → memfd → the child's fd 3.
Result<UniqueFd> seccomp_memfd(const JailSpec& spec, const JailStatus& st) {
  UniqueFd seccomp_fd;
  // With the host network, abstract UNIX sockets of the host are reachable: Landlock scopes them
  // away (ABI 6, in the helper); without it, seccomp refuses UNIX sockets altogether.
  const bool no_unix_sockets = spec.network && !spec.abstract_unix_sockets && st.landlock_abi < 6;
  const auto& program = seccomp_program(spec.network, no_unix_sockets);
  if (!program) return fail(ErrorType::internal, "the seccomp filter cannot be built");
  seccomp_fd = high_fd(::memfd_create("cppflue-seccomp", MFD_CLOEXEC));
  auto refuse = [](const char* why) {
    return fail(ErrorType::internal, std::string("cannot pass the seccomp filter: ") + why);
  };
  if (seccomp_fd.get() < 0) return refuse(std::strerror(errno));
  ssize_t n = ::write(seccomp_fd.get(), program->data(), program->size());
  if (n < 0) return refuse(std::strerror(errno));
  // A short write to a fresh memfd has no errno of its own: say what happened.
  if (n != static_cast<ssize_t>(program->size())) return refuse("short write to the memfd");
  if (::lseek(seccomp_fd.get(), 0, SEEK_SET) != 0) return refuse(std::strerror(errno));
  return seccomp_fd;
}

// Our descriptors the child gets (block_*: -1 without cgroups).
struct JailFds {
  int seccomp;
  int command;
  int block_read;
  int block_write;
};

// `options` become those of bwrap (or the launch step): its arguments and descriptors and, with
// cgroups, the release of the blocked command once bwrap is inside them.
void set_bwrap_options(SubprocessOptions& options, const JailSpec& spec, const std::string& cwd,
                       const JailStatus& st, const Prepared& prepared, const JailFds& fds,
                       const detail::CommandCgroups& cgroups) {
  const bool blocked = !cgroups.empty();
  options.argv = build_arguments(spec, cwd, st, Profile{true, blocked}, prepared.layout);
  // bwrap (or the launch step) starts with an empty environment: the command's own is set by
  // the helper inside the jail, from the memfd.
  options.env.clear();
  options.cwd = "/";
  options.child_fds = prepared.child_fds();
  options.child_fds.emplace_back(fds.seccomp, kSeccompFd);
  options.child_fds.emplace_back(fds.command, kExecFd);
  options.max_processes = 0;
  options.max_address_space = 0;
  if (blocked) {
    options.child_fds.emplace_back(fds.block_read, kBlockFd);
    int release_fd = fds.block_write;
    const detail::CommandCgroups* groups = &cgroups;
    options.on_spawned = [groups, release_fd](int pid) -> Result<void> {
      if (auto r = groups->adopt(pid); !r) return r;
      if (::write(release_fd, "x", 1) != 1) {
        return fail(ErrorType::internal, "cannot release the jailed command");
      }
      return {};
    };
  }
}

}  // namespace

std::string JailStatus::summary() const {
  if (!available) return "unavailable: " + reason;
  std::vector<std::string> parts = {"bubblewrap", "seccomp"};
  if (landlock_abi > 0 && !helper.empty()) {
    parts.push_back(fmt::format("landlock ABI {}", landlock_abi));
  } else if (landlock_abi > 0) {
    parts.emplace_back("no landlock (cppflue-exec helper not found)");
  } else {
    parts.emplace_back("no landlock (kernel)");
  }
  const char* v = cgroup_v2 ? " (v2)" : "";
  parts.emplace_back(cgroup_pids ? fmt::format("pids cgroup{}", v) : "RLIMIT_NPROC");
  parts.emplace_back(cgroup_memory ? fmt::format("memory cgroup{}", v) : "RLIMIT_AS");
  return fmt::format("jail ({})", fmt::join(parts, ", "));
}

const JailStatus& jail_status() {
  static const JailStatus status = probe();
  return status;
}

std::vector<std::string> jail_arguments(const JailSpec& spec, const std::string& cwd) {
  auto prepared = prepare(spec, running_as_root());
  Layout layout;
  if (prepared) layout = prepared->layout;
  return build_arguments(spec, cwd, jail_status(), Profile{jail_status().seccomp, false}, layout);
}

asio::awaitable<Result<SubprocessResult>> run_jailed(const JailSpec& spec,
                                                     SubprocessOptions options,
                                                     CancelToken cancel) {
  const JailStatus& st = jail_status();
  auto request = check_request(spec, options, st);
  if (!request) co_return fail(std::move(request.error()));
  auto seccomp_fd = seccomp_memfd(spec, st);
  if (!seccomp_fd) co_return fail(std::move(seccomp_fd.error()));
  // The command and its environment → memfd → the helper inside the jail (fd 5).
  auto command = command_memfd(options);
  if (!command) co_return fail(command.error());
  auto prepared = prepare(spec, request->root);
  if (!prepared) co_return fail(prepared.error());

  // The pids and memory cgroups: the command blocks (bwrap --block-fd) until bwrap and every
  // process it forked are inside, so nothing of the command runs outside the limits.
  auto cgroups = detail::CommandCgroups::create(g_cgroups, spec.max_processes, spec.memory_max);
  if (!cgroups) co_return fail(cgroups.error());
  UniqueFd block_read, block_write;
  if (!cgroups->empty()) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      co_await cgroups->remove(false);
      co_return fail(ErrorType::internal, "cannot create a pipe");
    }
    block_read = high_fd(fds[0]);
    block_write = high_fd(fds[1]);
  }
  JailFds jail_fds{seccomp_fd->get(), command->get(), block_read.get(), block_write.get()};
  set_bwrap_options(options, spec, request->cwd, st, *prepared, jail_fds, *cgroups);

  auto result = co_await run_subprocess(std::move(options), std::move(cancel));

  // The pid namespace dies with its init, but asynchronously; and when bwrap itself was killed
  // early (cancel, timeout) its init may have been orphaned before it armed die-with-parent.
  // The cgroups hold every process of the command whatever happened: kill them all. After a
  // kill of ours, wait (bounded) until they are gone, so nothing outlives the call; after a
  // normal exit, let the background finish the cleanup.
  bool we_killed = !result || result->timed_out || result->signal == SIGKILL;
  if (result && !result->timed_out && cgroups->memory_exhausted()) {
    detail::note_memory_kill(*result, spec);
  }
  co_await cgroups->remove(we_killed);
  co_return result;
}

namespace detail {

void note_memory_kill(SubprocessResult& result, const JailSpec& spec) {
  std::string& err = result.stderr_text;
  if (!err.empty() && err.back() != '\n') err += '\n';
  err += fmt::format(
      "[the command was killed: its processes used more than the memory limit of {} MiB "
      "([sandbox] memory_max; the jail's /tmp counts too)]",
      spec.memory_max >> 20);
}

Result<std::string> jailed_cwd(const JailSpec& spec, const SubprocessOptions& options) {
  auto request = check_request(spec, options, jail_status());
  if (!request) return fail(std::move(request.error()));
  return std::move(request->cwd);
}

Result<UniqueFd> jailed_command_memfd(const SubprocessOptions& options) {
  return command_memfd(options);
}

namespace {

// Kills a jail that could not be handed over, reaps it and removes its cgroups.
Result<ServedJail> abandon(pid_t pid, const CommandCgroups& cgroups, const std::string& why) {
  ::kill(pid, SIGKILL);
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) < 0 && errno == EINTR) {
  }
  cgroups.remove_now();
  return fail(ErrorType::internal, "the session's jail did not start: " + why);
}

// Waits (at most 5 s) for the helper's first message.
bool wait_ready(int control) {
  pollfd p{control, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 5000);
  } while (rc < 0 && errno == EINTR);
  char c = 0;
  return rc == 1 && ::recv(control, &c, 1, MSG_DONTWAIT) == 1 && c == jail_protocol::kReady;
}

}  // namespace

Result<ServedJail> start_served_jail(const JailSpec& spec) {
  const JailStatus& st = jail_status();
  auto request = check_request(spec, SubprocessOptions{}, st);
  if (!request) return fail(std::move(request.error()));
  auto seccomp_fd = seccomp_memfd(spec, st);
  if (!seccomp_fd) return fail(std::move(seccomp_fd.error()));
  auto prepared = prepare(spec, request->root);
  if (!prepared) return fail(std::move(prepared.error()));
  auto created = CommandCgroups::create(g_cgroups, spec.max_processes, spec.memory_max);
  if (!created) return fail(std::move(created.error()));
  auto cgroups = std::make_shared<const CommandCgroups>(std::move(*created));
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    cgroups->remove_now();
    return fail(ErrorType::internal, std::string("socketpair: ") + std::strerror(errno));
  }
  UniqueFd ours = high_fd(pair[0]);
  UniqueFd theirs = high_fd(pair[1]);
  UniqueFd block_read, block_write;
  if (!cgroups->empty() && ::pipe2(pair, O_CLOEXEC) == 0) {
    block_read = high_fd(pair[0]);
    block_write = high_fd(pair[1]);
  }
  const bool blocked = block_read.get() >= 0;
  if (!cgroups->empty() && !blocked) {
    cgroups->remove_now();
    return fail(ErrorType::internal, "cannot create a pipe");
  }
  auto argv =
      build_arguments(spec, request->cwd, st, Profile{true, blocked, true}, prepared->layout);
  auto fds = prepared->child_fds();
  fds.emplace_back(seccomp_fd->get(), kSeccompFd);
  fds.emplace_back(theirs.get(), kExecFd);
  if (blocked) fds.emplace_back(block_read.get(), kBlockFd);
  auto [pid, rc] = spawn_quiet(argv, fds, -1);
  if (pid < 0) {
    cgroups->remove_now();
    return fail(ErrorType::internal,
                fmt::format("cannot start {}: {}", argv[0], std::strerror(rc)));
  }
  theirs.reset();
  block_read.reset();
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.get() < 0) return abandon(pid, *cgroups, "pidfd_open failed");
  if (blocked) {
    // Nothing runs inside until bwrap and what it forked are in the cgroups.
    if (auto r = cgroups->adopt(pid); !r) return abandon(pid, *cgroups, r.error().message);
    if (::write(block_write.get(), "x", 1) != 1) return abandon(pid, *cgroups, "no release");
  }
  if (!wait_ready(ours.get())) return abandon(pid, *cgroups, "its helper did not answer");
  ServedJail jail;
  jail.pid = pid;
  jail.pidfd = std::move(pidfd);
  jail.control = std::move(ours);
  jail.cgroups = std::move(cgroups);
  return jail;
}

}  // namespace detail

}  // namespace cppflue
