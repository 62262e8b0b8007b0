// SPDX-License-Identifier: Apache-2.0
// What `cppflue build` asks of the host: running programs (cmake, ldd, dpkg-query, a
// platform's CLI), the shared libraries a binary loads, and the Debian packages they come
// from.
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>

#include "deploy_system.hpp"

extern char** environ;

namespace cppflue::cli::deploy {

namespace fs = std::filesystem;

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// The CLI blocks SIGINT and SIGTERM in every thread (a watcher thread takes them): a child
// gets them back, with their default actions, so Ctrl-C stops a compiler or a platform's CLI.
class SpawnSignals {
 public:
  SpawnSignals() {
    posix_spawnattr_init(&attr_);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr_, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr_, &defaults);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnSignals() { posix_spawnattr_destroy(&attr_); }
  SpawnSignals(const SpawnSignals&) = delete;
  SpawnSignals& operator=(const SpawnSignals&) = delete;
  const posix_spawnattr_t* get() const { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// Libraries the binary opens with dlopen instead of linking them: src/net/curl_loader.cpp opens
// libcurl at the first HTTP request, to keep its ~30 libraries out of every start,
// src/net/crypto.cpp libcrypto at the first webhook signature and src/cli/line_editor.cpp
// libedit for `chat` on a terminal. Neither DT_NEEDED nor ldd shows them, yet the bundle must
// carry them and the image install them.
constexpr std::array<const char*, 3> kLoadedAtRunTime{"libcurl.so.4", "libcrypto.so.3",
                                                      "libedit.so.2"};

bool has_library(const std::vector<SharedLibrary>& libs, std::string_view name) {
  return std::any_of(libs.begin(), libs.end(),
                     [&](const SharedLibrary& l) { return l.name == name; });
}

// Where the loader finds `soname` here, found by the loader itself (LD_LIBRARY_PATH, the
// ld.so.cache, the default folders: the search the binary's own dlopen makes).
std::optional<std::string> resolve_library(const char* soname) {
  void* handle = ::dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) return std::nullopt;
  std::optional<std::string> path;
  link_map* map = nullptr;
  if (::dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr &&
      map->l_name[0] == '/') {
    path = map->l_name;
  }
  ::dlclose(handle);
  return path;
}

// `len` bytes at `off` of `fd`, or nothing when the file is shorter (or `len` absurd).
std::optional<std::string> pread_exact(int fd, std::uint64_t off, std::uint64_t len) {
  if (len > (std::uint64_t{16} << 20)) return std::nullopt;
  std::string out(len, '\0');
  ssize_t n = ::pread(fd, out.data(), len, static_cast<off_t>(off));
  if (n < 0 || static_cast<std::uint64_t>(n) != len) return std::nullopt;
  return out;
}

// The NUL-terminated string at `pos` (at most 4 KiB), read 64 bytes at a time.
std::optional<std::string> read_c_string(int fd, std::uint64_t file_size, std::uint64_t pos) {
  std::string s;
  for (; s.size() < 4096; pos += 64) {
    if (pos >= file_size) return std::nullopt;
    auto chunk = pread_exact(fd, pos, std::min<std::uint64_t>(64, file_size - pos));
    if (!chunk) return std::nullopt;
    auto nul = chunk->find('\0');
    s += chunk->substr(0, nul);
    if (nul != std::string::npos) return s;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> find_on_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (!dir.empty()) {
      std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) {
        return candidate;
      }
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

Result<Captured> run_capture(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    return fail(ErrorType::internal, fmt::format("pipe: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  SpawnSignals signals;
  pid_t pid = 0;
  auto args = c_argv(argv);
  int rc = ::posix_spawnp(&pid, args[0], &actions, signals.get(), args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    return fail(ErrorType::not_found,
                fmt::format("cannot run {}: {}", argv.front(), std::strerror(rc)));
  }
  Captured out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  out.status = wait_status(pid);
  return out;
}

Result<int> run_inherit(const std::vector<std::string>& argv, const fs::path& cwd,
                        bool stdout_to_stderr) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_to_stderr) posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  SpawnSignals signals;
  pid_t pid = 0;
  auto args = c_argv(argv);
  int rc = ::posix_spawnp(&pid, args[0], &actions, signals.get(), args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return fail(ErrorType::not_found,
                fmt::format("cannot run {}: {}", argv.front(), std::strerror(rc)));
  }
  return wait_status(pid);
}

Result<std::vector<std::string>> elf_needed(const fs::path& file) {
  auto bad = [&](const char* why) {
    return fail(ErrorType::invalid_input,
                fmt::format("{} is not a usable x86-64 ELF binary ({})", file.string(), why));
  };
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(ErrorType::not_found,
                fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return bad("cannot stat it");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  // Only the pieces needed are read: a debug build is hundreds of megabytes.
  auto read_at = [fd](std::uint64_t off, std::uint64_t len) { return pread_exact(fd, off, len); };
  auto get = [](const std::string& d, std::size_t at, std::size_t size) -> std::uint64_t {
    std::uint64_t v = 0;
    std::memcpy(&v, d.data() + at, size);  // little-endian host and file
    return v;
  };
  auto header = read_at(0, 64);
  if (!header || header->compare(0, 4,
                                 "\x7f"
                                 "ELF") != 0)
    return bad("no ELF header");
  if ((*header)[4] != 2 || (*header)[5] != 1 || get(*header, 18, 2) != 62) {
    return bad("not 64-bit little-endian x86-64");
  }
  const std::uint64_t phoff = get(*header, 32, 8);
  const std::uint64_t phentsize = get(*header, 54, 2);
  const std::uint64_t phnum = get(*header, 56, 2);
  if (phentsize < 56) return bad("bad program header size");
  auto ph = read_at(phoff, phnum * phentsize);
  if (!ph) return bad("program headers out of the file");
  // Virtual address -> file offset, through the PT_LOAD segments.
  auto to_offset = [&](std::uint64_t vaddr) -> std::optional<std::uint64_t> {
    for (std::uint64_t i = 0; i < phnum; ++i) {
      const std::size_t at = i * phentsize;
      if (get(*ph, at, 4) != 1) continue;  // PT_LOAD
      const std::uint64_t off = get(*ph, at + 8, 8), va = get(*ph, at + 16, 8);
      const std::uint64_t filesz = get(*ph, at + 32, 8);
      if (vaddr >= va && vaddr - va < filesz) return off + (vaddr - va);
    }
    return std::nullopt;
  };
  std::vector<std::string> needed;
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const std::size_t at = i * phentsize;
    if (get(*ph, at, 4) != 2) continue;  // PT_DYNAMIC
    auto dyn = read_at(get(*ph, at + 8, 8), get(*ph, at + 32, 8));
    if (!dyn) return bad("dynamic section out of the file");
    std::vector<std::uint64_t> name_offsets;
    std::optional<std::uint64_t> strtab;
    for (std::size_t d = 0; d + 16 <= dyn->size(); d += 16) {
      const std::uint64_t tag = get(*dyn, d, 8), val = get(*dyn, d + 8, 8);
      if (tag == 0) break;
      if (tag == 1) name_offsets.push_back(val);  // DT_NEEDED
      if (tag == 5) strtab = to_offset(val);      // DT_STRTAB
    }
    if (!name_offsets.empty() && !strtab) return bad("no string table");
    for (std::uint64_t n : name_offsets) {
      auto name = read_c_string(fd, file_size, *strtab + n);
      if (!name) return bad("a library name out of the file");
      needed.push_back(std::move(*name));
    }
  }
  return needed;
}

namespace {

// The libraries `file` (a binary or a shared library) needs, as ldd lists them.
Result<std::vector<SharedLibrary>> ldd_libraries(const fs::path& file) {
  auto ldd = run_capture({"ldd", file.string()});
  if (!ldd) return fail(std::move(ldd.error()));
  if (ldd->status != 0) {
    return fail(ErrorType::invalid_input,
                fmt::format("ldd {} failed: {}", file.string(), ldd->output));
  }
  std::vector<SharedLibrary> libs;
  std::size_t start = 0;
  while (start < ldd->output.size()) {
    auto end = ldd->output.find('\n', start);
    if (end == std::string::npos) end = ldd->output.size();
    std::string line = ldd->output.substr(start, end - start);
    start = end + 1;
    // "\tlibfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" or "\t/lib64/ld-linux...".
    auto arrow = line.find(" => ");
    std::string name;
    std::string path;
    if (arrow != std::string::npos) {
      name = line.substr(0, arrow);
      path = line.substr(arrow + 4);
    } else {
      path = line;
    }
    auto trim = [](std::string& s) {
      s.erase(0, s.find_first_not_of(" \t"));
      auto paren = s.find(" (0x");
      if (paren != std::string::npos) s.erase(paren);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
    };
    trim(name);
    trim(path);
    // Only the loader's own lines: "name => /path (0xADDRESS)" or "/path (0xADDRESS)".
    if (line.find(" (0x") == std::string::npos) {
      if (line.find("not found") != std::string::npos) {
        return fail(ErrorType::not_found,
                    fmt::format("{} needs {}, which is not installed", file.string(), name));
      }
      continue;
    }
    if (path.empty() || path.front() != '/') {
      if (path == "not found" || line.find("not found") != std::string::npos) {
        return fail(ErrorType::not_found,
                    fmt::format("{} needs {}, which is not installed", file.string(), name));
      }
      continue;  // linux-vdso.so.1, statically linked
    }
    if (name.empty()) name = fs::path(path).filename().string();
    libs.push_back(SharedLibrary{name, path});
  }
  return libs;
}

}  // namespace

Result<std::vector<SharedLibrary>> shared_libraries(const fs::path& binary) {
  auto libs = ldd_libraries(binary);
  if (!libs) return libs;
  for (const char* soname : kLoadedAtRunTime) {
    if (has_library(*libs, soname)) continue;  // an application that links it itself
    auto path = resolve_library(soname);
    if (!path) {
      return fail(
          ErrorType::not_found,
          fmt::format("{} loads {} at run time, which is not installed", binary.string(), soname));
    }
    auto closure = ldd_libraries(*path);
    if (!closure) return fail(std::move(closure.error()));
    libs->push_back(SharedLibrary{soname, *path});
    for (auto& lib : *closure) {
      if (!has_library(*libs, lib.name)) libs->push_back(std::move(lib));
    }
  }
  return libs;
}

std::vector<std::string> debian_packages(const std::vector<std::string>& needed,
                                         const std::vector<SharedLibrary>& libs,
                                         std::vector<std::string>& unknown) {
  // Always in debian:12-slim: not worth naming.
  static const std::set<std::string> kBase{"libc6", "libgcc-s1", "libstdc++6"};
  std::set<std::string> packages;
  std::vector<std::string> sonames = needed;
  for (const char* soname : kLoadedAtRunTime) {
    if (std::find(sonames.begin(), sonames.end(), soname) == sonames.end()) {
      sonames.emplace_back(soname);
    }
  }
  for (const auto& soname : sonames) {
    auto lib = std::find_if(libs.begin(), libs.end(),
                            [&](const SharedLibrary& l) { return l.name == soname; });
    if (lib == libs.end()) {
      unknown.push_back(soname);
      continue;
    }
    // dpkg knows a library by the path its package installed, before or after /usr merging.
    std::vector<std::string> argv{"dpkg-query", "-S"};
    std::error_code ec;
    fs::path real = fs::canonical(lib->path, ec);
    for (const fs::path& p : {fs::path(lib->path), real}) {
      if (p.empty()) continue;
      std::string s = p.string();
      argv.push_back(s);
      if (s.rfind("/usr/", 0) == 0)
        argv.push_back(s.substr(4));
      else
        argv.push_back("/usr" + s);
    }
    auto found = run_capture(argv);
    std::string pkg;
    if (found && !found->output.empty()) {
      pkg = found->output.substr(0, found->output.find_first_of(":,\n"));
    }
    if (pkg.empty()) {
      unknown.push_back(soname);
    } else if (!kBase.count(pkg)) {
      packages.insert(pkg);
    }
  }
  return {packages.begin(), packages.end()};
}

}  // namespace cppflue::cli::deploy
