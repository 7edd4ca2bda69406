// The state machine of one instance, driven through a fake host: fake clock, fake timers, fake children.
// Nothing here forks or sleeps.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <csignal>
#include <map>
#include <optional>

#include "core/instance.hpp"
#include "fake_host.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using taskmaster::AutoRestart;
using taskmaster::ExitStatus;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;
using taskmaster::StateChange;
using namespace taskmaster::detail;

namespace {

using test::FakeHost;
using test::Signal;

using TestHost = test::InstanceHost;

std::shared_ptr<const ProgramSpec> spec(auto&&... tweaks) {
  ProgramSpec s{.name = "web", .cmd = {"web"}, .starttime = 1s, .startretries = 3, .stoptime = 10s};
  (tweaks(s), ...);
  return std::make_shared<const ProgramSpec>(s);
}

using S = ProcessState;
const ExitStatus kExit0{0, 0, false};
const ExitStatus kExit1{1, 0, false};

}  // namespace

TEST_CASE("a started program is STARTING with its pid, and RUNNING once up for starttime") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  CHECK(web.start());
  CHECK(web.state() == S::starting);
  REQUIRE(host.changes.size() == 1);
  CHECK(host.changes[0].from == S::stopped);
  CHECK(host.changes[0].pid == 100);
  host.advance(999ms);
  CHECK(web.state() == S::starting);
  host.advance(1ms);
  CHECK(web.state() == S::running);
  CHECK(web.status().pid == 100);
  CHECK_FALSE(host.timerArmed());  // RUNNING owns no deadline: an idle supervisor never wakes
  CHECK_FALSE(web.start());        // already started
}

TEST_CASE("a program that exits before starttime retries after 1 s, 2 s, 3 s and is FATAL after startretries") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  std::vector<std::chrono::milliseconds> delays;
  for (int attempt = 0; attempt < 4; ++attempt) {
    REQUIRE(web.state() == S::starting);
    host.advance(100ms);
    host.exit(web.status().pid, kExit1);
    if (attempt == 3) break;
    REQUIRE(web.state() == S::backoff);
    CHECK(web.reason() == "exited too quickly (exit status 1)");
    auto wait = 0ms;
    while (web.state() == S::backoff) {
      host.advance(100ms);
      wait += 100ms;
    }
    delays.push_back(wait);
  }
  CHECK(delays == std::vector<std::chrono::milliseconds>{1000ms, 2000ms, 3000ms});
  std::vector<std::pair<int, std::chrono::milliseconds>> announced;  // what observers were told
  for (auto& c : host.changes)
    if (c.to == S::backoff || c.to == S::fatal) announced.emplace_back(c.retries, c.retryIn);
  CHECK(announced == std::vector<std::pair<int, std::chrono::milliseconds>>{{1, 1000ms}, {2, 2000ms}, {3, 3000ms}, {4, 0ms}});
  CHECK(web.state() == S::fatal);
  CHECK(web.reason() == "exited too quickly (exit status 1) (gave up after 3 retries)");
  CHECK(host.spawns == 4);
  CHECK_FALSE(host.timerArmed());
  CHECK_FALSE(host.changes.back().expected);
  CHECK(host.changes.back().exit == kExit1);
}

TEST_CASE("startretries 0 gives up at the first failed start") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.startretries = 0; }), 0);
  web.start();
  host.exit(100, kExit1);
  CHECK(web.state() == S::fatal);
}

TEST_CASE("a spawn error is a failed start with its reason") {
  TestHost host;
  host.failSpawns = true;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.startretries = 1; }), 0);
  web.start();
  CHECK(host.states() == std::vector<S>{S::starting, S::backoff});
  CHECK(web.reason() == "spawn error: /nope: No such file or directory");
  host.advance(1s);
  CHECK(host.states() == std::vector<S>{S::starting, S::backoff, S::starting, S::fatal});
  CHECK(host.spawns == 2);
}

