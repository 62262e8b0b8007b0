// SPDX-License-Identifier: Apache-2.0
// The sandbox registry and the built-in sandboxes: virtual, local, none (docs/concepts/sandbox.md).
#include "cppflue/sandbox/sandbox.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <mutex>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cppflue/core/config.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "sandbox/jail_session.hpp"
#include "sandbox/protected_paths.hpp"
#include "sandbox/unique_fd.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace cppflue {

namespace {

constexpr const char* kPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string host_env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : std::string(fallback);
}

std::vector<std::string> env_list(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

bool valid_env_name(const std::string& k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

Result<void> check_env(const std::map<std::string, std::string>& env) {
  for (const auto& [k, v] : env) {
    if (!valid_env_name(k)) {
      return fail(ErrorType::invalid_input,
                  fmt::format("invalid environment variable name '{}'", k));
    }
    if (v.find('\0') != std::string::npos) {
      return fail(ErrorType::invalid_input,
                  fmt::format("environment variable '{}' contains a NUL byte", k));
    }
  }
  return {};
}

// Resolves a command's working directory (a workspace path) to a host directory.
Result<std::string> host_cwd(const Workspace& ws, const std::string& cwd) {
  if (cwd.empty()) return ws.root().string();
  auto info = ws.stat(cwd);
  if (!info) return fail(info.error());
  if (!info->is_dir || info->is_symlink) {
    return fail(ErrorType::invalid_input,
                fmt::format("working directory '{}' is not a directory of the workspace", cwd));
  }
  auto rel = ws.to_relative(cwd);
  if (!rel) return fail(rel.error());
  return *rel == "." ? ws.root().string() : (ws.root() / *rel).string();
}

std::chrono::milliseconds effective_timeout(const ShellCommand& c, int config_seconds) {
  if (c.timeout.count() > 0) return c.timeout;
  return std::chrono::seconds(config_seconds > 0 ? config_seconds : 120);
}

SubprocessOptions shell_options(const ShellCommand& c, std::vector<std::string> env,
                                std::string cwd, std::chrono::milliseconds timeout) {
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", c.command};
  o.env = std::move(env);
  o.cwd = std::move(cwd);
  o.timeout = timeout;
  return o;
}

// ---- virtual ----

class VirtualSandbox final : public Sandbox {
 public:
  VirtualSandbox(Workspace ws, const Config& cfg, JailSpec jail, bool shell_enabled,
                 std::vector<std::string> guarded, std::string refusal)
      : ws_(std::move(ws)),
        shell_enabled_(shell_enabled),
        isolation_(cfg.sandbox.isolation),
        timeout_seconds_(cfg.sandbox.timeout_seconds),
        sandbox_env_(cfg.sandbox.env),
        jail_(std::move(jail)),
        guarded_(std::move(guarded)),
        refusal_(std::move(refusal)) {
    jail_.workspace_fd = ws_.root_fd();
    if (cfg.sandbox.jail_idle_seconds > 0 && isolation_ != "none") {
      session_jail_ =
          detail::SessionJail::create(jail_, std::chrono::seconds(cfg.sandbox.jail_idle_seconds));
    }
  }

  std::string name() const override { return "virtual"; }
  const Workspace* workspace() const override { return &ws_; }
  bool has_shell() const override { return true; }

  std::string isolation() const override {
    if (isolation_ == "none") return "none";
    const auto& st = jail_status();
    return st.available ? "jail" : "unavailable: " + st.reason;
  }

  std::string describe() const override {
    std::string text = fmt::format(
        "Files: a workspace directory, {}. File tools take paths relative to it (or "
        "/workspace/...); they cannot reach anything outside it.",
        ws_.root().string());
    if (!jail_.hidden.empty() || !jail_.read_only.empty()) {
      if (!jail_.read_only.empty()) {
        text += fmt::format(" Read-only inside it: {}.", fmt::join(jail_.read_only, ", "));
      }
    }
    if (!shell_enabled_) return text;  // the policy line says shell commands are off
    std::string iso = isolation();
    if (iso == "jail") {
      text += fmt::format(
          " Shell commands run in a jail: the workspace is writable at its own path and at "
          "/workspace, /tmp is private, the system directories are read-only, {}.",
          jail_.network ? "network access is allowed" : "there is no network access");
    } else if (iso == "none") {
      text += " Shell commands run unjailed in the workspace.";
    } else {
      text += " Shell commands cannot run here (" + iso + ").";
    }
    return text;
  }

  asio::awaitable<Result<SubprocessResult>> run(ShellCommand c, CancelToken cancel) override {
    if (auto r = check_env(c.env); !r) co_return fail(r.error());
    auto cwd = host_cwd(ws_, c.cwd);
    if (!cwd) co_return fail(cwd.error());
    std::map<std::string, std::string> env = {
        {"PATH", kPath},
        {"HOME", ws_.root().string()},
        {"LANG", host_env("LANG", "C.UTF-8")},
        {"TERM", host_env("TERM", "dumb")},
        {"TZ", host_env("TZ", "UTC")},
    };
    for (const auto& [k, v] : sandbox_env_) env[k] = v;
    for (const auto& [k, v] : c.env) env[k] = v;
    auto options = shell_options(c, env_list(env), *cwd, effective_timeout(c, timeout_seconds_));
    if (isolation_ == "none") {
      co_return co_await run_subprocess(std::move(options), std::move(cancel));
    }
    if (!refusal_.empty()) {
      co_return fail(ErrorType::permission, refusal_, json_object{{"rule", "isolation"}});
    }
    auto before = detail::snapshot_protected(ws_.root_fd(), guarded_);
    // (No co_await inside a conditional expression: GCC 12 miscompiles its temporaries.)
    Result<SubprocessResult> result = fail(ErrorType::internal, "not run");
    if (session_jail_) {
      result = co_await session_jail_->run(std::move(options), std::move(cancel));
    } else {
      result = co_await run_jailed(jail_, std::move(options), std::move(cancel));
    }
    auto notes = detail::restore_protected(ws_.root_fd(), before);
    if (result && !notes.empty()) {
      std::string& err = result->stderr_text;
      for (const auto& n : notes) {
        if (!err.empty() && err.back() != '\n') err += '\n';
        err += "[cppflue: " + n + "]";
      }
    }
    co_return result;
  }

 private:
  Workspace ws_;
  bool shell_enabled_;
  std::string isolation_;
  int timeout_seconds_;
  std::map<std::string, std::string> sandbox_env_;
  JailSpec jail_;
  std::vector<std::string> guarded_;  // protected paths checked around every command
  std::string refusal_;               // why jailed commands cannot run here (root-owned project)
  std::shared_ptr<detail::SessionJail> session_jail_;  // null: a fresh jail per command
};

// Gives a tree CppFlue created as root (a session workspace of an earlier version) to the jail's
// uid: every entry owned by root, never following a symlink.
void adopt_tree(int dirfd, unsigned uid, unsigned gid, int depth) {
  if (depth > 256) return;
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return;
  }
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (st.st_uid == 0) ::fchownat(fd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        adopt_tree(sub, uid, gid, depth + 1);
        ::close(sub);
      }
    }
  }
  ::closedir(dir);
}

