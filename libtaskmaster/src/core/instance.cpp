#include "core/instance.hpp"

#include <algorithm>
#include <csignal>

#include <fmt/format.h>

namespace taskmaster::inline v0::detail {

Instance::Instance(Host& host, std::shared_ptr<const ProgramSpec> spec, int index)
    : host_(host),
      spec_(std::move(spec)),
      index_(index),
      name_(spec_->instanceName(index)),
      timer_(host.makeTimer([this] { onDeadline(); })) {}

Instance::~Instance() = default;

bool Instance::active() const {
  switch (state_) {
    case ProcessState::starting:
    case ProcessState::running:
    case ProcessState::backoff:
    case ProcessState::stopping: return true;
    default: return false;
  }
}

bool Instance::start() {
  switch (state_) {
    case ProcessState::stopped:
    case ProcessState::exited:
    case ProcessState::fatal:
    case ProcessState::backoff:
      retries_ = 0;
      spawn();
      return true;
    case ProcessState::stopping:
      startAfterStop_ = true;
      return true;
    case ProcessState::starting:
    case ProcessState::running: return false;
  }
  return false;
}

bool Instance::stop() {
  switch (state_) {
    case ProcessState::starting:
    case ProcessState::running:
      startAfterStop_ = false;
      setState(ProcessState::stopping);
      sendStopSignal();
      return true;
    case ProcessState::backoff:
      setState(ProcessState::stopped);
      return true;
    case ProcessState::stopping:
      startAfterStop_ = false;
      return true;
    case ProcessState::stopped:
    case ProcessState::exited:
    case ProcessState::fatal: return false;
  }
  return false;
}

void Instance::restart() {
  if (state_ == ProcessState::starting || state_ == ProcessState::running) {
    stop();
    startAfterStop_ = true;
  } else if (state_ == ProcessState::stopping) {
    startAfterStop_ = true;
  } else {
    start();
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
  if (restartNow && active()) restart();
}

// Spawns a process for this instance: STARTING on success, a failed start otherwise.
void Instance::spawn() {
  auto result = host_.spawn({*spec_, name_, index_}, [this](ExitStatus s) { onExit(s); });
  startedAt_ = host_.now();
  startedWall_ = host_.wallNow();
  if (!result.child) {
    setState(ProcessState::starting);
    if (state_ == ProcessState::starting) failedStart(std::move(result.error), {});
    return;
  }
  child_ = std::move(result.child);
  setState(ProcessState::starting);
  if (state_ == ProcessState::starting && spec_->starttime.count() == 0) {  // no start period: up at once
    retries_ = 0;
    setState(ProcessState::running);
  }
}

// A start that did not reach RUNNING: retry after 1 s, 2 s, 3 s ... or give up after startretries.
void Instance::failedStart(std::string reason, const std::optional<ExitStatus>& exit, int pid) {
  ++retries_;
  backoffDelay_ = retryDelay();
  if (retries_ > spec_->startretries) {
    auto why = fmt::format("{} (gave up after {} {})", reason, spec_->startretries,
                           spec_->startretries == 1 ? "retry" : "retries");
    setState(ProcessState::fatal, std::move(why), exit, false, pid);
  } else {
    setState(ProcessState::backoff, std::move(reason), exit, false, pid);
  }
}

void Instance::onExit(ExitStatus status) {
  const int pid = child_->pid();
  if (spec_->killasgroup) child_->killRemains();
  child_.reset();
  lastExit_ = status;
  lastExitWall_ = host_.wallNow();

  switch (state_) {
    case ProcessState::starting:
      failedStart(fmt::format("exited too quickly ({})", status.str()), status, pid);
      return;
    case ProcessState::running: {
      const bool expected = expectedExit(status);
      setState(ProcessState::exited, expected ? std::string{} : fmt::format("unexpected exit ({})", status.str()),
               status, expected, pid);
      const bool again = spec_->autorestart == AutoRestart::always ||
                         (spec_->autorestart == AutoRestart::unexpected && !expected);
      if (!again || state_ != ProcessState::exited) return;
      retries_ = 0;
      // A program that dies as soon as it is up would otherwise be respawned in a tight loop.
      if (const auto since = host_.now() - startedAt_; since < kMinRestartInterval) {
        backoffDelay_ = std::chrono::ceil<std::chrono::milliseconds>(kMinRestartInterval - since);
        setState(ProcessState::backoff,
                 fmt::format("restarting too often: next start in {} ms", backoffDelay_.count()));
        return;
      }
      ++restarts_;
      spawn();
      return;
    }
    case ProcessState::stopping:
      setState(ProcessState::stopped, {}, status, true, pid);
      if (startAfterStop_ && state_ == ProcessState::stopped) {
        startAfterStop_ = false;
        retries_ = 0;
        spawn();
      }
      return;
    default:
      return;  // unreachable: only STARTING, RUNNING and STOPPING own a process
  }
}

// The deadline of the current state has passed.
void Instance::onDeadline() {
  switch (state_) {
    case ProcessState::starting:
      retries_ = 0;
      setState(ProcessState::running);
      return;
    case ProcessState::backoff:
      ++restarts_;
      spawn();
      return;
    case ProcessState::stopping:
      // Still alive after stoptime: SIGKILL once, and wait for the exit (no further deadline).
      child_->signal(SIGKILL, spec_->killasgroup);
      reason_ = fmt::format("killed with SIGKILL: still running {} ms after SIG{}", spec_->stoptime.count(),
                            signalName(spec_->stopsignal));
      host_.publish(*this, {spec_->name, name_, index_, state_, state_, child_->pid(), {}, true, reason_, host_.wallNow(),
                            retries_, {}, spec_});
      return;
    default:
      return;  // setState() cancels the deadline of every state it leaves
  }
}

void Instance::sendStopSignal() {
  if (child_) child_->signal(spec_->stopsignal, spec_->stopasgroup);
}

// supervisord's rule: the n-th failed start in a row waits n seconds.
std::chrono::milliseconds Instance::retryDelay() const { return std::chrono::seconds(retries_); }

bool Instance::expectedExit(const ExitStatus& status) const {
  return status.exited() && std::ranges::find(spec_->exitcodes, status.code) != spec_->exitcodes.end();
}

// The one place that changes state: cancels the deadline of the old state, arms the new state's own
// (STARTING: starttime, BACKOFF: the retry delay, STOPPING: stoptime), then tells the host. Observers may
// call back into this instance, so callers check state_ before doing anything after setState().
void Instance::setState(ProcessState to, std::string reason, const std::optional<ExitStatus>& exit, bool expected,
                        int pid) {
  const ProcessState from = state_;
  state_ = to;
  if (pid == 0 && child_) pid = child_->pid();
  timer_->cancel();
  switch (to) {
    case ProcessState::starting:
      if (child_ && spec_->starttime.count() > 0) timer_->arm(spec_->starttime);
      break;
    case ProcessState::backoff: timer_->arm(backoffDelay_); break;
    case ProcessState::stopping: timer_->arm(spec_->stoptime); break;
    default: break;
  }
  if (!reason.empty()) reason_ = reason;
  StateChange change{spec_->name, name_, index_, from, to, pid, exit, expected, std::move(reason),
                     host_.wallNow(), retries_, {}, spec_};
  if (to == ProcessState::backoff) change.retryIn = backoffDelay_;
  host_.publish(*this, change);
}

InstanceStatus Instance::status() const {
  InstanceStatus s;
  s.program = spec_->name;
  s.instance = name_;
  s.index = index_;
  s.state = state_;
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
