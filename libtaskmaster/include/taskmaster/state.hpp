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
};

}  // namespace taskmaster::inline v0
