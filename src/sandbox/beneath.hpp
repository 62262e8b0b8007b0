// SPDX-License-Identifier: Apache-2.0
// Private to the sandbox (and the cppflue-exec helper, which links nothing of ours): opening a
// path beneath a directory descriptor without ever crossing a symlink.
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace cppflue::detail {

// openat2(root, rel, flags | O_NOFOLLOW | O_CLOEXEC) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS, retried on EAGAIN/EINTR. Returns the descriptor, or -1 with errno set
// (ELOOP/EXDEV when a symlink or ".." was on the way).
inline int open_strictly_beneath(int root, const char* rel, std::uint64_t flags) {
  open_how how{};
  how.flags = flags | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0; attempt < 16; ++attempt) {
    int fd = static_cast<int>(::syscall(SYS_openat2, root, rel, &how, sizeof how));
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) return fd;
  }
  return -1;
}

}  // namespace cppflue::detail
