// SPDX-License-Identifier: Apache-2.0
#include "server/async_util.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

namespace cppflue::server {

asio::awaitable<void> run_blocking(asio::thread_pool& pool, std::function<void()> fn) {
  auto ex = co_await asio::this_coro::executor;
  auto done = std::make_shared<Signal>(ex, 1);
  auto error = std::make_shared<std::exception_ptr>();
  asio::post(pool, [done, error, fn = std::move(fn)] {
    try {
      fn();
    } catch (...) {
      *error = std::current_exception();
    }
    ping(done);
  });
  auto [ec] = co_await done->async_receive(asio::as_tuple(asio::use_awaitable));
  (void)ec;
  if (*error) std::rethrow_exception(*error);
}

asio::awaitable<bool> wait_signal(std::shared_ptr<Signal> wake, asio::steady_timer& timer,
                                  std::chrono::milliseconds timeout) {
  timer.expires_after(timeout);
  // The expiry may already be queued when the wait ends another way and the channel is gone
  // by the time it runs: hold the channel weakly. (A stale timeout left in a live channel only
  // makes a later wait return early; callers loop.)
  std::weak_ptr<Signal> weak = wake;
  timer.async_wait([weak](boost::system::error_code ec) {
    if (ec) return;
    if (auto w = weak.lock()) w->try_send(boost::asio::error::timed_out);
  });
  auto [ec] = co_await wake->async_receive(asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  co_return ec != boost::asio::error::timed_out;
}

}  // namespace cppflue::server
