// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/runtime.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <mutex>
#include <thread>
#include <vector>

namespace cppflue {

namespace {
thread_local const Runtime* tl_current_runtime = nullptr;
}

struct Runtime::Impl {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  boost::asio::thread_pool blocking;
  std::vector<std::thread> threads;
  explicit Impl(int blocking_threads) : blocking(static_cast<std::size_t>(blocking_threads)) {}
};

Runtime::Runtime(RuntimeOptions options)
    : impl_(std::make_unique<Impl>(options.blocking_threads < 1 ? 1 : options.blocking_threads)) {
  int n = options.io_threads < 1 ? 1 : options.io_threads;
  for (int i = 0; i < n; ++i) {
    impl_->threads.emplace_back([this] {
      tl_current_runtime = this;
      impl_->io.run();
    });
  }
}

Runtime::~Runtime() {
  impl_->guard.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->blocking.stop();
  impl_->blocking.join();
}

std::shared_ptr<Runtime> Runtime::shared() {
  static std::mutex mu;
  static std::shared_ptr<Runtime> rt;
  std::lock_guard lock(mu);
  if (!rt) rt = std::make_shared<Runtime>();
  return rt;
}

boost::asio::io_context& Runtime::io() {
  return impl_->io;
}
boost::asio::any_io_executor Runtime::executor() {
  return impl_->io.get_executor();
}
boost::asio::thread_pool& Runtime::blocking() {
  return impl_->blocking;
}
bool Runtime::in_io_thread() const {
  return tl_current_runtime == this;
}

}  // namespace cppflue
