// depends_on on the fake host (docs/dependencies.md): start order, each condition, waiting and failed
// dependencies, cycles and unknown names refused, stop order, and reload. No fork, no sleep.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/error.hpp>

#include "core/dependencies.hpp"
#include "core/registry.hpp"
#include "fake_host.hpp"

using namespace std::chrono_literals;
using namespace taskmaster;  // NOLINT(google-build-using-namespace): the public types, by their names
using taskmaster::detail::Registry;
using Op = Registry::Op;

namespace {

const ExitStatus kTerm{0, SIGTERM, false};

ProgramSpec program(std::string name, std::vector<taskmaster::Dependency> dependsOn = {}) {
  return ProgramSpec{.name = std::move(name), .cmd = {"run"}, .autostart = true, .starttime = 1s,
                     .startretries = 0, .stoptime = 10s, .dependsOn = std::move(dependsOn)};
}

// A one-shot: RUNNING at once, so that its exit is an EXITED and not a failed start; not run again.
ProgramSpec oneShot(std::string name) {
  auto spec = program(std::move(name));
  spec.starttime = 0s;
  spec.autorestart = AutoRestart::never;
  return spec;
}

struct Rig {
  test::FakeHost host;
  Registry registry{host};
  std::vector<std::string> events;  // "web STARTING", "web waiting: waiting for db", in delivery order
  std::vector<std::pair<LogLevel, std::string>> logs;
  taskmaster::Subscription states = registry.subscribe([this](const StateChange& c) {
    events.push_back(fmt::format("{} {}", c.instance, to_string(c.to)));
  });
  taskmaster::Subscription details = registry.subscribeDetails([this](const DetailChange& d) {
    events.push_back(fmt::format("{} {}: {}", d.instance, to_string(d.kind), d.text));
  });

  Rig() {
    registry.setLogSink([this](LogLevel l, std::string_view m) { logs.emplace_back(l, std::string(m)); });
  }
  taskmaster::ApplyReport apply(std::vector<ProgramSpec> programs) {
    Config config;
    config.programs = std::move(programs);
    return registry.apply(config);
  }
  InstanceStatus status(std::string_view target) {
    std::vector<InstanceStatus> out;
    REQUIRE_FALSE(registry.status(target, out));
    REQUIRE(out.size() == 1);
    return out[0];
  }
  ProcessState state(std::string_view target) { return status(target).state; }
  std::string waiting(std::string_view target) { return status(target).waiting; }
  void exit(std::string_view target, ExitStatus how = kTerm) {
    const int pid = status(target).pid;
    REQUIRE(pid > 0);
    host.exit(pid, how);
    host.runDeferred();
  }
  void control(std::string_view target, Op op, std::optional<std::vector<Outcome>>& into) {
    REQUIRE_FALSE(registry.control(target, op, [&into](std::vector<Outcome> o) { into = std::move(o); }));
    host.runDeferred();
  }
  // The events since the last call.
  std::vector<std::string> take() { return std::exchange(events, {}); }
  bool saw(std::string_view event) const { return std::ranges::find(events, event) != events.end(); }
  // The position of an event among those recorded; fails when it is missing.
  std::ptrdiff_t at(std::string_view event) const {
    auto it = std::ranges::find(events, event);
    REQUIRE_MESSAGE(it != events.end(), "no event '" << std::string(event) << "'");
    return it - events.begin();
  }
};

}  // namespace

TEST_CASE("a dependent waits, STOPPED, until its dependency is RUNNING; the wait is a detail, in order") {
  Rig rig;
  auto report = rig.apply({program("web", {{"db"}}), program("db")});  // web first: the order does not matter
  CHECK(report.added.size() == 2);
  CHECK(rig.state("db") == ProcessState::starting);
  CHECK(rig.state("web") == ProcessState::stopped);
  CHECK(rig.waiting("web") == "waiting for db");
  CHECK(rig.saw("web waiting: waiting for db"));
  CHECK_FALSE(rig.saw("web STARTING"));

  rig.host.advance(1s);  // db RUNNING: web starts
  CHECK(rig.state("db") == ProcessState::running);
  CHECK(rig.state("web") == ProcessState::starting);
  CHECK(rig.waiting("web").empty());
  CHECK(rig.at("db RUNNING") < rig.at("web waiting: "));  // the wait ends (empty text), then web starts
  CHECK(rig.at("web waiting: ") < rig.at("web STARTING"));
  rig.host.advance(1s);
  CHECK(rig.state("web") == ProcessState::running);
}