TEST_CASE("an exit from RUNNING is EXITED; autorestart decides what happens next") {
  struct Case {
    AutoRestart policy;
    ExitStatus exit;
    bool expected;
    bool restarts;
  };
  const ExitStatus killed{0, SIGKILL, false};
  for (auto c : {Case{AutoRestart::unexpected, kExit0, true, false}, Case{AutoRestart::unexpected, kExit1, false, true},
                 Case{AutoRestart::unexpected, killed, false, true}, Case{AutoRestart::always, kExit0, true, true},
                 Case{AutoRestart::never, kExit1, false, false}}) {
    CAPTURE(taskmaster::to_string(c.policy));
    CAPTURE(c.exit.str());
    TestHost host;
    Instance web(host.fake, host, spec([&](ProgramSpec& s) { s.autorestart = c.policy; }), 0);
    web.start();
    host.advance(1s);
    REQUIRE(web.state() == S::running);
    host.exit(100, c.exit);
    auto exited = std::ranges::find_if(host.changes, [](auto& ch) { return ch.to == S::exited; });
    REQUIRE(exited != host.changes.end());
    CHECK(exited->expected == c.expected);
    CHECK(exited->pid == 100);
    CHECK(web.state() == (c.restarts ? S::starting : S::exited));
    CHECK(web.status().restarts == (c.restarts ? 1 : 0));
    CHECK(host.alive(101) == c.restarts);
  }
}

TEST_CASE("exitcodes lists the expected exit codes") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.exitcodes = {0, 2}; }), 0);
  web.start();
  host.advance(1s);
  host.exit(100, {2, 0, false});
  CHECK(web.state() == S::exited);
  CHECK(host.changes.back().expected);
}

TEST_CASE("stop sends stopsignal to the group, and SIGKILL once after stoptime") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.stopsignal = SIGUSR1; }), 0);
  web.start();
  host.advance(1s);
  CHECK(web.stop());
  CHECK(web.state() == S::stopping);
  CHECK(host.signals == std::vector<Signal>{{100, SIGUSR1, true}});
  host.advance(9999ms);
  CHECK(host.signals.size() == 1);
  host.advance(1ms);
  CHECK(host.signals == std::vector<Signal>{{100, SIGUSR1, true}, {100, SIGKILL, true}});
  host.advance(1h);
  CHECK(host.signals.size() == 2);  // exactly once
  host.exit(100, {0, SIGKILL, false});
  CHECK(web.state() == S::stopped);
  CHECK(host.remainsKilled == std::vector<int>{100});
  CHECK_FALSE(web.stop());  // not running
}

TEST_CASE("a program that stops in time is not killed") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  web.stop();  // from STARTING
  host.exit(100, {0, SIGTERM, false});
  CHECK(web.state() == S::stopped);
  host.advance(1h);
  CHECK(host.signals == std::vector<Signal>{{100, SIGTERM, true}});
  CHECK(host.states() == std::vector<S>{S::starting, S::stopping, S::stopped});
}

TEST_CASE("stopasgroup and killasgroup false signal the main process only and leave its group alone") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.stopasgroup = s.killasgroup = false; s.stoptime = 1s; }), 0);
  web.start();
  web.stop();
  host.advance(1s);
  CHECK(host.signals == std::vector<Signal>{{100, SIGTERM, false}, {100, SIGKILL, false}});
  host.exit(100, {0, SIGKILL, false});
  CHECK(host.remainsKilled.empty());
}

TEST_CASE("stop during BACKOFF cancels the retry") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  host.exit(100, kExit1);
  REQUIRE(web.state() == S::backoff);
  CHECK(web.stop());
  CHECK(web.state() == S::stopped);
  CHECK_FALSE(host.timerArmed());
  host.advance(1h);
  CHECK(host.spawns == 1);
}

TEST_CASE("a user start during BACKOFF starts again at once with fresh retries") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.startretries = 1; }), 0);
  web.start();
  host.exit(100, kExit1);
  REQUIRE(web.state() == S::backoff);
  CHECK(web.start());
  CHECK(web.state() == S::starting);
  host.exit(101, kExit1);
  CHECK(web.state() == S::backoff);  // retries were reset: one more allowed
}

TEST_CASE("restart stops, waits for the exit, then starts") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  host.advance(1s);
  web.restart();
  CHECK(web.state() == S::stopping);
  CHECK(web.want() == Want::up);
  host.exit(100, {0, SIGTERM, false});
  CHECK(web.state() == S::starting);
  CHECK(web.status().pid == 101);
  CHECK(host.states() == std::vector<S>{S::starting, S::running, S::stopping, S::stopped, S::starting});
}

TEST_CASE("a stop during a restart's stop cancels the start") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  web.restart();
  web.stop();
  host.exit(100, kExit0);
  CHECK(web.state() == S::stopped);
  CHECK(host.spawns == 1);
}

TEST_CASE("a new spec restarts a running instance only when asked to") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  host.advance(1s);
  web.setSpec(spec([](ProgramSpec& s) { s.stoptime = 5s; }), false);
  CHECK(web.state() == S::running);
  web.setSpec(spec([](ProgramSpec& s) { s.cmd = {"web2"}; s.numprocs = 2; }), true);
  CHECK(web.state() == S::stopping);
  CHECK(web.name() == "web:0");
  host.exit(100, kExit0);
  CHECK(web.state() == S::starting);
}

