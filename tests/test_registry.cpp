// The registry (programs, names, waiters, observers, retirement, shutdown) on the fake host: no fork, no
// sleep. The 10,000-instance cases bound the work per event by counting it, and by a generous time bound
// (multiplied by TM_TIME_SCALE, for sanitizer builds).
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include <taskmaster/error.hpp>

#include "core/registry.hpp"
#include "fake_host.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using taskmaster::Errc;
using taskmaster::ExitStatus;
using taskmaster::LogLevel;
using taskmaster::Outcome;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;
using taskmaster::StateChange;
using taskmaster::detail::Registry;
using Op = Registry::Op;

namespace {

ProgramSpec program(std::string name, auto&&... tweaks) {
  ProgramSpec s{.name = std::move(name), .cmd = {"run"}, .starttime = 1s, .startretries = 3, .stoptime = 10s};
  (tweaks(s), ...);
  return s;
}

const ExitStatus kTerm{0, SIGTERM, false};

struct Rig {
  test::FakeHost host;
  Registry registry{host};
  std::vector<StateChange> changes;
  std::vector<std::pair<LogLevel, std::string>> logs;
  taskmaster::Subscription sub = registry.subscribe([this](const StateChange& c) { changes.push_back(c); });

  Rig() {
    registry.setLogSink([this](LogLevel l, std::string_view m) { logs.emplace_back(l, std::string(m)); });
  }
  ProcessState state(std::string_view target) {
    std::vector<taskmaster::InstanceStatus> out;
    REQUIRE_FALSE(registry.status(target, out));
    REQUIRE(out.size() == 1);
    return out[0].state;
  }
  int pid(std::string_view target) {
    std::vector<taskmaster::InstanceStatus> out;
    REQUIRE_FALSE(registry.status(target, out));
    return out.at(0).pid;
  }
  // Every live process exits, as after a stop signal.
  void exitAll(ExitStatus status = kTerm) {
    for (int pid : host.livePids()) host.exit(pid, status);
  }
  std::optional<std::vector<Outcome>> control(std::string_view target, Op op,
                                              std::optional<std::vector<Outcome>>& into) {
    REQUIRE_FALSE(registry.control(target, op, [&into](std::vector<Outcome> o) { into = std::move(o); }));
    return into;
  }
};

double timeScale() {
  const char* s = std::getenv("TM_TIME_SCALE");
  return s ? std::max(1.0, std::atof(s)) : 1.0;
}

// Runs fn and checks that it took less than `limit` (scaled).
template <class F>
void within(std::chrono::milliseconds limit, const char* what, F&& fn) {
  const auto begin = std::chrono::steady_clock::now();
  fn();
  const auto took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin);
  MESSAGE(std::string(what) << ": " << took.count() << " ms");
  CHECK_MESSAGE(took.count() < limit.count() * timeScale(), what << " took " << took.count() << " ms");
}

}  // namespace

TEST_CASE("names resolve through the index: programs, instances, web:*, all; anything else is no such program") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web", [](ProgramSpec& s) { s.numprocs = 3; })));
  REQUIRE_FALSE(rig.registry.add(program("db")));
  std::vector<taskmaster::InstanceStatus> out;
  CHECK_FALSE(rig.registry.status("web", out));
  CHECK(out.size() == 3);
  CHECK_FALSE(rig.registry.status("web:*", out));
  CHECK(out.size() == 3);
  CHECK_FALSE(rig.registry.status("web:2", out));
  CHECK(out.at(0).instance == "web:2");
  CHECK_FALSE(rig.registry.status("all", out));
  CHECK(out.size() == 4);
  CHECK_FALSE(rig.registry.status("web:", out));  // supervisorctl's "GROUP:"
  CHECK(out.size() == 3);
  for (auto bad : {"web:3", "web:01", "web:x", "db:0", "nope", "nope:1", ":1", "db:*:*"})
    CHECK_MESSAGE(rig.registry.status(bad, out) == Errc::no_such_program, bad);
  CHECK(rig.registry.programNames() == std::vector<std::string>{"db", "web"});
  CHECK(rig.registry.instanceNames() == std::vector<std::string>{"db", "web:0", "web:1", "web:2"});
  CHECK(rig.registry.add(program("db")) == Errc::already_exists);
  CHECK(rig.registry.add(program("")) == Errc::invalid_spec);
}