TEST_CASE("conditions: started, running, completed, completed_successfully; healthy without a healthcheck") {
  SUBCASE("started: as soon as the dependency has a process") {
    Rig rig;
    rig.apply({program("db"), program("web", {{"db", Condition::started}})});
    CHECK(rig.state("db") == ProcessState::starting);
    CHECK(rig.state("web") == ProcessState::starting);
  }
  SUBCASE("healthy, for a program without healthcheck: RUNNING (docs/dependencies.md)") {
    Rig rig;
    rig.apply({program("db"), program("web", {{"db", Condition::healthy}})});
    CHECK(rig.waiting("web") == "waiting for db");
    rig.host.advance(1s);
    CHECK(rig.state("web") == ProcessState::starting);
  }
  SUBCASE("completed: once the dependency EXITED, whatever its exit") {
    Rig rig;
    rig.apply({oneShot("migrate"), program("web", {{"migrate", Condition::completed}})});
    CHECK(rig.state("migrate") == ProcessState::running);
    CHECK(rig.waiting("web") == "waiting for migrate");
    rig.exit("migrate", ExitStatus{3, 0, false});
    CHECK(rig.state("migrate") == ProcessState::exited);
    CHECK(rig.state("web") == ProcessState::starting);
  }
  SUBCASE("completed_successfully: an expected exit starts the dependent, an unexpected one fails it") {
    Rig rig;
    auto web = program("web", {{"migrate", Condition::completedSuccessfully}});
    web.autostart = false;
    rig.apply({oneShot("migrate"), web});
    std::optional<std::vector<Outcome>> started;
    rig.control("web", Op::start, started);
    CHECK(rig.waiting("web") == "waiting for migrate");
    rig.exit("migrate", ExitStatus{1, 0, false});
    CHECK(rig.state("web") == ProcessState::stopped);
    CHECK(rig.waiting("web") == "dependency migrate exited unexpectedly (exit status 1)");
    CHECK(rig.saw("web dependency_failed: dependency migrate exited unexpectedly (exit status 1)"));
    REQUIRE(started);  // the start does not hang
    CHECK_FALSE(started->at(0).ok);
    CHECK(started->at(0).message == "dependency migrate exited unexpectedly (exit status 1)");

    // Starting web again runs migrate again (it did not meet the condition); an exit 0 this time.
    rig.control("web", Op::start, started = {});
    CHECK(rig.state("migrate") == ProcessState::running);
    CHECK(rig.waiting("web") == "waiting for migrate");
    rig.exit("migrate", ExitStatus{0, 0, false});
    CHECK(rig.state("web") == ProcessState::starting);
    rig.host.advance(1s);
    rig.host.runDeferred();
    REQUIRE(started);
    CHECK(started->at(0).ok);

    // A completed dependency is not run again when its dependent starts again.
    rig.control("web", Op::stop, started = {});
    rig.exit("web");
    const int spawns = rig.host.spawns;
    rig.control("web", Op::start, started = {});
    CHECK(rig.state("migrate") == ProcessState::exited);
    CHECK(rig.state("web") == ProcessState::starting);
    CHECK(rig.host.spawns == spawns + 1);
  }
}

TEST_CASE("healthy: a dependency with a healthcheck must pass it; a failed check keeps the dependent waiting") {
  Rig rig;
  auto db = program("db");
  db.healthcheck = HealthCheck{.kind = HealthCheck::Kind::tcp, .target = "localhost:5432", .interval = 1s,
                               .timeout = 500ms, .retries = 3};  // one failure: not unhealthy, not restarted
  rig.apply({db, program("web", {{"db", Condition::healthy}})});
  rig.host.advance(1s);
  REQUIRE(rig.state("db") == ProcessState::running);
  CHECK(rig.waiting("web") == "waiting for db");  // RUNNING is not enough
  auto probe = [&rig](bool passed) {
    for (int k = 0; k < 5 && rig.host.pendingProbes().empty(); ++k) rig.host.advance(1s);
    REQUIRE(rig.host.answerProbe(passed, passed ? "" : "connection refused"));
  };
  probe(false);
  CHECK(rig.state("web") == ProcessState::stopped);
  CHECK(rig.waiting("web") == "waiting for db");
  probe(true);  // healthy: the detail that says so starts web
  CHECK(rig.at("db health: ") < rig.at("web STARTING"));
  CHECK(rig.state("web") == ProcessState::starting);
}

