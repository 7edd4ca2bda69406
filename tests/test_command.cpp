// AsioHost::runCommand: real processes on a real io_context.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include "process/asio_host.hpp"
#include "support.hpp"

using namespace taskmaster;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const ProgramSpec> shell(const std::string& script) {
  auto spec = std::make_shared<ProgramSpec>();
  spec->name = "probe";
  spec->cmd = {"/bin/sh", "-c", script};
  return spec;
}

int openFds() {
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// The children of this process that are zombies (not reaped).
int zombies() {
  int n = 0;
  const auto self = std::to_string(::getpid());
  for (auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (state == "Z" && ppid == self) ++n;
  }
  return n;
}

bool alive(int pid) { return ::kill(pid, 0) == 0; }

// Runs one command on a fresh loop to its report (or until the loop has nothing left to do).
struct Runner {
  boost::asio::io_context io;
  detail::AsioHost host{io};
  std::optional<detail::CommandResult> result;
  std::chrono::steady_clock::duration took{};

  detail::CommandResult run(detail::CommandRequest request) {
    const auto start = std::chrono::steady_clock::now();
    auto pending = host.runCommand(std::move(request), [&](detail::CommandResult r) {
      took = std::chrono::steady_clock::now() - start;
      result = std::move(r);
    });
    io.run();
    io.restart();
    REQUIRE(result);
    return *result;
  }
};

detail::CommandRequest request(const std::string& script, std::string input = {}) {
  detail::CommandRequest r;
  r.spec = shell(script);
  r.instance = "probe";
  r.input = std::move(input);
  r.timeout = 10s;
  return r;
}

}  // namespace

TEST_CASE("a command's exit code and output, stdout and stderr together") {
  Runner runner;
  auto r = runner.run(request("echo out; echo err >&2; exit 3"));
  REQUIRE(r.exit);
  CHECK(r.exit->code == 3);
  CHECK_FALSE(r.ok());
  CHECK(r.error.empty());
  CHECK(r.output == "out\nerr\n");
  CHECK(runner.run(request("true")).ok());
}

TEST_CASE("a command's output is kept up to maxOutput, the rest read and dropped") {
  Runner runner;
  auto req = request("head -c 1000000 /dev/zero | tr '\\0' x; echo done >&2");
  req.maxOutput = 10;
  auto r = runner.run(std::move(req));
  CHECK(r.ok());
  CHECK(r.output == "xxxxxxxxxx");
}

TEST_CASE("a command reads its input, then the end of it") {
  Runner runner;
  CHECK(runner.run(request("cat", "hello\n")).output == "hello\n");
  // More than a pipe holds: fed as the command reads.
  const std::string big(300000, 'y');
  auto req = request("wc -c", big);
  auto r = runner.run(std::move(req));
  CHECK(r.ok());
  CHECK(r.output.find("300000") != std::string::npos);
  // Without input, stdin is /dev/null: the command sees its end at once.
  CHECK(runner.run(request("cat; echo end")).output == "end\n");
  // A command that never reads its input still ends.
  CHECK(runner.run(request("exit 0", big)).ok());
}

TEST_CASE("a command that ignores SIGTERM is SIGKILLed at its timeout with its grandchild; nothing is left") {
  test::TempDir dir;
  const auto pidFile = (dir.path / "grandchild").string();
  Runner runner;
  CHECK(runner.run(request("true")).ok());  // the loop's own fds (epoll, timers) are open from here on
  const int fdsBefore = openFds();
  auto req = request("trap '' TERM; sleep 60 & echo $! > " + pidFile + "; while :; do sleep 1; done");
  req.timeout = 300ms;
  auto r = runner.run(std::move(req));
  CHECK_FALSE(r.exit);
  CHECK(r.error == "timed out after 300ms");
  CHECK(runner.took >= 300ms);
  CHECK(runner.took < 5s);
  int grandchild = 0;
  std::ifstream(pidFile) >> grandchild;
  REQUIRE(grandchild > 0);
  // The grandchild was in the command's group: killed with it; init (or a subreaper) reaps it.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (alive(grandchild) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(alive(grandchild));
  CHECK(zombies() == 0);
  CHECK(openFds() == fdsBefore);
}

TEST_CASE("a command whose exit leaves a grandchild holding its output: the group is killed, the report comes") {
  Runner runner;
  auto r = runner.run(request("sleep 60 & echo started"));
  CHECK(r.ok());
  CHECK(r.output == "started\n");
  CHECK(runner.took < 5s);
}

TEST_CASE("destroying a pending command kills and reaps it without a report") {
  test::TempDir dir;
  const auto pidFile = (dir.path / "pid").string();
  boost::asio::io_context io;
  {
    detail::AsioHost host(io);
    bool warmedUp = false;
    auto first = host.runCommand(request("true"), [&](detail::CommandResult) { warmedUp = true; });
    while (!warmedUp) io.run_one();
    io.run_for(50ms);
    io.restart();  // out of work, the loop stopped
    const int fdsBefore = openFds();
    bool reported = false;
    auto pending = host.runCommand(request("echo $$ > " + pidFile + "; exec sleep 60"), [&](detail::CommandResult) {
      reported = true;
    });
    int pid = 0;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (pid == 0 && std::chrono::steady_clock::now() < until) {
      io.run_for(10ms);
      std::ifstream in(pidFile);
      in >> pid;
    }
    REQUIRE(pid > 0);
    pending.reset();
    io.run_for(500ms);
    CHECK_FALSE(reported);
    CHECK_FALSE(alive(pid));
    CHECK(zombies() == 0);
    CHECK(openFds() == fdsBefore);
  }
}

TEST_CASE("a command that cannot be spawned is reported later, with the reason") {
  Runner runner;
  detail::CommandRequest req;
  auto spec = std::make_shared<ProgramSpec>();
  spec->name = "probe";
  spec->cmd = {"/nonexistent/check"};
  req.spec = spec;
  bool inside = true;
  std::optional<detail::CommandResult> result;
  auto pending = runner.host.runCommand(req, [&](detail::CommandResult r) {
    CHECK_FALSE(inside);
    result = std::move(r);
  });
  inside = false;
  runner.io.run();
  REQUIRE(result);
  CHECK_FALSE(result->exit);
  CHECK(result->error.rfind("spawn error: ", 0) == 0);
  CHECK(result->error.find("/nonexistent/check") != std::string::npos);
}

TEST_CASE("a command sees the instance's TASKMASTER_ variables and the spec's environment") {
  Runner runner;
  auto req = request("echo $TASKMASTER_PROGRAM $TASKMASTER_PROCESS $TASKMASTER_INSTANCE $EXTRA");
  auto spec = std::make_shared<ProgramSpec>(*req.spec);
  spec->name = "web";
  spec->env["EXTRA"] = "x";
  req.spec = spec;
  req.instance = "web:2";
  req.index = 2;
  CHECK(runner.run(std::move(req)).output == "web web:2 2 x\n");
}

TEST_CASE("with the orphan reaper on (--init), a command's exit is still its own, not reaped as a stranger's") {
  boost::asio::io_context io;
  detail::AsioHost host(io);
  REQUIRE_FALSE(host.reapOrphans());  // its SIGCHLD wait keeps the loop busy: run until each report
  for (int i = 0; i < 20; ++i) {
    std::optional<detail::CommandResult> result;
    auto pending = host.runCommand(request("exit 7"), [&](detail::CommandResult r) { result = std::move(r); });
    while (!result) io.run_one();
    REQUIRE(result->exit);
    CHECK(result->exit->code == 7);
  }
  io.run_for(100ms);
  CHECK(zombies() == 0);
}
