// Internal: one supervised process slot (a program instance) and its state machine. Events go through the
// table in core/transitions.hpp; time and processes through the Host seam (core/host.hpp); transitions go
// out through a Listener. See docs/state-machine.md.
#pragma once

#include "private.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include <taskmaster/log.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>

#include "core/host.hpp"
#include "core/transitions.hpp"
#include "logging/instance_output.hpp"

namespace taskmaster::inline v0::detail {

class Instance;

// Where an instance's transitions go. Run to completion: publish() only appends to an outbox; the instance
// calls flush() when the outermost handler that caused them (a request, an exit, a deadline) has returned, so
// whoever receives them never sees a half-finished transition and may call back into the instance.
class Listener {
 public:
  virtual ~Listener() = default;
  virtual void publish(Instance& instance, StateChange change) = 0;
  // A detail (waiting, health, STATUS= text), into the same outbox: delivered in order with the transitions.
  virtual void publishDetail(Instance& instance, DetailChange change) = 0;
  // Delivers the outbox, in order. Called while a delivery is under way, it returns at once: that delivery
  // delivers what was appended, after what came before.
  virtual void flush() = 0;
  virtual void log(LogLevel level, std::string message) = 0;
};

// SIGKILL cannot be caught, so a process still alive this long after it is stuck in the kernel
// (uninterruptible sleep: hung NFS or device I/O). It is reported then; the instance stays STOPPING until
// the exit comes, since claiming STOPPED would hide a live process.
inline constexpr std::chrono::seconds kKillTimeout{5};

// What the user asked for last, kept apart from what the process is doing (the phase).
enum class Want { down, up };

class Instance {
 public:
  // `forward`: where the lines of a stream forwarded to /dev/stdout or /dev/stderr go.
  Instance(Host& host, Listener& listener, std::shared_ptr<const ProgramSpec> spec, int index,
           ForwardHolder forward = {});
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Requests from the user. Each returns false when the table rejects it: nothing to do (already started,
  // not running).
  bool start() { return handle(Event::start); }
  bool stop() { return handle(Event::stop); }
  bool restart() { return handle(Event::restart); }
  bool signal(int sig);

  // A new spec of the same program. With restartNow the running process is restarted to pick it up;
  // otherwise it applies from the next spawn (and at once for supervision options).
  void setSpec(std::shared_ptr<const ProgramSpec> spec, bool restartNow);

  // One event through the table, run to completion. False when the table rejects it. The host's exits and
  // deadlines come through here too; tests call it to walk the table.
  bool handle(Event event);

  [[nodiscard]] Phase phase() const { return phase_; }
  [[nodiscard]] ProcessState state() const { return toPublic(phase_); }
  [[nodiscard]] bool active() const { return isActive(state()); }
  [[nodiscard]] Want want() const { return want_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const ProgramSpec& spec() const { return *spec_; }
  [[nodiscard]] int index() const { return index_; }
  [[nodiscard]] InstanceStatus status() const;
  [[nodiscard]] const std::string& reason() const { return reason_; }
  [[nodiscard]] Health health() const { return health_; }
  // Its stdout and stderr, kept across its processes.
  [[nodiscard]] InstanceOutput& output() const { return *output_; }
  // The input of its process (tty or stdin); null when it has none or no process.
  [[nodiscard]] Console* console() const { return child_ ? child_->console() : nullptr; }

 private:
  bool dispatch(Event event);
  void onExit(std::optional<ExitStatus> status);
  void onSpawned(SpawnResult result);

  // The actions of the table (see Action in core/transitions.hpp).
  void enterStart();
  void enterRetry();
  void enterFatalRetry();
  void enterStartPeriod();
  void enterFailedStart();
  void enterRunning();
  void enterExited();
  void enterStopping();
  void enterRestart();
  void enterKill();
  void enterOverdue();
  void enterStopped();
  void cancelRetry();
  void wantUp();
  void wantDown();
  void enterNotReady();
  void enterUnhealthy();
  void run(Action action);

  // Readiness (`ready`) while STARTING, health checks (`healthcheck`) while RUNNING.
  void onDeadline();
  void startReadiness();
  void stopReadiness();
  void probeReadiness();
  void onReadinessProbe(ProbeResult result);
  void onNotice(Notice notice);
  void onOutputLine(std::string_view line);
  void becomeReady();
  void startHealth();
  void stopHealth();
  void checkHealth();
  void onHealthCheck(ProbeResult result);
  void setHealth(Health health);
  void publishDetail(DetailChange::Kind kind, std::string text);

  void spawn();
  void configureOutput();
  bool withdrawSpawn();
  void sendStopSignal();
  void setState(Phase to, std::string reason = {}, bool expected = true);
  [[nodiscard]] bool expectedExit() const;
  [[nodiscard]] std::string exitText() const;

  Host& host_;
  Listener& listener_;
  std::shared_ptr<const ProgramSpec> spec_;
  int index_;
  std::string name_;
  std::shared_ptr<InstanceOutput> output_;  // shared with the host's readers of its pipes
  Phase phase_ = Phase::stopped;
  Want want_ = Want::down;
  int depth_ = 0;                  // handlers on the stack: the outermost one flushes the outbox
  std::unique_ptr<Timer> timer_;   // owned by the phase: each phase arms at most its own deadline
  std::unique_ptr<Child> child_;   // non-null while a process is alive
  // STARTING, waiting for the host's answer: set from the request to the result. STARTING is published
  // with the result (and its pid); meanwhile observers still see the state before it.
  bool spawnQueued_ = false;
  std::unique_ptr<PendingSpawn> pendingSpawn_;  // the request while spawnQueued_ (destroying it withdraws it)
  ProcessState published_ = ProcessState::stopped;  // the state observers saw last: the next change's `from`
  int retries_ = 0;                // failed starts since the last RUNNING or user start
  int youngExits_ = 0;             // exits from RUNNING in a row of runs shorter than restart_reset_after
  std::chrono::milliseconds backoffDelay_{0};  // how long the current BACKOFF waits
  int restarts_ = 0;
  std::string reason_;
  Clock::time_point startedAt_{};
  WallTime startedWall_{};
  std::optional<ExitStatus> lastExit_;
  WallTime lastExitWall_{};
  // The event being handled: what it carries, read by the actions.
  std::string spawnError_;
  std::optional<ExitStatus> exit_;  // Event::exit: nullopt when the status is unknown
  int exitPid_ = 0;
  bool exitPending_ = false;         // setState attaches exit_ to the first transition that follows an exit
  // Readiness: the spec's `ready` of this spawn while STARTING waits for it, its deadline, its pattern (log).
  std::optional<Readiness> readiness_;
  Clock::time_point readyBy_{};
  std::shared_ptr<const std::regex> readyPattern_;
  std::string lastProbeFailure_;
  std::string failedStart_;  // not ready in time: the reason of the failed start the stop ends in
  // The next readiness probe or health check (coalesced: many instances share a wakeup), and the one running.
  std::unique_ptr<Timer> probeTimer_;
  std::unique_ptr<PendingProbe> probe_;
  // Health, while RUNNING with a healthcheck.
  Health health_ = Health::none;
  std::string healthText_;   // the last failed check's reason
  int healthFailures_ = 0;   // in a row, start_period excluded
  Clock::time_point runningSince_{};
  std::string statusText_;   // sd_notify's STATUS= of the current process
};

}  // namespace taskmaster::inline v0::detail
