// SPDX-License-Identifier: Apache-2.0
#include "cppflue/sandbox/workspace.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <random>
#include <utility>

#include "cppflue/core/json.hpp"
#include "sandbox/unique_fd.hpp"

namespace cppflue {

namespace {

constexpr int kMaxSymlinks = 40;  // same as the kernel's MAXSYMLINKS
constexpr int kMaxRetries = 16;   // openat2 EAGAIN retries
constexpr int kMaxRemoveDepth = 2048;

// Set once openat2 returned ENOSYS: every later resolution uses the walk.
std::atomic<bool> g_no_openat2{false};

using Fd = detail::UniqueFd;

// A failed system call: errno, or a policy verdict found while resolving.
struct SysError {
  int err = 0;
};
template <class T>
using SysResult = tl::expected<T, SysError>;
tl::unexpected<SysError> sys_fail(int err) {
  return tl::unexpected<SysError>(SysError{err});
}

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

// Is `rel` equal to `entry` or below it? "." contains everything.
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

// Splits a normalised non-root relative path into parent ("." at top level) and leaf.
std::pair<std::string, std::string> split_leaf(const std::string& rel) {
  auto pos = rel.rfind('/');
  if (pos == std::string::npos) return {".", rel};
  return {rel.substr(0, pos), rel.substr(pos + 1)};
}

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

int sys_openat2(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode,
                std::uint64_t resolve) {
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

// Fallback resolution: walks `rel` from `root` one component at a time with O_NOFOLLOW, expanding
// symlinks itself (relative targets only; absolute ones are escapes, as with RESOLVE_BENEATH) and
// keeping a stack of directory fds so ".." can never climb above the root. EXDEV = escape.
SysResult<Fd> walk_open(int root, std::string_view rel, int flags, bool follow_last) {
  std::deque<std::string> pending;
  for (auto& c : split_components(rel)) pending.push_back(std::move(c));
  std::vector<Fd> stack;  // directories below the root
  auto cur = [&] { return stack.empty() ? root : stack.back().get(); };
  int links = 0;
  auto splice = [&](const std::string& target) -> SysResult<void> {
    if (++links > kMaxSymlinks) return sys_fail(ELOOP);
    if (target.empty()) return sys_fail(ENOENT);
    if (target[0] == '/') return sys_fail(EXDEV);
    auto comps = split_components(target);
    for (auto it = comps.rbegin(); it != comps.rend(); ++it) pending.push_front(std::move(*it));
    return {};
  };
  if (pending.empty()) pending.push_back(".");
  while (!pending.empty()) {
    std::string comp = std::move(pending.front());
    pending.pop_front();
    if (comp == "." || comp == "..") {
      if (comp == "..") {
        if (stack.empty()) return sys_fail(EXDEV);
        stack.pop_back();
      }
      if (pending.empty()) {
        int fd = ::openat(cur(), ".", flags | O_CLOEXEC);
        if (fd < 0) return sys_fail(errno);
        return Fd(fd);
      }
      continue;
    }
    if (!pending.empty()) {
      // Intermediate component: must be a directory or a symlink we expand.
      Fd fd(::openat(cur(), comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return sys_fail(errno);
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) return sys_fail(errno);
      if (S_ISLNK(st.st_mode)) {
        auto target = read_link_at(fd.get(), "");
        if (!target) return tl::unexpected(target.error());
        if (auto r = splice(*target); !r) return tl::unexpected(r.error());
        continue;
      }
      if (!S_ISDIR(st.st_mode)) return sys_fail(ENOTDIR);
      stack.push_back(std::move(fd));
      continue;
    }
    // Last component. When following, probe it first without following (O_PATH|O_NOFOLLOW
    // opens a symlink itself) and expand a symlink; then open for real with O_NOFOLLOW, so a
    // symlink swapped in meanwhile fails instead of being followed, and is expanded on a retry.
    if (follow_last) {
      Fd probe(::openat(cur(), comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!probe) return sys_fail(errno);
      struct stat st;
      if (::fstat(probe.get(), &st) != 0) return sys_fail(errno);
      if (S_ISLNK(st.st_mode)) {
        auto target = read_link_at(probe.get(), "");
        if (!target) return tl::unexpected(target.error());
        if (auto r = splice(*target); !r) return tl::unexpected(r.error());
        continue;
      }
      if (flags & O_PATH) {
        if ((flags & O_DIRECTORY) && !S_ISDIR(st.st_mode)) return sys_fail(ENOTDIR);
        return probe;
      }
    }
    Fd fd(::openat(cur(), comp.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      int err = errno;
      struct stat st;
      if (follow_last && (err == ELOOP || err == ENOTDIR) &&
          ::fstatat(cur(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        if (++links > kMaxSymlinks) return sys_fail(ELOOP);
        pending.push_front(comp);  // became a symlink after the probe: expand it on the next round
        continue;
      }
      return sys_fail(err);
    }
    if ((flags & O_DIRECTORY) && (flags & O_PATH)) {
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) return sys_fail(errno);
      if (!S_ISDIR(st.st_mode)) return sys_fail(ENOTDIR);
    }
    return fd;
  }
  return sys_fail(ENOENT);  // unreachable
}

const char* errno_name(int err) {
  switch (err) {
    case ENOENT:
      return "ENOENT";
    case ENOTDIR:
      return "ENOTDIR";
    case EISDIR:
      return "EISDIR";
    case EEXIST:
      return "EEXIST";
    case ENOTEMPTY:
      return "ENOTEMPTY";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case ELOOP:
      return "ELOOP";
    case ENAMETOOLONG:
      return "ENAMETOOLONG";
    case EXDEV:
      return "EXDEV";
    case ENOSPC:
      return "ENOSPC";
    case EROFS:
      return "EROFS";
    case EBUSY:
      return "EBUSY";
    default:
      return "EOTHER";
  }
}

}  // namespace

struct Workspace::Impl {
  static int root(const Workspace& ws) { return *ws.root_fd_; }

  static Error escape_error(const Workspace& ws, std::string_view path) {
    std::string msg = "path '" + std::string(path) +
                      "' is outside the workspace: file tools only reach the workspace (" +
                      ws.root_.string() + "). Use a relative path, '/', '/workspace/...' or '" +
                      ws.root_.string() + "/...'";
    return make_error(ErrorType::permission, std::move(msg),
                      json_object{{"rule", "path_escape"}, {"path", std::string(path)}});
  }

  static Error hidden_error(std::string_view rel) {
    return make_error(ErrorType::permission,
                      "path '" + display(rel) + "' is hidden from file tools",
                      json_object{{"rule", "hidden_path"}, {"path", display(rel)}});
  }

  static Error read_only_error(std::string_view rel) {
    return make_error(ErrorType::permission,
                      "path '" + display(rel) + "' is read-only for file tools",
                      json_object{{"rule", "read_only_path"}, {"path", display(rel)}});
  }

  static Error root_error() {
    return make_error(ErrorType::permission, "refusing to remove the workspace root",
                      json_object{{"rule", "workspace_root"}, {"path", "/"}});
  }

  static Error os_error(const Workspace& ws, std::string_view what, std::string_view rel, int err) {
    std::string p = display(rel);
    json_object details{{"path", p}, {"errno", errno_name(err)}};
    switch (err) {
      case EXDEV:
        return escape_error(ws, p);
      case ENOENT:
        return make_error(ErrorType::not_found,
                          std::string(what) + ": no such file or directory: " + p,
                          std::move(details));
      case ENOTDIR:
        return make_error(ErrorType::not_found,
                          std::string(what) + ": a component of the path is not a directory: " + p,
                          std::move(details));
      case EACCES:
      case EPERM:
      case EROFS:
        details["rule"] = "os_permission";
        return make_error(
            ErrorType::permission,
            std::string(what) + ": permission denied: " + p + " (" + std::strerror(err) + ")",
            std::move(details));
      case ELOOP:
      case ENAMETOOLONG:
      case EISDIR:
      case EEXIST:
      case ENOTEMPTY:
      case EINVAL:
        return make_error(ErrorType::invalid_input,
                          std::string(what) + ": " + p + ": " + std::strerror(err),
                          std::move(details));
      default:
        return make_error(ErrorType::internal,
                          std::string(what) + ": " + p + ": " + std::strerror(err),
                          std::move(details));
    }
  }

  // As root in a workspace owned by someone else, what the file tools create belongs to that
  // owner (the jail runs commands as the owner, who must be able to change it).
  static void give_to_owner(const Workspace& ws, int dirfd, const char* name) {
    if (ws.chown_new_) {
      ::fchownat(dirfd, name, ws.owner_uid_, ws.owner_gid_, AT_SYMLINK_NOFOLLOW);
    }
  }

  static bool fallback(const Workspace& ws) {
    return ws.options_.force_fallback || g_no_openat2.load(std::memory_order_relaxed);
  }

  // Opens `rel` beneath `dirfd` (normally the root). `follow_last` = follow a trailing symlink.
  static SysResult<Fd> open_beneath(const Workspace& ws, int dirfd, std::string_view rel, int flags,
                                    bool follow_last) {
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

  // Resolved workspace-relative path of an open fd (via /proc), if it can be determined.
  static std::optional<std::string> real_rel(const Workspace& ws, int fd) {
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

  static bool is_hidden(const Workspace& ws, std::string_view rel) {
    for (const auto& h : ws.options_.hidden) {
      if (under(rel, h)) return true;
    }
    return false;
  }

  static bool is_read_only(const Workspace& ws, std::string_view rel) {
    for (const auto& r : ws.options_.read_only) {
      if (under(rel, r)) return true;
    }
    return false;
  }

  // Policy check on the lexical path and, where known, on the path the kernel resolved.
  static Result<void> check(const Workspace& ws, std::string_view rel, bool write) {
    if (is_hidden(ws, rel)) return fail(hidden_error(rel));
    if (write && is_read_only(ws, rel)) return fail(read_only_error(rel));
    return {};
  }

  // Opens the parent directory of a non-root `rel`; checks the policy on `rel` and on the
  // resolved parent + leaf.
  static Result<std::pair<Fd, std::string>> open_parent(const Workspace& ws, const std::string& rel,
                                                        std::string_view what, bool write) {
    if (auto c = check(ws, rel, write); !c) return fail(c.error());
    auto [parent, leaf] = split_leaf(rel);
    auto pfd = open_beneath(ws, root(ws), parent, O_PATH | O_DIRECTORY, true);
    if (!pfd) return fail(os_error(ws, what, parent, pfd.error().err));
    if (auto real = real_rel(ws, pfd->get())) {
      if (auto c = check(ws, join_rel(*real, leaf), write); !c) return fail(c.error());
    }
    return std::make_pair(std::move(*pfd), leaf);
  }

  static Result<void> write_rel(const Workspace& ws, const std::string& rel, std::string_view data,
                                bool create_parents, int depth) {
    if (rel == ".") {
      return fail(ErrorType::invalid_input, "write: cannot write onto the workspace root",
                  json_object{{"path", "/"}});
    }
    if (auto c = check(ws, rel, true); !c) return fail(c.error());
    if (create_parents) {
      auto [parent, leaf] = split_leaf(rel);
      if (parent != ".") {
        if (auto r = mkdir_rel(ws, parent, true); !r) return r;
      }
    }
    auto opened = open_parent(ws, rel, "write", true);
    if (!opened) return fail(opened.error());
    Fd& pfd = opened->first;
    const std::string& leaf = opened->second;

    mode_t mode = 0666;
    bool preserve_mode = false;
    bool preserve_owner = false;
    uid_t owner_uid = 0;
    gid_t owner_gid = 0;
    struct stat st;
    if (::fstatat(pfd.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) {
        return fail(ErrorType::invalid_input,
                    "write: " + display(rel) + " is a directory; cannot write onto it",
                    json_object{{"path", display(rel)}});
      }
      if (S_ISLNK(st.st_mode)) {
        // Write to the link's target, provided it resolves inside the workspace.
        auto target = open_beneath(ws, root(ws), rel, O_PATH, true);
        if (!target) return fail(os_error(ws, "write", rel, target.error().err));
        struct stat tst;
        if (::fstat(target->get(), &tst) != 0) return fail(os_error(ws, "write", rel, errno));
        if (S_ISDIR(tst.st_mode)) {
          return fail(ErrorType::invalid_input,
                      "write: " + display(rel) + " is a symlink to a directory",
                      json_object{{"path", display(rel)}});
        }
        auto real = real_rel(ws, target->get());
        if (!real || *real == "." || depth > 0) {
          return fail(ErrorType::invalid_input,
                      "write: cannot write through the symlink " + display(rel),
                      json_object{{"path", display(rel)}});
        }
        return write_rel(ws, *real, data, false, depth + 1);
      }
      if (!S_ISREG(st.st_mode)) {
        return fail(ErrorType::invalid_input, "write: " + display(rel) + " is not a regular file",
                    json_object{{"path", display(rel)}});
      }
      mode = st.st_mode & 07777;
      preserve_mode = true;
      // As root, a replaced file keeps its owner (it would otherwise become root's).
      if (::geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0)) {
        preserve_owner = true;
        owner_uid = st.st_uid;
        owner_gid = st.st_gid;
      }
    } else if (errno != ENOENT) {
      return fail(os_error(ws, "write", rel, errno));
    }

    static thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string tmp;
    Fd out;
    for (int attempt = 0; attempt < 16 && !out; ++attempt) {
      char suffix[17];
      std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
      tmp = "." + leaf.substr(0, 200) + ".tmp-" + suffix;
      out = Fd(::openat(pfd.get(), tmp.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
      if (!out && errno != EEXIST) return fail(os_error(ws, "write", rel, errno));
    }
    if (!out) return fail(os_error(ws, "write", rel, EEXIST));
    auto cleanup = [&](int err) {
      out.reset();
      ::unlinkat(pfd.get(), tmp.c_str(), 0);
      return fail(os_error(ws, "write", rel, err));
    };
    if (preserve_mode && ::fchmod(out.get(), mode) != 0) return cleanup(errno);
    if (preserve_owner) {
      if (::fchown(out.get(), owner_uid, owner_gid) != 0) return cleanup(errno);
      // chown clears setuid/setgid bits: put back what the file had.
      if (preserve_mode && ::fchmod(out.get(), mode) != 0) return cleanup(errno);
    } else if (ws.chown_new_ && ::fchown(out.get(), ws.owner_uid_, ws.owner_gid_) != 0) {
      return cleanup(errno);
    }
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(out.get(), data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return cleanup(errno);
      }
      off += static_cast<std::size_t>(n);
    }
    if (::fsync(out.get()) != 0) return cleanup(errno);
    if (::close(out.release()) != 0) return cleanup(errno);
    if (::renameat(pfd.get(), tmp.c_str(), pfd.get(), leaf.c_str()) != 0) return cleanup(errno);
    return {};
  }

  static Result<void> mkdir_rel(const Workspace& ws, const std::string& rel, bool recursive) {
    if (rel == ".") {
      if (recursive) return {};
      return fail(ErrorType::invalid_input, "mkdir: the workspace root already exists",
                  json_object{{"path", "/"}});
    }
    if (auto c = check(ws, rel, true); !c) return fail(c.error());
    if (!recursive) {
      auto opened = open_parent(ws, rel, "mkdir", true);
      if (!opened) return fail(opened.error());
      if (::mkdirat(opened->first.get(), opened->second.c_str(), 0777) != 0) {
        return fail(os_error(ws, "mkdir", rel, errno));
      }
      give_to_owner(ws, opened->first.get(), opened->second.c_str());
      return {};
    }
    auto comps = split_components(rel);
    std::string prefix = ".";
    for (const auto& comp : comps) {
      std::string next = join_rel(prefix, comp);
      for (int attempt = 0;; ++attempt) {
        auto fd = open_beneath(ws, root(ws), next, O_PATH | O_DIRECTORY, true);
        if (fd) {
          if (auto real = real_rel(ws, fd->get())) {
            if (auto c = check(ws, *real, true); !c) return fail(c.error());
          }
          break;
        }
        if (fd.error().err != ENOENT || attempt > 2) {
          return fail(os_error(ws, "mkdir", next, fd.error().err));
        }
        auto opened = open_parent(ws, next, "mkdir", true);
        if (!opened) return fail(opened.error());
        if (::mkdirat(opened->first.get(), opened->second.c_str(), 0777) != 0) {
          if (errno != EEXIST) return fail(os_error(ws, "mkdir", next, errno));
        } else {
          give_to_owner(ws, opened->first.get(), opened->second.c_str());
        }
      }
      prefix = std::move(next);
    }
    return {};
  }

  // Removes `name` (a directory) below `dirfd` recursively, never following symlinks.
  static int remove_tree(const Workspace& ws, int dirfd, const std::string& name, int depth) {
    if (depth > kMaxRemoveDepth) return ELOOP;
    SysResult<Fd> fd =
        fallback(ws) ? SysResult<Fd>(Fd(::openat(dirfd, name.c_str(),
                                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)))
                     : open_beneath(ws, dirfd, name, O_RDONLY | O_DIRECTORY, false);
    if (fd && !*fd) fd = sys_fail(errno);
    if (!fd) return fd.error().err;
    // Collect the names first so only one fd per level stays open.
    std::vector<std::pair<std::string, bool>> entries;
    {
      int dup = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, 0);
      if (dup < 0) return errno;
      DIR* dir = ::fdopendir(dup);
      if (!dir) {
        int err = errno;
        ::close(dup);
        return err;
      }
      while (dirent* e = ::readdir(dir)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        bool is_dir = false;
        if (e->d_type == DT_DIR) {
          is_dir = true;
        } else if (e->d_type == DT_UNKNOWN) {
          struct stat st;
          if (::fstatat(fd->get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            is_dir = S_ISDIR(st.st_mode);
          }
        }
        entries.emplace_back(std::move(n), is_dir);
      }
      ::closedir(dir);
    }
    for (const auto& [n, is_dir] : entries) {
      if (is_dir) {
        if (int err = remove_tree(ws, fd->get(), n, depth + 1); err != 0) return err;
      } else if (::unlinkat(fd->get(), n.c_str(), 0) != 0) {
        if (errno == EISDIR) {  // replaced by a directory meanwhile
          if (int err = remove_tree(ws, fd->get(), n, depth + 1); err != 0) return err;
        } else if (errno != ENOENT) {
          return errno;
        }
      }
    }
    fd->reset();
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return errno;
    return 0;
  }
};

bool Workspace::uses_fallback() const {
  return Impl::fallback(*this);
}

Result<Workspace> Workspace::open(const std::filesystem::path& root, WorkspaceOptions options) {
  std::error_code ec;
  auto canon = std::filesystem::canonical(root, ec);
  if (ec) {
    return fail(ErrorType::not_found, "workspace directory does not exist: " + root.string(),
                json_object{{"path", root.string()}});
  }
  int fd = ::open(canon.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(err == ENOTDIR ? ErrorType::invalid_input : ErrorType::not_found,
                "cannot open workspace directory " + canon.string() + ": " + std::strerror(err),
                json_object{{"path", canon.string()}});
  }
  Workspace ws;
  ws.root_fd_ = std::shared_ptr<const int>(new int(fd), [](const int* p) {
    ::close(*p);
    delete p;
  });
  ws.root_ = canon;
  ws.record_owner();
  auto add_alias = [&](std::string s) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    if (std::find(ws.root_aliases_.begin(), ws.root_aliases_.end(), s) == ws.root_aliases_.end()) {
      ws.root_aliases_.push_back(std::move(s));
    }
  };
  add_alias(canon.string());
  add_alias(std::filesystem::absolute(root, ec).lexically_normal().string());
  ws.options_.force_fallback = options.force_fallback;
  auto normalise = [&](const std::vector<std::string>& in, std::vector<std::string>& out,
                       bool allow_root) -> Result<void> {
    for (const auto& p : in) {
      auto rel = ws.to_relative(p);
      if (!rel || (!allow_root && *rel == ".")) {
        return fail(ErrorType::invalid_input,
                    "workspace option path must name something inside the workspace: " + p,
                    json_object{{"path", p}});
      }
      out.push_back(std::move(*rel));
    }
    return {};
  };
  if (auto r = normalise(options.hidden, ws.options_.hidden, false); !r) return fail(r.error());
  if (auto r = normalise(options.read_only, ws.options_.read_only, true); !r) {
    return fail(r.error());
  }
  return ws;
}

void Workspace::record_owner() {
  struct stat st {};
  if (::geteuid() == 0 && ::fstat(*root_fd_, &st) == 0 && st.st_uid != 0) {
    chown_new_ = true;
    owner_uid_ = st.st_uid;
    owner_gid_ = st.st_gid;
  }
}

int Workspace::root_fd() const {
  return *root_fd_;
}

Result<Workspace> Workspace::subdirectory(std::string_view path, WorkspaceOptions options) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  if (auto c = Impl::check(*this, *rel, false); !c) return fail(c.error());
  // One open, beneath the root and without crossing any symlink: what was checked is what is
  // used, whatever happens to the path afterwards.
  auto fd = Impl::open_beneath(*this, *root_fd_, *rel, O_PATH | O_DIRECTORY, false);
  if (!fd) {
    int err = fd.error().err;
    if (err == ENOTDIR || err == ELOOP) {
      return fail(ErrorType::invalid_input,
                  "'" + std::string(path) + "' is not a directory of the workspace",
                  json_object{{"path", std::string(path)}});
    }
    return fail(Impl::os_error(*this, "open", *rel, err));
  }
  // A symlink on the way (inside the workspace) is refused too: the folder must be what its
  // name says.
  if (auto real = Impl::real_rel(*this, fd->get()); !real || *real != *rel) {
    return fail(ErrorType::invalid_input,
                "'" + std::string(path) + "' is not a directory of the workspace (a symlink)",
                json_object{{"path", std::string(path)}});
  }
  Workspace ws;
  int raw = fd->release();
  ws.root_fd_ = std::shared_ptr<const int>(new int(raw), [](const int* p) {
    ::close(*p);
    delete p;
  });
  ws.root_ = *rel == "." ? root_ : root_ / *rel;
  ws.root_aliases_.push_back(ws.root_.string());
  ws.record_owner();
  ws.options_.force_fallback = options.force_fallback;
  for (auto* list : {&options.hidden, &options.read_only}) {
    auto& out = list == &options.hidden ? ws.options_.hidden : ws.options_.read_only;
    for (const auto& p : *list) {
      auto r = ws.to_relative(p);
      if (!r || (list == &options.hidden && *r == ".")) {
        return fail(ErrorType::invalid_input,
                    "workspace option path must name something inside the workspace: " + p,
                    json_object{{"path", p}});
      }
      out.push_back(std::move(*r));
    }
  }
  return ws;
}

Result<std::string> Workspace::to_relative(std::string_view path) const {
  if (path.find('\0') != std::string_view::npos) {
    return fail(ErrorType::invalid_input, "path contains a NUL byte",
                json_object{{"path", std::string(path.substr(0, path.find('\0')))}});
  }
  if (path.size() >= PATH_MAX) {
    return fail(ErrorType::invalid_input,
                "path is too long (" + std::to_string(path.size()) + " bytes; limit " +
                    std::to_string(PATH_MAX - 1) + ")",
                json_object{{"path", std::string(path.substr(0, 256))}});
  }
  std::vector<std::string> comps;
  if (!path.empty() && path[0] == '/') {
    auto abs = split_components(path);
    std::erase(abs, std::string("."));
    // The longest matching prefix wins: "/" alone, "/workspace" or one of the root's spellings.
    std::size_t skip = abs.empty() ? 0 : std::string::npos;
    if (!abs.empty() && abs[0] == "workspace") skip = 1;
    for (const auto& alias : root_aliases_) {
      auto rc = split_components(alias);
      if (rc.size() <= abs.size() && std::equal(rc.begin(), rc.end(), abs.begin()) &&
          (skip == std::string::npos || rc.size() > skip)) {
        skip = rc.size();
      }
    }
    if (skip == std::string::npos) return fail(Impl::escape_error(*this, path));
    comps.assign(abs.begin() + static_cast<std::ptrdiff_t>(skip), abs.end());
  } else {
    comps = split_components(path);
  }
  std::vector<std::string> out;
  for (auto& c : comps) {
    if (c == ".") continue;
    if (c == "..") {
      if (out.empty()) return fail(Impl::escape_error(*this, path));
      out.pop_back();
      continue;
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) return std::string(".");
  std::string rel;
  for (const auto& c : out) {
    if (!rel.empty()) rel += '/';
    rel += c;
  }
  return rel;
}

Result<std::string> Workspace::read_file(std::string_view path, std::size_t max_bytes) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  if (auto c = Impl::check(*this, *rel, false); !c) return fail(c.error());
  // O_NONBLOCK: opening a FIFO must not hang (reads of regular files ignore the flag).
  constexpr int kFlags = O_RDONLY | O_NOCTTY | O_NONBLOCK;
  // Fast path (grep reads thousands of files): when the kernel resolves the path without
  // crossing any symlink, the file is exactly the lexical path already checked, so the
  // /proc look-up of where it really is can be skipped.
  SysResult<Fd> fd = sys_fail(ELOOP);
  if (!Impl::fallback(*this)) {
    int raw = sys_openat2(*root_fd_, rel->c_str(), kFlags | O_CLOEXEC, 0,
                          RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS);
    if (raw >= 0) {
      fd = Fd(raw);
    } else if (errno != ELOOP && errno != EAGAIN && errno != EINTR && errno != ENOSYS &&
               errno != EXDEV) {
      fd = sys_fail(errno);
    }
  }
  bool symlinks_possible = !fd && fd.error().err == ELOOP;
  if (symlinks_possible) fd = Impl::open_beneath(*this, *root_fd_, *rel, kFlags, true);
  if (!fd) {
    if (fd.error().err == EISDIR) {
      return fail(ErrorType::invalid_input, "read: " + display(*rel) + " is a directory",
                  json_object{{"path", display(*rel)}});
    }
    return fail(Impl::os_error(*this, "read", *rel, fd.error().err));
  }
  if (symlinks_possible) {
    if (auto real = Impl::real_rel(*this, fd->get())) {
      if (auto c = Impl::check(*this, *real, false); !c) return fail(c.error());
    }
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return fail(Impl::os_error(*this, "read", *rel, errno));
  if (S_ISDIR(st.st_mode)) {
    return fail(ErrorType::invalid_input, "read: " + display(*rel) + " is a directory",
                json_object{{"path", display(*rel)}});
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(ErrorType::invalid_input, "read: " + display(*rel) + " is not a regular file",
                json_object{{"path", display(*rel)}});
  }
  auto too_large = [&](std::uint64_t size) {
    return fail(
        ErrorType::invalid_input,
        "read: " + display(*rel) + " is larger than " + std::to_string(max_bytes) + " bytes",
        json_object{{"path", display(*rel)},
                    {"size", size},
                    {"max_bytes", static_cast<std::uint64_t>(max_bytes)}});
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return too_large(static_cast<std::uint64_t>(st.st_size));
  }
  // One read of size + 1 bytes normally sees the whole file and its end; a file that grows
  // meanwhile is read on until the end (within max_bytes).
  std::string out(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t used = 0;
  for (;;) {
    if (used == out.size()) out.resize(out.size() * 2 + 4096);
    ssize_t n = ::read(fd->get(), out.data() + used, out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Impl::os_error(*this, "read", *rel, errno));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    if (used > max_bytes) return too_large(used);
  }
  out.resize(used);
  return out;
}

Result<void> Workspace::write_file(std::string_view path, std::string_view data,
                                   bool create_parents) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  return Impl::write_rel(*this, *rel, data, create_parents, 0);
}

Result<FileInfo> Workspace::stat(std::string_view path) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  if (auto c = Impl::check(*this, *rel, false); !c) return fail(c.error());
  FileInfo info;
  info.path = display(*rel);
  struct stat st;
  if (*rel == ".") {
    if (::fstat(*root_fd_, &st) != 0) return fail(Impl::os_error(*this, "stat", *rel, errno));
  } else {
    auto opened = Impl::open_parent(*this, *rel, "stat", false);
    if (!opened) return fail(opened.error());
    if (::fstatat(opened->first.get(), opened->second.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return fail(Impl::os_error(*this, "stat", *rel, errno));
    }
    if (S_ISLNK(st.st_mode)) {
      info.is_symlink = true;
      auto target = Impl::open_beneath(*this, *root_fd_, *rel, O_PATH, true);
      if (target) {
        if (auto real = Impl::real_rel(*this, target->get())) {
          if (auto c = Impl::check(*this, *real, false); !c) return fail(c.error());
        }
        struct stat tst;
        if (::fstat(target->get(), &tst) == 0) st = tst;
      } else if (target.error().err != ENOENT && target.error().err != ENOTDIR) {
        return fail(Impl::os_error(*this, "stat", *rel, target.error().err));
      }
    }
  }
  info.is_file = S_ISREG(st.st_mode);
  info.is_dir = S_ISDIR(st.st_mode);
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.mtime = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return info;
}

Result<bool> Workspace::exists(std::string_view path) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  if (Impl::is_hidden(*this, *rel)) return false;
  auto fd = Impl::open_beneath(*this, *root_fd_, *rel, O_PATH, true);
  if (!fd) {
    int err = fd.error().err;
    if (err == ENOENT || err == ENOTDIR) return false;
    return fail(Impl::os_error(*this, "exists", *rel, err));
  }
  if (auto real = Impl::real_rel(*this, fd->get())) {
    if (Impl::is_hidden(*this, *real)) return false;
  }
  return true;
}

Result<std::vector<DirEntry>> Workspace::list_dir(std::string_view path) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  if (auto c = Impl::check(*this, *rel, false); !c) return fail(c.error());
  auto fd = Impl::open_beneath(*this, *root_fd_, *rel, O_RDONLY | O_DIRECTORY, true);
  if (!fd) {
    if (fd.error().err == ENOTDIR) {
      // Distinguish "not a directory" from a missing parent component.
      auto any = Impl::open_beneath(*this, *root_fd_, *rel, O_PATH, true);
      if (any) {
        return fail(ErrorType::invalid_input, "list: " + display(*rel) + " is not a directory",
                    json_object{{"path", display(*rel)}});
      }
    }
    return fail(Impl::os_error(*this, "list", *rel, fd.error().err));
  }
  std::string base = *rel;
  if (auto real = Impl::real_rel(*this, fd->get())) {
    if (auto c = Impl::check(*this, *real, false); !c) return fail(c.error());
    base = *real;
  }
  std::vector<DirEntry> out;
  int dup = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fail(Impl::os_error(*this, "list", *rel, errno));
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    int err = errno;
    ::close(dup);
    return fail(Impl::os_error(*this, "list", *rel, err));
  }
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (Impl::is_hidden(*this, join_rel(base, name)) ||
        Impl::is_hidden(*this, join_rel(*rel, name))) {
      continue;
    }
    DirEntry entry;
    entry.name = std::move(name);
    struct stat st;
    if (::fstatat(fd->get(), entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      entry.is_dir = S_ISDIR(st.st_mode);
      entry.is_symlink = S_ISLNK(st.st_mode);
    } else {
      entry.is_dir = e->d_type == DT_DIR;
      entry.is_symlink = e->d_type == DT_LNK;
    }
    out.push_back(std::move(entry));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

Result<void> Workspace::mkdir(std::string_view path, bool recursive) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  return Impl::mkdir_rel(*this, *rel, recursive);
}

Result<void> Workspace::remove(std::string_view path, bool recursive, bool force) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  if (*rel == ".") return fail(Impl::root_error());
  // Nothing hidden or read-only may disappear with a removed tree.
  for (const auto& h : options_.hidden) {
    if (under(h, *rel)) return fail(Impl::hidden_error(h));
  }
  for (const auto& r : options_.read_only) {
    if (under(r, *rel)) return fail(Impl::read_only_error(r));
  }
  auto opened = Impl::open_parent(*this, *rel, "remove", true);
  if (!opened) {
    if (force && opened.error().type == ErrorType::not_found) return {};
    return fail(opened.error());
  }
  Fd& pfd = opened->first;
  const std::string& leaf = opened->second;
  struct stat st;
  if (::fstatat(pfd.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (force && errno == ENOENT) return {};
    return fail(Impl::os_error(*this, "remove", *rel, errno));
  }
  if (S_ISDIR(st.st_mode)) {
    if (auto real = Impl::real_rel(*this, pfd.get())) {
      std::string full = join_rel(*real, leaf);
      for (const auto& h : options_.hidden) {
        if (under(h, full)) return fail(Impl::hidden_error(h));
      }
      for (const auto& r : options_.read_only) {
        if (under(r, full)) return fail(Impl::read_only_error(r));
      }
    }
    if (!recursive) {
      if (::unlinkat(pfd.get(), leaf.c_str(), AT_REMOVEDIR) != 0) {
        int err = errno;
        if (err == ENOTEMPTY || err == EEXIST) {
          return fail(ErrorType::invalid_input,
                      "remove: directory " + display(*rel) +
                          " is not empty (pass recursive to remove it with its contents)",
                      json_object{{"path", display(*rel)}});
        }
        return fail(Impl::os_error(*this, "remove", *rel, err));
      }
      return {};
    }
    if (int err = Impl::remove_tree(*this, pfd.get(), leaf, 0); err != 0) {
      return fail(Impl::os_error(*this, "remove", *rel, err));
    }
    return {};
  }
  if (::unlinkat(pfd.get(), leaf.c_str(), 0) != 0) {
    if (force && errno == ENOENT) return {};
    return fail(Impl::os_error(*this, "remove", *rel, errno));
  }
  return {};
}

}  // namespace cppflue
