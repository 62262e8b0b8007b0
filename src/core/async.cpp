// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/async.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace cppflue {

asio::awaitable<bool> sleep_for(std::chrono::milliseconds duration, CancelToken cancel) {
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, duration);
  CancelRegistration reg(cancel, [timer, ex] { asio::post(ex, [timer] { timer->cancel(); }); });
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !cancel.cancelled();
}

}  // namespace cppflue
