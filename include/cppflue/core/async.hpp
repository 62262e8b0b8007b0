// SPDX-License-Identifier: Apache-2.0
// cppflue/core/async.hpp — small coroutine helpers shared by the modules.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "cppflue/core/cancel.hpp"

namespace cppflue {

// Sleeps on the current executor; returns false when `cancel` fired before the time was up.
boost::asio::awaitable<bool> sleep_for(std::chrono::milliseconds duration, CancelToken cancel);

}  // namespace cppflue