// The host files a project's configuration consists of (relative to the project folder): the
// ones that may hold keys are hidden, the others read-only.
constexpr const char* kProjectHidden[] = {"cppflue.toml", ".env"};
constexpr const char* kProjectReadOnly[] = {".agents", "AGENTS.md", "CLAUDE.md"};

// The workspace directory: [sandbox] workspace, or the session's own (created here).
Result<fs::path> workspace_directory(const SandboxContext& ctx) {
  const Config& cfg = *ctx.config;
  std::error_code ec;
  fs::path root;
  if (!cfg.sandbox.workspace.empty()) {
    root = fs::path(cfg.sandbox.workspace);
    if (root.is_relative()) root = cfg.root / root;
    if (!fs::is_directory(root, ec)) {
      return fail(ErrorType::config_error,
                  fmt::format("[sandbox] workspace '{}' is not an existing directory ({})",
                              cfg.sandbox.workspace, root.string()));
    }
  } else {
    // Private: the state folder and each session's workspace are 0700.
    fs::path sandboxes = cfg.state_dir() / "sandboxes";
    for (const fs::path& dir : {cfg.state_dir(), sandboxes}) {
      if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        fs::create_directories(dir, ec);
      }
    }
    root = sandboxes / sandbox_directory_name(ctx.session_id);
    if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) {
      return fail(ErrorType::store_error, fmt::format("cannot create the session workspace {}: {}",
                                                      root.string(), std::strerror(errno)));
    }
  }
  return root;
}

