// SPDX-License-Identifier: Apache-2.0
// Workspace: the operations that change the disk — write_file (a temp file renamed over the
// target), mkdir and remove (recursive removal with directory fds, never following symlinks).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <random>
#include <utility>

#include "cppflue/core/json.hpp"
#include "sandbox/workspace_internal.hpp"

namespace cppflue {

using namespace workspace_detail;

namespace {

// Writes all of `data` to `fd`: 0, or the errno of the write that failed.
int write_all(int fd, std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: never spin
    off += static_cast<std::size_t>(n);
  }
  return 0;
}

// Opens a new temp file next to `leaf` in `dirfd` (O_EXCL, never following a symlink), its name
// in `tmp`; or the errno (EEXIST after 16 taken names).
SysResult<Fd> create_temp(int dirfd, const std::string& leaf, std::string& tmp) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  Fd out;
  for (int attempt = 0; attempt < 16 && !out; ++attempt) {
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
    tmp = "." + leaf.substr(0, 200) + ".tmp-" + suffix;
    out = Fd(
        ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (!out && errno != EEXIST) return sys_fail(errno);
  }
  if (!out) return sys_fail(EEXIST);
  return out;
}

}  // namespace

// What write_rel found at the path it writes.
struct Workspace::Impl::WriteTarget {
  // An existing regular file: what its replacement keeps.
  mode_t mode = 0666;
  bool preserve_mode = false;
  bool preserve_owner = false;
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  // A symlink: the workspace path it resolves to (written instead), and its target's
  // descriptor, held until that write is done.
  std::optional<std::string> through_link;
  Fd link_target;
};

Result<void> Workspace::Impl::write_rel(const Workspace& ws, const std::string& rel,
                                        std::string_view data, bool create_parents, int depth) {
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
  auto target = inspect_write_target(ws, pfd.get(), leaf, rel, depth);
  if (!target) return fail(target.error());
  if (target->through_link) return write_rel(ws, *target->through_link, data, false, depth + 1);

  std::string tmp;
  auto out = create_temp(pfd.get(), leaf, tmp);
  if (!out) return fail(os_error(ws, "write", rel, out.error().err));
  if (int err = fill_and_rename(ws, *out, pfd.get(), tmp, leaf, *target, data); err != 0) {
    out->reset();
    ::unlinkat(pfd.get(), tmp.c_str(), 0);
    return fail(os_error(ws, "write", rel, err));
  }
  return {};
}

Result<Workspace::Impl::WriteTarget> Workspace::Impl::inspect_write_target(
    const Workspace& ws, int dirfd, const std::string& leaf, const std::string& rel, int depth) {
  WriteTarget t;
  struct stat st;
  if (::fstatat(dirfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) {
      return fail(ErrorType::invalid_input,
                  "write: " + display(rel) + " is a directory; cannot write onto it",
                  json_object{{"path", display(rel)}});
    }
    if (S_ISLNK(st.st_mode)) {
      if (auto r = follow_write_symlink(ws, rel, depth, t); !r) return fail(r.error());
      return t;
    }
    if (!S_ISREG(st.st_mode)) {
      return fail(ErrorType::invalid_input, "write: " + display(rel) + " is not a regular file",
                  json_object{{"path", display(rel)}});
    }
    t.mode = st.st_mode & 07777;
    t.preserve_mode = true;
    // As root, a replaced file keeps its owner (it would otherwise become root's).
    if (::geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0)) {
      t.preserve_owner = true;
      t.owner_uid = st.st_uid;
      t.owner_gid = st.st_gid;
    }
  } else if (errno != ENOENT) {
    return fail(os_error(ws, "write", rel, errno));
  }
  return t;
}

// Write to the link's target, provided it resolves inside the workspace.
Result<void> Workspace::Impl::follow_write_symlink(const Workspace& ws, const std::string& rel,
                                                   int depth, WriteTarget& t) {
  auto target = open_beneath(ws, root(ws), rel, O_PATH, true);
  if (!target) return fail(os_error(ws, "write", rel, target.error().err));
  struct stat tst;
  if (::fstat(target->get(), &tst) != 0) return fail(os_error(ws, "write", rel, errno));
  if (S_ISDIR(tst.st_mode)) {
    return fail(ErrorType::invalid_input, "write: " + display(rel) + " is a symlink to a directory",
                json_object{{"path", display(rel)}});
  }
  auto real = real_rel(ws, target->get());
  if (!real || *real == "." || depth > 0) {
    return fail(ErrorType::invalid_input, "write: cannot write through the symlink " + display(rel),
                json_object{{"path", display(rel)}});
  }
  t.through_link = std::move(*real);
  t.link_target = std::move(*target);
  return {};
}

// Gives the temp file `out` the mode and owner it must have, fills it with `data`, syncs and
// closes it and renames it over `leaf`: 0, or the errno of the step that failed (the caller
// then removes the temp file).
int Workspace::Impl::fill_and_rename(const Workspace& ws, Fd& out, int dirfd,
                                     const std::string& tmp, const std::string& leaf,
                                     const WriteTarget& t, std::string_view data) {
  if (t.preserve_mode && ::fchmod(out.get(), t.mode) != 0) return errno;
  if (t.preserve_owner) {
    if (::fchown(out.get(), t.owner_uid, t.owner_gid) != 0) return errno;
    // chown clears setuid/setgid bits: put back what the file had.
    if (t.preserve_mode && ::fchmod(out.get(), t.mode) != 0) return errno;
  } else if (ws.chown_new_ && ::fchown(out.get(), ws.owner_uid_, ws.owner_gid_) != 0) {
    return errno;
  }
  if (int err = write_all(out.get(), data); err != 0) return err;
  if (::fsync(out.get()) != 0) return errno;
  if (::close(out.release()) != 0) return errno;
  if (::renameat(dirfd, tmp.c_str(), dirfd, leaf.c_str()) != 0) return errno;
  return 0;
}

Result<void> Workspace::Impl::mkdir_rel(const Workspace& ws, const std::string& rel,
                                        bool recursive) {
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
int Workspace::Impl::remove_tree(const Workspace& ws, int dirfd, const std::string& name,
                                 int depth) {
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

Result<void> Workspace::write_file(std::string_view path, std::string_view data,
                                   bool create_parents) const {
  auto rel = to_relative(path);
  if (!rel) return fail(rel.error());
  return Impl::write_rel(*this, *rel, data, create_parents, 0);
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
