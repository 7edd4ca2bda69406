// Readiness (`ready`) and health checks (`healthcheck`) of one instance, on the fake host: probes are answered
// by the test, notices sent by it, the clock moved by it. Nothing forks or sleeps.
#include <doctest/doctest.h>

#include <csignal>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <taskmaster/config.hpp>

#include "core/instance.hpp"
#include "fake_host.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using taskmaster::AutoRestart;
using taskmaster::DetailChange;
using taskmaster::ExitStatus;
using taskmaster::Health;
using taskmaster::HealthCheck;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;
using taskmaster::Readiness;
using namespace taskmaster::detail;

namespace {

using S = ProcessState;
using TestHost = test::InstanceHost;
const ExitStatus kExit1{1, 0, false};
const ExitStatus kTerm{0, SIGTERM, false};

std::shared_ptr<const ProgramSpec> spec(auto&&... tweaks) {
  ProgramSpec s{.name = "db", .cmd = {"db"}, .starttime = 5s, .startretries = 2, .stoptime = 10s};
  (tweaks(s), ...);
  return std::make_shared<const ProgramSpec>(s);
}

auto ready(Readiness::Kind kind, std::string target = {}) {
  return [=](ProgramSpec& s) { s.ready = Readiness{.kind = kind, .target = target, .timeout = 60s, .interval = 1s}; };
}

auto health(HealthCheck::Kind kind = HealthCheck::Kind::tcp, int retries = 3, taskmaster::Duration startPeriod = {}) {
  return [=](ProgramSpec& s) {
    s.healthcheck = HealthCheck{.kind = kind, .target = "localhost:5432", .interval = 10s, .timeout = 2s,
                                .retries = retries, .startPeriod = startPeriod};
  };
}

std::vector<Health> healthChanges(const TestHost& host) {
  std::vector<Health> out;
  for (const auto& d : host.details)
    if (d.kind == DetailChange::Kind::health) out.push_back(d.health);
  return out;
}

}  // namespace

TEST_CASE("ready: READY=1 makes STARTING RUNNING; starttime does not apply; STATUS= is kept and published") {
  TestHost host;
  Instance db(host.fake, host, spec(ready(Readiness::Kind::notify)), 0);
  db.start();
  const int pid = db.status().pid;
  host.advance(30s);  // far past starttime (5 s)
  CHECK(db.state() == S::starting);
  host.fake.notice(pid, {Notice::Kind::status, "loading tables"});
  CHECK(db.status().statusText == "loading tables");
  REQUIRE(host.details.size() == 1);
  CHECK(host.details[0].kind == DetailChange::Kind::statusText);
  CHECK(host.details[0].text == "loading tables");
  CHECK(host.details[0].pid == pid);
  host.fake.notice(pid, {Notice::Kind::ready, {}});
  CHECK(db.state() == S::running);
  CHECK(host.states() == std::vector<S>{S::starting, S::running});
  CHECK_FALSE(host.timerArmed());  // RUNNING without a healthcheck owns no deadline
  host.fake.notice(pid, {Notice::Kind::ready, {}});  // READY=1 again: no event
  CHECK(host.changes.size() == 2);
  CHECK(std::ranges::none_of(host.logs, [](auto& l) { return l.first == taskmaster::LogLevel::error; }));
}

TEST_CASE("ready: not ready after the timeout is a failed start: STOPPING with the reason, then BACKOFF, then FATAL") {
  TestHost host;
  Instance db(host.fake, host, spec(ready(Readiness::Kind::fd), [](ProgramSpec& s) { s.startretries = 1; }), 0);
  db.start();
  int pid = db.status().pid;
  host.advance(59s);
  CHECK(db.state() == S::starting);
  host.advance(1s);
  CHECK(db.state() == S::stopping);
  CHECK(host.changes.back().reason == "not ready after 1m");
  CHECK(host.signals.back() == test::Signal{pid, SIGTERM, true});  // stopsignal first
  host.advance(10s);                                                 // stoptime: then SIGKILL
  CHECK(host.signals.back() == test::Signal{pid, SIGKILL, true});
  host.exit(pid, {0, SIGKILL, false});
  CHECK(db.state() == S::backoff);
  CHECK(host.changes.back().reason == "not ready after 1m");
  CHECK(host.changes.back().exit.has_value());
  host.advance(1s);  // the retry
  pid = db.status().pid;
  CHECK(db.state() == S::starting);
  host.advance(60s);
  host.exit(pid, kTerm);
  CHECK(db.state() == S::fatal);
  CHECK(host.changes.back().reason.starts_with("not ready after 1m (gave up after 1 retry"));
}