TEST_CASE("groups: GROUP, GROUP:* and GROUP: name every program of the group, GROUP:PROCESS one") {
  Rig rig;
  for (auto name : {"db:main", "db:replica", "dbx", "web"}) {
    REQUIRE_FALSE(rig.registry.add(program(name)));
  }
  std::vector<taskmaster::InstanceStatus> out;
  for (auto group : {"db", "db:*", "db:"}) {
    CHECK_FALSE(rig.registry.status(group, out));
    std::vector<std::string> names;
    for (auto& s : out) names.push_back(s.instance);
    CHECK_MESSAGE((names == std::vector<std::string>{"db:main", "db:replica"}), group);
  }
  CHECK_FALSE(rig.registry.status("db:replica", out));
  CHECK(out.size() == 1);
  for (auto bad : {"d", "db:x", "db:main:0", "main"})
    CHECK_MESSAGE(rig.registry.status(bad, out) == Errc::no_such_program, bad);
}

TEST_CASE("priority: a command over many starts the lower priorities first and stops them last") {
  Rig rig;
  const std::vector<std::pair<std::string, int>> programs{{"a", 999}, {"b", 1}, {"c", 500}, {"d", 1}};
  for (auto& [name, priority] : programs) {
    REQUIRE_FALSE(rig.registry.add(program(name, [p = priority](ProgramSpec& s) { s.priority = p; })));
  }
  std::vector<std::string> order;
  auto seen = rig.registry.subscribe([&](const StateChange& c) {
    if (c.to == ProcessState::starting || c.to == ProcessState::stopping) order.push_back(c.instance);
  });
  REQUIRE_FALSE(rig.registry.control("all", Registry::Op::start, {}));
  CHECK(order == std::vector<std::string>{"b", "d", "c", "a"});
  rig.host.advance(1s);  // all RUNNING
  order.clear();
  REQUIRE_FALSE(rig.registry.control("all", Registry::Op::stop, {}));
  CHECK(order == std::vector<std::string>{"a", "c", "d", "b"});
}

TEST_CASE("a start completes once RUNNING; a stop before it is up completes the start as stopped before up") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web")));
  std::optional<std::vector<Outcome>> started, stopped;
  rig.control("web", Op::start, started);
  rig.host.runDeferred();
  CHECK_FALSE(started);
  rig.host.advance(1s);
  rig.host.runDeferred();
  REQUIRE(started);
  CHECK(started->at(0).ok);
  CHECK(started->at(0).message == "started");

  std::optional<std::vector<Outcome>> again;
  rig.control("web", Op::start, again);
  rig.host.runDeferred();
  REQUIRE(again);
  CHECK(again->at(0).message == "already started");

  rig.control("web", Op::restart, started = {});
  rig.control("web", Op::stop, stopped);
  rig.exitAll();
  rig.host.runDeferred();
  REQUIRE(started);
  CHECK_FALSE(started->at(0).ok);
  CHECK(started->at(0).message == "stopped before it was up");
  REQUIRE(stopped);
  CHECK(stopped->at(0).message == "stopped");
}

TEST_CASE("a stop completes when its instance is down, even if a restart asked meanwhile takes it up again at once") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web")));
  std::optional<std::vector<Outcome>> started, stopped, restarted;
  rig.control("web", Op::start, started);
  rig.host.advance(1s);
  rig.host.runDeferred();
  REQUIRE(started);

  rig.control("web", Op::stop, stopped);     // STOPPING
  rig.control("web", Op::restart, restarted);  // another client: up again once down
  rig.exitAll();  // STOPPED, then STARTING in the same turn
  rig.host.runDeferred();
  REQUIRE(stopped);  // settled by the STOPPED transition, though the instance is STARTING by then
  CHECK(stopped->at(0).ok);
  CHECK(stopped->at(0).message == "stopped");
  CHECK(rig.state("web") == ProcessState::starting);
  CHECK_FALSE(restarted);
  rig.host.advance(1s);
  rig.host.runDeferred();
  REQUIRE(restarted);
  CHECK(restarted->at(0).message == "started");
}

