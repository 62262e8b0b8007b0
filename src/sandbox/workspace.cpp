// SPDX-License-Identifier: Apache-2.0
// Workspace: opening a workspace, path mapping, the read-only operations (read, stat, exists,
// list), and the errors and policy checks every operation shares. Resolution beneath the root is
// in workspace_walk.cpp, write/mkdir/remove in workspace_write.cpp.
#include "cppflue/sandbox/workspace.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <utility>

#include "cppflue/core/json.hpp"
#include "sandbox/workspace_internal.hpp"

namespace cppflue {

using namespace workspace_detail;

namespace {

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

Error Workspace::Impl::escape_error(const Workspace& ws, std::string_view path) {
  std::string msg = "path '" + std::string(path) +
                    "' is outside the workspace: file tools only reach the workspace (" +
                    ws.root_.string() + "). Use a relative path, '/', '/workspace/...' or '" +
                    ws.root_.string() + "/...'";
  return make_error(ErrorType::permission, std::move(msg),
                    json_object{{"rule", "path_escape"}, {"path", std::string(path)}});
}

Error Workspace::Impl::hidden_error(std::string_view rel) {
  return make_error(ErrorType::permission, "path '" + display(rel) + "' is hidden from file tools",
                    json_object{{"rule", "hidden_path"}, {"path", display(rel)}});
}

Error Workspace::Impl::read_only_error(std::string_view rel) {
  return make_error(ErrorType::permission,
                    "path '" + display(rel) + "' is read-only for file tools",
                    json_object{{"rule", "read_only_path"}, {"path", display(rel)}});
}

Error Workspace::Impl::root_error() {
  return make_error(ErrorType::permission, "refusing to remove the workspace root",
                    json_object{{"rule", "workspace_root"}, {"path", "/"}});
}

Error Workspace::Impl::os_error(const Workspace& ws, std::string_view what, std::string_view rel,
                                int err) {
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
void Workspace::Impl::give_to_owner(const Workspace& ws, int dirfd, const char* name) {
  if (ws.chown_new_) {
    ::fchownat(dirfd, name, ws.owner_uid_, ws.owner_gid_, AT_SYMLINK_NOFOLLOW);
  }
}

bool Workspace::Impl::is_hidden(const Workspace& ws, std::string_view rel) {
  for (const auto& h : ws.options_.hidden) {
    if (under(rel, h)) return true;
  }
  return false;
}

bool Workspace::Impl::is_read_only(const Workspace& ws, std::string_view rel) {
  for (const auto& r : ws.options_.read_only) {
    if (under(rel, r)) return true;
  }
  return false;
}

// Policy check on the lexical path and, where known, on the path the kernel resolved.
Result<void> Workspace::Impl::check(const Workspace& ws, std::string_view rel, bool write) {
  if (is_hidden(ws, rel)) return fail(hidden_error(rel));
  if (write && is_read_only(ws, rel)) return fail(read_only_error(rel));
  return {};
}

bool Workspace::uses_fallback() const {
  return Impl::fallback(*this);
}

Result<Workspace> Workspace::open(const std::filesystem::path& root,
                                  const WorkspaceOptions& options) {
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

}  // namespace cppflue
