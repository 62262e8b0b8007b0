// SPDX-License-Identifier: Apache-2.0
#include "server/run_hub.hpp"

namespace cppflue::server {

RunHub::Subscription::Subscription(std::shared_ptr<RunHub> hub, std::string run_id,
                                   const asio::any_io_executor& executor)
    : hub_(std::move(hub)),
      run_id_(std::move(run_id)),
      signal_(std::make_shared<Signal>(executor, 1)) {
  std::lock_guard lock(hub_->mu_);
  hub_->subscribers_.emplace(run_id_, signal_);
}

RunHub::Subscription::~Subscription() {
  std::lock_guard lock(hub_->mu_);
  auto [first, last] = hub_->subscribers_.equal_range(run_id_);
  for (auto it = first; it != last; ++it) {
    if (it->second == signal_) {
      hub_->subscribers_.erase(it);
      return;
    }
  }
}

void RunHub::notify(const std::string& run_id) {
  std::lock_guard lock(mu_);
  auto [first, last] = subscribers_.equal_range(run_id);
  for (auto it = first; it != last; ++it) ping(it->second);
}

}  // namespace cppflue::server
