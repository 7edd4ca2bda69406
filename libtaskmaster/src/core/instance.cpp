#include "core/instance.hpp"

#include <algorithm>
#include <csignal>
#include <exception>
#include <limits>
#include <mutex>
#include <unordered_map>

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

// `ready: {log: REGEX}` compiled once per spec version, whatever its number of instances and spawns. Null
// when it does not compile (validate() reports it): no line matches.
std::shared_ptr<const std::regex> readyPattern(const std::shared_ptr<const ProgramSpec>& spec) {
  struct Compiled {
    std::weak_ptr<const ProgramSpec> spec;
    std::shared_ptr<const std::regex> pattern;
  };
  static std::mutex mutex;  // Supervisors may run on threads of their own
  static std::unordered_map<const ProgramSpec*, Compiled> cache;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(spec.get()); it != cache.end() && !it->second.spec.expired()) return it->second.pattern;
  std::erase_if(cache, [](const auto& entry) { return entry.second.spec.expired(); });
  std::shared_ptr<const std::regex> pattern;
  try {
    pattern = std::make_shared<const std::regex>(spec->ready->target, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error&) {
  }
  cache[spec.get()] = {spec, pattern};
  return pattern;
}

ProbeRequest::Kind probeKind(Readiness::Kind kind) {
  switch (kind) {
    case Readiness::Kind::tcp: return ProbeRequest::Kind::tcp;
    case Readiness::Kind::http: return ProbeRequest::Kind::http;
    default: return ProbeRequest::Kind::exec;
  }
}

ProbeRequest::Kind probeKind(HealthCheck::Kind kind) {
  switch (kind) {
    case HealthCheck::Kind::tcp: return ProbeRequest::Kind::tcp;
    case HealthCheck::Kind::http: return ProbeRequest::Kind::http;
    case HealthCheck::Kind::exec: return ProbeRequest::Kind::exec;
  }
  return ProbeRequest::Kind::exec;
}

}  // namespace

Instance::Instance(Host& host, Listener& listener, std::shared_ptr<const ProgramSpec> spec, int index,
                   ForwardHolder forward)
    : host_(host),
      listener_(listener),
      spec_(std::move(spec)),
      index_(index),
      name_(spec_->instanceName(index)),
      output_(std::make_shared<InstanceOutput>(name_, std::move(forward))),
      timer_(host.makeTimer([this] { onDeadline(); })),
      probeTimer_(host.makeCoalescedTimer([this] {
        if (phase_ == Phase::starting) return probeReadiness();
        checkHealth();
      })) {
  configureOutput();
}

// A file that cannot be opened is reported now and tried again at each spawn, which fails until it opens.
void Instance::configureOutput() {
  if (auto error = output_->configure(*spec_, index_); !error.empty())
    listener_.log(LogLevel::warn, fmt::format("{}: {}", name_, error));
}

Instance::~Instance() { output_->unwatchLines(); }

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
    case Action::enterNotReady: return enterNotReady();
    case Action::enterUnhealthy: return enterUnhealthy();
  }
}

bool Instance::signal(int sig) {
  if (!child_) return false;
  child_->signal(sig, false);
  return true;
}

