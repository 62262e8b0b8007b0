// SPDX-License-Identifier: Apache-2.0
// cppflue/core/cancel.hpp — cooperative cancellation shared by an operation's parts.
//
// A `CancelSource` owns the signal; `CancelToken`s are cheap copies handed to HTTP requests,
// tools, subprocesses and child tasks. Callbacks registered on a token run exactly once, on
// the thread that calls `cancel()` (or immediately if already cancelled); they must be short
// and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace cppflue {

class CancelToken;

class CancelSource {
 public:
  CancelSource();
  // Returns true the first time (when this call performed the cancellation).
  bool cancel();
  bool cancelled() const;
  CancelToken token() const;

 private:
  friend class CancelToken;
  struct State;
  std::shared_ptr<State> state_;
};

class CancelToken {
 public:
  CancelToken() = default;  // never cancelled
  bool cancelled() const;
  // Registers `fn`; returns an id for `remove`. Runs `fn` now if already cancelled (id 0).
  std::uint64_t on_cancel(std::function<void()> fn) const;
  void remove(std::uint64_t id) const;

 private:
  friend class CancelSource;
  std::shared_ptr<CancelSource::State> state_;
};

// RAII registration of a cancellation callback.
class CancelRegistration {
 public:
  CancelRegistration(const CancelToken& token, std::function<void()> fn);
  ~CancelRegistration();
  CancelRegistration(const CancelRegistration&) = delete;
  CancelRegistration& operator=(const CancelRegistration&) = delete;

 private:
  CancelToken token_;
  std::uint64_t id_ = 0;
};

}  // namespace cppflue