TEST_CASE("a program of several instances as a dependency: every instance must meet the condition") {
  Rig rig;
  rig.host.deferSpawns = true;
  auto db = program("db");
  db.numprocs = 2;
  rig.apply({db, program("web", {{"db", Condition::started}})});
  CHECK(rig.waiting("web") == "waiting for db");
  rig.host.answerSpawns();  // both db processes: web's spawn is asked for, and answered next
  CHECK(rig.state("db:1") == ProcessState::starting);
  CHECK(rig.state("web") == ProcessState::starting);
  CHECK(rig.waiting("web").empty());
}

TEST_CASE("a wait for several dependencies names those not met yet") {
  Rig rig;
  auto cache = program("cache");
  cache.starttime = 2s;
  rig.apply({program("db"), cache, program("web", {{"db"}, {"cache"}})});
  CHECK(rig.waiting("web") == "waiting for db, cache");
  rig.host.advance(1s);
  CHECK(rig.waiting("web") == "waiting for cache");
  CHECK(rig.state("web") == ProcessState::stopped);
  rig.host.advance(1s);
  CHECK(rig.state("web") == ProcessState::starting);
}

TEST_CASE("starting a program starts what it depends on, transitively and first, whatever their autostart") {
  Rig rig;
  auto db = program("db");
  auto api = program("api", {{"db"}});
  auto web = program("web", {{"api"}});
  for (auto* p : {&db, &api, &web}) p->autostart = false;
  rig.apply({web, api, db});
  CHECK(rig.state("db") == ProcessState::stopped);
  std::optional<std::vector<Outcome>> started;
  rig.control("web", Op::start, started);
  CHECK(rig.state("db") == ProcessState::starting);
  CHECK(rig.waiting("api") == "waiting for db");
  CHECK(rig.waiting("web") == "waiting for api");
  rig.host.advance(1s);  // db up: api starts
  CHECK(rig.state("api") == ProcessState::starting);
  rig.host.advance(1s);  // api up: web starts
  CHECK(rig.state("web") == ProcessState::starting);
  CHECK_FALSE(started);
  rig.host.advance(1s);
  rig.host.runDeferred();
  REQUIRE(started);
  REQUIRE(started->size() == 1);  // the outcome is web's; its dependencies were started for it
  CHECK(started->at(0).ok);
  CHECK(rig.at("db RUNNING") < rig.at("api STARTING"));
  CHECK(rig.at("api RUNNING") < rig.at("web STARTING"));
}

TEST_CASE("a FATAL dependency: the dependent says so and its start fails; it starts once the dependency recovers") {
  Rig rig;
  rig.host.failSpawns = true;  // db cannot start: FATAL at once (startretries 0)
  auto web = program("web", {{"db"}});
  web.autostart = false;
  rig.apply({program("db"), web});
  CHECK(rig.state("db") == ProcessState::fatal);
  std::optional<std::vector<Outcome>> started;
  rig.host.failSpawns = false;  // pulled again by web's start, db spawns this time: fail it the other way
  rig.control("web", Op::start, started);
  CHECK(rig.state("db") == ProcessState::starting);  // a FATAL dependency is started again by its dependent's start
  rig.exit("db", ExitStatus{1, 0, false});  // exited too quickly, no retries left: FATAL
  CHECK(rig.state("db") == ProcessState::fatal);
  CHECK(rig.waiting("web") == "dependency db is FATAL");
  CHECK(rig.saw("web dependency_failed: dependency db is FATAL"));
  REQUIRE(started);
  CHECK_FALSE(started->at(0).ok);
  CHECK(started->at(0).message == "dependency db is FATAL");
  CHECK(rig.state("web") == ProcessState::stopped);

  std::optional<std::vector<Outcome>> dbStarted;
  rig.control("db", Op::start, dbStarted);  // the user brings db back: web, still waiting, follows
  CHECK(rig.waiting("web") == "waiting for db");
  rig.host.advance(1s);
  CHECK(rig.state("db") == ProcessState::running);
  CHECK(rig.state("web") == ProcessState::starting);
}

TEST_CASE("a start retries a failed dependency however deep: web -> api -> db") {
  Rig rig;
  rig.host.failSpawns = true;
  auto web = program("web", {{"api"}});
  web.autostart = false;
  rig.apply({program("db"), program("api", {{"db"}}), web});  // db FATAL at once; api waits, failed
  CHECK(rig.state("db") == ProcessState::fatal);
  CHECK(rig.waiting("api") == "dependency db is FATAL");
  rig.host.failSpawns = false;
  std::optional<std::vector<Outcome>> started;
  rig.control("web", Op::start, started);
  CHECK(rig.state("db") == ProcessState::starting);
  CHECK(rig.waiting("api") == "waiting for db");
  CHECK(rig.waiting("web") == "waiting for api");
  rig.host.advance(1s);
  rig.host.advance(1s);
  rig.host.advance(1s);
  rig.host.runDeferred();
  REQUIRE(started);
  CHECK(started->at(0).ok);
}

