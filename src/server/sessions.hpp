// SPDX-License-Identifier: Apache-2.0
// Sessions in use by the server's prompts: the gates that admit one prompt per session at a
// time (FIFO), and the registry of sessions a prompt is running on (for /sessions/{id}/abort).
// Only the prompt runner (prompt_runner.hpp) takes a gate.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/async_util.hpp"

namespace cppflue {
class Agent;
}

namespace cppflue::server {

// FIFO admission to one session: a prompt waits while another one holds it.
class SessionGates {
 public:
  // Holds the session `key` until destroyed.
  class Guard {
   public:
    Guard(SessionGates& gates, std::string key) : gates_(&gates), key_(std::move(key)) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { gates_->release(key_); }

   private:
    SessionGates* gates_;
    std::string key_;
  };
  // Waits for the session `key`; hold it with a Guard from then on.
  asio::awaitable<void> acquire(const std::string& key);

 private:
  void release(const std::string& key);
  struct Gate {
    bool busy = false;
    std::deque<std::shared_ptr<Signal>> waiters;
  };
  std::mutex mu_;
  std::map<std::string, Gate> gates_;
};

// The sessions a prompt of this server is running on, so /sessions/{id}/abort finds them.
class ActiveSessions {
 public:
  std::shared_ptr<Agent> find(const std::string& key);
  std::vector<std::string> keys();
  // Registers `key` (run by `agent`) for a scope.
  class Guard {
   public:
    Guard(ActiveSessions& owner, std::string key, std::shared_ptr<Agent> agent);
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard();

   private:
    ActiveSessions& owner_;
    std::string key_;
  };

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Agent>> active_;
};

}  // namespace cppflue::server
