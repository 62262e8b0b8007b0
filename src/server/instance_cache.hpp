// SPDX-License-Identifier: Apache-2.0
// Agent instances, one per (agent name, instance id): built on first use, kept up to
// [server] max_instances (the least recently used one no request holds is dropped beyond that).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "cppflue/core/json.hpp"
#include "server/server_env.hpp"

namespace cppflue {
class Agent;
}

namespace cppflue::server {

class InstanceCache {
 public:
  explicit InstanceCache(std::shared_ptr<const ServerEnv> env) : env_(std::move(env)) {}
  // The instance (name, id); a new one is built (on the blocking pool: it reads files) with
  // `payload` as its context payload. Throws what building it throws (e.g. not_found).
  boost::asio::awaitable<std::shared_ptr<Agent>> get(const std::string& name, const std::string& id,
                                                     const json& payload);
  // Drops every instance; requests in flight keep the one they hold.
  void clear();
  // Instances kept now.
  std::size_t size();

 private:
  struct Slot {
    std::shared_ptr<Agent> agent;
    std::uint64_t last_used = 0;
  };
  std::shared_ptr<Agent> build(const std::string& name, const std::string& id,
                               const json& payload) const;
  // build() without the message rewriting.
  std::shared_ptr<Agent> build_agent(const std::string& name, const std::string& id,
                                     const json& payload) const;
  void evict();  // mu_ held

  std::shared_ptr<const ServerEnv> env_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Slot> slots_;
  std::uint64_t clock_ = 0;  // under mu_
};

}  // namespace cppflue::server
