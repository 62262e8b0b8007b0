// SPDX-License-Identifier: Apache-2.0
// `cppflue serve`: the HTTP server until SIGINT/SIGTERM, then a graceful stop.
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <mutex>

#include "cli.hpp"
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
  for (fs::recursive_directory_iterator it(root / ".agents",
                                           fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    add(it->path());
  }
  add(root / "AGENTS.md");
  add(root / "CLAUDE.md");
  add(config_path.empty() ? root / "cppflue.toml" : fs::path(config_path));
  return out;
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
  std::string seen = watch_fingerprint(config->root, config->config_path.string());
  for (;;) {
    {
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, poll, [&] { return stop; })) break;
    }
    std::string now = watch_fingerprint(config->root, config->config_path.string());
    if (now == seen) continue;
    seen = std::move(now);
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
  return 0;
}

}  // namespace cppflue::cli
