// The transition table itself: every (phase, event) cell walked on the fake host, the public mapping, and
// docs/state-machine.md checked against the table.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/instance.hpp"
#include "core/transitions.hpp"
#include "fake_host.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using namespace taskmaster::detail;
using taskmaster::ExitStatus;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;

namespace {

constexpr std::array kAllPhases{Phase::stopped,         Phase::starting, Phase::running,
                                Phase::backoff,         Phase::stoppingTerm, Phase::stoppingKill,
                                Phase::stoppingOverdue, Phase::exited,   Phase::fatal};
constexpr std::array kAllEvents{Event::start,       Event::stop, Event::restart,  Event::spawned, Event::spawnFailed,
                                Event::exit,        Event::deadline, Event::ready, Event::notReady,
                                Event::unhealthy};
static_assert(kAllPhases.size() == kPhaseCount && kAllEvents.size() == kEventCount);

const ExitStatus kExit1{1, 0, false};

struct Rig {
  explicit Rig(ProgramSpec s) : spec(std::make_shared<const ProgramSpec>(std::move(s))), web(host.fake, host, spec, 0) {}
  test::InstanceHost host;
  std::shared_ptr<const ProgramSpec> spec;
  Instance web;

  int pid() { return web.status().pid; }
  // Brings the instance into `phase` through ordinary events only.
  void reach(Phase phase) {
    switch (phase) {
      case Phase::stopped: break;
      case Phase::starting: web.start(); break;
      case Phase::running: web.start(); host.advance(spec->starttime); break;
      case Phase::backoff: web.start(); host.exit(pid(), kExit1); break;
      case Phase::stoppingTerm: web.start(); web.stop(); break;
      case Phase::stoppingKill: reach(Phase::stoppingTerm); host.advance(spec->stoptime); break;
      case Phase::stoppingOverdue: reach(Phase::stoppingKill); host.advance(kKillTimeout); break;
      case Phase::exited: reach(Phase::running); host.exit(pid(), kExit1); break;
      case Phase::fatal:
        web.start();
        for (int i = 0; i <= spec->startretries; ++i) {
          if (i > 0) host.advance(std::chrono::seconds(i));
          host.exit(pid(), kExit1);
        }
        break;
    }
    REQUIRE_MESSAGE(web.phase() == phase, "reached " << to_string(web.phase()) << " instead of " << to_string(phase));
  }
};

ProgramSpec walkSpec() {
  return {.name = "web", .cmd = {"web"}, .autorestart = taskmaster::AutoRestart::never, .starttime = 1s,
          .startretries = 1, .fatalRetry = 1min, .stoptime = 10s};  // fatalRetry: FATAL owns a deadline
}

// Where each action may lead (with walkSpec: starttime 1 s, no autorestart, fatal_retry 1 min, spawns that
// succeed).
std::set<Phase> destinations(Action a, Phase from) {
  switch (a) {
    case Action::reject: return {from};
    case Action::enterStart:
    case Action::enterRetry:
    case Action::enterFatalRetry:
    case Action::enterStartPeriod: return {Phase::starting};
    case Action::enterFailedStart: return {Phase::backoff, Phase::fatal};
    case Action::enterRunning: return {Phase::running};
    case Action::enterExited: return {Phase::exited};
    case Action::enterStopping:
    case Action::enterRestart: return {Phase::stoppingTerm};
    case Action::enterKill: return {Phase::stoppingKill};
    case Action::enterOverdue: return {Phase::stoppingOverdue};
    case Action::enterStopped: return {Phase::stopped};
    case Action::cancelRetry: return {Phase::stopped};
    case Action::wantUp:
    case Action::wantDown: return {from};
    case Action::enterNotReady: return {Phase::stoppingTerm};
    case Action::enterUnhealthy: return {Phase::running};  // walkSpec: autorestart never
  }
  return {};
}

// Drives one event the way it happens in real life where the table accepts it.
bool drive(Rig& rig, Event e) {
  switch (e) {
    case Event::start: return rig.web.start();
    case Event::stop: return rig.web.stop();
    case Event::restart: return rig.web.restart();
    case Event::exit:
      REQUIRE(rig.host.alive(rig.pid()));
      rig.host.exit(rig.pid(), kExit1);
      return true;
    case Event::deadline: REQUIRE(rig.host.fake.fireNext()); return true;
    case Event::spawned: return rig.web.handle(e);  // again: the start period goes on
    case Event::ready:                              // the readiness check passed, in time or not
    case Event::notReady:
    case Event::unhealthy: return rig.web.handle(e);  // the health check failed `retries` times
    case Event::spawnFailed: break;                 // walked on its own below: it needs a spawn that fails
  }
  FAIL("no natural driver for " << to_string(e));
  return false;
}

std::string markdownTable() {
  std::string out = "| phase (public state) |";
  for (Event e : kAllEvents) out += fmt::format(" {} |", to_string(e));
  out += "\n|---|";
  for (std::size_t i = 0; i < kEventCount; ++i) out += "---|";
  out += "\n";
  for (Phase p : kAllPhases) {
    out += fmt::format("| {} ({}) |", to_string(p), to_string(toPublic(p)));
    for (Event e : kAllEvents) {
      const Action a = actionFor(p, e);
      out += a == Action::reject ? std::string(" – |") : fmt::format(" {} |", to_string(a));
    }
    out += "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("every (phase, event) cell does what the table says, and a rejected one changes nothing") {
  int walked = 0;
  for (Phase phase : kAllPhases) {
    for (Event event : kAllEvents) {
      const Action action = actionFor(phase, event);
      CAPTURE(to_string(phase));
      CAPTURE(to_string(event));
      CAPTURE(to_string(action));
      ++walked;
      if (event == Event::spawnFailed && action != Action::reject) {
        // Only a spawn produces it, right after STARTING is entered.
        Rig rig(walkSpec());
        rig.host.failSpawns = true;
        CHECK(rig.web.start());
        CHECK(rig.host.states() == std::vector<ProcessState>{ProcessState::starting, ProcessState::backoff});
        CHECK(destinations(action, phase).contains(rig.web.phase()));
        continue;
      }
      Rig rig(walkSpec());
      rig.reach(phase);
      const auto changes = rig.host.changes.size();
      const auto spawns = rig.host.spawns;
      const auto signals = rig.host.signals.size();
      const auto timer = rig.host.fake.armedTimers();
      if (action == Action::reject) {
        const auto logs = rig.host.logs.size();
        CHECK_FALSE(rig.web.handle(event));
        // Logged in the one place that rejects: a request at debug level, anything else as the bug it is.
        REQUIRE(rig.host.logs.size() == logs + 1);
        CHECK(rig.host.logs.back().first == (isRequest(event) ? taskmaster::LogLevel::debug : taskmaster::LogLevel::error));
        CHECK(rig.host.logs.back().second ==
              fmt::format("web: {} rejected in phase {}", to_string(event), to_string(phase)));
        CHECK(rig.web.phase() == phase);
        CHECK(rig.host.changes.size() == changes);
        CHECK(rig.host.spawns == spawns);
        CHECK(rig.host.signals.size() == signals);
        CHECK(rig.host.fake.armedTimers() == timer);
        continue;
      }
      CHECK(drive(rig, event));
      CHECK_MESSAGE(destinations(action, phase).contains(rig.web.phase()), "now " << to_string(rig.web.phase()));
      if (action == Action::wantUp || action == Action::enterRestart || action == Action::enterStart)
        CHECK(rig.web.want() == Want::up);
      if (action == Action::wantDown || action == Action::enterStopping || action == Action::cancelRetry)
        CHECK(rig.web.want() == Want::down);
    }
  }
  CHECK(walked == static_cast<int>(kPhaseCount * kEventCount));
}

TEST_CASE("phases map onto the public states; the three STOPPING phases are one STOPPING") {
  CHECK(toPublic(Phase::stoppingTerm) == ProcessState::stopping);
  CHECK(toPublic(Phase::stoppingKill) == ProcessState::stopping);
  CHECK(toPublic(Phase::stoppingOverdue) == ProcessState::stopping);
  std::set<ProcessState> seen;
  for (Phase p : kAllPhases) seen.insert(toPublic(p));
  CHECK(seen.size() == static_cast<std::size_t>(taskmaster::kProcessStateCount));  // every public state is some phase
  for (Phase p : kAllPhases) {
    CAPTURE(to_string(p));
    // Requests are answered in every phase: either acted on or rejected as "nothing to do".
    const bool down = !isActive(toPublic(p));
    CHECK((actionFor(p, Event::start) != Action::reject) == (down || p == Phase::backoff || toPublic(p) == ProcessState::stopping));
    // Exits only come where a process is alive.
    const bool hasProcess = p == Phase::starting || p == Phase::running || toPublic(p) == ProcessState::stopping;
    CHECK((actionFor(p, Event::exit) != Action::reject) == hasProcess);
  }
}

TEST_CASE("docs/state-machine.md shows the transition table as the code has it") {
  std::ifstream in(std::string(TM_SOURCE_ROOT) + "/docs/state-machine.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const std::string begin = "<!-- transition table: generated from core/transitions.hpp, checked by tests -->\n";
  const auto from = doc.find(begin);
  REQUIRE(from != std::string::npos);
  const auto to = doc.find("\n\n", from);
  const std::string shown = doc.substr(from + begin.size(), to - from - begin.size() + 1);
  CHECK_MESSAGE(shown == markdownTable(), "docs/state-machine.md should have:\n" << markdownTable());
}
