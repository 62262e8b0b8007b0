// SPDX-License-Identifier: Apache-2.0
#include "server/instance_cache.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cppflue/harness/agent.hpp"
#include "cppflue/harness/app.hpp"
#include "server/agent_catalog.hpp"
#include "server/async_util.hpp"
#include "server/http_util.hpp"

namespace cppflue::server {

asio::awaitable<std::shared_ptr<Agent>> InstanceCache::get(const std::string& name,
                                                           const std::string& id,
                                                           const json& payload) {
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find({name, id});
    if (it != slots_.end()) {
      it->second.last_used = ++clock_;
      co_return it->second.agent;
    }
  }
  std::shared_ptr<Agent> made;
  co_await run_blocking(env_->runtime->blocking(), [&] { made = build(name, id, payload); });
  std::lock_guard lock(mu_);
  auto [it, inserted] = slots_.emplace(std::make_pair(name, id), Slot{made, 0});
  it->second.last_used = ++clock_;
  std::shared_ptr<Agent> agent = it->second.agent;  // a concurrent request may have built it first
  if (inserted) evict();
  co_return agent;
}

std::shared_ptr<Agent> InstanceCache::build(const std::string& name, const std::string& id,
                                            const json& payload) const {
  const Config& config = env_->config;
  try {
    return build_agent(name, id, payload);
  } catch (const Exception& e) {
    // A broken project file (skill, role, agent: its details name the file) may be shown to
    // the client, named relative to the project root; any other error stays as it is.
    Error error = e.error();
    const std::string file = get_string_or(error.details, "file", "");
    const std::string root = config.root.string() + "/";
    if (error.type != ErrorType::config_error || file.rfind(root, 0) != 0 ||
        file.find("/.agents/") == std::string::npos) {
      throw;
    }
    error.message = fmt::format("Agent \"{}\" cannot run: {}", name,
                                relative_to_root(error.message, config.root));
    error.details.as_object()["file"] = file.substr(root.size());
    error.details.as_object()["kind"] = kProjectFileProblem;
    throw Exception(std::move(error));
  }
}

std::shared_ptr<Agent> InstanceCache::build_agent(const std::string& name, const std::string& id,
                                                  const json& payload) const {
  const Config& config = env_->config;
  auto factory = find_agent(name, config.root);
  if (!factory) throw Exception(factory.error());
  InitOptions defaults;
  defaults.root = config.root.string();
  if (!config.config_path.empty()) defaults.config_path = config.config_path.string();
  defaults.runtime = env_->runtime;
  defaults.store = env_->store;
  AgentContext context{id, {}, payload};
  const std::string& model = env_->options.model;
  return std::make_shared<Agent>(factory->instantiate(context, defaults, [&](InitOptions& o) {
    if (!model.empty()) o.model = model;
  }));
}

std::size_t InstanceCache::size() {
  std::lock_guard lock(mu_);
  return slots_.size();
}

void InstanceCache::clear() {
  std::lock_guard lock(mu_);
  slots_.clear();
}

void InstanceCache::evict() {
  const std::size_t limit =
      static_cast<std::size_t>(std::max(1, env_->config.server.max_instances));
  while (slots_.size() > limit) {
    auto victim = slots_.end();
    for (auto it = slots_.begin(); it != slots_.end(); ++it) {
      // use_count 1: only the cache holds it (no request, run or dispatch is using it).
      if (it->second.agent.use_count() != 1) continue;
      if (victim == slots_.end() || it->second.last_used < victim->second.last_used) victim = it;
    }
    if (victim == slots_.end()) return;  // every instance is busy: keep them for now
    slots_.erase(victim);
  }
}

}  // namespace cppflue::server