void Instance::setSpec(std::shared_ptr<const ProgramSpec> spec, bool restartNow) {
  const bool newCheck = spec->healthcheck != spec_->healthcheck;
  spec_ = std::move(spec);
  name_ = spec_->instanceName(index_);
  configureOutput();
  if (child_) child_->setKillGroupOnExit(spec_->killasgroup);
  // A new healthcheck applies at once: checks start over with it. A new `ready` applies from the next start.
  if (newCheck && phase_ == Phase::running && !restartNow) {
    HandlerScope scope(depth_, listener_);
    stopHealth();
    startHealth();
  }
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
  auto pending = host_.requestSpawn({spec_, name_, index_, output_, [this](Notice n) { onNotice(std::move(n)); }},
                                    [this](SpawnResult r) { onSpawned(std::move(r)); },
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
  statusText_.clear();
  readiness_ = child_ ? spec_->ready : std::nullopt;  // this spawn's: a reload applies from the next one
  setState(Phase::starting);
  dispatch(child_ ? Event::spawned : Event::spawnFailed);
}

// True when a spawn was requested and not answered: it is withdrawn, and no process exists.
bool Instance::withdrawSpawn() {
  if (!std::exchange(spawnQueued_, false)) return false;
  pendingSpawn_.reset();
  return true;
}

// With `ready`, RUNNING comes with Event::ready, and starttime does not apply.
void Instance::enterStartPeriod() {
  if (readiness_) return startReadiness();
  if (spec_->starttime.count() == 0) enterRunning();  // no start period: up at once
}

// A start that did not reach RUNNING: retry after 1 s, 2 s, 3 s ... or give up after startretries (never with
// kInfiniteRetries: retries_ cannot exceed it). The process exited too soon (Event::exit), or none could be
// spawned (Event::spawnFailed).
void Instance::enterFailedStart() {
  std::string reason = !failedStart_.empty() ? std::exchange(failedStart_, {})
                       : exitPending_        ? fmt::format("exited too quickly ({})", exitText())
                                             : std::move(spawnError_);
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
  if (!failedStart_.empty()) return enterFailedStart();  // the stop of a program not ready in time
  setState(Phase::stopped);
  if (want_ == Want::up) {  // the user asked for it: fresh counts
    retries_ = 0;
    youngExits_ = 0;
    spawn();
  }
}

// A request during a stop is the user's: a stop of a program not ready in time ends as they ask, not as a
// failed start.
void Instance::wantUp() {
  want_ = Want::up;
  failedStart_.clear();
}

void Instance::wantDown() {
  want_ = Want::down;
  failedStart_.clear();
}

// Not ready after ready.timeout: a failed start, once the process is down (stopsignal, then SIGKILL after
// stoptime, as any stop). STARTING -> STOPPING -> BACKOFF (or FATAL), the reason on both changes.
void Instance::enterNotReady() {
  const auto timeout = readiness_ ? readiness_->timeout : spec_->starttime;  // only with ready, really
  failedStart_ = fmt::format("not ready after {}", formatDuration(timeout));
  if (!lastProbeFailure_.empty()) failedStart_ += fmt::format(" (last check: {})", lastProbeFailure_);
  setState(Phase::stoppingTerm, failedStart_, false);
  sendStopSignal();
}

// Unhealthy: restarted (counted in restarts) unless autorestart is never; then it stays RUNNING, unhealthy,
// and the checks go on.
void Instance::enterUnhealthy() {
  if (spec_->autorestart == AutoRestart::never) return;
  ++restarts_;
  want_ = Want::up;
  setState(Phase::stoppingTerm, "unhealthy: " + healthText_, false);
  sendStopSignal();
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
  const Phase old = std::exchange(phase_, to);
  timer_->cancel();
  if (old == Phase::starting && to != Phase::starting) stopReadiness();
  if (old == Phase::running && to != Phase::running) stopHealth();
  switch (to) {
    case Phase::starting:
      if (child_ && readiness_) {
        readyBy_ = host_.now() + readiness_->timeout;
        timer_->arm(readiness_->timeout);
      } else if (child_ && spec_->starttime.count() > 0) {
        timer_->arm(spec_->starttime);
      }
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
  if (to == Phase::running && old != Phase::running) startHealth();  // published after RUNNING
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
  s.health = health_;
  s.healthText = healthText_;
  s.statusText = statusText_;
  return s;
}

// --- readiness and health -----------------------------------------------------------------------

// STARTING's deadline is starttime, or ready.timeout when the spawn waits for readiness: then its passing is a
// failed start.
void Instance::onDeadline() { handle(phase_ == Phase::starting && readiness_ ? Event::notReady : Event::deadline); }

void Instance::startReadiness() {
  lastProbeFailure_.clear();
  switch (readiness_->kind) {
    case Readiness::Kind::notify:
    case Readiness::Kind::fd: return;  // the host reports the child's notices (onNotice)
    case Readiness::Kind::log:
      readyPattern_ = readyPattern(spec_);
      output_->watchLines([this](std::string_view line) { onOutputLine(line); });
      return;
    case Readiness::Kind::exec:
    case Readiness::Kind::tcp:
    case Readiness::Kind::http: return probeReadiness();
  }
}

void Instance::stopReadiness() {
  if (readiness_ && readiness_->kind == Readiness::Kind::log) output_->unwatchLines();
  probe_.reset();
  probeTimer_->cancel();
}

// One probe, bounded by what is left of ready.timeout; the next one `interval` after it failed.
void Instance::probeReadiness() {
  const auto left = std::chrono::duration_cast<Duration>(readyBy_ - host_.now());
  if (left <= Duration::zero()) return;  // the deadline is due: it decides
  probe_ = host_.runProbe({probeKind(readiness_->kind), readiness_->target, left, spec_, name_, index_},
                          [this](ProbeResult r) { onReadinessProbe(std::move(r)); });
}

void Instance::onReadinessProbe(ProbeResult result) {
  auto done = std::move(probe_);
  if (phase_ != Phase::starting) return;
  if (result.passed) return becomeReady();
  lastProbeFailure_ = std::move(result.reason);
  probeTimer_->arm(readiness_->interval);
}

void Instance::onNotice(Notice notice) {
  if (notice.kind == Notice::Kind::ready) {
    if (readiness_ && (readiness_->kind == Readiness::Kind::notify || readiness_->kind == Readiness::Kind::fd))
      becomeReady();
    return;
  }
  if (notice.text == statusText_) return;
  HandlerScope scope(depth_, listener_);
  statusText_ = std::move(notice.text);
  publishDetail(DetailChange::Kind::statusText, statusText_);
}

void Instance::onOutputLine(std::string_view line) {
  if (phase_ != Phase::starting || !readyPattern_) return;
  bool matched = false;
  try {
    matched = std::regex_search(line.begin(), line.end(), *readyPattern_);
  } catch (const std::regex_error& e) {  // error_complexity: the line does not count
    listener_.log(LogLevel::warn, fmt::format("{}: ready: log: {}", name_, e.what()));
  }
  if (matched) becomeReady();
}

// Only while STARTING waits for it: a READY=1 sent again later, or a line matching once RUNNING, is no event.
void Instance::becomeReady() {
  if (phase_ == Phase::starting && child_ && readiness_) handle(Event::ready);
}

// RUNNING with a healthcheck: health is starting, and the first check runs after `interval`.
void Instance::startHealth() {
  if (!spec_->healthcheck) return;
  healthFailures_ = 0;
  healthText_.clear();
  runningSince_ = host_.now();
  setHealth(Health::starting);
  probeTimer_->arm(spec_->healthcheck->interval);
}

// Out of RUNNING, health is none: the state change says so.
void Instance::stopHealth() {
  probe_.reset();
  probeTimer_->cancel();
  health_ = Health::none;
}

void Instance::checkHealth() {
  if (phase_ != Phase::running || !spec_->healthcheck) return;
  const auto& check = *spec_->healthcheck;
  probe_ = host_.runProbe({probeKind(check.kind), check.target, check.timeout, spec_, name_, index_},
                          [this](ProbeResult r) { onHealthCheck(std::move(r)); });
}

// `retries` failures in a row make it unhealthy; those within start_period of RUNNING do not count.
void Instance::onHealthCheck(ProbeResult result) {
  HandlerScope scope(depth_, listener_);
  auto done = std::move(probe_);
  if (phase_ != Phase::running || !spec_->healthcheck) return;
  const auto& check = *spec_->healthcheck;
  probeTimer_->arm(check.interval);
  if (result.passed) {
    healthFailures_ = 0;
    if (health_ != Health::healthy) setHealth(Health::healthy);
    return;
  }
  healthText_ = std::move(result.reason);
  if (host_.now() - runningSince_ < check.startPeriod) return;
  if (++healthFailures_ < check.retries || health_ == Health::unhealthy) return;
  setHealth(Health::unhealthy);
  dispatch(Event::unhealthy);
}

void Instance::setHealth(Health health) {
  health_ = health;
  publishDetail(DetailChange::Kind::health, healthText_);
}

void Instance::publishDetail(DetailChange::Kind kind, std::string text) {
  listener_.publishDetail(*this, DetailChange{kind, spec_->name, name_, index_, child_ ? child_->pid() : 0, health_,
                                              std::move(text), host_.wallNow(), spec_});
}

}  // namespace taskmaster::inline v0::detail
