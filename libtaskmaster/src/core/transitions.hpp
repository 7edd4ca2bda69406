// Internal: the state machine of an instance as data. Phases refine the public ProcessState (the three
// STOPPING phases are one public state); every (phase, event) pair maps to one action, and a pair that is not
// in kTransitions is rejected in one place (Instance::dispatch). docs/state-machine.md shows this table, and a
// unit test fails when the two differ.
#pragma once

#include "private.hpp"

#include <array>
#include <cstddef>
#include <string_view>

#include <taskmaster/state.hpp>

namespace taskmaster::inline v0::detail {

enum class Phase {
  stopped,
  starting,
  running,
  backoff,
  stoppingTerm,     // stopsignal sent; stoptime → SIGKILL
  stoppingKill,     // SIGKILL sent; kKillTimeout → reported as overdue
  stoppingOverdue,  // still alive after SIGKILL (uninterruptible sleep): waits for the exit, no deadline
  exited,
  fatal,
};
inline constexpr std::size_t kPhaseCount = 9;

enum class Event {
  start,        // user: want it up
  stop,         // user: want it down
  restart,      // user: down if up, then up
  spawned,      // a process was spawned (STARTING)
  spawnFailed,  // no process could be spawned (STARTING)
  exit,         // the process exited
  deadline,     // the deadline of the current phase passed
  ready,        // the readiness check (`ready`) passed
  notReady,     // `ready.timeout` passed before it did (STARTING's deadline when the spec has `ready`)
  unhealthy,    // the health check failed `retries` times in a row
};
inline constexpr std::size_t kEventCount = 10;

// systemd's enter* verbs: each names what it does, and moves to the phase it names.
enum class Action {
  reject,            // not in the table: nothing happens
  enterStart,        // want up, fresh retries, spawn
  enterRetry,        // the retry delay passed: spawn again
  enterFatalRetry,   // fatal_retry passed in FATAL: fresh retries, spawn again
  enterStartPeriod,  // spawned: wait for starttime (RUNNING at once when it is 0)
  enterFailedStart,  // BACKOFF, or FATAL after startretries
  enterRunning,      // up for starttime: retries reset
  enterExited,       // exited from RUNNING; autorestart decides what comes next
  enterStopping,     // want down, stopsignal, arm stoptime
  enterRestart,      // want up, stopsignal, arm stoptime: start again once down
  enterKill,         // stoptime passed: SIGKILL, arm kKillTimeout
  enterOverdue,      // still alive kKillTimeout after SIGKILL: reported, then wait
  enterStopped,      // the exit that ends a stop: STOPPED, then start again when want is up
  cancelRetry,       // stop in BACKOFF: want down, STOPPED
  wantUp,            // during a stop: start again once down
  wantDown,          // during a stop: stay down
  enterNotReady,     // not ready in time: stopsignal, arm stoptime; a failed start once down
  enterUnhealthy,    // unhealthy: restarted as by `restart` when autorestart is not never
};
inline constexpr std::size_t kActionCount = 18;

struct Transition {
  Phase phase;
  Event event;
  Action action;
};

// Top to bottom, by phase. Pairs not listed are rejected.
inline constexpr Transition kTransitions[] = {
    {Phase::stopped, Event::start, Action::enterStart},
    {Phase::stopped, Event::restart, Action::enterStart},

    {Phase::starting, Event::stop, Action::enterStopping},
    {Phase::starting, Event::restart, Action::enterRestart},
    {Phase::starting, Event::spawned, Action::enterStartPeriod},
    {Phase::starting, Event::spawnFailed, Action::enterFailedStart},
    {Phase::starting, Event::exit, Action::enterFailedStart},
    {Phase::starting, Event::deadline, Action::enterRunning},
    {Phase::starting, Event::ready, Action::enterRunning},
    {Phase::starting, Event::notReady, Action::enterNotReady},

    {Phase::running, Event::stop, Action::enterStopping},
    {Phase::running, Event::restart, Action::enterRestart},
    {Phase::running, Event::exit, Action::enterExited},
    {Phase::running, Event::unhealthy, Action::enterUnhealthy},

    {Phase::backoff, Event::start, Action::enterStart},
    {Phase::backoff, Event::stop, Action::cancelRetry},
    {Phase::backoff, Event::restart, Action::enterStart},
    {Phase::backoff, Event::deadline, Action::enterRetry},

    {Phase::stoppingTerm, Event::start, Action::wantUp},
    {Phase::stoppingTerm, Event::stop, Action::wantDown},
    {Phase::stoppingTerm, Event::restart, Action::wantUp},
    {Phase::stoppingTerm, Event::exit, Action::enterStopped},
    {Phase::stoppingTerm, Event::deadline, Action::enterKill},

    {Phase::stoppingKill, Event::start, Action::wantUp},
    {Phase::stoppingKill, Event::stop, Action::wantDown},
    {Phase::stoppingKill, Event::restart, Action::wantUp},
    {Phase::stoppingKill, Event::exit, Action::enterStopped},
    {Phase::stoppingKill, Event::deadline, Action::enterOverdue},

    {Phase::stoppingOverdue, Event::start, Action::wantUp},
    {Phase::stoppingOverdue, Event::stop, Action::wantDown},
    {Phase::stoppingOverdue, Event::restart, Action::wantUp},
    {Phase::stoppingOverdue, Event::exit, Action::enterStopped},

    {Phase::exited, Event::start, Action::enterStart},
    {Phase::exited, Event::restart, Action::enterStart},

    {Phase::fatal, Event::start, Action::enterStart},
    {Phase::fatal, Event::restart, Action::enterStart},
    {Phase::fatal, Event::deadline, Action::enterFatalRetry},
};

using ActionTable = std::array<std::array<Action, kEventCount>, kPhaseCount>;

// kTransitions as s6's actions[state][event]; a pair listed twice does not compile.
consteval ActionTable makeActionTable() {
  ActionTable table{};  // Action::reject is 0
  for (const Transition& t : kTransitions) {
    auto& cell = table[static_cast<std::size_t>(t.phase)][static_cast<std::size_t>(t.event)];
    if (cell != Action::reject) throw "kTransitions lists a (phase, event) pair twice";
    cell = t.action;
  }
  return table;
}
inline constexpr ActionTable kActions = makeActionTable();

[[nodiscard]] constexpr Action actionFor(Phase phase, Event event) {
  return kActions[static_cast<std::size_t>(phase)][static_cast<std::size_t>(event)];
}

// systemd's state_translation_table: what observers and status see.
inline constexpr std::array<ProcessState, kPhaseCount> kPublicState{
    ProcessState::stopped,  ProcessState::starting, ProcessState::running,
    ProcessState::backoff,  ProcessState::stopping, ProcessState::stopping,
    ProcessState::stopping, ProcessState::exited,   ProcessState::fatal};

[[nodiscard]] constexpr ProcessState toPublic(Phase phase) { return kPublicState[static_cast<std::size_t>(phase)]; }

// A process is alive, or a start is scheduled.
[[nodiscard]] constexpr bool isActive(ProcessState s) {
  return s == ProcessState::starting || s == ProcessState::running || s == ProcessState::backoff ||
         s == ProcessState::stopping;
}

// User requests, as opposed to what the host reports: a rejected request is an answer ("already started"),
// a rejected report is a bug.
[[nodiscard]] constexpr bool isRequest(Event e) {
  return e == Event::start || e == Event::stop || e == Event::restart;
}

inline constexpr std::array<std::string_view, kPhaseCount> kPhaseNames{
    "stopped", "starting", "running", "backoff", "stoppingTerm", "stoppingKill", "stoppingOverdue", "exited", "fatal"};
inline constexpr std::array<std::string_view, kEventCount> kEventNames{
    "start", "stop", "restart", "spawned", "spawnFailed", "exit", "deadline", "ready", "notReady", "unhealthy"};
inline constexpr std::array<std::string_view, kActionCount> kActionNames{
    "reject",       "enterStart",    "enterRetry",    "enterFatalRetry",  "enterStartPeriod", "enterFailedStart",
    "enterRunning", "enterExited",   "enterStopping", "enterRestart",     "enterKill",
    "enterOverdue", "enterStopped",  "cancelRetry",   "wantUp",           "wantDown",
    "enterNotReady", "enterUnhealthy"};
static_assert(static_cast<std::size_t>(Phase::fatal) + 1 == kPhaseCount);
static_assert(static_cast<std::size_t>(Event::unhealthy) + 1 == kEventCount);
static_assert(static_cast<std::size_t>(Action::enterUnhealthy) + 1 == kActionCount);

[[nodiscard]] constexpr std::string_view to_string(Phase p) { return kPhaseNames[static_cast<std::size_t>(p)]; }
[[nodiscard]] constexpr std::string_view to_string(Event e) { return kEventNames[static_cast<std::size_t>(e)]; }
[[nodiscard]] constexpr std::string_view to_string(Action a) { return kActionNames[static_cast<std::size_t>(a)]; }

}  // namespace taskmaster::inline v0::detail