TEST_CASE("ready: a stop while the process not ready is being stopped ends STOPPED, not as a failed start") {
  TestHost host;
  Instance db(host.fake, host, spec(ready(Readiness::Kind::notify)), 0);
  db.start();
  const int pid = db.status().pid;
  host.advance(60s);
  REQUIRE(db.state() == S::stopping);
  CHECK(db.stop());
  host.exit(pid, kTerm);
  CHECK(db.state() == S::stopped);
}

TEST_CASE("ready: an exit before ready is a failed start, as without ready") {
  TestHost host;
  Instance db(host.fake, host, spec(ready(Readiness::Kind::log, "listening")), 0);
  db.start();
  host.exit(db.status().pid, kExit1);
  CHECK(db.state() == S::backoff);
  CHECK(host.changes.back().reason == "exited too quickly (exit status 1)");
}

TEST_CASE("ready: a probe runs at once, again every interval while it fails, bounded by what is left of the timeout") {
  TestHost host;
  Instance db(host.fake, host, spec(ready(Readiness::Kind::tcp, "localhost:5432")), 0);
  db.start();
  auto probes = host.fake.pendingProbes();
  REQUIRE(probes.size() == 1);
  CHECK(probes[0].kind == ProbeRequest::Kind::tcp);
  CHECK(probes[0].target == "localhost:5432");
  CHECK(probes[0].timeout == 60s);
  host.advance(500ms);
  CHECK(host.fake.answerProbe(false, "connection refused"));
  CHECK(host.fake.pendingProbes().empty());
  host.advance(999ms);
  CHECK(host.fake.pendingProbes().empty());
  host.advance(1ms);  // interval 1 s after the failure
  probes = host.fake.pendingProbes();
  REQUIRE(probes.size() == 1);
  CHECK(probes[0].timeout == 60s - 1500ms);
  CHECK(db.state() == S::starting);
  CHECK(host.fake.answerProbe(true));
  CHECK(db.state() == S::running);
  CHECK_FALSE(host.timerArmed());
}

TEST_CASE("ready: the timeout's reason names the last failed probe, and the probe under way is cancelled") {
  TestHost host;
  Instance db(host.fake, host, spec(ready(Readiness::Kind::http, "http://localhost/ready")), 0);
  db.start();
  host.fake.answerProbe(false, "HTTP 503");
  host.advance(60s);
  CHECK(db.state() == S::stopping);
  CHECK(host.changes.back().reason == "not ready after 1m (last check: HTTP 503)");
  CHECK(host.fake.pendingProbes().empty());
}

TEST_CASE("health: starting, healthy after a pass, unhealthy after retries failures in a row, each published") {
  TestHost host;
  Instance db(host.fake, host, spec([](ProgramSpec& s) { s.starttime = {}; }, health(HealthCheck::Kind::tcp, 2),
                                    [](ProgramSpec& s) { s.autorestart = AutoRestart::never; }),
              0);
  db.start();
  REQUIRE(db.state() == S::running);
  CHECK(db.health() == Health::starting);
  CHECK(healthChanges(host) == std::vector<Health>{Health::starting});
  CHECK(host.fake.pendingProbes().empty());  // the first check comes after interval
  host.advance(10s);
  REQUIRE(host.fake.pendingProbes().size() == 1);
  CHECK(host.fake.pendingProbes()[0].timeout == 2s);
  host.fake.answerProbe(true);
  CHECK(db.health() == Health::healthy);
  host.advance(10s);
  host.fake.answerProbe(false, "connection refused");
  CHECK(db.health() == Health::healthy);  // one failure of 2
  host.advance(10s);
  host.fake.answerProbe(false, "timed out after 2s");
  CHECK(db.health() == Health::unhealthy);
  CHECK(db.status().health == Health::unhealthy);
  CHECK(db.status().healthText == "timed out after 2s");
  CHECK(healthChanges(host) == std::vector<Health>{Health::starting, Health::healthy, Health::unhealthy});
  CHECK(host.details.back().text == "timed out after 2s");
  // autorestart never: it stays RUNNING, unhealthy, and the checks go on.
  CHECK(db.state() == S::running);
  host.advance(10s);
  host.fake.answerProbe(true);
  CHECK(db.health() == Health::healthy);
  db.stop();
  CHECK(db.health() == Health::none);
  CHECK(host.fake.pendingProbes().empty());
}

