// SPDX-License-Identifier: Apache-2.0
#include "store/run_owner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <sstream>
#include <system_error>

#include "cppflue/core/ids.hpp"
#include "cppflue/core/log.hpp"

namespace cppflue::store_detail {

namespace {

struct Owner {
  std::string host;
  std::string pid;
  std::string nonce;
};

bool parse(std::string_view text, Owner& o) {
  std::istringstream in{std::string(text)};
  std::string version, extra;
  if (!(in >> version >> o.host >> o.pid >> o.nonce) || (in >> extra)) return false;
  return version == "v2";
}

// A nonce this code made: 24 lowercase hex digits (never a path).
bool valid_nonce(std::string_view nonce) {
  if (nonce.size() != 24) return false;
  for (char c : nonce) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string host_name() {
  std::array<char, HOST_NAME_MAX + 1> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "-";
  std::string name(buf.data());
  for (char& c : name) {
    if (c == ' ' || c == '\t' || c == '\n') c = '_';  // one word in the owner text
  }
  return name.empty() ? "-" : name;
}

// A write lock on the whole file, held by this open file description (not by the process, so
// two store objects of one process exclude each other too). 0 or errno.
int try_lock(int fd) {
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  return ::fcntl(fd, F_OFD_SETLK, &l) == 0 ? 0 : errno;
}

}  // namespace

RunOwner::RunOwner(const std::filesystem::path& database) {
  const std::string text = database.string();
  if (text.empty() || text == ":memory:" || !database.has_parent_path()) return;
  dir_ = database;
  dir_ += "-owners";
}

RunOwner::~RunOwner() {
  // The lock goes with the descriptor; the file stays for whoever ends this owner's runs.
  if (fd_ >= 0) ::close(fd_);
}

const std::string& RunOwner::text() {
  if (!text_.empty()) return text_;
  std::string nonce = "-";
  if (!dir_.empty()) {
    std::string made = new_hex_id("", 24);
    std::error_code ec;
    std::filesystem::create_directory(dir_, ec);
    ::chmod(dir_.c_str(), 0700);
    // Locked under a temporary name, then linked into place, so that a sweeper never sees the
    // file unlocked.
    auto temporary = dir_ / ("." + made);
    int fd = ::open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    // link, not rename: an existing file of that name is never replaced.
    if (fd >= 0 && try_lock(fd) == 0 && ::link(temporary.c_str(), (dir_ / made).c_str()) == 0) {
      ::unlink(temporary.c_str());
      fd_ = fd;
      nonce = made;
    } else {
      log::get()->warn(
          "run owner lock in {}: {}; runs of this process left running when it "
          "ends will not be ended by others",
          dir_.string(), std::strerror(errno));
      if (fd >= 0) ::close(fd);
      ::unlink(temporary.c_str());
    }
  }
  text_ = fmt::format("v2 {} {} {}", host_name(), ::getpid(), nonce);
  return text_;
}

OwnerState RunOwner::state_of(std::string_view owner) const {
  Owner o;
  if (dir_.empty() || !parse(owner, o) || !valid_nonce(o.nonce)) return OwnerState::unknown;
  int fd = ::open((dir_ / o.nonce).c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return OwnerState::unknown;  // removed, another host's, or unreadable
  struct stat st {};
  OwnerState state = OwnerState::unknown;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    int e = try_lock(fd);
    if (e == 0) {
      state = OwnerState::ended;
    } else if (e == EAGAIN || e == EACCES) {
      state = OwnerState::alive;
    }
  }
  ::close(fd);  // releases the lock if it was taken
  return state;
}

void RunOwner::sweep(const std::set<std::string>& keep) const {
  if (dir_.empty()) return;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!valid_nonce(name) || keep.contains(name) || (fd_ >= 0 && text_.ends_with(" " + name))) {
      continue;
    }
    int fd = ::open(it->path().c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st {};
    // Unlinked while locked, so that an owner cannot be caught between the two.
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && try_lock(fd) == 0) {
      ::unlink(it->path().c_str());
    }
    ::close(fd);
  }
}

std::string owner_nonce(std::string_view owner) {
  Owner o;
  return parse(owner, o) && valid_nonce(o.nonce) ? o.nonce : std::string();
}

std::string describe_owner(std::string_view owner) {
  Owner o;
  if (!parse(owner, o)) return {};
  return fmt::format("pid {} on {}", o.pid, o.host);
}

}  // namespace cppflue::store_detail