TEST_CASE("observers see complete transitions, in order, and may call back into the registry") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web")));
  std::vector<std::pair<ProcessState, ProcessState>> seen;  // (the change, the state when it is delivered)
  bool stopOnStart = true;
  auto sub = rig.registry.subscribe([&](const StateChange& c) {
    seen.emplace_back(c.to, rig.state("web"));
    if (c.to == ProcessState::starting && std::exchange(stopOnStart, false))
      (void)rig.registry.control("web", Op::stop, {});
  });
  REQUIRE_FALSE(rig.registry.control("web", Op::start, {}));
  // The stop the observer sent is delivered after the STARTING that caused it, to every observer.
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::pair{ProcessState::starting, ProcessState::starting});
  CHECK(seen[1] == std::pair{ProcessState::stopping, ProcessState::stopping});
  REQUIRE(rig.changes.size() == 2);
  CHECK(rig.changes[0].to == ProcessState::starting);
  CHECK(rig.changes[1].to == ProcessState::stopping);

  // A restart's exit goes STOPPED and STARTING in one handler: the STOPPED is heard once both are done.
  seen.clear();
  rig.host.exit(rig.pid("web"), kTerm);
  REQUIRE_FALSE(rig.registry.control("web", Op::start, {}));
  rig.host.advance(1s);
  REQUIRE_FALSE(rig.registry.control("web", Op::restart, {}));
  rig.host.exit(rig.pid("web"), kTerm);
  REQUIRE(seen.size() >= 2);
  CHECK(seen[seen.size() - 2] == std::pair{ProcessState::stopped, ProcessState::starting});
  CHECK(seen.back() == std::pair{ProcessState::starting, ProcessState::starting});
}

TEST_CASE("observers hear a call's transitions once it has returned, so one may remove or reload programs") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("a")));
  REQUIRE_FALSE(rig.registry.add(program("b", [](ProgramSpec& s) { s.numprocs = 3; })));
  std::vector<std::size_t> seenDuring;
  auto remover = rig.registry.subscribe([&](const StateChange& c) {
    if (c.instance != "a" || c.to != ProcessState::starting) return;
    seenDuring.push_back(rig.changes.size());
    (void)rig.registry.remove("b");  // while `start all` is, from the observer's point of view, over
  });
  REQUIRE_FALSE(rig.registry.control("all", Op::start, {}));
  REQUIRE(seenDuring.size() == 1);
  // `start all` started every instance before any observer ran; removing b then stops all three.
  CHECK(rig.host.spawns == 4);
  CHECK(rig.registry.programNames() == std::vector<std::string>{"a"});
  rig.exitAll();
  CHECK(rig.registry.activeCount() == 1);  // only a is left running

  // An observer that reloads in the middle of an apply() of a changed program.
  bool armed = true;
  auto reloader = rig.registry.subscribe([&](const StateChange& c) {
    if (c.instance == "a" && std::exchange(armed, false)) (void)rig.registry.apply({});
  });
  taskmaster::Config changed;
  changed.programs = {program("a", [](ProgramSpec& s) { s.cmd = {"other"}; })};
  const auto report = rig.registry.apply(changed);
  CHECK(report.changed == std::vector<std::string>{"a"});
  CHECK_FALSE(armed);
  CHECK(rig.registry.programNames().empty());  // the observer's apply() came after, and removed it
}

TEST_CASE("apply() leaves a program whose new spec is invalid as it was, and says so") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web", [](ProgramSpec& s) { s.autostart = true; })));
  const int pid = rig.pid("web");
  taskmaster::Config bad;
  bad.programs = {program("web", [](ProgramSpec& s) { s.numprocs = 0; }),
                  program("new", [](ProgramSpec& s) { s.cmd.clear(); })};
  const auto report = rig.registry.apply(bad);
  CHECK(report.invalid == std::vector<std::string>{"web", "new"});
  CHECK(report.added.empty());
  CHECK(report.changed.empty());
  CHECK(rig.pid("web") == pid);
  CHECK(rig.registry.programNames() == std::vector<std::string>{"web"});
}