TEST_CASE("an observer may act on the instance from inside a transition") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  host.onPublish = [&](const StateChange& c) {
    if (c.to == S::starting) web.stop();
  };
  web.start();
  CHECK(web.state() == S::stopping);
  host.onPublish = {};
  host.advance(1s);  // the STARTING deadline must not fire in STOPPING
  CHECK(web.state() == S::stopping);
  host.exit(100, {0, SIGTERM, false});
  CHECK(web.state() == S::stopped);
}

TEST_CASE("an observer starting an EXITED instance is not doubled by autorestart") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.autorestart = AutoRestart::always; }), 0);
  web.start();
  host.advance(1s);
  host.onPublish = [&](const StateChange& c) {
    if (c.to == S::exited) web.start();
  };
  host.exit(100, kExit0);
  CHECK(host.spawns == 2);
  CHECK(web.state() == S::starting);
}

TEST_CASE("starttime 0 is RUNNING as soon as spawned, and an exit then is an exit from RUNNING") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.starttime = 0ms; s.autorestart = AutoRestart::never; }), 0);
  web.start();
  CHECK(host.states() == std::vector<S>{S::starting, S::running});
  CHECK_FALSE(host.timerArmed());
  host.exit(100, kExit0);
  CHECK(web.state() == S::exited);
}

TEST_CASE("the SIGKILL after stoptime is announced and the reason kept") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.stoptime = 500ms; }), 0);
  web.start();
  web.stop();
  host.advance(500ms);
  REQUIRE(host.changes.back().from == S::stopping);
  CHECK(host.changes.back().to == S::stopping);
  CHECK(host.changes.back().reason == "killed with SIGKILL: still running 500ms after SIGTERM");
}

namespace {

// An instance whose process exits the moment it is spawned (starttime 0, autorestart always): the times of its
// spawns, from the first, driving each BACKOFF by its own deadline.
std::vector<std::chrono::milliseconds> spawnTimesOfInstantExits(TestHost& host, Instance& web, int exits) {
  const auto t0 = host.fake.now();
  auto since = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(host.fake.now() - t0); };
  web.start();
  std::vector<std::chrono::milliseconds> times{since()};
  for (int i = 0; i < exits; ++i) {
    REQUIRE(web.state() == S::running);
    host.exit(web.status().pid, kExit0);
    if (web.state() == S::backoff) REQUIRE(host.fake.fireNext());
    times.push_back(since());
  }
  return times;
}

auto instantExits(auto&&... tweaks) {
  return spec([](ProgramSpec& s) { s.starttime = 0ms; s.autorestart = AutoRestart::always; }, tweaks...);
}

}  // namespace

TEST_CASE("an exit from RUNNING is restarted at once, whatever its age") {
  TestHost host;
  Instance web(host.fake, host, instantExits(), 0);
  web.start();
  host.advance(300ms);  // the old rule held this one back for 700 ms
  host.exit(100, kExit0);
  CHECK(web.state() == S::running);
  CHECK(host.spawns == 2);
  CHECK(web.status().restarts == 1);
  CHECK(host.fake.now() - Clock::time_point{} == 300ms);
}

TEST_CASE("a crash loop: a burst at once, then 1 s, 2 s, 4 s ... up to 30 s (the defaults)") {
  TestHost host;
  Instance web(host.fake, host, instantExits(), 0);
  const auto times = spawnTimesOfInstantExits(host, web, 11);
  // the start and 3 immediate restarts at 0, then waits of 1, 2, 4, 8, 16, 30 (capped), 30, 30 s
  CHECK(times == std::vector<std::chrono::milliseconds>{0s, 0s, 0s, 0s, 1s, 3s, 7s, 15s, 31s, 61s, 91s, 121s});
  CHECK(web.status().restarts == 11);
}

TEST_CASE("while held back the instance is BACKOFF and says why and when") {
  TestHost host;
  Instance web(host.fake, host, instantExits([](ProgramSpec& s) { s.restartBurst = 1; s.restartDelay = 2s; }), 0);
  web.start();
  host.exit(100, kExit1);
  REQUIRE(web.state() == S::running);  // the burst
  host.exit(101, kExit1);
  CHECK(web.state() == S::backoff);
  CHECK(web.reason() == "restarting too often: next start in 2s");
  CHECK(host.changes.back().retryIn == 2s);
  CHECK(host.changes.back().retries == 0);  // not a failed start: nothing counts toward FATAL
  host.advance(1999ms);
  CHECK(host.spawns == 2);
  host.advance(1ms);
  CHECK(host.spawns == 3);
  CHECK(web.state() == S::running);
}

