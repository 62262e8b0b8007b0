// SPDX-License-Identifier: Apache-2.0
// Small coroutine helpers shared by the server's parts: a wake-up signal, blocking work on the
// runtime's pool, and a wait with a timeout.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace cppflue::server {

namespace asio = boost::asio;
using Signal = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

// Runs `fn` on the blocking pool; the caller resumes on its own executor. Exceptions rethrow.
asio::awaitable<void> run_blocking(asio::thread_pool& pool, std::function<void()> fn);

// Waits until `wake` is signalled (true) or `timeout` passes (false).
asio::awaitable<bool> wait_signal(std::shared_ptr<Signal> wake, asio::steady_timer& timer,
                                  std::chrono::milliseconds timeout);

// Wakes whoever waits on `signal` (never blocks; a pending wake-up is enough).
inline void ping(const std::shared_ptr<Signal>& signal) {
  signal->try_send(boost::system::error_code{});
}

}  // namespace cppflue::server
