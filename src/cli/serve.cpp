// SPDX-License-Identifier: Apache-2.0
// `cppflue serve`: the HTTP server until SIGINT/SIGTERM, then a graceful stop.
#include <condition_variable>
#include <iostream>
#include <mutex>

#include "cli.hpp"
#include "cppflue/server/server.hpp"

namespace cppflue::cli {

int serve_command(const CommonOptions& common, const ServeCommandOptions& opts) {
  install_interrupt_watcher();  // before the server's threads exist, so they inherit the mask
  server::ServeOptions o;
  o.config_path = common.config;
  o.host = opts.host;
  o.port = opts.port;
  o.model = opts.model;
  o.heartbeat = std::chrono::milliseconds(static_cast<long>(opts.heartbeat_seconds * 1000));
  o.header_timeout =
      std::chrono::milliseconds(static_cast<long>(opts.header_timeout_seconds * 1000));
  o.body_timeout = std::chrono::milliseconds(static_cast<long>(opts.body_timeout_seconds * 1000));
  auto server = server::Server::start(o);
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

}  // namespace cppflue::cli
