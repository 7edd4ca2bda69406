// Internal: which hooks an event goes to, the rate limits, the bounded queue and the deliveries under way, on
// the Host seam (its clock and timers), so that the unit tests run it on a fake clock. How a delivery is made
// is given (hooks/deliveries.hpp in taskmaster; a recorder in the tests).
#pragma once

#include "private.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <taskmaster/hooks.hpp>

#include "core/host.hpp"

namespace taskmaster::inline v0::detail {

// One delivery under way; destroying it cancels it (a command killed and reaped, a request dropped).
class Delivery {
 public:
  virtual ~Delivery() = default;
};

// What to deliver: the hook (`index`: 1-based, in the configuration's order), the event as the hook names it,
// and how many events for the same hook and program rate_limit held back since its previous delivery.
struct Job {
  std::shared_ptr<const HookSpec> hook;
  std::size_t index = 0;
  HookEvent event;
  std::uint64_t suppressed = 0;
};

// How a delivery ended: an empty error when it succeeded. `said`: the failure is logged already (a missing
// syslog socket is said once per configure, not at every event).
struct Delivered {
  std::string error;
  bool said = false;
};
using DeliveryDone = std::function<void(Delivered)>;

// Starts a delivery; `done` once. It may be called before deliver() returns (a syslog line is sent at once);
// never after the Delivery is destroyed.
using Deliver = std::function<std::unique_ptr<Delivery>(const Job& job, DeliveryDone done)>;

class Dispatcher {
 public:
  Dispatcher(Host& host, Deliver deliver, LogSink log);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void configure(std::vector<HookSpec> hooks);
  // To every hook that listens to it: each hook once, by the name it listens to ("unexpected_exit" before the
  // state's name when the event is both).
  void offer(const HookEvent& event, bool unexpectedExit = false);
  void whenIdle(std::function<void()> done);
  [[nodiscard]] const HookStats& stats() const { return stats_; }

 private:
  // rate_limit's state for one hook and one program: the last delivery, and the latest event held back since,
  // delivered when the interval ends (so the last word of a crash loop, its FATAL, is never lost).
  struct Window {
    std::optional<Clock::time_point> last;
    std::optional<HookEvent> held;
    std::uint64_t suppressed = 0;  // held back since the last delivery, `held` included
    std::unique_ptr<Timer> flush;
  };
  struct Hook {
    std::shared_ptr<const HookSpec> spec;
    std::size_t index = 0;
    std::map<std::string, Window> windows;  // by program ("" for taskmaster's own events)
  };

  void limit(Hook& hook, HookEvent event);
  void flush(Hook& hook, const std::string& program);
  void enqueue(const Hook& hook, HookEvent event, std::uint64_t suppressed);
  void pump();
  void finished(std::uint64_t id, const Job& job, const Delivered& result);
  void checkIdle();

  Host& host_;
  Deliver deliver_;
  LogSink log_;
  std::vector<std::shared_ptr<Hook>> hooks_;
  std::deque<Job> queue_;
  std::map<std::uint64_t, std::unique_ptr<Delivery>> running_;
  std::map<const HookSpec*, std::size_t> busy_;  // deliveries under way by hook
  std::uint64_t nextId_ = 0;
  std::uint64_t droppedUnsaid_ = 0;  // dropped since the last time it was logged
  std::vector<std::function<void()>> idle_;
  HookStats stats_;
};

// "web:1 FATAL", "reload": how the log names an event.
[[nodiscard]] std::string eventTitle(const HookEvent& event);

}  // namespace taskmaster::inline v0::detail