TEST_CASE("a dependency stopped by the user fails the wait; stop cancels a wait") {
  Rig rig;
  auto db = program("db");
  db.starttime = 5s;
  rig.apply({db, program("web", {{"db"}})});
  CHECK(rig.waiting("web") == "waiting for db");

  SUBCASE("stop db") {
    std::optional<std::vector<Outcome>> stopped;
    rig.control("db", Op::stop, stopped);
    rig.exit("db");
    CHECK(rig.waiting("web") == "dependency db is STOPPED");
  }
  SUBCASE("stop web") {
    std::optional<std::vector<Outcome>> started, stopped;
    rig.control("web", Op::start, started);  // waits with the wait under way
    CHECK_FALSE(started);
    rig.control("web", Op::stop, stopped);
    REQUIRE(stopped);
    CHECK(stopped->at(0).ok);
    CHECK(stopped->at(0).message == "stopped");
    REQUIRE(started);
    CHECK_FALSE(started->at(0).ok);
    CHECK(started->at(0).message == "stopped before it was up");
    CHECK(rig.waiting("web").empty());
    CHECK(rig.saw("web waiting: "));
    rig.host.advance(5s);  // db RUNNING: web stays down
    CHECK(rig.state("db") == ProcessState::running);
    CHECK(rig.state("web") == ProcessState::stopped);
  }
}

TEST_CASE("stop all and shutdown stop dependents first, and a dependency only once its dependents are down") {
  Rig rig;
  rig.apply({program("db"), program("api", {{"db"}}), program("web", {{"api"}}), program("other")});
  rig.host.advance(1s);
  rig.host.advance(1s);
  rig.host.advance(1s);
  for (auto name : {"db", "api", "web", "other"}) REQUIRE(rig.state(name) == ProcessState::running);
  rig.take();

  auto checkOrder = [&rig](const std::function<void()>& stopEverything) {
    stopEverything();
    CHECK(rig.state("web") == ProcessState::stopping);
    CHECK(rig.state("other") == ProcessState::stopping);  // no dependency: stopped at once
    CHECK(rig.state("api") == ProcessState::running);
    CHECK(rig.state("db") == ProcessState::running);
    rig.exit("web");
    CHECK(rig.state("api") == ProcessState::stopping);
    CHECK(rig.state("db") == ProcessState::running);
    rig.exit("api");
    CHECK(rig.state("db") == ProcessState::stopping);
    rig.exit("db");
    rig.exit("other");
  };
  SUBCASE("stop all") {
    std::optional<std::vector<Outcome>> stopped;
    checkOrder([&] { rig.control("all", Op::stop, stopped); });
    REQUIRE(stopped);
    CHECK(stopped->size() == 4);
    for (auto& o : *stopped) CHECK_MESSAGE(o.ok, o.instance);
  }
  SUBCASE("shutdown") {
    bool done = false;
    checkOrder([&] { rig.registry.shutdown([&done] { done = true; }); });
    rig.host.runDeferred();
    CHECK(done);
  }
}

TEST_CASE("stop of a dependency alone does not stop its dependents") {
  Rig rig;
  rig.apply({program("db"), program("web", {{"db"}})});
  rig.host.advance(1s);
  rig.host.advance(1s);
  std::optional<std::vector<Outcome>> stopped;
  rig.control("db", Op::stop, stopped);
  CHECK(rig.state("db") == ProcessState::stopping);
  CHECK(rig.state("web") == ProcessState::running);
}

TEST_CASE("cycles, unknown names and a program depending on itself are refused by apply() and add()") {
  Rig rig;
  auto report = rig.apply({program("web", {{"api"}}), program("api", {{"web"}}), program("db"),
                           program("worker", {{"dbx"}}), program("self", {{"self"}})});
  std::ranges::sort(report.invalid);
  CHECK(report.invalid == std::vector<std::string>{"api", "self", "web", "worker"});
  CHECK(report.added == std::vector<std::string>{"db"});
  auto logged = [&rig](std::string_view text) {
    return std::ranges::any_of(rig.logs, [&](auto& l) { return l.second.find(text) != std::string::npos; });
  };
  CHECK(logged("dependency cycle: web -> api -> web"));
  CHECK(logged("worker: depends_on: unknown program 'dbx' (did you mean 'db'?)"));
  CHECK(logged("self: depends_on: a program cannot depend on itself"));

  // A program whose dependency is refused is refused too: it would wait for a program that is not there.
  report = rig.apply({program("db"), program("a", {{"b"}}), program("b", {{"nope"}})});
  std::ranges::sort(report.invalid);
  CHECK(report.invalid == std::vector<std::string>{"a", "b"});

  CHECK(rig.registry.add(program("w2", {{"nope"}})) == Errc::invalid_spec);
  CHECK(rig.registry.add(program("w3", {{"w3"}})) == Errc::invalid_spec);
  CHECK_FALSE(rig.registry.add(program("w4", {{"db"}})));
}

