// SPDX-License-Identifier: Apache-2.0
// Workspace: resolution beneath the root — openat2(RESOLVE_BENEATH), or the O_NOFOLLOW component
// walk when openat2 is missing or disabled — and the lexical path helpers (workspace_internal.hpp).
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>

#include "sandbox/workspace_internal.hpp"

namespace cppflue {

namespace workspace_detail {

std::vector<std::string> split_components(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string display(std::string_view rel) {
  if (rel == "." || rel.empty()) return "/";
  return "/" + std::string(rel);
}

bool under(std::string_view rel, std::string_view entry) {
  if (entry == ".") return true;
  if (rel == ".") return false;
  if (rel.size() < entry.size() || rel.compare(0, entry.size(), entry) != 0) return false;
  return rel.size() == entry.size() || rel[entry.size()] == '/';
}

std::string join_rel(std::string_view parent, std::string_view leaf) {
  if (parent == "." || parent.empty()) return std::string(leaf);
  std::string out(parent);
  out += '/';
  out += leaf;
  return out;
}

std::pair<std::string, std::string> split_leaf(const std::string& rel) {
  auto pos = rel.rfind('/');
  if (pos == std::string::npos) return {".", rel};
  return {rel.substr(0, pos), rel.substr(pos + 1)};
}

int sys_openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
                std::uint64_t resolve) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

}  // namespace workspace_detail

using namespace workspace_detail;

namespace {

// Set once openat2 returned ENOSYS: every later resolution uses the walk.
std::atomic<bool> g_no_openat2{false};

std::optional<std::string> fd_path(int fd) {
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlink(link.c_str(), buf, PATH_MAX);
  if (n <= 0 || n >= PATH_MAX) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

SysResult<std::string> read_link_at(int dirfd, const char* name) {
  std::string buf(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(dirfd, name, buf.data(), buf.size());
  if (n < 0) return sys_fail(errno);
  if (static_cast<std::size_t>(n) >= buf.size()) return sys_fail(ENAMETOOLONG);
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

// Fallback resolution: walks `rel` from `root` one component at a time with O_NOFOLLOW, expanding
// symlinks itself (relative targets only; absolute ones are escapes, as with RESOLVE_BENEATH) and
// keeping a stack of directory fds so ".." can never climb above the root. EXDEV = escape.
class Walk {
 public:
  Walk(int root, std::string_view rel, int flags, bool follow_last)
      : root_(root), flags_(flags), follow_last_(follow_last) {
    for (auto& c : split_components(rel)) pending_.push_back(std::move(c));
    if (pending_.empty()) pending_.emplace_back(".");
  }

  SysResult<Fd> run() {
    while (!pending_.empty()) {
      std::string comp = std::move(pending_.front());
      pending_.pop_front();
      std::optional<SysResult<Fd>> done;
      if (comp == "." || comp == "..") {
        done = dot(comp);
      } else if (!pending_.empty()) {
        done = intermediate(comp);
      } else {
        done = last(comp);
      }
      if (done) return std::move(*done);
    }
    return sys_fail(ENOENT);  // unreachable
  }

 private:
  // Each step returns the outcome of the walk, or nullopt to go on with the pending components.
  using Step = std::optional<SysResult<Fd>>;

  int cur() const { return stack_.empty() ? root_ : stack_.back().get(); }

  SysResult<void> splice(const std::string& target) {
    if (++links_ > kMaxSymlinks) return sys_fail(ELOOP);
    if (target.empty()) return sys_fail(ENOENT);
    if (target[0] == '/') return sys_fail(EXDEV);
    auto comps = split_components(target);
    for (auto it = comps.rbegin(); it != comps.rend(); ++it) pending_.push_front(std::move(*it));
    return {};
  }

  // Opens `comp` itself (O_PATH|O_NOFOLLOW opens a symlink itself) and stats it into `st`.
  SysResult<Fd> open_no_follow(const std::string& comp, struct stat& st) const {
    Fd fd(::openat(cur(), comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return sys_fail(errno);
    if (::fstat(fd.get(), &st) != 0) return sys_fail(errno);
    return fd;
  }

  // Splices the target of the symlink open as `link` in front of the pending components.
  SysResult<void> expand(int link) {
    auto target = read_link_at(link, "");
    if (!target) return tl::unexpected(target.error());
    return splice(*target);
  }

  Step dot(const std::string& comp) {
    if (comp == "..") {
      if (stack_.empty()) return sys_fail(EXDEV);
      stack_.pop_back();
    }
    if (pending_.empty()) {
      int fd = ::openat(cur(), ".", flags_ | O_CLOEXEC);
      if (fd < 0) return sys_fail(errno);
      return Fd(fd);
    }
    return std::nullopt;
  }

  // Intermediate component: must be a directory or a symlink we expand.
  Step intermediate(const std::string& comp) {
    struct stat st;
    auto fd = open_no_follow(comp, st);
    if (!fd) return tl::unexpected(fd.error());
    if (S_ISLNK(st.st_mode)) {
      if (auto r = expand(fd->get()); !r) return tl::unexpected(r.error());
      return std::nullopt;
    }
    if (!S_ISDIR(st.st_mode)) return sys_fail(ENOTDIR);
    stack_.push_back(std::move(*fd));
    return std::nullopt;
  }

  // Last component. When following, probe it first without following (O_PATH|O_NOFOLLOW
  // opens a symlink itself) and expand a symlink; then open for real with O_NOFOLLOW, so a
  // symlink swapped in meanwhile fails instead of being followed, and is expanded on a retry.
  Step last(const std::string& comp) {
    if (follow_last_) {
      struct stat st;
      auto probe = open_no_follow(comp, st);
      if (!probe) return tl::unexpected(probe.error());
      if (S_ISLNK(st.st_mode)) {
        if (auto r = expand(probe->get()); !r) return tl::unexpected(r.error());
        return std::nullopt;
      }
      if (flags_ & O_PATH) {
        if ((flags_ & O_DIRECTORY) && !S_ISDIR(st.st_mode)) return sys_fail(ENOTDIR);
        return std::move(*probe);
      }
    }
    return open_last(comp);
  }

  Step open_last(const std::string& comp) {
    Fd fd(::openat(cur(), comp.c_str(), flags_ | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      int err = errno;
      struct stat st;
      if (follow_last_ && (err == ELOOP || err == ENOTDIR) &&
          ::fstatat(cur(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        if (++links_ > kMaxSymlinks) return sys_fail(ELOOP);
        pending_.push_front(comp);  // became a symlink after the probe: expand it on the next round
        return std::nullopt;
      }
      return sys_fail(err);
    }
    if ((flags_ & O_DIRECTORY) && (flags_ & O_PATH)) {
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) return sys_fail(errno);
      if (!S_ISDIR(st.st_mode)) return sys_fail(ENOTDIR);
    }
    return fd;
  }

  int root_;
  int flags_;
  bool follow_last_;
  std::deque<std::string> pending_;
  std::vector<Fd> stack_;  // directories below the root
  int links_ = 0;
};

SysResult<Fd> walk_open(int root, std::string_view rel, int flags, bool follow_last) {
  return Walk(root, rel, flags, follow_last).run();
}

}  // namespace

bool Workspace::Impl::fallback(const Workspace& ws) {
  return ws.options_.force_fallback || g_no_openat2.load(std::memory_order_relaxed);
}

Workspace::Impl::SysResult<Workspace::Impl::Fd> Workspace::Impl::open_beneath(
    const Workspace& ws, int dirfd, std::string_view rel, int flags, bool follow_last) {
  std::string path(rel.empty() ? "." : rel);
  if (!fallback(ws)) {
    std::uint64_t f =
        static_cast<std::uint64_t>(flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
    for (int i = 0; i < kMaxRetries; ++i) {
      int fd = sys_openat2(dirfd, path.c_str(), f, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
      if (fd >= 0) return Fd(fd);
      int err = errno;
      if (err == EAGAIN || err == EINTR) continue;
      if (err == ENOSYS) {
        g_no_openat2.store(true, std::memory_order_relaxed);
        break;
      }
      return sys_fail(err);
    }
    if (!g_no_openat2.load(std::memory_order_relaxed)) return sys_fail(EAGAIN);
  }
  return walk_open(dirfd, path, flags, follow_last);
}

std::optional<std::string> Workspace::Impl::real_rel(const Workspace& ws, int fd) {
  auto rp = fd_path(root(ws));
  auto p = fd_path(fd);
  if (!rp || !p) return std::nullopt;
  if (*p == *rp) return std::string(".");
  if (*rp == "/") return p->size() > 1 ? std::optional<std::string>(p->substr(1)) : std::nullopt;
  if (p->size() > rp->size() + 1 && p->compare(0, rp->size(), *rp) == 0 &&
      (*p)[rp->size()] == '/') {
    return p->substr(rp->size() + 1);
  }
  return std::nullopt;
}

Result<std::pair<Workspace::Impl::Fd, std::string>> Workspace::Impl::open_parent(
    const Workspace& ws, const std::string& rel, std::string_view what, bool write) {
  if (auto c = check(ws, rel, write); !c) return fail(c.error());
  auto [parent, leaf] = split_leaf(rel);
  auto pfd = open_beneath(ws, root(ws), parent, O_PATH | O_DIRECTORY, true);
  if (!pfd) return fail(os_error(ws, what, parent, pfd.error().err));
  if (auto real = real_rel(ws, pfd->get())) {
    if (auto c = check(ws, join_rel(*real, leaf), write); !c) return fail(c.error());
  }
  return std::make_pair(std::move(*pfd), leaf);
}

}  // namespace cppflue
