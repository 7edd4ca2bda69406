#include "core/instance.hpp"

#include <algorithm>
#include <csignal>
#include <exception>
#include <limits>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "core/backoff.hpp"

namespace taskmaster::inline v0::detail {
namespace {

// Ends a handler: the outermost one delivers what it published (when no call from outside is under way: that
// call delivers it as it returns). Not while an exception unwinds: observers must never see half a transition.
class HandlerScope {
 public:
  HandlerScope(int& depth, Listener& listener) : depth_(depth), listener_(listener) { ++depth_; }
  ~HandlerScope() {
    if (--depth_ == 0 && std::uncaught_exceptions() == 0) listener_.flush();
  }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;

 private:
  int& depth_;
  Listener& listener_;
};

}  // namespace

Instance::Instance(Host& host, Listener& listener, std::shared_ptr<const ProgramSpec> spec, int index,
                   ForwardHolder forward)
    : host_(host),
      listener_(listener),
      spec_(std::move(spec)),
      index_(index),
      name_(spec_->instanceName(index)),
      output_(std::make_shared<InstanceOutput>(name_, std::move(forward))),
      timer_(host.makeTimer([this] { handle(Event::deadline); })) {
  configureOutput();
}

// A file that cannot be opened is reported now and tried again at each spawn, which fails until it opens.
void Instance::configureOutput() {
  if (auto error = output_->configure(*spec_, index_); !error.empty())
    listener_.log(LogLevel::warn, fmt::format("{}: {}", name_, error));
}

Instance::~Instance() = default;

bool Instance::handle(Event event) {
  HandlerScope scope(depth_, listener_);
  return dispatch(event);
}

// The one place where events meet the table, and where what it does not list is rejected.
bool Instance::dispatch(Event event) {
  const Action action = actionFor(phase_, event);
  if (action == Action::reject) {
    // A rejected request is an answer ("already started"); a rejected exit or deadline is a bug.
    listener_.log(isRequest(event) ? LogLevel::debug : LogLevel::error,
                  fmt::format("{}: {} rejected in phase {}", name_, to_string(event), to_string(phase_)));
    return false;
  }
  run(action);
  return true;
}

// Action -> verb. A switch rather than an array of member pointers: -Wswitch flags a verb left out.
void Instance::run(Action action) {
  switch (action) {
    case Action::reject: return;
    case Action::enterStart: return enterStart();
    case Action::enterRetry: return enterRetry();
    case Action::enterFatalRetry: return enterFatalRetry();
    case Action::enterStartPeriod: return enterStartPeriod();
    case Action::enterFailedStart: return enterFailedStart();
    case Action::enterRunning: return enterRunning();
    case Action::enterExited: return enterExited();
    case Action::enterStopping: return enterStopping();
    case Action::enterRestart: return enterRestart();
    case Action::enterKill: return enterKill();
    case Action::enterOverdue: return enterOverdue();
    case Action::enterStopped: return enterStopped();
    case Action::cancelRetry: return cancelRetry();
    case Action::wantUp: return wantUp();
    case Action::wantDown: return wantDown();
  }
}

bool Instance::signal(int sig) {
  if (!child_) return false;
  child_->signal(sig, false);
  return true;
}

void Instance::setSpec(std::shared_ptr<const ProgramSpec> spec, bool restartNow) {
  spec_ = std::move(spec);
  name_ = spec_->instanceName(index_);
  configureOutput();
  if (child_) child_->setKillGroupOnExit(spec_->killasgroup);
  if (restartNow && active()) restart();
}

void Instance::onExit(std::optional<ExitStatus> status) {
  exitPid_ = child_->pid();
  child_.reset();
  exit_ = status;
  exitPending_ = true;
  lastExit_ = status;
  lastExitWall_ = host_.wallNow();
  if (!status)
    listener_.log(LogLevel::warn, fmt::format("{}: pid {} was reaped by someone else: its exit status is unknown "
                                              "(something in this process calls waitpid(-1) or ignores SIGCHLD)",
                                              name_, exitPid_));
  handle(Event::exit);
  exitPending_ = false;
}

// --- actions ------------------------------------------------------------------------------------

void Instance::enterStart() {
  want_ = Want::up;
  retries_ = 0;
  youngExits_ = 0;
  spawn();
}

void Instance::enterRetry() {
  ++restarts_;
  spawn();
}

// fatal_retry passed in FATAL: a fresh round of startretries, counted as a restart.
void Instance::enterFatalRetry() {
  retries_ = 0;
  ++restarts_;
  spawn();
}

// Asks the host for a process. The phase is STARTING from now (a start is "already started"; a stop or a
// restart withdraws the request), and is published once the host answers: with the pid, or the spawn error
// that makes it a failed start. The host serves requests in slices from its loop, so a burst of starts never
// holds it; it may also answer before requestSpawn returns.
void Instance::spawn() {
  phase_ = Phase::starting;
  timer_->cancel();  // the old phase's deadline; STARTING arms its own once spawned
  spawnQueued_ = true;
  auto pending = host_.requestSpawn({spec_, name_, index_, output_}, [this](SpawnResult r) { onSpawned(std::move(r)); },
                                    [this](std::optional<ExitStatus> s) { onExit(s); });
  if (spawnQueued_) pendingSpawn_ = std::move(pending);  // not answered yet
}

// The host's answer: STARTING either way, then the outcome is an event of its own.
void Instance::onSpawned(SpawnResult result) {
  HandlerScope scope(depth_, listener_);
  spawnQueued_ = false;
  auto served = std::move(pendingSpawn_);  // destroyed on return: served, it withdraws nothing
  startedAt_ = host_.now();
  startedWall_ = host_.wallNow();
  child_ = std::move(result.child);
  spawnError_ = std::move(result.error);
  setState(Phase::starting);
  dispatch(child_ ? Event::spawned : Event::spawnFailed);
}

// True when a spawn was requested and not answered: it is withdrawn, and no process exists.
bool Instance::withdrawSpawn() {
  if (!std::exchange(spawnQueued_, false)) return false;
  pendingSpawn_.reset();
  return true;
}

void Instance::enterStartPeriod() {
  if (spec_->starttime.count() == 0) enterRunning();  // no start period: up at once
}

// A start that did not reach RUNNING: retry after 1 s, 2 s, 3 s ... or give up after startretries (never with
// kInfiniteRetries: retries_ cannot exceed it). The process exited too soon (Event::exit), or none could be
// spawned (Event::spawnFailed).
void Instance::enterFailedStart() {
  std::string reason = exitPending_ ? fmt::format("exited too quickly ({})", exitText()) : std::move(spawnError_);
  ++retries_;
  backoffDelay_ = failedStartDelay(*spec_, retries_);
  if (retries_ > spec_->startretries) {
    std::string gaveUp = fmt::format("{} (gave up after {} {}", reason, spec_->startretries,
                                     spec_->startretries == 1 ? "retry" : "retries");
    if (spec_->fatalRetry > Duration::zero()) gaveUp += "; next try in " + formatDuration(spec_->fatalRetry);
    setState(Phase::fatal, gaveUp + ")", false);
  } else {
    setState(Phase::backoff, std::move(reason), false);
  }
}

void Instance::enterRunning() {
  retries_ = 0;
  setState(Phase::running);
}

void Instance::enterExited() {
  const bool expected = expectedExit();
  setState(Phase::exited, expected ? std::string{} : fmt::format("unexpected exit ({})", exitText()), expected);
  const bool again = spec_->autorestart == AutoRestart::always ||
                     (spec_->autorestart == AutoRestart::unexpected && !expected);
  if (!again) return;
  retries_ = 0;
  // At once, unless the process keeps dying young: then the crash-loop policy holds it back (core/backoff.hpp).
  const auto ranFor = std::chrono::duration_cast<Duration>(host_.now() - startedAt_);
  if (stayedUp(*spec_, ranFor)) youngExits_ = 0;
  if (youngExits_ < std::numeric_limits<int>::max()) ++youngExits_;  // with restart_delay 0 it could overflow
  backoffDelay_ = crashDelay(*spec_, youngExits_);
  if (backoffDelay_ > Duration::zero()) {
    setState(Phase::backoff, "restarting too often: next start in " + formatDuration(backoffDelay_));
    return;
  }
  ++restarts_;
  spawn();
}

void Instance::enterStopping() {
  want_ = Want::down;
  if (withdrawSpawn()) return setState(Phase::stopped);  // nothing was spawned: nothing to stop
  setState(Phase::stoppingTerm);
  sendStopSignal();
}

void Instance::enterRestart() {
  want_ = Want::up;
  if (withdrawSpawn()) return spawn();  // not spawned yet: asked again, with the spec of now
  setState(Phase::stoppingTerm);
  sendStopSignal();
}

void Instance::enterKill() {
  child_->signal(SIGKILL, spec_->killasgroup);
  setState(Phase::stoppingKill, fmt::format("killed with SIGKILL: still running {} after SIG{}",
                                            formatDuration(spec_->stoptime), signalName(spec_->stopsignal)));
}

void Instance::enterOverdue() {
  // Reported by the change itself (STOPPING -> STOPPING with this reason), not through the log sink as well.
  setState(Phase::stoppingOverdue, fmt::format("still alive {} after SIGKILL: stuck in the kernel (uninterruptible sleep)",
                                               formatDuration(kKillTimeout)));
}

void Instance::enterStopped() {
  setState(Phase::stopped);
  if (want_ == Want::up) {  // the user asked for it: fresh counts
    retries_ = 0;
    youngExits_ = 0;
    spawn();
  }
}

void Instance::cancelRetry() {
  want_ = Want::down;
  setState(Phase::stopped);
}

// --- helpers ------------------------------------------------------------------------------------

void Instance::sendStopSignal() {
  if (child_) child_->signal(spec_->stopsignal, spec_->stopasgroup);
}

bool Instance::expectedExit() const {
  return exit_ && exit_->exited() && std::ranges::find(spec_->exitcodes, exit_->code) != spec_->exitcodes.end();
}

std::string Instance::exitText() const { return exit_ ? exit_->str() : "exit status unknown"; }

// The one place that changes the phase (but for spawn(), which enters STARTING quietly until the host's answer
// comes here): cancels the deadline of the old phase, arms the new phase's own
// (STARTING: starttime, BACKOFF: the retry delay, STOPPING: stoptime then kKillTimeout), and appends the
// transition to the listener's outbox. Nobody is called back from here, so callers go on without re-checking.
void Instance::setState(Phase to, std::string reason, bool expected) {
  const ProcessState from = std::exchange(published_, toPublic(to));
  phase_ = to;
  timer_->cancel();
  switch (to) {
    case Phase::starting:
      if (child_ && spec_->starttime.count() > 0) timer_->arm(spec_->starttime);
      break;
    case Phase::backoff: timer_->arm(backoffDelay_); break;
    case Phase::fatal:
      if (spec_->fatalRetry > Duration::zero()) timer_->arm(spec_->fatalRetry);
      break;
    case Phase::stoppingTerm: timer_->arm(spec_->stoptime); break;
    case Phase::stoppingKill: timer_->arm(kKillTimeout); break;
    default: break;
  }
  if (!reason.empty()) reason_ = reason;
  StateChange change{spec_->name, name_, index_, from, state(), child_ ? child_->pid() : 0, {}, expected,
                     std::move(reason), host_.wallNow(), retries_, {}, spec_};
  if (std::exchange(exitPending_, false)) {  // the transition the exit caused carries it
    change.exit = exit_;
    change.pid = exitPid_;
  }
  if (to == Phase::backoff) change.retryIn = backoffDelay_;
  if (to == Phase::fatal) change.retryIn = spec_->fatalRetry;  // 0: no retry
  listener_.publish(*this, std::move(change));
}

InstanceStatus Instance::status() const {
  InstanceStatus s;
  s.program = spec_->name;
  s.instance = name_;
  s.index = index_;
  s.state = state();
  s.pid = child_ ? child_->pid() : 0;
  s.startTime = startedWall_;
  if (child_) s.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(host_.now() - startedAt_);
  s.lastExit = lastExit_;
  s.lastExitTime = lastExitWall_;
  s.restarts = restarts_;
  s.reason = reason_;
  return s;
}

}  // namespace taskmaster::inline v0::detail
