// SPDX-License-Identifier: Apache-2.0
// The output folder of `cppflue build`, written only through descriptors (deploy_output.hpp).
#include "deploy_output.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "cppflue/core/ids.hpp"

namespace cppflue::cli::deploy {

namespace fs = std::filesystem;

namespace {

Error io_error(const std::string& what, const fs::path& path) {
  return make_error(ErrorType::store_error,
                    fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(errno)));
}

// The names of a folder's entries (without . and ..).
std::vector<std::string> entries(int dirfd) {
  std::vector<std::string> names;
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* dir = dup < 0 ? nullptr : ::fdopendir(dup);
  if (dir == nullptr) {
    if (dup >= 0) ::close(dup);
    return names;
  }
  while (const dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(dir);
  return names;
}

// Opens (creating it when missing) the folder `name` of `dirfd`, never through a link.
int open_subdir(int dirfd, const std::string& name, bool create) {
  if (create && ::mkdirat(dirfd, name.c_str(), 0755) != 0 && errno != EEXIST) return -1;
  return ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

// Whether the entry `name` of `dirfd` exists (without following a link).
bool exists_at(int dirfd, const char* name) {
  struct stat st {};
  return ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// The parent of `out`, opened: below the project without following links (the project is
// agent-writable), elsewhere as the path says (the user chose it).
Result<int> open_parent(const fs::path& out, const fs::path& project_root) {
  const fs::path rel = out.parent_path().lexically_relative(project_root);
  const bool inside = !rel.empty() && *rel.begin() != "..";
  if (!inside) {
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    int fd = ::open(out.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(io_error("open", out.parent_path()));
    return fd;
  }
  int fd = ::open(project_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(io_error("open", project_root));
  fs::path walked = project_root;
  for (const auto& part : rel) {
    if (part == ".") continue;
    walked /= part;
    int next = open_subdir(fd, part.string(), true);
    ::close(fd);
    if (next < 0) {
      return fail(ErrorType::invalid_input,
                  fmt::format("{} is not a folder (a symbolic link is never followed inside the "
                              "project): remove it, or choose another -o",
                              walked.string()));
    }
    fd = next;
  }
  return fd;
}

// --force: only a folder a build made, and never a bundle's state.
Result<void> check_replaceable(int parent_fd, const std::string& name, const fs::path& out) {
  int fd = open_subdir(parent_fd, name, false);
  if (fd < 0 || !exists_at(fd, ".cppflue-build.json")) {
    if (fd >= 0) ::close(fd);
    return fail(ErrorType::invalid_input,
                fmt::format("{} exists and was not made by `cppflue build`: --force replaces "
                            "only such a folder; remove it yourself or choose another -o",
                            out.string()));
  }
  int state = open_subdir(fd, "state", false);
  const bool has_state = state >= 0 && !entries(state).empty();
  if (state >= 0) ::close(state);
  ::close(fd);
  if (has_state) {
    return fail(ErrorType::invalid_input,
                fmt::format("{}/state holds the state of a bundle that ran there: move it away "
                            "before replacing the folder",
                            out.string()));
  }
  return {};
}

}  // namespace

Result<void> remove_tree_at(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Result<void>{} : fail(io_error("inspect", name));
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = open_subdir(dirfd, name, false);
    if (fd < 0) return fail(io_error("open", name));
    for (const auto& child : entries(fd)) {
      if (auto r = remove_tree_at(fd, child); !r) {
        ::close(fd);
        return r;
      }
    }
    ::close(fd);
  }
  if (::unlinkat(dirfd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
      errno != ENOENT) {
    return fail(io_error("remove", name));
  }
  return {};
}

Result<OutputDir> OutputDir::prepare(const fs::path& out, const fs::path& project_root,
                                     bool force) {
  auto parent = open_parent(out, project_root);
  if (!parent) return fail(std::move(parent.error()));
  const std::string name = out.filename().string();
  if (exists_at(*parent, name.c_str())) {
    Result<void> ok =
        force ? check_replaceable(*parent, name, out)
              : fail(ErrorType::invalid_input,
                     fmt::format("{} already exists: pass --force to replace it", out.string()));
    if (!ok) {
      ::close(*parent);
      return fail(std::move(ok.error()));
    }
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string staging = fmt::format(".{}.tmp-{:012x}", name, random_u64() & 0xffffffffffffu);
    if (::mkdirat(*parent, staging.c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;
      break;
    }
    int fd = open_subdir(*parent, staging, false);
    if (fd < 0) break;
    return OutputDir(*parent, name, staging, fd, out);
  }
  Error e = io_error("create a folder next to", out);
  ::close(*parent);
  return fail(std::move(e));
}

OutputDir::OutputDir(int parent_fd, std::string out_name, std::string staging_name, int staging_fd,
                     fs::path shown)
    : parent_fd_(parent_fd),
      out_name_(std::move(out_name)),
      staging_name_(std::move(staging_name)),
      staging_fd_(staging_fd),
      shown_(std::move(shown)) {
  struct stat st {};
  if (::fstat(staging_fd_, &st) == 0) staging_id_ = {st.st_dev, st.st_ino};
}

OutputDir::OutputDir(OutputDir&& other) noexcept
    : parent_fd_(other.parent_fd_),
      out_name_(std::move(other.out_name_)),
      staging_name_(std::move(other.staging_name_)),
      staging_fd_(other.staging_fd_),
      shown_(std::move(other.shown_)),
      staging_id_(std::move(other.staging_id_)),
      committed_(other.committed_) {
  other.parent_fd_ = -1;
  other.staging_fd_ = -1;
}

OutputDir::~OutputDir() {
  if (staging_fd_ >= 0) ::close(staging_fd_);
  if (parent_fd_ >= 0) {
    if (!committed_) (void)remove_tree_at(parent_fd_, staging_name_);
    ::close(parent_fd_);
  }
}

Result<int> OutputDir::open_dir(std::string_view rel) {
  int fd = ::fcntl(staging_fd_, F_DUPFD_CLOEXEC, 0);
  for (const auto& part : fs::path(rel)) {
    if (part.empty() || part == ".") continue;
    if (part == ".." || fd < 0) {
      if (fd >= 0) ::close(fd);
      return fail(ErrorType::internal, fmt::format("bad output path {}", rel));
    }
    int next = open_subdir(fd, part.string(), true);
    ::close(fd);
    if (next < 0) return fail(io_error("create", shown_ / rel));
    fd = next;
  }
  return fd;
}

Result<void> OutputDir::write(std::string_view rel, std::string_view content, bool executable) {
  const fs::path path(rel);
  auto dir = open_dir(path.parent_path().string());
  if (!dir) return fail(std::move(dir.error()));
  const mode_t mode = executable ? 0755 : 0644;
  int fd = ::openat(*dir, path.filename().c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  ::close(*dir);
  if (fd < 0) return fail(io_error("create", shown_ / path));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = io_error("write", shown_ / path);
      ::close(fd);
      return fail(std::move(e));
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);
  ::close(fd);
  return {};
}

Result<void> OutputDir::copy_fd(int from, int dirfd, const std::string& name, mode_t mode,
                                const fs::path& shown) {
  int out =
      ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (out < 0) return fail(io_error("create", shown));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) break;
    ssize_t done = 0;
    while (n > 0 && done < n) {
      ssize_t w = ::write(out, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) break;
      done += w;
    }
    if (n < 0 || done < n) {
      Error e = io_error("copy", shown);
      ::close(out);
      return fail(std::move(e));
    }
  }
  ::fchmod(out, mode);
  ::close(out);
  return {};
}

Result<void> OutputDir::copy_file(const fs::path& from, std::string_view rel, bool executable) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);  // a file of this host, links and all
  if (in < 0) return fail(io_error("read", from));
  const fs::path path(rel);
  auto dir = open_dir(path.parent_path().string());
  if (!dir) {
    ::close(in);
    return fail(std::move(dir.error()));
  }
  auto r = copy_fd(in, *dir, path.filename().string(), executable ? 0755 : 0644, from);
  ::close(in);
  ::close(*dir);
  return r;
}

Result<void> OutputDir::copy_tree(const fs::path& from, std::string_view rel) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(from, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path sub = fs::path(rel) / it->path().lexically_relative(from);
    if (it->is_directory(ec)) {
      auto dir = open_dir(sub.string());
      if (!dir) return fail(std::move(dir.error()));
      ::close(*dir);
    } else if (it->is_regular_file(ec)) {
      if (auto r = copy_file(it->path(), sub.string(), false); !r) return r;
    }
  }
  if (ec) {
    return fail(ErrorType::store_error,
                fmt::format("cannot copy {}: {}", from.string(), ec.message()));
  }
  return {};
}

Result<void> OutputDir::commit() {
  ::fchmod(staging_fd_, 0755);
  if (auto r = remove_tree_at(parent_fd_, out_name_); !r) return r;
  if (::renameat(parent_fd_, staging_name_.c_str(), parent_fd_, out_name_.c_str()) != 0) {
    return fail(io_error("move the new output into", shown_));
  }
  committed_ = true;
  return {};
}

}  // namespace cppflue::cli::deploy