// Jailed commands run as an unprivileged uid, which must own the session's files.
Result<void> give_session_workspace(const fs::path& canon, const JailSpec& jail) {
  detail::UniqueFd fd(::open(canon.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (fd.get() >= 0 && ::fstat(fd.get(), &st) == 0 && st.st_uid == 0) {
    adopt_tree(fd.get(), jail.uid, jail.gid, 0);
    if (::fchown(fd.get(), jail.uid, jail.gid) != 0 || ::fchmod(fd.get(), 0700) != 0) {
      return fail(ErrorType::store_error,
                  fmt::format("cannot give the session workspace {} to uid {}: {}", canon.string(),
                              jail.uid, std::strerror(errno)));
    }
  }
  return {};
}

// Hidden and read-only paths of the workspace `canon`; `guarded` gets the protected paths
// checked around every command.
WorkspaceOptions workspace_options(const Config& cfg, const fs::path& canon,
                                   std::vector<std::string>& guarded) {
  std::error_code ec;
  WorkspaceOptions wo;
  wo.hidden.emplace_back(".cppflue");
  fs::path state = fs::weakly_canonical(cfg.state_dir(), ec);
  if (!ec) {
    fs::path rel = state.lexically_relative(canon);
    if (!rel.empty() && *rel.begin() != ".." && rel != "." && rel != ".cppflue") {
      wo.hidden.push_back(rel.string());
    }
  }
  if (!cfg.sandbox.git_writable) wo.read_only.emplace_back(".git");
  // Project mode: the workspace holds the project, whose configuration the host trusts.
  fs::path project = fs::weakly_canonical(cfg.root, ec);
  fs::path project_rel = ec ? fs::path("..") : project.lexically_relative(canon);
  bool project_mode = !project_rel.empty() && *project_rel.begin() != "..";
  if (project_mode && cfg.sandbox.protect_config) {
    for (const char* name : kProjectHidden) {
      wo.hidden.push_back((project_rel / name).lexically_normal().string());
      guarded.push_back(wo.hidden.back());
    }
    for (const char* name : kProjectReadOnly) {
      wo.read_only.push_back((project_rel / name).lexically_normal().string());
    }
  }
  for (const auto& p : cfg.sandbox.protected_paths) wo.read_only.push_back(p);
  return wo;
}

// As root, jailed commands run as the workspace's owner (nobody for session workspaces). Returns
// why they cannot run at all (a root-owned project), or "".
std::string set_jail_owner(const Workspace& ws, JailSpec& jail, bool per_session,
                           const fs::path& canon) {
  std::string refusal;
  struct stat owner {};
  if (::geteuid() == 0 && ::fstat(ws.root_fd(), &owner) == 0) {
    if (owner.st_uid != 0) {
      jail.uid = owner.st_uid;
      if (owner.st_gid != 0) jail.gid = owner.st_gid;
    } else if (!per_session) {
      refusal = fmt::format(
          "shell commands cannot run in the workspace {}: it is owned by root, and jailed "
          "commands never run as root. Give the project to an unprivileged user (for example "
          "`chown -R 1000:1000 {}`) or run cppflue as that user",
          canon.string(), canon.string());
    }
  }
  return refusal;
}

Result<std::shared_ptr<Sandbox>> make_virtual(const SandboxContext& ctx) {
  const Config& cfg = *ctx.config;
  const bool per_session = cfg.sandbox.workspace.empty();
  auto root = workspace_directory(ctx);
  if (!root) return fail(std::move(root.error()));
  std::error_code ec;
  fs::path canon = fs::canonical(*root, ec);
  if (ec) {
    return fail(ErrorType::config_error,
                fmt::format("cannot resolve the workspace {}: {}", root->string(), ec.message()));
  }
  JailSpec jail;
  if (per_session && ::geteuid() == 0) {
    if (auto r = give_session_workspace(canon, jail); !r) return fail(std::move(r.error()));
  }
  std::vector<std::string> guarded;  // protected paths checked around every command
  WorkspaceOptions wo = workspace_options(cfg, canon, guarded);
  auto ws = Workspace::open(canon, wo);
  if (!ws) return fail(ws.error());
  jail.workspace = canon;
  jail.hidden = wo.hidden;
  jail.read_only = ws->options().read_only;
  jail.network = cfg.sandbox.network;
  jail.abstract_unix_sockets = cfg.sandbox.abstract_unix_sockets;
  jail.memory_max = cfg.sandbox.memory_max;
  jail.tmp_size = cfg.sandbox.tmp_size;
  std::string refusal = set_jail_owner(*ws, jail, per_session, canon);
  guarded.insert(guarded.end(), jail.read_only.begin(), jail.read_only.end());
  return std::shared_ptr<Sandbox>(std::make_shared<VirtualSandbox>(
      std::move(*ws), cfg, jail, ctx.shell_enabled, std::move(guarded), std::move(refusal)));
}

// ---- local ----

class LocalSandbox final : public Sandbox {
 public:
  LocalSandbox(Workspace ws, std::map<std::string, std::string> env, int timeout_seconds)
      : ws_(std::move(ws)), env_(std::move(env)), timeout_seconds_(timeout_seconds) {}

  std::string name() const override { return "local"; }
  const Workspace* workspace() const override { return &ws_; }
  bool has_shell() const override { return true; }
  std::string isolation() const override { return "none"; }
  std::string describe() const override {
    return fmt::format(
        "Files: the directory {} on this machine. File tools take paths relative to it and "
        "cannot reach outside it. Shell commands run directly on this machine in that "
        "directory.",
        ws_.root().string());
  }

  asio::awaitable<Result<SubprocessResult>> run(ShellCommand c, CancelToken cancel) override {
    if (auto r = check_env(c.env); !r) co_return fail(r.error());
    auto cwd = host_cwd(ws_, c.cwd);
    if (!cwd) co_return fail(cwd.error());
    std::map<std::string, std::string> env;
    for (const char* k : {"PATH", "HOME", "USER", "LOGNAME", "HOSTNAME", "SHELL", "LANG", "LC_ALL",
                          "LC_CTYPE", "TZ", "TERM", "TMPDIR", "TMP", "TEMP"}) {
      if (const char* v = std::getenv(k)) env[k] = v;
    }
    if (!env.count("PATH")) env["PATH"] = kPath;
    for (const auto& [k, v] : env_) env[k] = v;
    for (const auto& [k, v] : c.env) env[k] = v;
    co_return co_await run_subprocess(
        shell_options(c, env_list(env), *cwd, effective_timeout(c, timeout_seconds_)),
        std::move(cancel));
  }

 private:
  Workspace ws_;
  std::map<std::string, std::string> env_;
  int timeout_seconds_;
};

// ---- none ----

class NoSandbox final : public Sandbox {
 public:
  std::string name() const override { return "none"; }
  const Workspace* workspace() const override { return nullptr; }
  bool has_shell() const override { return false; }
  std::string isolation() const override { return "none"; }
  std::string describe() const override {
    return "There is no workspace: no file or shell tools are available.";
  }
  asio::awaitable<Result<SubprocessResult>> run(ShellCommand, CancelToken) override {
    co_return fail(ErrorType::policy, "the 'none' sandbox has no shell",
                   json_object{{"rule", "sandbox"}});
  }
};

struct Registry {
  std::mutex mu;
  std::map<std::string, SandboxFactory> factories;
};

Registry& registry() {
  static Registry r;
  static std::once_flag once;
  std::call_once(once, [] {
    auto& reg = r;
    reg.factories["virtual"] = make_virtual;
    reg.factories["none"] = [](const SandboxContext&) -> Result<std::shared_ptr<Sandbox>> {
      return std::shared_ptr<Sandbox>(std::make_shared<NoSandbox>());
    };
    reg.factories["local"] = [](const SandboxContext& ctx) -> Result<std::shared_ptr<Sandbox>> {
      return local(ctx.config->root).factory(ctx);
    };
  });
  return r;
}

}  // namespace

SandboxSpec local(fs::path cwd, std::map<std::string, std::string> env) {
  return SandboxSpec("local",
                     [cwd = std::move(cwd), env = std::move(env)](
                         const SandboxContext& ctx) -> Result<std::shared_ptr<Sandbox>> {
                       if (auto r = check_env(env); !r) return fail(r.error());
                       auto ws = Workspace::open(cwd);
                       if (!ws) {
                         return fail(ErrorType::config_error,
                                     fmt::format("local sandbox: {}", ws.error().message));
                       }
                       int timeout = ctx.config ? ctx.config->sandbox.timeout_seconds : 120;
                       return std::shared_ptr<Sandbox>(
                           std::make_shared<LocalSandbox>(std::move(*ws), env, timeout));
                     });
}

void register_sandbox(std::string name, SandboxFactory factory) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  r.factories[std::move(name)] = std::move(factory);
}

