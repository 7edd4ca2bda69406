// Process states (supervisord's vocabulary) and the events and snapshots that carry them.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <taskmaster/program_spec.hpp>

namespace taskmaster::inline v0 {

enum class ProcessState {
  stopped,   // not running, and not asked to run
  starting,  // spawned, not yet up for starttime
  running,   // up for at least starttime
  backoff,   // a start failed; waiting to retry
  stopping,  // stopsignal sent, waiting for the exit (SIGKILL after stoptime; reported if alive 5 s later)
  exited,    // exited on its own from RUNNING
  fatal,     // gave up after startretries failed retries
};
inline constexpr int kProcessStateCount = 7;

[[nodiscard]] std::string_view to_string(ProcessState) noexcept;

// How a process ended: an exit code, or the signal that killed it.
struct ExitStatus {
  int code = 0;    // meaningful when signal == 0
  int signal = 0;  // the terminating signal, 0 for a normal exit
  bool coreDumped = false;

  [[nodiscard]] bool exited() const { return signal == 0; }
  [[nodiscard]] std::string str() const;  // "exit status 3" or "terminated by SIGKILL"
  bool operator==(const ExitStatus&) const = default;
};

using WallTime = std::chrono::system_clock::time_point;

// The health of an instance whose program has a `healthcheck` (docs/configuration.md): starting until its
// first check passes (failures in `start_period` do not count), healthy, or unhealthy after `retries` failed
// checks in a row. none: no healthcheck, or no process running.
enum class Health { none, starting, healthy, unhealthy };
[[nodiscard]] std::string_view to_string(Health) noexcept;  // "none", "starting", "healthy", "unhealthy"

// One transition of one instance, as observers receive it.
struct StateChange {
  std::string program;
  std::string instance;  // "web" or "web:1"
  int index = 0;
  ProcessState from = ProcessState::stopped;
  ProcessState to = ProcessState::stopped;
  int pid = 0;                      // the process concerned (the one that exited, for exits)
  std::optional<ExitStatus> exit;   // set when an exit caused the transition (unset if someone else reaped it)
  bool expected = true;             // false for an exit the configuration did not expect
  std::string reason;               // why, in words: "exited too quickly (exit status 1)", "spawn error: ..."
  WallTime time;
  int retries = 0;                  // failed starts in a row so far: a STARTING from BACKOFF is retry `retries`
  std::chrono::milliseconds retryIn{0};  // BACKOFF: the delay before the next attempt; FATAL: fatal_retry (0: none)
  std::shared_ptr<const ProgramSpec> spec;  // the program's spec at this transition: observers never look it up
};

// What changes about an instance besides its state, in order with its state changes, as the observers of
// Supervisor::onDetailChange receive it. The public state stays supervisord's; these are its details.
struct DetailChange {
  enum class Kind {
    waiting,           // asked to start, it waits for its dependencies: text "waiting for db"; empty once not
    dependencyFailed,  // a dependency cannot be met: text "dependency db is FATAL"; it does not start
    health,            // its health changed to `health`: text is the last failed check's reason
    statusText,        // the program sent STATUS=... (sd_notify readiness): text
  };
  Kind kind = Kind::waiting;
  std::string program;
  std::string instance;
  int index = 0;
  int pid = 0;
  Health health = Health::none;  // Kind::health: the new health; otherwise the current one
  std::string text;
  WallTime time;
  std::shared_ptr<const ProgramSpec> spec;
};
[[nodiscard]] std::string_view to_string(DetailChange::Kind) noexcept;  // "waiting", "dependency_failed", ...

// A snapshot of one instance.
struct InstanceStatus {
  std::string program;
  std::string instance;
  int index = 0;
  ProcessState state = ProcessState::stopped;
  int pid = 0;                     // 0 when no process is alive
  WallTime startTime;              // when the current (or last) process was spawned
  std::chrono::milliseconds uptime{0};  // while alive
  std::optional<ExitStatus> lastExit;
  WallTime lastExitTime;
  int restarts = 0;                // automatic starts: retries and autorestarts
  std::string reason;              // the reason for the last failure, if any
  // Details (DetailChange): why a wanted start has not happened ("waiting for db", "dependency db is
  // FATAL"; empty otherwise), the health and the last failed check's reason, the program's STATUS= text.
  std::string waiting;
  Health health = Health::none;
  std::string healthText;
  std::string statusText;
};

}  // namespace taskmaster::inline v0