TEST_CASE("the crash-loop policy is per program: burst, delay, factor and cap as configured") {
  TestHost host;
  Instance web(host.fake, host, instantExits([](ProgramSpec& s) {
    s.restartBurst = 0;
    s.restartDelay = 500ms;
    s.restartDelayFactor = 3;
    s.restartDelayMax = 5s;
  }), 0);
  const auto times = spawnTimesOfInstantExits(host, web, 5);
  // waits of 500 ms, 1.5 s, 4.5 s, 5 s (capped), 5 s
  CHECK(times == std::vector<std::chrono::milliseconds>{0ms, 500ms, 2000ms, 6500ms, 11500ms, 16500ms});
}

TEST_CASE("a run that lasts restart_reset_after forgives the crashes before it") {
  TestHost host;
  Instance web(host.fake, host, instantExits(), 0);
  spawnTimesOfInstantExits(host, web, 6);  // deep in the loop: the next wait would be 8 s
  REQUIRE(web.state() == S::running);
  host.advance(199ms);  // not quite long enough
  host.exit(web.status().pid, kExit0);
  CHECK(web.state() == S::backoff);
  CHECK(host.changes.back().retryIn == 8s);
  host.advance(8s);
  REQUIRE(web.state() == S::running);
  host.advance(200ms);  // long enough: the burst is back
  for (int i = 0; i < 3; ++i) {
    host.exit(web.status().pid, kExit0);
    CHECK(web.state() == S::running);
  }
  host.exit(web.status().pid, kExit0);
  CHECK(web.state() == S::backoff);
  CHECK(host.changes.back().retryIn == 1s);
}

TEST_CASE("a new crash-loop policy applies live, from the next exit on") {
  TestHost host;
  Instance web(host.fake, host, instantExits(), 0);
  web.start();
  host.exit(100, kExit0);
  REQUIRE(web.state() == S::running);  // the first of the burst of 3
  web.setSpec(instantExits([](ProgramSpec& s) { s.restartBurst = 1; s.restartDelay = 5s; }), false);
  CHECK(host.spawns == 2);  // not restarted by the change
  host.exit(101, kExit0);
  CHECK(web.state() == S::backoff);
  CHECK(host.changes.back().retryIn == 5s);
}

TEST_CASE("a user start or restart clears the crash count") {
  TestHost host;
  Instance web(host.fake, host, instantExits([](ProgramSpec& s) { s.restartBurst = 0; }), 0);
  web.start();
  host.exit(100, kExit0);
  REQUIRE(web.state() == S::backoff);
  web.start();  // at once, and the count starts over
  CHECK(web.state() == S::running);
  host.exit(web.status().pid, kExit0);
  CHECK(host.changes.back().retryIn == 1s);
  web.stop();
  web.start();
  web.restart();
  REQUIRE(web.state() == S::stopping);
  host.exit(web.status().pid, kExit0);
  REQUIRE(web.state() == S::running);
  host.exit(web.status().pid, kExit0);
  CHECK(host.changes.back().retryIn == 1s);
}

TEST_CASE("with autorestart unexpected, an expected exit is not restarted and a crash loop is held back") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.starttime = 0ms; s.restartBurst = 1; }), 0);
  web.start();
  host.exit(100, kExit1);
  host.exit(101, kExit1);
  CHECK(web.state() == S::backoff);
  host.advance(1s);
  host.exit(102, kExit0);
  CHECK(web.state() == S::exited);
  CHECK_FALSE(host.timerArmed());
}

TEST_CASE("startretries infinite never gives up; the wait grows by a second up to restart_delay_max") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) {
    s.startretries = taskmaster::kInfiniteRetries;
    s.restartDelayMax = 5s;
  }), 0);
  web.start();
  std::vector<std::chrono::milliseconds> waits;
  for (int attempt = 0; attempt < 50; ++attempt) {
    host.exit(web.status().pid, kExit1);
    REQUIRE(web.state() == S::backoff);
    waits.push_back(host.changes.back().retryIn);
    REQUIRE(host.fake.fireNext());
  }
  CHECK(std::vector(waits.begin(), waits.begin() + 7) ==
        std::vector<std::chrono::milliseconds>{1s, 2s, 3s, 4s, 5s, 5s, 5s});
  CHECK(waits.back() == 5s);
  CHECK(host.spawns == 51);
}

