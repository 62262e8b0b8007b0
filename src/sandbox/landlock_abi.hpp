// SPDX-License-Identifier: Apache-2.0
// Landlock ABI definitions carried by the project: Debian 12's kernel headers (6.1) know only
// ABI 1-2, while the kernels we run on offer more. Values from the Linux UAPI
// (include/uapi/linux/landlock.h); syscall numbers are the same on every architecture.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace cppflue::landlock {

inline constexpr long kSysCreateRuleset = 444;
inline constexpr long kSysAddRule = 445;
inline constexpr long kSysRestrictSelf = 446;

inline constexpr std::uint32_t kCreateRulesetVersion = 1U << 0;
inline constexpr int kRulePathBeneath = 1;

// Filesystem access rights.
inline constexpr std::uint64_t kExecute = 1ULL << 0;
inline constexpr std::uint64_t kWriteFile = 1ULL << 1;
inline constexpr std::uint64_t kReadFile = 1ULL << 2;
inline constexpr std::uint64_t kReadDir = 1ULL << 3;
inline constexpr std::uint64_t kRemoveDir = 1ULL << 4;
inline constexpr std::uint64_t kRemoveFile = 1ULL << 5;
inline constexpr std::uint64_t kMakeChar = 1ULL << 6;
inline constexpr std::uint64_t kMakeDir = 1ULL << 7;
inline constexpr std::uint64_t kMakeReg = 1ULL << 8;
inline constexpr std::uint64_t kMakeSock = 1ULL << 9;
inline constexpr std::uint64_t kMakeFifo = 1ULL << 10;
inline constexpr std::uint64_t kMakeBlock = 1ULL << 11;
inline constexpr std::uint64_t kMakeSym = 1ULL << 12;
inline constexpr std::uint64_t kRefer = 1ULL << 13;     // ABI 2
inline constexpr std::uint64_t kTruncate = 1ULL << 14;  // ABI 3

// The kernel accepts a shorter struct than its own: `handled_access_fs` alone (size 8) before
// ABI 6, all three members (size 24) for the scopes of ABI 6. No network rights are handled.
struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net = 0;
  std::uint64_t scoped = 0;
};
inline constexpr std::size_t kRulesetAttrSizeV1 = sizeof(std::uint64_t);

// ABI 6 scopes: no connecting to abstract UNIX sockets, no signals, outside the domain.
inline constexpr std::uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
inline constexpr std::uint64_t kScopeSignal = 1ULL << 1;

struct __attribute__((packed)) PathBeneathAttr {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
};

// The ABI version the running kernel offers, or <= 0 when Landlock is unavailable.
inline int abi_version() {
  return static_cast<int>(::syscall(kSysCreateRuleset, nullptr, 0, kCreateRulesetVersion));
}

// Every right that modifies the filesystem, for a given ABI.
inline std::uint64_t write_rights(int abi) {
  std::uint64_t r = kWriteFile | kRemoveDir | kRemoveFile | kMakeChar | kMakeDir | kMakeReg |
                    kMakeSock | kMakeFifo | kMakeBlock | kMakeSym;
  if (abi >= 2) r |= kRefer;
  if (abi >= 3) r |= kTruncate;
  return r;
}

}  // namespace cppflue::landlock