std::vector<std::string> sandbox_names() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::string> names;
  names.reserve(r.factories.size());
  for (const auto& [k, v] : r.factories) names.push_back(k);
  return names;
}

Result<std::shared_ptr<Sandbox>> create_sandbox(const SandboxSpec& spec,
                                                const SandboxContext& context) {
  if (context.config == nullptr) {
    return fail(ErrorType::internal, "create_sandbox: no configuration given");
  }
  SandboxFactory factory = spec.factory;
  std::string name = spec.name.empty() ? "virtual" : spec.name;
  if (!factory) {
    auto& r = registry();
    std::lock_guard lock(r.mu);
    auto it = r.factories.find(name);
    if (it == r.factories.end()) {
      std::vector<std::string> names;
      names.reserve(r.factories.size());
      for (const auto& [k, v] : r.factories) names.push_back(k);
      return fail(ErrorType::config_error, fmt::format("unknown sandbox '{}' (available: {})", name,
                                                       fmt::join(names, ", ")));
    }
    factory = it->second;
  }
  auto sandbox = factory(context);
  if (!sandbox) return sandbox;
  if (!*sandbox)
    return fail(ErrorType::internal, fmt::format("sandbox '{}' factory returned null", name));
  return sandbox;
}

namespace {

// ---- scoped (a sub-folder of another sandbox) ----

class ScopedSandbox final : public Sandbox {
 public:
  ScopedSandbox(std::shared_ptr<Sandbox> parent, Workspace ws, std::string rel)
      : parent_(std::move(parent)), ws_(std::move(ws)), rel_(std::move(rel)) {}