TEST_CASE("health: failures within start_period do not count") {
  TestHost host;
  Instance db(host.fake, host,
              spec([](ProgramSpec& s) { s.starttime = {}; }, health(HealthCheck::Kind::exec, 1, 25s),
                   [](ProgramSpec& s) { s.autorestart = AutoRestart::never; }),
              0);
  db.start();
  host.advance(10s);
  host.fake.answerProbe(false, "exit status 1: not yet");
  host.advance(10s);
  host.fake.answerProbe(false, "exit status 1: not yet");
  CHECK(db.health() == Health::starting);
  CHECK(db.status().healthText == "exit status 1: not yet");
  host.advance(10s);  // 30 s after RUNNING: past start_period
  host.fake.answerProbe(false, "exit status 1: broken");
  CHECK(db.health() == Health::unhealthy);
}

TEST_CASE("health: unhealthy restarts the process when autorestart allows, counted, with the reason") {
  TestHost host;
  Instance db(host.fake, host, spec([](ProgramSpec& s) { s.starttime = {}; }, health(HealthCheck::Kind::http, 1)), 0);
  db.start();
  const int pid = db.status().pid;
  host.advance(10s);
  host.fake.answerProbe(false, "HTTP 503");
  CHECK(db.state() == S::stopping);
  CHECK(host.changes.back().reason == "unhealthy: HTTP 503");
  CHECK(host.signals.back() == test::Signal{pid, SIGTERM, true});
  host.exit(pid, kTerm);
  CHECK(db.state() == S::running);  // spawned again (starttime 0)
  CHECK(db.status().pid != pid);
  CHECK(db.status().restarts == 1);
  CHECK(db.health() == Health::starting);
}

TEST_CASE("health: a reload with a new healthcheck starts the checks over without a restart") {
  TestHost host;
  auto first = spec([](ProgramSpec& s) { s.starttime = {}; }, health());
  Instance db(host.fake, host, first, 0);
  db.start();
  host.advance(10s);
  host.fake.answerProbe(true);
  REQUIRE(db.health() == Health::healthy);
  auto second = spec([](ProgramSpec& s) { s.starttime = {}; }, health(),
                     [](ProgramSpec& s) { s.healthcheck->target = "localhost:6543"; });
  CHECK(first->sameProcessAs(*second));
  db.setSpec(second, false);
  CHECK(db.state() == S::running);
  CHECK(db.health() == Health::starting);
  host.advance(10s);
  REQUIRE(host.fake.pendingProbes().size() == 1);
  CHECK(host.fake.pendingProbes()[0].target == "localhost:6543");
  // The same healthcheck again: nothing starts over.
  db.setSpec(spec([](ProgramSpec& s) { s.starttime = {}; }, health(),
                  [](ProgramSpec& s) { s.healthcheck->target = "localhost:6543"; }),
             false);
  CHECK(host.fake.pendingProbes().size() == 1);
}

TEST_CASE("ready: a log line matching the pattern makes it ready, only while STARTING") {
  TestHost host;
  Instance db(host.fake, host, spec(ready(Readiness::Kind::log, "ready to accept connections")), 0);
  db.start();
  auto [onData, onEnd] = db.output().reader(taskmaster::StdStream::out);
  onData("starting up\ndatabase system is ready to acc");
  CHECK(db.state() == S::starting);  // half a line: not yet
  onData("ept connections\n");
  CHECK(db.state() == S::running);
  onEnd();
}

// --- the configuration keys --------------------------------------------------------------------------------

