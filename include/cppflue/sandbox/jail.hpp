// SPDX-License-Identifier: Apache-2.0
// cppflue/sandbox/jail.hpp — the jail that shell commands of the `virtual` sandbox run in
// (docs/security.md).
//
// A jailed command runs under bubblewrap in new user, mount, pid, ipc, uts and cgroup
// namespaces (and a new network namespace unless `network`), with:
//   * only the system directories visible, read-only: /usr, /bin, /sbin, /lib*, and /etc with
//     every entry an unprivileged user could not read masked (so /etc/shadow, private keys,
//     ... stay unreadable even when the host process runs as root); home directories, /root,
//     /var, /opt, other projects and the project's own state are not there at all;
//   * the workspace read-write at its own path and at /workspace, with `hidden` entries
//     replaced by an empty read-only directory and `read_only` entries (e.g. .git) re-bound
//     read-only;
//   * a private /tmp, a fresh /proc, a minimal /dev, the root itself read-only;
//   * all capabilities dropped, no_new_privs, a seccomp filter (libseccomp BPF handed to
//     bwrap: no ptrace, io_uring, bpf, perf, kexec, module or keyring calls, and without
//     network only AF_UNIX sockets), a Landlock write restriction (workspace, /tmp, /dev) when
//     the kernel offers it (applied by the `cppflue-exec` helper inside the namespaces);
//   * the process count bounded by a cgroup (v1 pids controller) when we may create one, else
//     by RLIMIT_NPROC, the memory of all its processes by a v1 memory cgroup (`memory_max`;
//     a command over it is killed and says so), the private /tmp by `tmp_size`, and each
//     process's address space by RLIMIT_AS; die-with-parent, new session; cgroups left by a
//     process that died are removed when the jail is next probed;
//   * never host root: when CppFlue runs as root, the `cppflue-exec --launch` step prepares the
//     workspace in a private mount namespace by descriptor and drops to `JailSpec::uid/gid`
//     before bubblewrap starts, so bubblewrap and every jailed process run as that unprivileged
//     uid; otherwise they run as CppFlue's own (non-root) uid. setuid/setgid bits cannot be set
//     (seccomp) and the workspace is mounted nosuid.
// Nothing the model controls reaches a host process's environment, arguments or loader: bwrap
// starts with an empty environment, and the command with its environment travels through a
// memfd to the helper inside the jail. The workspace and its read-only entries are bound by
// descriptor, never by a path the model could swap.
//
// run_jailed sets up a jail for one command. The `virtual` sandbox keeps one jail per session
// instead (docs/security.md, "One jail per session"): set up once, each command started inside
// it by the resident helper with nothing of the previous one left, `[sandbox] jail_idle_seconds`.
//
// `jail_status()` probes once per process whether all this works here (bwrap present and able
// to create the namespaces, Landlock ABI, seccomp, cgroup, helper) and says why not.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "cppflue/core/cancel.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/sandbox/subprocess.hpp"

namespace cppflue {

struct JailStatus {
  bool available = false;
  std::string reason;          // why the jail cannot start (when !available)
  std::string bwrap;           // bubblewrap executable
  int landlock_abi = 0;        // 0: no Landlock
  std::string helper;          // cppflue-exec; empty: not found (no Landlock layer)
  bool seccomp = false;        // the seccomp filter could be built
  bool cgroup_pids = false;    // per-command pids cgroup (else RLIMIT_NPROC)
  bool cgroup_memory = false;  // per-command memory cgroup (else RLIMIT_AS only)
  bool cgroup_v2 = false;      // some of them in the unified (v2) hierarchy
  // One line: "jail (bubblewrap, seccomp, landlock ABI 7, pids cgroup)" or "unavailable: ...".
  std::string summary() const;
};

// Probed on first use, then cached (thread-safe).
const JailStatus& jail_status();

// The uid and gid jailed commands run as when CppFlue runs as root (nobody/nogroup).
inline constexpr unsigned kJailDefaultId = 65534;

struct JailSpec {
  std::filesystem::path workspace;  // canonical absolute path of an existing directory
  // An O_PATH descriptor of that directory (borrowed; -1: opened from `workspace`). The jail
  // binds the directory this refers to, whatever the path names by then.
  int workspace_fd = -1;
  std::vector<std::string> hidden;     // workspace-relative paths to hide (e.g. ".cppflue")
  std::vector<std::string> read_only;  // workspace-relative paths to protect (e.g. ".git")
  // Host uid/gid of jailed commands when CppFlue runs as root (never 0: refused). Ignored
  // otherwise (commands run as CppFlue's own uid).
  unsigned uid = kJailDefaultId;
  unsigned gid = kJailDefaultId;
  bool network = false;
  // With `network`: allow connecting to the host's abstract UNIX sockets (otherwise refused by a
  // Landlock scope, or before Landlock ABI 6 by refusing socket(AF_UNIX) in seccomp).
  bool abstract_unix_sockets = false;
  long max_processes = 512;
  long max_address_space = 16L << 30;
  // Memory of all the command's processes (memory cgroup; 0 = none) and the size of its /tmp.
  long long memory_max = 0;
  long long tmp_size = 0;
};

// Runs `options.argv` in the jail. `options.cwd` must be the workspace or a directory below it
// (host path; the command sees the same path). `options.env` is the command's whole
// environment (set inside the jail only). Errors: permission (the jail is unavailable: the
// message says why and how to opt out; or a root-owned uid was asked for), invalid_input (bad
// cwd), and those of run_subprocess.
boost::asio::awaitable<Result<SubprocessResult>> run_jailed(const JailSpec& spec,
                                                            SubprocessOptions options,
                                                            CancelToken cancel);

// The host command line for `spec` (everything before the command: the launch step when root,
// then bwrap and the helper), for tests and `doctor`. Descriptor numbers are those the jail
// passes to the child.
std::vector<std::string> jail_arguments(const JailSpec& spec, const std::string& cwd);

}  // namespace cppflue