TEST_CASE("a throwing observer and a throwing completion are logged with the instance, and the others go on") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web")));
  auto thrower = rig.registry.subscribe([](const StateChange&) { throw std::runtime_error("boom"); });
  int after = 0;
  auto counter = rig.registry.subscribe([&](const StateChange&) { ++after; });
  REQUIRE_FALSE(rig.registry.control("web", Op::start, [](std::vector<Outcome>) { throw std::runtime_error("bang"); }));
  rig.host.advance(1s);
  rig.host.runDeferred();
  CHECK(after == 2);
  REQUIRE(rig.logs.size() == 3);
  CHECK(rig.logs[0] == std::pair{LogLevel::error, std::string("an observer threw on web STOPPED -> STARTING: boom")});
  CHECK(rig.logs[1] == std::pair{LogLevel::error, std::string("an observer threw on web STARTING -> RUNNING: boom")});
  CHECK(rig.logs[2] == std::pair{LogLevel::error, std::string("the completion of start web threw: bang")});
}

TEST_CASE("an observer may unsubscribe itself and others during a delivery; one added then hears the next") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web")));
  int a = 0, b = 0, late = 0;
  taskmaster::Subscription subA, subB, subLate;
  bool lateAdded = false;
  subA = rig.registry.subscribe([&](const StateChange&) {
    ++a;
    subA.reset();
    subB.reset();
    if (!std::exchange(lateAdded, true)) subLate = rig.registry.subscribe([&](const StateChange&) { ++late; });
  });
  subB = rig.registry.subscribe([&](const StateChange&) { ++b; });
  REQUIRE_FALSE(rig.registry.control("web", Op::start, {}));
  rig.host.advance(1s);
  CHECK(a == 1);
  CHECK(b == 0);
  CHECK(late == 1);  // RUNNING only
}

TEST_CASE("a removed program is stopped and destroyed once down, and its waiters are told") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web", [](ProgramSpec& s) { s.autostart = true; s.numprocs = 2; })));
  rig.host.advance(1s);
  std::optional<std::vector<Outcome>> stopped;
  rig.control("web", Op::stop, stopped);  // pending: stoptime not reached, no exit yet
  CHECK_FALSE(rig.registry.remove("web"));
  CHECK(rig.registry.remove("web") == Errc::no_such_program);
  CHECK(rig.registry.programNames().empty());
  rig.host.runDeferred();
  REQUIRE(stopped);
  CHECK(stopped->at(0).message == "removed");
  CHECK(rig.registry.retiringCount() == 2);
  CHECK(rig.registry.activeCount() == 2);
  rig.exitAll();
  CHECK(rig.registry.retiringCount() == 2);  // never destroyed inside its own call stack
  rig.host.runDeferred();
  CHECK(rig.registry.retiringCount() == 0);
  CHECK(rig.registry.activeCount() == 0);
}

TEST_CASE("shutdown completes when the last active instance is down, and refuses starts") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web", [](ProgramSpec& s) { s.autostart = true; s.numprocs = 3; })));
  REQUIRE_FALSE(rig.registry.add(program("idle")));
  int done = 0;
  rig.registry.shutdown([&] { ++done; });
  CHECK(rig.registry.control("idle", Op::start, {}) == Errc::shutting_down);
  const auto pids = rig.host.livePids();
  REQUIRE(pids.size() == 3);
  rig.host.exit(pids[0], kTerm);
  rig.host.exit(pids[1], kTerm);
  rig.host.runDeferred();
  CHECK(done == 0);
  rig.host.exit(pids[2], kTerm);
  rig.host.runDeferred();
  CHECK(done == 1);
  CHECK(rig.registry.activeCount() == 0);
}

TEST_CASE("shutdown with nothing running completes at once") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("idle")));
  bool done = false;
  rig.registry.shutdown([&] { done = true; });
  rig.host.runDeferred();
  CHECK(done);
}

