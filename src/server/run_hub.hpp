// SPDX-License-Identifier: Apache-2.0
// Wakes the streams that follow a run whenever one of its events is stored in this process.
// (Streams also poll the store, so events written by another process reach them too.)
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/async_util.hpp"

namespace cppflue::server {

class RunHub {
 public:
  // A wake-up signal for the events of one run, for as long as it lives.
  class Subscription {
   public:
    Subscription(std::shared_ptr<RunHub> hub, std::string run_id,
                 const asio::any_io_executor& executor);
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription();
    const std::shared_ptr<Signal>& signal() const { return signal_; }

   private:
    std::shared_ptr<RunHub> hub_;
    std::string run_id_;
    std::shared_ptr<Signal> signal_;
  };

  // An event of `run_id` was stored.
  void notify(const std::string& run_id);

 private:
  std::mutex mu_;
  std::multimap<std::string, std::shared_ptr<Signal>> subscribers_;
};

}  // namespace cppflue::server
