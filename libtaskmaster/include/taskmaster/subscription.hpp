// Subscription: the handle of an observer or a follower (state changes, a log being followed).
#pragma once

#include <functional>
#include <utility>

namespace taskmaster::inline v0 {

// Unsubscribes when destroyed or reset. Move-only. Safe to destroy inside the callback it guards.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(Subscription&& o) noexcept : cancel_(std::exchange(o.cancel_, {})) {}
  Subscription& operator=(Subscription&& o) noexcept {
    if (this != &o) {
      reset();
      cancel_ = std::exchange(o.cancel_, {});
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { reset(); }
  void reset() {
    if (auto c = std::exchange(cancel_, {})) c();
  }

 private:
  std::function<void()> cancel_;
};

}  // namespace taskmaster::inline v0