TEST_CASE("an exit whose status someone else took is reported as unknown and logged, not as an exit code") {
  Rig rig;
  REQUIRE_FALSE(rig.registry.add(program("web", [](ProgramSpec& s) { s.autorestart = taskmaster::AutoRestart::never; })));
  REQUIRE_FALSE(rig.registry.control("web", Op::start, {}));
  rig.host.advance(1s);
  const int pid = rig.pid("web");
  rig.host.exitUnknown(pid);
  CHECK(rig.state("web") == ProcessState::exited);
  REQUIRE_FALSE(rig.changes.empty());
  CHECK_FALSE(rig.changes.back().exit);
  CHECK_FALSE(rig.changes.back().expected);
  CHECK(rig.changes.back().reason == "unexpected exit (exit status unknown)");
  CHECK(rig.changes.back().pid == pid);
  CHECK(rig.host.remainsKilled.empty());  // the pid may be another process's by now
  REQUIRE(rig.logs.size() == 1);
  CHECK(rig.logs[0].first == LogLevel::warn);
  CHECK(rig.logs[0].second.starts_with(fmt::format("web: pid {} was reaped by someone else", pid)));
}

// --- 10,000 instances ------------------------------------------------------------------------------

TEST_CASE("10,000 instances: start all, restart all, apply an empty config and shutdown each take O(1) per event") {
  constexpr int kN = 10'000;
  Rig rig;
  int observed = 0;
  auto counter = rig.registry.subscribe([&](const StateChange&) { ++observed; });
  within(1000ms, "add 10,000 programs", [&] {
    for (int i = 0; i < kN; ++i) REQUIRE_FALSE(rig.registry.add(program(fmt::format("p{:05}", i))));
  });
  const auto& work = rig.registry.work();

  SUBCASE("start all, then restart all") {
    std::optional<std::vector<Outcome>> started;
    within(1000ms, "start all", [&] {
      rig.control("all", Op::start, started);
      rig.host.advance(1s);
      rig.host.runDeferred();
    });
    REQUIRE(started);
    CHECK(started->size() == kN);
    CHECK(std::ranges::all_of(*started, [](auto& o) { return o.ok; }));
    CHECK(rig.registry.activeCount() == kN);
    CHECK(work.delivered == 2 * kN);       // STARTING, RUNNING
    CHECK(work.waiterChecks <= work.delivered);  // one waiter, looked at only by its own instances' events
    CHECK(observed == 2 * kN);

    std::optional<std::vector<Outcome>> restarted;
    within(1000ms, "restart all", [&] {
      rig.control("all", Op::restart, restarted);
      rig.exitAll();
      rig.host.advance(1s);
      rig.host.runDeferred();
    });
    REQUIRE(restarted);
    CHECK(std::ranges::all_of(*restarted, [](auto& o) { return o.ok && o.message == "started"; }));
    CHECK(work.delivered == 6 * kN);  // + STOPPING, STOPPED, STARTING, RUNNING
    CHECK(work.waiterChecks <= work.delivered);
    CHECK(observed == 6 * kN);
  }

  SUBCASE("one start per instance, each with its own completion: each event looks at its own waiter only") {
    int completed = 0;
    within(1000ms, "10,000 starts with 10,000 waiters", [&] {
      for (int i = 0; i < kN; ++i)
        REQUIRE_FALSE(rig.registry.control(fmt::format("p{:05}", i), Op::start, [&](auto o) { completed += o[0].ok; }));
      rig.host.advance(1s);
      rig.host.runDeferred();
    });
    CHECK(completed == kN);
    CHECK(work.delivered == 2 * kN);
    CHECK(work.waiterChecks <= work.delivered);  // not 10,000 waiters looked at per event
  }

  SUBCASE("apply an empty config: everything is removed") {
    REQUIRE_FALSE(rig.registry.control("all", Op::start, {}));
    rig.host.advance(1s);
    taskmaster::ApplyReport report;
    within(1000ms, "apply an empty config", [&] {
      report = rig.registry.apply({});
      rig.exitAll();
      rig.host.runDeferred();
    });
    CHECK(report.removed.size() == kN);
    CHECK(rig.registry.programNames().empty());
    CHECK(rig.registry.retiringCount() == 0);
    CHECK(rig.registry.activeCount() == 0);
    CHECK(work.sweeps <= 2 * kN);  // each retired instance is looked at on its own, not all per event
  }

  SUBCASE("shutdown") {
    REQUIRE_FALSE(rig.registry.control("all", Op::start, {}));
    rig.host.advance(1s);
    bool done = false;
    within(1000ms, "shutdown", [&] {
      rig.registry.shutdown([&] { done = true; });
      rig.exitAll();
      rig.host.runDeferred();
    });
    CHECK(done);
    CHECK(rig.registry.activeCount() == 0);
    CHECK(work.delivered == 4 * kN);  // STARTING, RUNNING, STOPPING, STOPPED
  }
}

