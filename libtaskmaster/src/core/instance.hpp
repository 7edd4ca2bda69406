// Internal: one supervised process slot (a program instance) and its state machine, plus the seam
// (Host, Timer, Child) through which it touches time and processes. The Supervisor provides the real
// Host on Boost.Asio; the unit tests provide a fake one, so the state machine runs without forking or
// sleeping. See docs/state-machine.md for the transition table this file implements.
#pragma once

#include "private.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>

namespace taskmaster::inline v0::detail {

class Instance;
using Clock = std::chrono::steady_clock;

// A one-shot deadline. arm() replaces any pending deadline; a cancelled deadline never fires.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void arm(Clock::duration after) = 0;
  virtual void cancel() = 0;
};

// A live child process. Its exit is reported once, through the callback given to Host::spawn, unless the
// Child is destroyed first (then the process group is SIGKILLed and reaped without a report).
class Child {
 public:
  virtual ~Child() = default;
  [[nodiscard]] virtual int pid() const = 0;
  virtual void signal(int sig, bool group) = 0;
  // After the main process exited: SIGKILL whatever is left in its process group.
  virtual void killRemains() = 0;
};

struct SpawnRequest {
  const ProgramSpec& spec;
  const std::string& instance;
  int index;
};

struct SpawnResult {
  std::unique_ptr<Child> child;  // null on failure
  std::string error;             // "spawn error: /usr/bin/wrk: No such file or directory"
};

class Host {
 public:
  virtual ~Host() = default;
  [[nodiscard]] virtual Clock::time_point now() const = 0;
  [[nodiscard]] virtual WallTime wallNow() const = 0;
  [[nodiscard]] virtual std::unique_ptr<Timer> makeTimer(std::function<void()> onExpiry) = 0;
  [[nodiscard]] virtual SpawnResult spawn(const SpawnRequest& request,
                                          std::function<void(ExitStatus)> onExit) = 0;
  // Called by an instance for each of its transitions, after its state changed.
  virtual void publish(const Instance& instance, const StateChange& change) = 0;
};

// An autorestart comes at once, but never sooner than this after the previous spawn: no respawn spin.
inline constexpr std::chrono::seconds kMinRestartInterval{1};

class Instance {
 public:
  Instance(Host& host, std::shared_ptr<const ProgramSpec> spec, int index);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Requests from the user. Each returns false when there is nothing to do (already started, not running).
  bool start();
  bool stop();
  void restart();
  bool signal(int sig);

  // A new spec of the same program. With restartNow the running process is restarted to pick it up;
  // otherwise it applies from the next spawn (and at once for supervision options).
  void setSpec(std::shared_ptr<const ProgramSpec> spec, bool restartNow);

  [[nodiscard]] ProcessState state() const { return state_; }
  [[nodiscard]] bool active() const;        // a process is alive or a start is scheduled
  [[nodiscard]] bool willStart() const { return startAfterStop_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const ProgramSpec& spec() const { return *spec_; }
  [[nodiscard]] int index() const { return index_; }
  [[nodiscard]] InstanceStatus status() const;
  [[nodiscard]] const std::string& reason() const { return reason_; }

 private:
  void spawn();
  void failedStart(std::string reason, const std::optional<ExitStatus>& exit, int pid = 0);
  void onExit(ExitStatus status);
  void onDeadline();
  void sendStopSignal();
  void setState(ProcessState to, std::string reason = {}, const std::optional<ExitStatus>& exit = {},
                bool expected = true, int pid = 0);
  [[nodiscard]] bool expectedExit(const ExitStatus& status) const;
  [[nodiscard]] std::chrono::milliseconds retryDelay() const;

  Host& host_;
  std::shared_ptr<const ProgramSpec> spec_;
  int index_;
  std::string name_;
  ProcessState state_ = ProcessState::stopped;
  std::unique_ptr<Timer> timer_;   // owned by the state: STARTING, BACKOFF and STOPPING each arm it
  std::unique_ptr<Child> child_;   // non-null while a process is alive
  bool startAfterStop_ = false;    // a restart waits for the stop to complete
  int retries_ = 0;                // failed starts since the last RUNNING or user start
  std::chrono::milliseconds backoffDelay_{0};  // how long the current BACKOFF waits
  int restarts_ = 0;
  std::string reason_;
  Clock::time_point startedAt_{};
  WallTime startedWall_{};
  std::optional<ExitStatus> lastExit_;
  WallTime lastExitWall_{};
};

}  // namespace taskmaster::inline v0::detail
