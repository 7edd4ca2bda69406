// Readiness and health checks against real processes (the tm_helper program): the notification fd, sd_notify's
// NOTIFY_SOCKET, a log line, TCP and HTTP listeners that come up late or start failing, exec checks. Timing
// bounds are generous; configured times are sub-second.
#include <doctest/doctest.h>

#include <taskmaster/metrics.hpp>
#include <taskmaster/taskmaster.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "process/asio_host.hpp"
#include "support.hpp"
#include "supervisor_fixture.hpp"

using namespace std::chrono_literals;
using taskmaster::DetailChange;
using taskmaster::Health;
using taskmaster::HealthCheck;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;
using taskmaster::Readiness;
namespace fs = std::filesystem;

namespace {

using test::helperSpec;  // starttime 200ms: what readiness replaces

Readiness ready(Readiness::Kind kind, std::string target = {}) {
  return {.kind = kind, .target = std::move(target), .timeout = 10s, .interval = 100ms};
}

// A TCP port nobody listens on now: bound to 0, read, closed.
int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records the detail changes as well.
class Fixture : public test::SupervisorFixture {
 public:
  Fixture() : details_(sup.onDetailChange([this](const DetailChange& d) { details.push_back(d); })) {}

  // How long STARTING lasted: from the change to STARTING to the one to RUNNING.
  std::chrono::milliseconds startingFor() {
    taskmaster::WallTime starting{}, running{};
    for (const auto& c : changes) {
      if (c.to == ProcessState::starting) starting = c.time;
      if (c.to == ProcessState::running) running = c.time;
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(running - starting);
  }
  std::vector<Health> healthChanges() const {
    std::vector<Health> out;
    for (const auto& d : details)
      if (d.kind == DetailChange::Kind::health) out.push_back(d.health);
    return out;
  }

  std::vector<DetailChange> details;

 private:
  taskmaster::Subscription details_;
};

}  // namespace

TEST_CASE("ready fd: RUNNING when the program writes its newline on fd N; it gets no other fd") {
  test::TempDir dir;
  Fixture f;
  auto spec = helperSpec("db", {"--print-fds", "--sleep", "400", "--write-fd", "5", "up", "--forever"});
  spec.ready = ready(Readiness::Kind::fd);
  spec.ready->fd = 5;
  spec.stdoutPath = (dir.path / "out.log").string();
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.reaches("db", ProcessState::running));
  CHECK(f.startingFor() >= 350ms);
  REQUIRE(f.runUntil([&] { return slurp(dir.path / "out.log").find('\n') != std::string::npos; }));
  const auto out = slurp(dir.path / "out.log");
  CHECK_MESSAGE(out.find("fds 0 1 2 3 5\n") != std::string::npos, out);  // 3: the listing's own directory fd
}

TEST_CASE("ready notify: READY=1 over NOTIFY_SOCKET makes it RUNNING; STATUS= shows in status and is published") {
  Fixture f;
  auto spec = helperSpec("db", {"--sd-notify", "STATUS=loading tables", "--sleep", "400", "--sd-notify",
                                "STATUS=serving\nREADY=1", "--forever"});
  spec.ready = ready(Readiness::Kind::notify);
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.runUntil([&] { return !f.details.empty(); }));
  CHECK(f.details[0].kind == DetailChange::Kind::statusText);
  CHECK(f.details[0].text == "loading tables");
  CHECK(f.one("db").state == ProcessState::starting);
  REQUIRE(f.reaches("db", ProcessState::running));
  CHECK(f.startingFor() >= 350ms);
  CHECK(f.one("db").statusText == "serving");
}

TEST_CASE("ready notify: a message from a child of the program's process group counts, one from elsewhere not") {
  Fixture f;
  // /bin/sh runs the helper as its child (not exec'd: a second command follows), in the program's group.
  const char* h = std::getenv("TM_HELPER");
  auto spec = helperSpec("db", {});
  spec.cmd = {"/bin/sh", "-c", fmt::format("{} --sd-notify READY=1; exec {} --forever", h, h)};
  spec.ready = ready(Readiness::Kind::notify);
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.reaches("db", ProcessState::running));

  // setsid: a process of a session (and group) of its own is no process of the program's.
  auto elsewhere = helperSpec("other", {});
  elsewhere.cmd = {"/bin/sh", "-c", fmt::format("setsid {} --sd-notify READY=1; exec {} --forever", h, h)};
  elsewhere.ready = ready(Readiness::Kind::notify);
  elsewhere.ready->timeout = 600ms;
  elsewhere.startretries = 0;
  REQUIRE_FALSE(f.sup.add(elsewhere));
  REQUIRE_FALSE(f.sup.start("other"));
  REQUIRE(f.reaches("other", ProcessState::fatal));
  CHECK(f.one("other").reason.starts_with("not ready after 600ms"));
}

