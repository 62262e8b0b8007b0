// SPDX-License-Identifier: Apache-2.0
// `cppflue serve`: the HTTP server until SIGINT/SIGTERM, then a graceful stop.
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "cli.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/server/server.hpp"

namespace cppflue::cli {

namespace {

server::ServeOptions serve_options(const CommonOptions& common, const ServeCommandOptions& opts) {
  server::ServeOptions o;
  o.config_path = common.config;
  o.host = opts.host;
  o.port = opts.port;
  o.model = opts.model;
  o.heartbeat = std::chrono::milliseconds(static_cast<long>(opts.heartbeat_seconds * 1000));
  o.header_timeout =
      std::chrono::milliseconds(static_cast<long>(opts.header_timeout_seconds * 1000));
  o.body_timeout = std::chrono::milliseconds(static_cast<long>(opts.body_timeout_seconds * 1000));
  return o;
}

// A fingerprint of what `dev` watches: path, size and mtime of every file under .agents/ and of
// AGENTS.md, CLAUDE.md and the config file.
std::string watch_fingerprint(const std::filesystem::path& root, const std::string& config_path) {
  namespace fs = std::filesystem;
  std::string out;
  auto add = [&out](const fs::path& p) {
    std::error_code ec;
    auto status = fs::status(p, ec);
    if (ec || !fs::is_regular_file(status)) return;
    auto size = fs::file_size(p, ec);
    auto time = fs::last_write_time(p, ec);
    out += p.string() + '\0' + std::to_string(size) + '\0' +
           std::to_string(time.time_since_epoch().count()) + '\n';
  };
  std::error_code ec;
  for (fs::recursive_directory_iterator
           it(root / ".agents", fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    add(it->path());
  }
  add(root / "AGENTS.md");
  add(root / "CLAUDE.md");
  add(config_path.empty() ? root / "cppflue.toml" : fs::path(config_path));
  return out;
}

// The files of a compiled application's sources: CMakeLists.txt at the root and everything
// under src/ and include/ (not the build directory).
std::string source_fingerprint(const std::filesystem::path& root,
                               const std::filesystem::path& build_dir) {
  namespace fs = std::filesystem;
  std::string out;
  auto add = [&out](const fs::path& p) {
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (ec) return;
    auto time = fs::last_write_time(p, ec);
    out += p.string() + '\0' + std::to_string(size) + '\0' +
           std::to_string(time.time_since_epoch().count()) + '\n';
  };
  add(root / "CMakeLists.txt");
  for (const char* sub : {"src", "include"}) {
    std::error_code ec;
    for (fs::recursive_directory_iterator
             it(root / sub, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      if (!build_dir.empty() && it->path() == build_dir) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) add(it->path());
    }
  }
  return out;
}

// The CMake build directory holding the running executable (CMakeCache.txt in its directory
// or up to two levels above), or empty.
std::filesystem::path own_build_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  fs::path dir = exe.parent_path();
  for (int i = 0; i < 3 && !dir.empty(); ++i, dir = dir.parent_path()) {
    if (fs::exists(dir / "CMakeCache.txt", ec)) return dir;
    if (dir == dir.root_path()) break;
  }
  return {};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// This process's own command line (for re-executing after a rebuild).
std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  return args;
}

}  // namespace

int serve_command(const CommonOptions& common, const ServeCommandOptions& opts) {
  install_interrupt_watcher();  // before the server's threads exist, so they inherit the mask
  auto server = server::Server::start(serve_options(common, opts));
  if (!server) return report_error(server.error().message);
  // The port line is what scripts and tests wait for (with --port 0 it is the only way to
  // learn the port).
  std::cout << "cppflue: listening on http://" << (*server)->host() << ":" << (*server)->port()
            << std::endl;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  set_interrupt_handler([&] {
    std::lock_guard lock(mu);
    stop = true;
    cv.notify_all();
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
  set_interrupt_handler(nullptr);
  std::cout << "cppflue: stopping (requests in flight get up to " << opts.grace_seconds << " s)"
            << std::endl;
  (*server)->stop(std::chrono::seconds(opts.grace_seconds));
  return 0;
}

int dev_command(const CommonOptions& common, const DevOptions& opts) {
  install_interrupt_watcher();
  auto config = discover_config(common.config, std::filesystem::current_path());
  if (!config) return report_error(config.error().message);
  auto server = server::Server::start(serve_options(common, opts.serve));
  if (!server) return report_error(server.error().message);
  std::string base = "http://" + (*server)->host() + ":" + std::to_string((*server)->port());
  std::cout << "cppflue: listening on " << base << std::endl;
  std::cout << "cppflue dev: dashboard " << base << "/__cppflue, status " << base
            << "/__cppflue/status" << std::endl;
  std::cout << "cppflue dev: watching " << (config->root / ".agents").string() << "/, AGENTS.md, "
            << "CLAUDE.md and "
            << (config->config_path.empty() ? (config->root / "cppflue.toml").string()
                                            : config->config_path.string())
            << std::endl;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  set_interrupt_handler([&] {
    std::lock_guard lock(mu);
    stop = true;
    cv.notify_all();
  });
  const auto poll = std::chrono::milliseconds(static_cast<long>(opts.poll_seconds * 1000));
  // A compiled application (this binary registers agents or workflows) is rebuilt and
  // re-executed when its sources change.
  bool compiled = !registered_agents().empty() || !registered_workflows().empty();
  // Read now: once a rebuild replaces the file, /proc/self/exe names the old, deleted one.
  std::error_code exe_ec;
  std::string exe = std::filesystem::read_symlink("/proc/self/exe", exe_ec).string();
  std::string build_command = opts.build_command;
  std::filesystem::path build_dir;
  if (compiled && build_command.empty()) {
    build_dir = own_build_dir();
    if (!build_dir.empty()) build_command = "cmake --build " + shell_quote(build_dir.string());
  }
  if (build_command == "none") build_command.clear();
  if (compiled) {
    if (build_command.empty()) {
      std::cout << "cppflue dev: compiled application: no build directory found next to the "
                   "executable, so source changes are not rebuilt (pass --build-command)"
                << std::endl;
    } else {
      std::cout << "cppflue dev: watching " << (config->root / "src").string()
                << "/ and CMakeLists.txt; rebuilds with: " << build_command << std::endl;
    }
  }
  // What the agents can write (project mode: the workspace holds the project) is not acted on
  // without the user's consent: an agent must not get its own edits built or loaded on the host.
  bool project_mode = false;
  if (!config->sandbox.workspace.empty()) {
    std::error_code ec;
    std::filesystem::path ws = config->sandbox.workspace;
    if (ws.is_relative()) ws = config->root / ws;
    auto w = std::filesystem::weakly_canonical(ws, ec);
    auto r = std::filesystem::weakly_canonical(config->root, ec);
    auto rel = r.lexically_relative(w);
    project_mode = !ec && !rel.empty() && *rel.begin() != "..";
  }
  const bool sources_trusted = !project_mode || opts.allow_agent_edits;
  const bool config_trusted =
      !project_mode || config->sandbox.protect_config || opts.allow_agent_edits;
  if (!sources_trusted || !config_trusted) {
    std::cout << "cppflue dev: the agents' workspace holds the project, so changes to "
              << (!config_trusted ? "the configuration and sources" : "the sources")
              << " may be an agent's edits: they are reported, not acted on (restart cppflue dev "
                 "to pick them up, or pass --allow-agent-edits)"
              << std::endl;
  }
  std::string sources =
      build_command.empty() ? std::string() : source_fingerprint(config->root, build_dir);
  std::string seen = watch_fingerprint(config->root, config->config_path.string());
  bool restart = false;
  for (;;) {
    {
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, poll, [&] { return stop; })) break;
    }
    if (!build_command.empty()) {
      std::string now_sources = source_fingerprint(config->root, build_dir);
      if (now_sources != sources && !sources_trusted) {
        sources = std::move(now_sources);
        std::cout << "cppflue dev: sources changed inside the agents' workspace; not rebuilt "
                     "(restart cppflue dev, or pass --allow-agent-edits)"
                  << std::endl;
      } else if (now_sources != sources) {
        sources = std::move(now_sources);
        std::cout << "cppflue dev: sources changed; rebuilding: " << build_command << std::endl;
        // The server keeps answering with the running build meanwhile.
        int rc = std::system(
            ("cd " + shell_quote(config->root.string()) + " && " + build_command).c_str());
        if (rc != 0) {
          std::cerr << "cppflue dev: the build failed (status " << rc
                    << "); still serving the previous build" << std::endl;
        } else {
          std::cout << "cppflue dev: rebuilt; restarting" << std::endl;
          restart = true;
          break;
        }
        sources = source_fingerprint(config->root, build_dir);  // the build may touch files
      }
    }
    std::string now = watch_fingerprint(config->root, config->config_path.string());
    if (now == seen) continue;
    seen = std::move(now);
    if (!config_trusted) {
      std::cout << "cppflue dev: agents or configuration changed inside the agents' workspace "
                   "(protect_config = false); not reloaded (restart cppflue dev, or pass "
                   "--allow-agent-edits)"
                << std::endl;
      continue;
    }
    auto reloaded = (*server)->reload();
    if (reloaded) {
      std::cout << "cppflue dev: reloaded (" << *reloaded << " agent(s))" << std::endl;
    } else {
      std::cerr << "cppflue dev: not reloaded: " << reloaded.error().message
                << " (still serving the previous agents)" << std::endl;
    }
  }
  set_interrupt_handler(nullptr);
  std::cout << "cppflue: stopping" << std::endl;
  (*server)->stop(std::chrono::seconds(opts.serve.grace_seconds));
  if (restart) {
    std::vector<std::string> args = own_argv();
    if (args.empty()) return report_error("cannot read this process's command line to restart");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Signals were blocked for the watcher thread; the new image starts with a clean mask.
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    std::cout.flush();
    ::execv(exe.c_str(), argv.data());
    return report_error(std::string("cannot restart: ") + std::strerror(errno));
  }
  return 0;
}

}  // namespace cppflue::cli
