// SPDX-License-Identifier: Apache-2.0
#include "server/sessions.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cppflue/harness/agent.hpp"

namespace cppflue::server {

asio::awaitable<void> SessionGates::acquire(const std::string& key) {
  std::shared_ptr<Signal> wait;
  {
    std::lock_guard lock(mu_);
    auto& gate = gates_[key];
    if (!gate.busy) {
      gate.busy = true;
      co_return;
    }
    wait = std::make_shared<Signal>(co_await asio::this_coro::executor, 1);
    gate.waiters.push_back(wait);
  }
  auto [ec] = co_await wait->async_receive(asio::as_tuple(asio::use_awaitable));
  (void)ec;
}

void SessionGates::release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = gates_.find(key);
  if (it == gates_.end()) return;
  if (it->second.waiters.empty()) {
    gates_.erase(it);
    return;
  }
  auto next = it->second.waiters.front();
  it->second.waiters.pop_front();
  ping(next);  // the session passes to the next one
}

ActiveSessions::Guard::Guard(ActiveSessions& owner, std::string key, std::shared_ptr<Agent> agent)
    : owner_(owner), key_(std::move(key)) {
  std::lock_guard lock(owner_.mu_);
  owner_.active_[key_] = std::move(agent);
}

ActiveSessions::Guard::~Guard() {
  std::lock_guard lock(owner_.mu_);
  owner_.active_.erase(key_);
}

std::vector<std::string> ActiveSessions::keys() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(active_.size());
  for (const auto& [key, agent] : active_) out.push_back(key);
  return out;
}

std::shared_ptr<Agent> ActiveSessions::find(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = active_.find(key);
  return it == active_.end() ? nullptr : it->second;
}

}  // namespace cppflue::server
