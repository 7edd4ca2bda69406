// Internal: the Host of a Supervisor on Boost.Asio: steady timers, children spawned with detail::launch and
// watched through their pidfds, deferred work posted to the io_context.
#pragma once

#include "private.hpp"

#include "core/host.hpp"

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

class AsioHost final : public Host {
 public:
  explicit AsioHost(boost::asio::io_context& io) : io_(io) {}

  [[nodiscard]] Clock::time_point now() const override { return Clock::now(); }
  [[nodiscard]] WallTime wallNow() const override { return std::chrono::system_clock::now(); }
  [[nodiscard]] std::unique_ptr<Timer> makeTimer(std::function<void()> onExpiry) override;
  [[nodiscard]] SpawnResult spawn(const SpawnRequest& request, ExitHandler onExit) override;
  void defer(std::function<void()> fn) override;

  [[nodiscard]] boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context& io_;
};

}  // namespace taskmaster::inline v0::detail