  std::string name() const override { return parent_->name(); }
  const Workspace* workspace() const override { return &ws_; }
  bool has_shell() const override { return parent_->has_shell(); }
  std::string isolation() const override { return parent_->isolation(); }
  std::string describe() const override {
    return parent_->describe() +
           fmt::format(
               " This task works in the folder {} of that workspace ({}): file tools take "
               "paths relative to it and shell commands start there.",
               rel_, ws_.root().string());
  }

  asio::awaitable<Result<SubprocessResult>> run(ShellCommand c, CancelToken cancel) override {
    std::string cwd = rel_;
    if (!c.cwd.empty()) {
      auto r = ws_.to_relative(c.cwd);
      if (!r) co_return fail(r.error());
      if (*r != ".") cwd += "/" + *r;
    }
    c.cwd = std::move(cwd);
    co_return co_await parent_->run(std::move(c), std::move(cancel));
  }

 private:
  std::shared_ptr<Sandbox> parent_;
  Workspace ws_;
  std::string rel_;
};

// Parent-relative option paths re-expressed below `rel`; false when `rel` itself is covered.
bool rebase(const std::vector<std::string>& paths, const std::string& rel,
            std::vector<std::string>& out) {
  for (const auto& p : paths) {
    if (p == "." || p == rel || rel.rfind(p + "/", 0) == 0) return false;
    if (p.rfind(rel + "/", 0) == 0) out.push_back(p.substr(rel.size() + 1));
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<Sandbox>> scope_sandbox(std::shared_ptr<Sandbox> parent,
                                               std::string_view cwd) {
  if (!parent) return fail(ErrorType::internal, "scope_sandbox: no sandbox given");
  const Workspace* pws = parent->workspace();
  if (pws == nullptr) {
    return fail(ErrorType::invalid_input,
                fmt::format("cwd '{}': the '{}' sandbox has no files", cwd, parent->name()));
  }
  auto rel = pws->to_relative(cwd);
  if (!rel) return fail(rel.error());
  if (*rel == ".") return parent;
  WorkspaceOptions wo;
  wo.force_fallback = pws->options().force_fallback;
  if (!rebase(pws->options().hidden, *rel, wo.hidden)) {
    return fail(ErrorType::permission, fmt::format("cwd '{}' is hidden in this workspace", cwd),
                json_object{{"rule", "hidden_path"}, {"path", std::string(cwd)}});
  }
  if (!rebase(pws->options().read_only, *rel, wo.read_only)) wo.read_only = {"."};
  // Opened once, by descriptor beneath the parent's root: a folder swapped for a symlink can
  // never root the task's file tools elsewhere.
  auto ws = pws->subdirectory(*rel, wo);
  if (!ws) {
    if (ws.error().type == ErrorType::invalid_input) {
      return fail(ErrorType::invalid_input,
                  fmt::format("cwd '{}' is not a directory of the workspace", cwd),
                  json_object{{"path", std::string(cwd)}});
    }
    return fail(ws.error());
  }
  return std::shared_ptr<Sandbox>(
      std::make_shared<ScopedSandbox>(std::move(parent), std::move(*ws), *rel));
}

std::string sandbox_directory_name(std::string_view id) {
  bool safe = !id.empty() && id.size() <= 80 && id != "." && id != "..";
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      safe = false;
    }
  }
  if (safe) return std::string(id);
  std::string prefix;
  for (char c : id.substr(0, 40)) {
    prefix += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '_';
  }
  // FNV-1a, 64 bit: stable across runs and platforms.
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return fmt::format("{}-{:016x}", prefix, h);
}

std::string effective_isolation(const Config& config) {
  if (config.sandbox.isolation == "none")
    return "none (commands run unjailed: [sandbox] isolation = \"none\")";
  const auto& st = jail_status();
  if (st.available) return st.summary();
  return fmt::format(
      "refused ({}); shell commands of the virtual sandbox will not run. Set "
      "[sandbox] isolation = \"none\" to run them unjailed",
      st.summary());
}

}  // namespace cppflue