TEST_CASE("fatal_retry starts a FATAL program again, with a fresh round of retries") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.startretries = 1; s.fatalRetry = 5min; }), 0);
  web.start();
  host.exit(100, kExit1);
  host.advance(1s);
  host.exit(101, kExit1);
  REQUIRE(web.state() == S::fatal);
  CHECK(web.reason() == "exited too quickly (exit status 1) (gave up after 1 retry; next try in 5m)");
  CHECK(host.changes.back().retryIn == 5min);
  host.advance(5min - 1ms);
  CHECK(web.state() == S::fatal);
  host.advance(1ms);
  CHECK(web.state() == S::starting);
  CHECK(host.spawns == 3);
  CHECK(web.status().restarts == 2);
  host.exit(102, kExit1);  // the round starts over: a retry, not FATAL
  CHECK(web.state() == S::backoff);
  CHECK(host.changes.back().retryIn == 1s);
  host.advance(1s);
  host.advance(1s);  // up for starttime
  CHECK(web.state() == S::running);
}

TEST_CASE("without fatal_retry FATAL stays FATAL and owns no deadline") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.startretries = 0; }), 0);
  web.start();
  host.exit(100, kExit1);
  REQUIRE(web.state() == S::fatal);
  CHECK_FALSE(host.timerArmed());
  CHECK(web.reason() == "exited too quickly (exit status 1) (gave up after 0 retries)");
}

TEST_CASE("a user start in FATAL cancels the fatal_retry") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.startretries = 0; s.fatalRetry = 1min; }), 0);
  web.start();
  host.exit(100, kExit1);
  REQUIRE(web.state() == S::fatal);
  CHECK(host.timerArmed());
  web.start();
  host.advance(1s);
  REQUIRE(web.state() == S::running);
  CHECK_FALSE(host.timerArmed());
  host.advance(2min);
  CHECK(host.spawns == 2);
}

TEST_CASE("a process still alive 5 s after SIGKILL is reported, stays STOPPING, and is STOPPED once it exits") {
  TestHost host;
  Instance web(host.fake, host, spec([](ProgramSpec& s) { s.stoptime = 500ms; }), 0);
  web.start();
  web.stop();
  host.advance(500ms);
  REQUIRE(web.phase() == Phase::stoppingKill);
  host.advance(4999ms);
  CHECK(host.logs.empty());
  host.advance(1ms);
  CHECK(web.phase() == Phase::stoppingOverdue);
  CHECK(web.state() == S::stopping);
  REQUIRE(host.changes.size() == 4);  // STARTING, STOPPING, the SIGKILL, the overdue report
  CHECK(host.changes.back().from == S::stopping);
  CHECK(host.changes.back().to == S::stopping);
  CHECK(host.changes.back().pid == 100);
  CHECK(host.changes.back().reason == "still alive 5s after SIGKILL: stuck in the kernel (uninterruptible sleep)");
  CHECK(host.logs.empty());  // the change says it: observers (the event log) report it, once
  CHECK_FALSE(host.timerArmed());  // reported once: no deadline, no wake-ups while it hangs
  CHECK(host.signals.size() == 2);
  web.start();  // want up: it starts again once the kernel lets it go
  host.exit(100, {0, SIGKILL, false});
  CHECK(host.states() == std::vector<S>{S::starting, S::stopping, S::stopping, S::stopping, S::stopped, S::starting});
}

TEST_CASE("an exit with an unknown status in STARTING is a failed start that says so") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  host.exitUnknown(100);
  CHECK(web.state() == S::backoff);
  CHECK(web.reason() == "exited too quickly (exit status unknown)");
  CHECK_FALSE(host.changes.back().exit);
  CHECK(host.changes.back().pid == 100);
  CHECK_FALSE(web.status().lastExit);
  REQUIRE(host.logs.size() == 1);
  CHECK(host.logs[0].first == taskmaster::LogLevel::warn);
}

TEST_CASE("killasgroup applies live to a process already running") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  host.advance(1s);
  web.setSpec(spec([](ProgramSpec& s) { s.killasgroup = false; }), false);
  host.exit(100, kExit1);
  CHECK(host.remainsKilled.empty());
}

TEST_CASE("the transitions of one handler are delivered after it returns, in order") {
  TestHost host;
  Instance web(host.fake, host, spec(), 0);
  web.start();
  host.advance(1s);
  web.restart();
  std::vector<std::pair<S, S>> seen;  // (the change, the state when it is delivered)
  host.onPublish = [&](const StateChange& c) { seen.emplace_back(c.to, web.state()); };
  host.exit(100, {0, SIGTERM, false});
  CHECK(seen == std::vector<std::pair<S, S>>{{S::stopped, S::starting}, {S::starting, S::starting}});
}