TEST_CASE("the problems of a list of programs: one per unknown name, self-dependency, repeat, and cycle") {
  auto web = program("web", {{"api"}, {"db"}, {"db"}});
  auto api = program("api", {{"cache"}});
  auto cache = program("cache", {{"web"}});
  auto db = program("db", {{"dbb"}});
  auto problems = taskmaster::detail::dependencyProblems({&web, &api, &cache, &db});
  std::vector<std::string> messages;
  for (auto& p : problems) messages.push_back(p.message);
  CHECK(messages == std::vector<std::string>{"depends_on: 'db' is listed twice",
                                             "depends_on: unknown program 'dbb' (did you mean 'db'?)",
                                             "depends_on: dependency cycle: web -> api -> cache -> web"});
  REQUIRE(problems.size() == 3);
  CHECK(problems[2].program == 2);  // the entry of cache that closes it
  CHECK(problems[2].cycle.size() == 3);

  // A long chain is walked without recursion.
  std::vector<ProgramSpec> chain;
  for (int i = 0; i < 20000; ++i) {
    chain.push_back(program(fmt::format("p{}", i), {{fmt::format("p{}", i + 1)}}));
  }
  chain.back().dependsOn = {{"p0"}};
  std::vector<const ProgramSpec*> list;
  for (auto& p : chain) list.push_back(&p);
  auto cycle = taskmaster::detail::dependencyProblems(list);
  REQUIRE(cycle.size() == 1);
  CHECK(cycle[0].cycle.size() == 20000);
}

TEST_CASE("reload: changed dependencies apply without restarting, and a waiting program looks again") {
  Rig rig;
  auto db = program("db");
  db.starttime = 10s;
  rig.apply({db, program("web", {{"db"}}), program("cache")});
  rig.host.advance(1s);  // cache RUNNING; db still STARTING
  CHECK(rig.waiting("web") == "waiting for db");

  auto report = rig.apply({db, program("web", {{"cache"}}), program("cache")});
  CHECK(report.updated == std::vector<std::string>{"web"});  // depends_on is not in sameProcessAs
  CHECK(rig.state("web") == ProcessState::starting);  // cache is RUNNING: web goes
  CHECK(rig.waiting("web").empty());
  rig.host.advance(1s);
  const int pid = rig.status("web").pid;
  REQUIRE(rig.state("web") == ProcessState::running);

  report = rig.apply({db, program("web", {{"db"}}), program("cache")});  // running: nothing happens to it
  CHECK(report.updated == std::vector<std::string>{"web"});
  CHECK(rig.status("web").pid == pid);
  CHECK(rig.state("web") == ProcessState::running);
}

TEST_CASE("priority orders without waiting; dependencies wait whatever the priority") {
  Rig rig;
  auto web = program("web", {{"db"}});
  web.priority = 1;  // first by priority, but it waits for db
  auto db = program("db");
  db.priority = 999;
  rig.apply({web, db});
  CHECK(rig.state("db") == ProcessState::starting);
  CHECK(rig.waiting("web") == "waiting for db");
  rig.host.advance(1s);
  CHECK(rig.state("web") == ProcessState::starting);
}

TEST_CASE("a change re-evaluates only the dependents of the program that changed") {
  Rig rig;
  std::vector<ProgramSpec> programs;
  auto db = program("db");
  db.starttime = 10s;
  programs.push_back(db);
  for (int i = 0; i < 1000; ++i) programs.push_back(program(fmt::format("p{}", i)));
  programs.push_back(program("web", {{"db"}}));
  rig.apply(programs);
  const auto before = rig.registry.work().evaluations;
  rig.host.advance(1s);  // 1,000 transitions of programs that nobody depends on: web is not looked at
  CHECK(rig.registry.work().evaluations == before);
  CHECK(rig.waiting("web") == "waiting for db");
  rig.host.advance(9s);
  CHECK(rig.state("web") == ProcessState::starting);
}