TEST_CASE("ready log: a line of its output matching the pattern makes it RUNNING") {
  Fixture f;
  auto spec = helperSpec("db", {"--say", "starting", "--sleep", "400", "--stderr", "ready to accept connections",
                                "--forever"});
  spec.ready = ready(Readiness::Kind::log, "ready to (accept|serve)");
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.reaches("db", ProcessState::running));
  CHECK(f.startingFor() >= 350ms);
}

TEST_CASE("ready tcp: a listener that comes up late; not ready in time is a failed start with the reason") {
  Fixture f;
  const int port = freePort();
  auto spec = helperSpec("db", {"--sleep", "500", "--listen", std::to_string(port)});
  spec.ready = ready(Readiness::Kind::tcp, fmt::format("127.0.0.1:{}", port));
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.reaches("db", ProcessState::running));
  CHECK(f.startingFor() >= 450ms);

  auto never = helperSpec("never", {"--forever"});
  never.ready = ready(Readiness::Kind::tcp, fmt::format("127.0.0.1:{}", freePort()));
  never.ready->timeout = 400ms;
  never.startretries = 0;
  REQUIRE_FALSE(f.sup.add(never));
  REQUIRE_FALSE(f.sup.start("never"));
  REQUIRE(f.reaches("never", ProcessState::fatal));
  CHECK_MESSAGE(f.one("never").reason.starts_with("not ready after 400ms (last check: connection refused)"),
                f.one("never").reason);
}

TEST_CASE("ready exec: a command run in the program's working directory, until it exits 0") {
  test::TempDir dir;
  Fixture f;
  auto spec = helperSpec("db", {"--forever"});
  spec.workingdir = dir.path.string();
  spec.ready = ready(Readiness::Kind::exec, "test -f flag");
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.reaches("db", ProcessState::starting));
  f.runUntil([] { return false; }, 500ms);
  CHECK(f.one("db").state == ProcessState::starting);
  std::ofstream(dir.path / "flag") << "";
  REQUIRE(f.reaches("db", ProcessState::running));
}

TEST_CASE("healthcheck http: healthy, then failing: unhealthy with the reason, and restarted") {
  Fixture f;
  const int port = freePort();
  auto spec = helperSpec("web", {"--http", std::to_string(port), "3"});
  spec.ready = ready(Readiness::Kind::http, fmt::format("http://127.0.0.1:{}/", port));  // request 1
  spec.healthcheck = HealthCheck{.kind = HealthCheck::Kind::http, .target = fmt::format("http://127.0.0.1:{}/health", port),
                                 .interval = 200ms, .timeout = 1s, .retries = 2};
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("web"));
  REQUIRE(f.reaches("web", ProcessState::running));
  const int pid = f.one("web").pid;
  // Requests 2 and 3 pass, then 503s: unhealthy after 2 of them, then stopped and started again.
  REQUIRE(f.runUntil([&] { return f.one("web").restarts == 1; }));
  CHECK(f.healthChanges() == std::vector<Health>{Health::starting, Health::healthy, Health::unhealthy});
  bool restartedWithReason = false;
  for (const auto& c : f.changes)
    if (c.to == ProcessState::stopping && c.reason == "unhealthy: HTTP 503") restartedWithReason = true;
  CHECK(restartedWithReason);
  REQUIRE(f.reaches("web", ProcessState::running));
  CHECK(f.one("web").pid != pid);
}

