// SPDX-License-Identifier: Apache-2.0
// cppflue/core/runtime.hpp — the event loop every agent runs on.
//
// One Boost.Asio io_context driven by a few threads (network I/O, turn loops, timers), plus a
// separate pool for blocking work (user tool functions, file system calls). The synchronous
// public API posts work here and waits; it must not be called from a runtime thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>

namespace cppflue {

struct RuntimeOptions {
  int io_threads = 2;
  int blocking_threads = 4;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // The process-wide runtime, started on first use.
  static std::shared_ptr<Runtime> shared();

  boost::asio::io_context& io();
  boost::asio::any_io_executor executor();
  boost::asio::thread_pool& blocking();
  // True when called from one of this runtime's I/O threads.
  bool in_io_thread() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cppflue