TEST_CASE("a spawn answered later: STARTING is published with its pid; meanwhile a start adds no request, a stop "
          "withdraws it and a restart renews it") {
  Rig rig;
  rig.host.deferSpawns = true;
  REQUIRE_FALSE(rig.registry.add(program("web", [](ProgramSpec& s) { s.numprocs = 3; })));
  std::optional<std::vector<Outcome>> started, again, stopped;
  rig.control("web", Op::start, started);
  CHECK(rig.host.queuedSpawns() == 3);
  CHECK(rig.changes.empty());  // nothing to tell before the host answers
  CHECK(rig.state("web:0") == ProcessState::starting);
  CHECK(rig.pid("web:0") == 0);

  rig.control("web:0", Op::start, again);
  CHECK(rig.host.queuedSpawns() == 3);
  rig.control("web:1", Op::stop, stopped);
  rig.host.runDeferred();
  REQUIRE(stopped);
  CHECK(stopped->at(0).message == "stopped");
  CHECK(rig.state("web:1") == ProcessState::stopped);
  REQUIRE_FALSE(rig.registry.control("web:2", Op::restart, {}));
  CHECK(rig.host.queuedSpawns() == 2);  // web:1's withdrawn; web:2's withdrawn and asked again

  CHECK(rig.host.answerSpawns() == 2);
  CHECK(rig.host.spawns == 2);
  std::vector<std::string> spawned;
  for (const auto& c : rig.changes) {
    if (c.to != ProcessState::starting) continue;
    CHECK(c.from == ProcessState::stopped);
    CHECK(c.pid != 0);
    spawned.push_back(c.instance);
  }
  CHECK(spawned == std::vector<std::string>{"web:0", "web:2"});
  rig.host.advance(1s);
  rig.host.runDeferred();
  REQUIRE(started);
  CHECK(started->at(0).message == "started");
  CHECK(started->at(1).message == "stopped before it was up");
  CHECK(started->at(2).message == "started");
  REQUIRE(again);
  CHECK(again->at(0).message == "started");
  CHECK(rig.registry.activeCount() == 2);
}

TEST_CASE("a spawn error answered later is a failed start; a removed program's requests are never served") {
  Rig rig;
  rig.host.deferSpawns = true;
  rig.host.failSpawns = true;
  REQUIRE_FALSE(rig.registry.add(program("web")));
  REQUIRE_FALSE(rig.registry.control("web", Op::start, {}));
  CHECK(rig.host.answerSpawns() == 1);
  REQUIRE(rig.changes.size() == 2);
  CHECK(rig.changes[0].to == ProcessState::starting);
  CHECK(rig.changes[1].to == ProcessState::backoff);
  CHECK(rig.changes[1].reason == "spawn error: /nope: No such file or directory");

  rig.host.failSpawns = false;
  REQUIRE_FALSE(rig.registry.add(program("db", [](ProgramSpec& s) { s.numprocs = 4; })));
  REQUIRE_FALSE(rig.registry.control("db", Op::start, {}));
  CHECK(rig.host.queuedSpawns() == 4);
  REQUIRE_FALSE(rig.registry.remove("db"));
  rig.host.runDeferred();
  CHECK(rig.host.queuedSpawns() == 0);
  CHECK(rig.host.answerSpawns() == 0);
  CHECK(rig.host.livePids().empty());
  CHECK(rig.registry.programNames() == std::vector<std::string>{"web"});
}