TEST_CASE("healthcheck exec and tcp: the reason of a failed check, and health none once stopped") {
  test::TempDir dir;
  Fixture f;
  auto spec = helperSpec("db", {"--forever"});
  spec.workingdir = dir.path.string();
  spec.autorestart = taskmaster::AutoRestart::never;
  spec.healthcheck = HealthCheck{.kind = HealthCheck::Kind::exec, .target = "cat state", .interval = 100ms,
                                 .timeout = 1s, .retries = 1};
  std::ofstream(dir.path / "state") << "fine\n";
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.runUntil([&] { return f.one("db").health == Health::healthy; }));
  taskmaster::metrics::Collector collector(f.sup);
  const std::string gauge = "taskmaster_process_healthy{program=\"db\",process=\"db\"} ";
  CHECK(collector.render().find(gauge + "1\n") != std::string::npos);
  fs::remove(dir.path / "state");
  REQUIRE(f.runUntil([&] { return f.one("db").health == Health::unhealthy; }));
  CHECK(collector.render().find(gauge + "0\n") != std::string::npos);
  CHECK_MESSAGE(f.one("db").healthText.starts_with("exit status 1: cat: state:"), f.one("db").healthText);
  CHECK(f.one("db").state == ProcessState::running);  // autorestart never

  auto tcp = helperSpec("cache", {"--forever"});
  tcp.autorestart = taskmaster::AutoRestart::never;
  tcp.healthcheck = HealthCheck{.kind = HealthCheck::Kind::tcp, .target = fmt::format("127.0.0.1:{}", freePort()),
                                .interval = 100ms, .timeout = 1s, .retries = 1};
  REQUIRE_FALSE(f.sup.add(tcp));
  REQUIRE_FALSE(f.sup.start("cache"));
  REQUIRE(f.runUntil([&] { return f.one("cache").health == Health::unhealthy; }));
  CHECK(f.one("cache").healthText == "connection refused");
  std::optional<std::vector<taskmaster::Outcome>> stopped;
  REQUIRE_FALSE(f.sup.stop("cache", [&](auto o) { stopped = std::move(o); }));
  REQUIRE(f.runUntil([&] { return stopped.has_value(); }));
  CHECK(f.one("cache").health == Health::none);
  CHECK(collector.render().find("taskmaster_process_healthy{program=\"cache\"") == std::string::npos);
}

TEST_CASE("coalesced timers: 500 deadlines within 100 ms wake the loop at most twice, none early, none 100 ms late") {
  boost::asio::io_context io;
  taskmaster::detail::AsioHost host(io);
  constexpr int kTimers = 500;
  std::vector<std::unique_ptr<taskmaster::detail::Timer>> timers;
  std::vector<std::chrono::steady_clock::time_point> due(kTimers), fired(kTimers);
  int done = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kTimers; ++i) {
    timers.push_back(host.makeCoalescedTimer([&, i] {
      fired[i] = std::chrono::steady_clock::now();
      ++done;
    }));
    const auto after = 50ms + std::chrono::microseconds(i * 190);  // spread over 95 ms
    due[i] = start + after;
    timers.back()->arm(after);
  }
  timers[7]->cancel();  // a cancelled one never fires
  int wakeups = 0;
  while (done < kTimers - 1 && std::chrono::steady_clock::now() < start + 5s) wakeups += io.run_one_for(1s) ? 1 : 0;
  CHECK(done == kTimers - 1);
  CHECK(wakeups <= 2);
  for (int i = 0; i < kTimers; ++i) {
    if (i == 7) continue;
    CHECK(fired[i] >= due[i]);
    CHECK(fired[i] - due[i] < 100ms + 200ms);  // the slack, and a loaded machine
  }
  CHECK(fired[7] == std::chrono::steady_clock::time_point{});
}

TEST_CASE("reload: a new healthcheck applies to the running process without restarting it") {
  Fixture f;
  auto spec = helperSpec("db", {"--forever"});
  spec.autorestart = taskmaster::AutoRestart::never;
  spec.healthcheck = HealthCheck{.kind = HealthCheck::Kind::exec, .target = "true", .interval = 100ms,
                                 .timeout = 1s, .retries = 1};
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("db"));
  REQUIRE(f.runUntil([&] { return f.one("db").health == Health::healthy; }));
  const int pid = f.one("db").pid;
  spec.healthcheck->target = "false";
  taskmaster::Config config;
  config.programs = {spec};
  (void)f.sup.apply(config);
  REQUIRE(f.runUntil([&] { return f.one("db").health == Health::unhealthy; }));
  CHECK(f.one("db").pid == pid);
  CHECK(f.one("db").healthText == "exit status 1");
}
