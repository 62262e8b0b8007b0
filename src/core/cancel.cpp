// SPDX-License-Identifier: Apache-2.0
#include "cppflue/core/cancel.hpp"

#include <map>
#include <mutex>
#include <vector>

namespace cppflue {

struct CancelSource::State {
  std::mutex mu;
  bool cancelled = false;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::function<void()>> callbacks;
};

CancelSource::CancelSource() : state_(std::make_shared<State>()) {}

bool CancelSource::cancel() {
  std::map<std::uint64_t, std::function<void()>> callbacks;
  {
    std::lock_guard lock(state_->mu);
    if (state_->cancelled) return false;
    state_->cancelled = true;
    callbacks.swap(state_->callbacks);
  }
  for (auto& [id, fn] : callbacks) fn();
  return true;
}

bool CancelSource::cancelled() const {
  std::lock_guard lock(state_->mu);
  return state_->cancelled;
}

CancelToken CancelSource::token() const {
  CancelToken t;
  t.state_ = state_;
  return t;
}

bool CancelToken::cancelled() const {
  if (!state_) return false;
  std::lock_guard lock(state_->mu);
  return state_->cancelled;
}

std::uint64_t CancelToken::on_cancel(std::function<void()> fn) const {
  if (!state_) return 0;
  {
    std::lock_guard lock(state_->mu);
    if (!state_->cancelled) {
      auto id = state_->next_id++;
      state_->callbacks.emplace(id, std::move(fn));
      return id;
    }
  }
  fn();
  return 0;
}

void CancelToken::remove(std::uint64_t id) const {
  if (!state_ || id == 0) return;
  std::lock_guard lock(state_->mu);
  state_->callbacks.erase(id);
}

CancelRegistration::CancelRegistration(const CancelToken& token, std::function<void()> fn)
    : token_(token), id_(token.on_cancel(std::move(fn))) {}

CancelRegistration::~CancelRegistration() {
  token_.remove(id_);
}

}  // namespace cppflue