namespace {

taskmaster::ConfigResult parse(std::string_view programBody) {
  return taskmaster::parseConfig(fmt::format("programs:\n  db:\n    cmd: /bin/db\n{}", programBody), "tm.yml");
}

std::vector<std::string> errorsOf(const taskmaster::ConfigResult& result) {
  std::vector<std::string> out;
  for (const auto& e : result.errors) out.push_back(e.str());
  return out;
}

}  // namespace

TEST_CASE("yaml: ready and healthcheck are read with their defaults, and written back the same") {
  auto read = parse("    ready: {tcp: \"localhost:5432\", timeout: 30s}\n"
                    "    healthcheck:\n      http: http://localhost:8080/health\n      retries: 5\n"
                    "      start_period: 1m\n");
  REQUIRE_MESSAGE(read.ok(), fmt::format("{}", fmt::join(errorsOf(read), "\n")));
  const auto& db = read.config.programs.at(0);
  REQUIRE(db.ready);
  CHECK(db.ready->kind == Readiness::Kind::tcp);
  CHECK(db.ready->target == "localhost:5432");
  CHECK(db.ready->timeout == 30s);
  CHECK(db.ready->interval == 1s);
  REQUIRE(db.healthcheck);
  CHECK(db.healthcheck->kind == HealthCheck::Kind::http);
  CHECK(db.healthcheck->interval == 10s);
  CHECK(db.healthcheck->timeout == 2s);
  CHECK(db.healthcheck->retries == 5);
  CHECK(db.healthcheck->startPeriod == 60s);
  for (const char* body : {"    ready: {notify: true}\n", "    ready: {fd: 4, timeout: 5s}\n",
                           "    ready: {log: \"listening on [0-9]+\"}\n", "    ready: {exec: pg_isready -q}\n",
                           "    healthcheck: {exec: \"curl -f localhost\", interval: 500ms}\n",
                           "    healthcheck: {tcp: \"[::1]:80\", timeout: 1s}\n"}) {
    CAPTURE(body);
    auto first = parse(body);
    REQUIRE(first.ok());
    auto again = taskmaster::parseConfig(taskmaster::formatYaml(first.config), "converted.yml");
    REQUIRE(again.ok());
    CHECK(again.config.programs == first.config.programs);
  }
}

TEST_CASE("yaml: a bad ready or healthcheck says where and why") {
  CHECK(errorsOf(parse("    ready: {tpc: \"localhost:1\"}\n")) ==
        std::vector<std::string>{"tm.yml:4:12: program 'db': ready: expected one of notify, fd, log, exec, tcp, http"});
  CHECK(errorsOf(parse("    ready: {tcp: \"localhost:1\", timout: 3s}\n")) ==
        std::vector<std::string>{"tm.yml:4:33: program 'db': ready: unknown key 'timout' (did you mean 'timeout'?)"});
  CHECK(errorsOf(parse("    ready: {tcp: a:1, http: \"http://a/\"}\n")) ==
        std::vector<std::string>{"tm.yml:4:23: program 'db': ready: one of notify, fd, log, exec, tcp, http only, not two"});
  CHECK(errorsOf(parse("    ready: {log: \"(unclosed\"}\n")).at(0).starts_with(
      "tm.yml:4:12: program 'db': ready: log: '(unclosed' is not a valid regular expression"));
  CHECK(errorsOf(parse("    ready: {fd: 1}\n")) ==
        std::vector<std::string>{"tm.yml:4:12: program 'db': ready: fd: must be between 3 and 1023, got 1"});
  CHECK(errorsOf(parse("    healthcheck: {tcp: localhost, retries: 0}\n")) ==
        std::vector<std::string>{"tm.yml:4:18: program 'db': healthcheck: tcp: expected HOST:PORT with a port of 1-65535, got 'localhost'",
                                 "tm.yml:4:18: program 'db': healthcheck: retries: must be at least 1, got 0"});
  CHECK(errorsOf(parse("    healthcheck: {http: localhost/health}\n")) ==
        std::vector<std::string>{"tm.yml:4:18: program 'db': healthcheck: http: expected a URL starting with http:// or https://, got 'localhost/health'"});
  CHECK(errorsOf(parse("    healthcheck: {exec: true, intervall: 1s}\n")) ==
        std::vector<std::string>{"tm.yml:4:31: program 'db': healthcheck: unknown key 'intervall' (did you mean 'interval'?)"});
}
