// SPDX-License-Identifier: Apache-2.0
// cppflue/core/unique_function.hpp — a move-only, call-once callback.
//
// Holds completion handlers (which are move-only) until an asynchronous operation finishes.
// We use it instead of Boost 1.81's any_completion_handler, which re-wraps itself when
// move-assigned from a temporary and recurses until the stack overflows.
#pragma once

#include <memory>
#include <utility>

namespace cppflue {

template <class Arg>
class UniqueFunction {
 public:
  UniqueFunction() = default;
  template <class F>
  explicit UniqueFunction(F f) : impl_(std::make_unique<Model<F>>(std::move(f))) {}
  explicit operator bool() const { return impl_ != nullptr; }
  // Calls the callback once; afterwards this object is empty.
  void operator()(Arg arg) {
    auto impl = std::move(impl_);
    impl->call(std::move(arg));
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call(Arg arg) = 0;
  };
  template <class F>
  struct Model final : Base {
    explicit Model(F fn) : f(std::move(fn)) {}
    void call(Arg arg) override { f(std::move(arg)); }
    F f;
  };
  std::unique_ptr<Base> impl_;
};

}  // namespace cppflue
