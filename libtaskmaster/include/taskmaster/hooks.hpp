// Hooks: the configuration's `hooks:` (docs/hooks.md) at work. Each event a hook listens to (a state change,
// an unexpected exit, a failed health check, or taskmaster's own events) is delivered by running a command,
// an HTTP POST, a syslog line or a mail, off the loop's critical path: a bounded queue, a few deliveries at
// once, each bounded by its timeout, rate-limited per hook and program. Supervision never waits for a hook.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <taskmaster/config.hpp>
#include <taskmaster/log.hpp>
#include <taskmaster/state.hpp>

namespace taskmaster::inline v0 {

class Supervisor;

// One event as the hooks receive it. Taskmaster's own events ("reload", "taskmaster_started",
// "taskmaster_stopping") have no program.
struct HookEvent {
  std::string event{};  // canonical: "FATAL", "unexpected_exit", "unhealthy", "reload", ...
  std::string program{};
  std::string group{};
  std::string instance{};
  int index = 0;
  std::optional<ProcessState> from{};
  std::optional<ProcessState> to{};
  int pid = 0;
  std::optional<ExitStatus> exit{};
  bool expected = true;
  std::string reason{};
  WallTime time{};
};

// What the hooks did since they were made.
struct HookStats {
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;      // logged with the reason; never retried
  std::uint64_t suppressed = 0;  // held back by rate_limit (counted in the next delivery)
  std::uint64_t dropped = 0;     // the queue was full
};

inline constexpr std::size_t kHookQueueSize = 256;   // events waiting for a delivery slot; past it, dropped
inline constexpr std::size_t kHookConcurrency = 4;   // deliveries under way at once
// Deliveries of one hook under way at once: a hook that hangs until its timeout leaves the others room.
inline constexpr std::size_t kHookConcurrencyPerHook = 2;

class Hooks {
 public:
  // Listens to the supervisor's state and detail changes from now on; says what goes wrong to `log`.
  Hooks(Supervisor& supervisor, LogSink log);
  ~Hooks();  // cancels what is under way (commands killed and reaped)
  Hooks(const Hooks&) = delete;
  Hooks& operator=(const Hooks&) = delete;

  // Replaces the hooks. Deliveries under way and queued finish with the hooks they were for; an unchanged
  // hook keeps its rate limits.
  void configure(std::vector<HookSpec> hooks);
  // Taskmaster's own events: "reload", "taskmaster_started", "taskmaster_stopping" (time and the rest as given).
  void fire(HookEvent event);
  // `done` once nothing is queued or under way: at once when idle. For a last event before exiting.
  void whenIdle(std::function<void()> done);
  [[nodiscard]] HookStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmaster::inline v0
