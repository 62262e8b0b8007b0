// SPDX-License-Identifier: Apache-2.0
// The jail's seccomp filter (see seccomp_filter.hpp).
#include "sandbox/seccomp_filter.hpp"

#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "sandbox/unique_fd.hpp"

namespace cppflue::detail {

namespace {

// Syscalls a jailed command never gets (EPERM).
bool deny_syscalls(scmp_filter_ctx ctx) {
  bool ok = true;
  for (const char* name : {"ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "io_uring_setup",
                           "io_uring_enter",
                           "io_uring_register",
                           "bpf",
                           "perf_event_open",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "add_key",
                           "request_key",
                           "keyctl",
                           "userfaultfd",
                           "reboot",
                           "swapon",
                           "swapoff",
                           "acct",
                           "open_by_handle_at"}) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) != 0) ok = false;
  }
  return ok;
}

// No setuid/setgid bits, however they would be set: chmod family and file creation modes.
// openat2 carries its mode in a struct seccomp cannot read: ENOSYS makes callers fall back.
bool deny_setid_modes(scmp_filter_ctx ctx) {
  bool ok = true;
  struct ModeArg {
    const char* name;
    unsigned arg;
  };
  std::vector<std::pair<int, unsigned>> mode_calls;
  for (ModeArg m : {ModeArg{"chmod", 1},
                    {"fchmod", 1},
                    {"fchmodat", 2},
                    {"open", 2},
                    {"openat", 3},
                    {"creat", 1},
                    {"mkdir", 1},
                    {"mkdirat", 2},
                    {"mknod", 1},
                    {"mknodat", 2}}) {
    int nr = seccomp_syscall_resolve_name(m.name);
    if (nr != __NR_SCMP_ERROR) mode_calls.emplace_back(nr, m.arg);
  }
#if defined(__x86_64__) || defined(__aarch64__)
  mode_calls.emplace_back(452, 2);  // fchmodat2 (Linux 6.6), unknown to older libseccomp
#endif
  for (auto [nr, arg] : mode_calls) {
    for (scmp_datum_t bit : {scmp_datum_t{S_ISUID}, scmp_datum_t{S_ISGID}}) {
      scmp_arg_cmp cmp{arg, SCMP_CMP_MASKED_EQ, bit, bit};
      if (seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp) != 0) ok = false;
    }
  }
  if (int nr = seccomp_syscall_resolve_name("openat2"); nr != __NR_SCMP_ERROR) {
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0) ok = false;
  }
  return ok;
}

// Without the network, only UNIX sockets; with `no_unix_sockets`, no UNIX sockets.
bool restrict_sockets(scmp_filter_ctx ctx, bool network, bool no_unix_sockets) {
  bool ok = true;
  if (no_unix_sockets && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
                                          SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) != 0) {
    ok = false;
  }
  if (!network) {
    for (int nr : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
      if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX)) != 0) {
        ok = false;
      }
    }
  }
  return ok;
}

// The BPF program of `ctx`, through a memfd.
std::optional<std::string> export_bpf(scmp_filter_ctx ctx) {
  std::optional<std::string> bytes;
  UniqueFd fd(::memfd_create("cppflue-seccomp", MFD_CLOEXEC));
  if (fd.get() >= 0 && seccomp_export_bpf(ctx, fd.get()) == 0) {
    off_t size = ::lseek(fd.get(), 0, SEEK_END);
    std::string data(static_cast<std::size_t>(std::max<off_t>(size, 0)), '\0');
    if (size > 0 && ::pread(fd.get(), data.data(), data.size(), 0) == size) {
      bytes = std::move(data);
    }
  }
  return bytes;
}

}  // namespace

std::optional<std::string> build_seccomp(bool network, bool no_unix_sockets) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return std::nullopt;
  // Every rule is added even after a failure (the program is then not used at all).
  bool ok = deny_syscalls(ctx);
  ok = deny_setid_modes(ctx) && ok;
  ok = restrict_sockets(ctx, network, no_unix_sockets) && ok;
  std::optional<std::string> bytes;
  if (ok) bytes = export_bpf(ctx);
  seccomp_release(ctx);
  return bytes;
}

}  // namespace cppflue::detail
