// SPDX-License-Identifier: Apache-2.0
// cppflue-exec: the last step of the jail (SPEC §7.4). bubblewrap cannot apply Landlock (a
// Landlock domain forbids the mounts bwrap performs), so the jail runs this helper inside the
// namespaces, after the mounts:
//
//   cppflue-exec [--rw PATH]... [--dev PATH]... [--nproc N] [--as BYTES] -- PROGRAM ARGS...
//
// It sets the resource limits (RLIMIT_NPROC, RLIMIT_AS), no_new_privs, restricts filesystem writes
// with Landlock to the --rw paths (full write rights) and --dev paths (writing to existing files
// only), and execs PROGRAM. Reads are not restricted (the mount namespace decides what is visible).
// When the kernel has no Landlock it execs anyway (the probe reports it); when Landlock is
// available but a step fails, it refuses to run (exit 126): a filter that cannot be enforced is not
// silently dropped.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sandbox/landlock_abi.hpp"

namespace ll = cppflue::landlock;

namespace {

[[noreturn]] void die(int code, const std::string& what) {
  std::fprintf(stderr, "cppflue-exec: %s\n", what.c_str());
  std::fflush(stderr);
  _exit(code);
}

bool add_rule(int ruleset, const char* path, std::uint64_t rights) {
  int fd = ::open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;  // a missing path needs no rule
  ll::PathBeneathAttr attr{rights, fd};
  long rc = ::syscall(ll::kSysAddRule, ruleset, ll::kRulePathBeneath, &attr, 0);
  ::close(fd);
  return rc == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<const char*> rw, dev;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if ((a == "--rw" || a == "--dev") && i + 1 < argc) {
      (a == "--rw" ? rw : dev).push_back(argv[++i]);
      continue;
    }
    if ((a == "--nproc" || a == "--as") && i + 1 < argc) {
      char* end = nullptr;
      unsigned long long v = std::strtoull(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || v == 0) die(125, "bad value for " + a);
      rlimit lim{static_cast<rlim_t>(v), static_cast<rlim_t>(v)};
      if (::setrlimit(a == "--nproc" ? RLIMIT_NPROC : RLIMIT_AS, &lim) != 0) {
        die(126, "setrlimit " + a + ": " + std::strerror(errno));
      }
      continue;
    }
    die(125, "unknown argument '" + a + "' (usage: cppflue-exec [--rw P]... [--dev P]... -- CMD)");
  }
  if (i >= argc) die(125, "no command given");

  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    die(126, std::string("cannot set no_new_privs: ") + std::strerror(errno));
  }
  int abi = ll::abi_version();
  if (abi > 0) {
    std::uint64_t handled = ll::write_rights(abi);
    ll::RulesetAttr attr{handled};
    int ruleset = static_cast<int>(::syscall(ll::kSysCreateRuleset, &attr, sizeof attr, 0));
    if (ruleset < 0) die(126, std::string("landlock_create_ruleset: ") + std::strerror(errno));
    for (const char* p : rw) {
      if (!add_rule(ruleset, p, handled)) {
        die(126, std::string("landlock rule for ") + p + ": " + std::strerror(errno));
      }
    }
    std::uint64_t dev_rights = ll::kWriteFile | (abi >= 3 ? ll::kTruncate : 0);
    for (const char* p : dev) {
      if (!add_rule(ruleset, p, dev_rights)) {
        die(126, std::string("landlock rule for ") + p + ": " + std::strerror(errno));
      }
    }
    if (::syscall(ll::kSysRestrictSelf, ruleset, 0) != 0) {
      die(126, std::string("landlock_restrict_self: ") + std::strerror(errno));
    }
    ::close(ruleset);
  }
  ::execvp(argv[i], argv + i);
  int e = errno;
  die(e == ENOENT ? 127 : 126, std::string(argv[i]) + ": " + std::strerror(e));
}
