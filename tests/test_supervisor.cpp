// The Supervisor against real processes: the tm_helper program, real signals, real files.
// Timing bounds are generous; configured times are sub-second.
#include <doctest/doctest.h>

#include <taskmaster/taskmaster.hpp>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "support.hpp"
#include "supervisor_fixture.hpp"

using namespace std::chrono_literals;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;
namespace fs = std::filesystem;

namespace {

using test::helperSpec;
using test::TempDir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

// Our children that are zombies: read from /proc, never by waiting (that would steal exits).
int zombieChildren() {
  int count = 0;
  for (auto& e : fs::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid;
    rest >> state >> ppid;
    if (ppid == ::getpid() && state == 'Z') ++count;
  }
  return count;
}

class Fixture : public test::SupervisorFixture {
 public:
  std::vector<taskmaster::Outcome> startAndWait(const std::string& target, std::chrono::milliseconds limit = 10s) {
    std::optional<std::vector<taskmaster::Outcome>> result;
    REQUIRE_FALSE(sup.start(target, [&](auto o) { result = std::move(o); }));
    REQUIRE(runUntil([&] { return result.has_value(); }, limit));
    return *result;
  }
  std::vector<taskmaster::Outcome> stopAndWait(const std::string& target) {
    std::optional<std::vector<taskmaster::Outcome>> result;
    REQUIRE_FALSE(sup.stop(target, [&](auto o) { result = std::move(o); }));
    REQUIRE(runUntil([&] { return result.has_value(); }));
    return *result;
  }

};

}  // namespace

TEST_CASE("a program starts, is RUNNING after starttime, and stops with its process gone") {
  Fixture f;
  REQUIRE_FALSE(f.sup.add(helperSpec("sleeper", {"--forever"})));
  auto outcome = f.startAndWait("sleeper");
  REQUIRE(outcome.size() == 1);
  CHECK(outcome[0].ok);
  CHECK(outcome[0].message == "started");
  auto s = f.one("sleeper");
  CHECK(s.state == ProcessState::running);
  CHECK(alive(s.pid));
  auto stopped = f.stopAndWait("sleeper");
  CHECK(stopped[0].ok);
  CHECK(f.one("sleeper").state == ProcessState::stopped);
  CHECK_FALSE(alive(s.pid));
  CHECK(zombieChildren() == 0);
}

TEST_CASE("a start of an instance that is already STARTING waits for it to be up") {
  Fixture f;
  auto spec = helperSpec("slow", {"--forever"});
  spec.starttime = 300ms;
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE_FALSE(f.sup.start("slow"));
  REQUIRE(f.one("slow").state == ProcessState::starting);
  auto outcome = f.startAndWait("slow");
  CHECK(outcome[0].ok);
  CHECK(outcome[0].message == "started");
  CHECK(f.one("slow").state == ProcessState::running);
}

TEST_CASE("a missing binary is a spawn error with its reason, and FATAL after startretries") {
  Fixture f;
  auto spec = helperSpec("ghost", {});
  spec.cmd = {"/no/such/binary"};
  spec.startretries = 0;
  REQUIRE_FALSE(f.sup.add(spec));
  auto outcome = f.startAndWait("ghost");
  CHECK_FALSE(outcome[0].ok);
  CHECK(outcome[0].message == "spawn error: /no/such/binary: No such file or directory (gave up after 0 retries)");
  CHECK(f.one("ghost").state == ProcessState::fatal);
}

TEST_CASE("a command is searched in PATH, and a name not found there is ENOENT") {
  Fixture f;
  auto spec = helperSpec("sh", {});
  spec.cmd = {"sh", "-c", "exec sleep 30"};
  REQUIRE_FALSE(f.sup.add(spec));
  CHECK(f.startAndWait("sh")[0].ok);
  spec.name = "nope";
  spec.cmd = {"no-such-command-anywhere"};
  spec.startretries = 0;
  REQUIRE_FALSE(f.sup.add(spec));
  CHECK(f.startAndWait("nope")[0].message.starts_with("spawn error: no-such-command-anywhere: No such file"));
}

TEST_CASE("a bad workingdir is reported as a failed start, not as exit 127") {
  Fixture f;
  auto spec = helperSpec("lost", {"--forever"});
  spec.workingdir = "/no/such/dir";
  spec.startretries = 0;
  REQUIRE_FALSE(f.sup.add(spec));
  CHECK(f.startAndWait("lost")[0].message.starts_with("spawn error: chdir /no/such/dir: No such file or directory"));
}

TEST_CASE("the child gets fds 0-2 only, a clean signal state, its own process group, env, cwd and umask") {
  TempDir dir;
  Fixture f;
  // Leak bait: a non-CLOEXEC fd in the supervisor, and signal state a child must not inherit.
  int bait = ::open("/dev/null", O_RDONLY);
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ::sigprocmask(SIG_BLOCK, &usr1, nullptr);

  auto spec = helperSpec("probe", {"--print-fds", "--print-sigstate", "--print-pgid", "--print-env", "GREETING",
                                   "--print-env", "HOME", "--print-env", "TASKMASTER_PROCESS", "--print-cwd",
                                   "--print-umask", "--stderr", "to-stderr", "--forever"});
  spec.stdoutPath = (dir.path / "out.log").string();
  spec.stderrPath = (dir.path / "err.log").string();
  spec.env = {{"GREETING", "hello world"}};
  spec.workingdir = dir.path.string();
  spec.umask = 027;
  REQUIRE_FALSE(f.sup.add(spec));
  auto started = f.startAndWait("probe");
  REQUIRE_MESSAGE(started[0].ok, started[0].message);
  int pid = f.one("probe").pid;
  REQUIRE(f.runUntil([&] { return slurp(dir.path / "out.log").find("0027") != std::string::npos; }));
  ::close(bait);
  ::sigprocmask(SIG_UNBLOCK, &usr1, nullptr);
  std::signal(SIGPIPE, SIG_DFL);

  auto out = slurp(dir.path / "out.log");
  CHECK_MESSAGE(out.find("fds 0 1 2 3\n") != std::string::npos, out);  // 3: the listing's own directory fd
  CHECK_MESSAGE(out.find("SigBlk:\t0000000000000000") != std::string::npos, out);
  CHECK_MESSAGE(out.find("SigIgn:\t0000000000000000") != std::string::npos, out);
  CHECK_MESSAGE(out.find(fmt::format("{} {}\n", pid, pid)) != std::string::npos, out);
  CHECK(out.find("GREETING=hello world\n") != std::string::npos);
  const char* home = std::getenv("HOME");
  CHECK(out.find(home ? fmt::format("HOME={}\n", home) : "HOME unset\n") != std::string::npos);  // inherited
  CHECK(out.find("TASKMASTER_PROCESS=probe\n") != std::string::npos);
  CHECK(out.find(fs::canonical(dir.path).string() + "\n") != std::string::npos);
  CHECK(slurp(dir.path / "err.log") == "to-stderr\n");
}

TEST_CASE("output files are appended to, not truncated, across restarts") {
  TempDir dir;
  Fixture f;
  auto spec = helperSpec("echo", {"--stderr", "line", "--forever"});
  spec.stderrPath = (dir.path / "err.log").string();
  REQUIRE_FALSE(f.sup.add(spec));
  for (int i = 0; i < 2; ++i) {
    REQUIRE(f.startAndWait("echo")[0].ok);
    f.stopAndWait("echo");
  }
  CHECK(slurp(dir.path / "err.log") == "line\nline\n");
}

TEST_CASE("a program that ignores stopsignal is SIGKILLed after stoptime") {
  Fixture f;
  auto spec = helperSpec("stubborn", {"--ignore-term", "--forever"});
  spec.stoptime = 300ms;
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE(f.startAndWait("stubborn")[0].ok);
  int pid = f.one("stubborn").pid;
  auto begin = std::chrono::steady_clock::now();
  REQUIRE(f.stopAndWait("stubborn")[0].ok);
  CHECK(std::chrono::steady_clock::now() - begin >= 300ms);
  auto s = f.one("stubborn");
  REQUIRE(s.lastExit);
  CHECK(s.lastExit->signal == SIGKILL);
  CHECK_FALSE(alive(pid));
}

TEST_CASE("stop reaches grandchildren through the process group; a main exit takes its leftovers along") {
  TempDir dir;
  Fixture f;
  auto pidOf = [&](const char* file) {
    int pid = 0;
    f.runUntil([&] { return std::ifstream(dir.path / file) >> pid && pid > 0; });
    return pid;
  };
  REQUIRE_FALSE(f.sup.add(helperSpec("parent", {"--grandchild", (dir.path / "a").string(), "--forever"})));
  REQUIRE(f.startAndWait("parent")[0].ok);
  int grandchild = pidOf("a");
  REQUIRE(alive(grandchild));
  f.stopAndWait("parent");
  CHECK(f.runUntil([&] { return !alive(grandchild); }, 5s));

  auto quitter = helperSpec("quitter", {"--grandchild", (dir.path / "b").string(), "--sleep", "300", "--exit", "0"});
  quitter.autorestart = taskmaster::AutoRestart::never;
  REQUIRE_FALSE(f.sup.add(quitter));
  REQUIRE(f.startAndWait("quitter")[0].ok);
  int orphan = pidOf("b");
  REQUIRE(f.reaches("quitter", ProcessState::exited));
  CHECK(f.runUntil([&] { return !alive(orphan); }, 5s));
}

TEST_CASE("a process killed by hand is restarted per autorestart, with a new pid") {
  Fixture f;
  REQUIRE_FALSE(f.sup.add(helperSpec("phoenix", {"--forever"})));
  REQUIRE(f.startAndWait("phoenix")[0].ok);
  int first = f.one("phoenix").pid;
  ::kill(first, SIGKILL);
  REQUIRE(f.runUntil([&] { auto s = f.one("phoenix"); return s.pid != 0 && s.pid != first; }));
  auto s = f.one("phoenix");
  CHECK(s.restarts == 1);
  REQUIRE(s.lastExit);
  CHECK(s.lastExit->signal == SIGKILL);
  auto exited = std::find_if(f.changes.begin(), f.changes.end(), [](auto& c) { return c.to == ProcessState::exited; });
  REQUIRE(exited != f.changes.end());
  CHECK_FALSE(exited->expected);
  CHECK(exited->pid == first);
}

TEST_CASE("instances: numprocs N gives name:0 .. name:N-1, addressed together by the name") {
  Fixture f;
  auto spec = helperSpec("pool", {"--forever"});
  spec.numprocs = 3;
  REQUIRE_FALSE(f.sup.add(spec));
  CHECK(f.sup.instanceNames() == std::vector<std::string>{"pool:0", "pool:1", "pool:2"});
  auto started = f.startAndWait("pool");
  CHECK(started.size() == 3);
  f.stopAndWait("pool:1");
  CHECK(f.one("pool:1").state == ProcessState::stopped);
  CHECK(f.one("pool:0").state == ProcessState::running);
  CHECK(f.sup.start("pool:7") == taskmaster::Errc::no_such_program);
  CHECK(f.sup.start("nope") == taskmaster::Errc::no_such_program);
}

TEST_CASE("apply: unchanged programs keep their pids, changed ones restart, numprocs adds without restarting") {
  Fixture f;
  taskmaster::Config config;
  auto keep = helperSpec("keep", {"--forever"});
  auto change = helperSpec("change", {"--forever"});
  auto grow = helperSpec("grow", {"--forever"});
  auto drop = helperSpec("drop", {"--forever"});
  for (auto* s : {&keep, &change, &grow, &drop}) s->autostart = true;
  config.programs = {keep, change, grow, drop};
  auto first = f.sup.apply(config);
  CHECK(first.added.size() == 4);
  REQUIRE(f.runUntil([&] {
    auto all = f.sup.status();
    return std::all_of(all.begin(), all.end(), [](auto& s) { return s.state == ProcessState::running; });
  }));
  const int keepPid = f.one("keep").pid, changePid = f.one("change").pid, growPid = f.one("grow").pid,
            dropPid = f.one("drop").pid;

  change.cmd.push_back("--sleep");  // a process-defining change
  change.cmd.push_back("1");
  grow.numprocs = 2;
  grow.stoptime = 3s;  // a live option
  config.programs = {keep, change, grow};
  auto second = f.sup.apply(config);
  CHECK(second.unchanged == std::vector<std::string>{"keep"});
  CHECK(second.changed == std::vector<std::string>{"change"});
  CHECK(second.updated == std::vector<std::string>{"grow"});
  CHECK(second.removed == std::vector<std::string>{"drop"});
  REQUIRE(f.runUntil([&] { return f.one("change").pid != changePid && f.one("change").state == ProcessState::running; }));
  REQUIRE(f.reaches("grow:1", ProcessState::running));
  CHECK(f.one("keep").pid == keepPid);
  CHECK(f.one("grow:0").pid == growPid);
  CHECK(f.runUntil([&] { return !alive(dropPid); }));
  CHECK(f.sup.programNames() == std::vector<std::string>{"change", "grow", "keep"});
}

TEST_CASE("observers may unsubscribe during a callback, and a throwing observer is logged and does not stop the others") {
  Fixture f;
  int calls = 0, afterThrow = 0;
  taskmaster::Subscription once;
  once = f.sup.onStateChange([&](const taskmaster::StateChange&) {
    ++calls;
    once.reset();
  });
  auto thrower = f.sup.onStateChange([](const taskmaster::StateChange&) { throw std::runtime_error("boom"); });
  auto counter = f.sup.onStateChange([&](const taskmaster::StateChange&) { ++afterThrow; });
  std::vector<std::string> logged;
  f.sup.setLogSink([&](taskmaster::LogLevel level, std::string_view m) {
    if (level == taskmaster::LogLevel::error) logged.emplace_back(m);
  });
  REQUIRE_FALSE(f.sup.add(helperSpec("obs", {"--forever"})));
  REQUIRE(f.startAndWait("obs")[0].ok);
  CHECK(calls == 1);
  CHECK(afterThrow == 2);  // STARTING, RUNNING
  CHECK(logged == std::vector<std::string>{"an observer threw on obs STOPPED -> STARTING: boom",
                                           "an observer threw on obs STARTING -> RUNNING: boom"});
  f.sup.setLogSink({});
}

TEST_CASE("shutdown stops everything, honouring stoptime, and leaves no process or zombie") {
  std::vector<int> pids;
  {
    boost::asio::io_context io;
    taskmaster::Supervisor sup(io);
    auto a = helperSpec("a", {"--forever"});
    a.numprocs = 3;
    a.autostart = true;
    auto b = helperSpec("b", {"--ignore-term", "--forever"});
    b.autostart = true;
    b.stoptime = 200ms;
    REQUIRE_FALSE(sup.add(a));
    REQUIRE_FALSE(sup.add(b));
    boost::asio::steady_timer t(io, 500ms);
    t.async_wait([&](auto) {
      for (auto& s : sup.status()) pids.push_back(s.pid);
      sup.shutdown();
    });
    io.run_for(15s);  // returns early: when shut down, nothing is left to wait for
    CHECK(pids.size() == 4);
    for (auto& s : sup.status()) CHECK(s.state == ProcessState::stopped);
  }
  for (int pid : pids) CHECK_FALSE(alive(pid));
  CHECK(zombieChildren() == 0);
}

TEST_CASE("destroying a Supervisor kills what still runs") {
  int pid = 0;
  {
    boost::asio::io_context io;
    taskmaster::Supervisor sup(io);
    auto spec = helperSpec("orphan", {"--forever"});
    spec.autostart = true;
    REQUIRE_FALSE(sup.add(spec));
    io.run_for(100ms);
    pid = sup.status()[0].pid;
    REQUIRE(alive(pid));
  }
  CHECK_FALSE(alive(pid));
  CHECK(zombieChildren() == 0);
}

TEST_CASE("user: drops privileges when root, and is a clear failed start otherwise") {
  Fixture f;
  TempDir dir;
  auto spec = helperSpec("nobody", {"--print-ids", "--forever"});
  spec.user = "nobody";
  spec.stdoutPath = (dir.path / "ids").string();
  spec.startretries = 0;
  REQUIRE_FALSE(f.sup.add(spec));
  auto outcome = f.startAndWait("nobody");
  if (::geteuid() == 0) {
    REQUIRE(outcome[0].ok);
    REQUIRE(f.runUntil([&] { return slurp(dir.path / "ids").find("Groups:") != std::string::npos; }));
    auto ids = slurp(dir.path / "ids");
    CHECK_MESSAGE(ids.find("Uid:\t65534\t65534\t65534\t65534") != std::string::npos, ids);
    CHECK_MESSAGE(ids.find("Gid:\t65534\t65534\t65534\t65534") != std::string::npos, ids);
  } else {
    CHECK_FALSE(outcome[0].ok);
    CHECK(outcome[0].message.find("not running as root") != std::string::npos);
  }
  spec.name = "ghost-user";
  spec.user = "no-such-user-here";
  REQUIRE_FALSE(f.sup.add(spec));
  CHECK(f.startAndWait("ghost-user")[0].message.starts_with("spawn error: no such user 'no-such-user-here'"));
}

TEST_CASE("a file that is not executable is a spawn error with EACCES") {
  TempDir dir;
  Fixture f;
  auto script = dir.path / "script.sh";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  auto spec = helperSpec("noexec", {});
  spec.cmd = {script.string()};
  spec.startretries = 0;
  REQUIRE_FALSE(f.sup.add(spec));
  auto message = f.startAndWait("noexec")[0].message;
  if (::geteuid() != 0) CHECK(message.starts_with(fmt::format("spawn error: {}: Permission denied", script.string())));
  else CHECK(message.starts_with("spawn error: "));  // root may execute it only if some x bit is set
}

TEST_CASE("running out of fds is a failed start with its reason, and the next start works again") {
  Fixture f;
  auto spec = helperSpec("needy", {"--forever"});
  spec.startretries = 0;
  REQUIRE_FALSE(f.sup.add(spec));
  test::NoFdsLeft exhausted;
  REQUIRE(exhausted.ok());
  auto failed = f.startAndWait("needy");
  exhausted.release();
  CHECK_FALSE(failed[0].ok);
  CHECK_MESSAGE(failed[0].message.find("Too many open files") != std::string::npos, failed[0].message);
  CHECK(f.one("needy").state == ProcessState::fatal);
  CHECK(f.startAndWait("needy")[0].ok);
}

TEST_CASE("a child reaped by someone else is an exit with an unknown status, logged, and not an exit code") {
  std::vector<std::string> warnings;  // declared first: outlives the Supervisor that logs into it
  Fixture f;
  f.sup.setLogSink([&](taskmaster::LogLevel level, std::string_view m) {
    if (level == taskmaster::LogLevel::warn) warnings.emplace_back(m);
  });
  auto spec = helperSpec("stolen", {"--forever"});
  spec.autorestart = taskmaster::AutoRestart::never;
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE(f.startAndWait("stolen")[0].ok);
  const int pid = f.one("stolen").pid;
  ::kill(pid, SIGKILL);
  REQUIRE(::waitpid(pid, nullptr, 0) == pid);  // what an embedding program's waitpid(-1) would do
  REQUIRE(f.reaches("stolen", ProcessState::exited));
  auto exited = std::find_if(f.changes.begin(), f.changes.end(), [](auto& c) { return c.to == ProcessState::exited; });
  REQUIRE(exited != f.changes.end());
  CHECK_FALSE(exited->exit);
  CHECK_FALSE(exited->expected);
  CHECK(exited->pid == pid);
  CHECK(exited->reason == "unexpected exit (exit status unknown)");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].starts_with(fmt::format("stolen: pid {} was reaped by someone else", pid)));
}

TEST_CASE("limits: the child gets each limit before exec; one above taskmaster's hard limit is a failed start") {
  TempDir dir;
  Fixture f;
  auto spec = helperSpec("limited", {"--print-limits", "--forever"});
  spec.stdoutPath = (dir.path / "out.log").string();
  spec.limits = {{taskmaster::Resource::nofile, {256, 512}},
                 {taskmaster::Resource::core, {0, 0}},
                 {taskmaster::Resource::as, {taskmaster::kUnlimited, taskmaster::kUnlimited}},
                 {taskmaster::Resource::cpu, {3600, 7200}},
                 {taskmaster::Resource::fsize, {1 << 30, 1 << 30}}};
  REQUIRE_FALSE(f.sup.add(spec));
  auto started = f.startAndWait("limited");
  REQUIRE_MESSAGE(started[0].ok, started[0].message);
  REQUIRE(f.runUntil([&] { return slurp(dir.path / "out.log").find("stack") != std::string::npos; }));
  const auto out = slurp(dir.path / "out.log");
  CHECK_MESSAGE(out.find("nofile 256 512\n") != std::string::npos, out);
  CHECK_MESSAGE(out.find("core 0 0\n") != std::string::npos, out);
  CHECK_MESSAGE(out.find("as unlimited unlimited\n") != std::string::npos, out);
  CHECK_MESSAGE(out.find("cpu 3600 7200\n") != std::string::npos, out);
  CHECK_MESSAGE(out.find("fsize 1073741824 1073741824\n") != std::string::npos, out);

  // More open files than any process may have (fs.nr_open), even root: refused, never capped.
  std::uint64_t systemMax = 0;
  std::ifstream("/proc/sys/fs/nr_open") >> systemMax;
  REQUIRE(systemMax > 0);
  rlimit own{};
  ::getrlimit(RLIMIT_NOFILE, &own);
  auto greedy = helperSpec("greedy", {"--forever"});
  greedy.limits = {{taskmaster::Resource::nofile, {systemMax + 1, systemMax + 1}}};
  greedy.startretries = 0;
  REQUIRE_FALSE(f.sup.add(greedy));
  auto failed = f.startAndWait("greedy");
  CHECK_FALSE(failed[0].ok);
  CHECK(failed[0].message.starts_with(fmt::format("spawn error: limits: nofile {} is above the hard limit taskmaster "
                                                  "has ({}): Operation not permitted",
                                                  systemMax + 1, own.rlim_max)));
  CHECK(f.one("greedy").state == ProcessState::fatal);
}

TEST_CASE("reapOrphans: a subreaper's orphans are reaped, and the supervisor's own exits keep their status") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  TempDir dir;
  {
    Fixture f;
    REQUIRE_FALSE(f.sup.reapOrphans());
    // Its orphan comes back to this process and exits 100 ms later; the program itself exits with 3 after 300.
    auto spec = helperSpec("parent", {"--orphan", "100", (dir.path / "orphan").string(), "--sleep", "300", "--exit", "3"});
    spec.autorestart = taskmaster::AutoRestart::never;
    spec.starttime = 0ms;
    REQUIRE_FALSE(f.sup.add(spec));
    REQUIRE(f.startAndWait("parent")[0].ok);
    int orphan = 0;
    REQUIRE(f.runUntil([&] { return (std::ifstream(dir.path / "orphan") >> orphan) && orphan > 0; }));
    REQUIRE(f.reaches("parent", ProcessState::exited));
    // Gone from /proc altogether: reaped, not a zombie.
    CHECK(f.runUntil([&] { return !fs::exists(fmt::format("/proc/{}", orphan)); }, 5s));
    auto exited = std::find_if(f.changes.begin(), f.changes.end(), [](auto& c) { return c.to == ProcessState::exited; });
    REQUIRE(exited != f.changes.end());
    REQUIRE(exited->exit);
    CHECK(exited->exit->code == 3);
    CHECK(zombieChildren() == 0);
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// Last in this file: raiseFdLimit() changes this process for the tests that follow it.
TEST_CASE("raiseFdLimit: the soft limit on open files goes up to the hard one, and children get the original back") {
  rlimit original{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
  if (original.rlim_max < 2048) return;  // nothing to show under so low a hard limit
  const rlimit low{512, original.rlim_max};
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  auto raised = taskmaster::raiseFdLimit();
  REQUIRE(raised.ok());
  CHECK(*raised == original.rlim_max);
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  CHECK(now.rlim_cur == original.rlim_max);
  CHECK(now.rlim_max == original.rlim_max);

  TempDir dir;
  Fixture f;
  ProgramSpec spec{.name = "limits", .cmd = {"/bin/sh", "-c", "ulimit -Sn; ulimit -Hn; exec sleep 1000"}};
  spec.stdoutPath = (dir.path / "out.log").string();
  REQUIRE_FALSE(f.sup.add(spec));
  REQUIRE(f.startAndWait("limits")[0].ok);
  REQUIRE(f.runUntil([&] { return std::ranges::count(slurp(dir.path / "out.log"), '\n') == 2; }));
  CHECK(slurp(dir.path / "out.log") == fmt::format("512\n{}\n", original.rlim_max));
}

// A timer that fires every 10 ms and records the longest gap between two firings.
struct Ticker {
  explicit Ticker(boost::asio::io_context& io) : timer(io) {}
  static void arm(const std::shared_ptr<Ticker>& t) {
    t->timer.expires_after(10ms);
    t->timer.async_wait([t](boost::system::error_code ec) {
      if (ec || !t->on) return;
      const auto now = std::chrono::steady_clock::now();
      t->worst = std::max(t->worst, now - t->last);
      t->last = now;
      arm(t);
    });
  }
  boost::asio::steady_timer timer;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration worst{};
  bool on = true;
};

TEST_CASE("a burst of 1,500 spawns does not hold the loop: a 10 ms timer keeps firing, and all come up") {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_max < 2048) return;  // 1,500 pidfds would not fit
  REQUIRE(taskmaster::raiseFdLimit().ok());
  Fixture f;
  constexpr int kCount = 1500;
  ProgramSpec spec{.name = "burst", .cmd = {"sleep", "1000"}, .numprocs = kCount, .starttime = 0ms};
  REQUIRE_FALSE(f.sup.add(spec));
  auto ticker = std::make_shared<Ticker>(f.io);
  Ticker::arm(ticker);
  auto started = f.startAndWait("burst", 60s);  // about a second on a quiet machine; a loaded one is slower
  ticker->on = false;  // its handler, queued or not, holds it until the loop has run it
  ticker->timer.cancel();
  const auto worst = ticker->worst;
  CHECK(std::ranges::all_of(started, [](auto& o) { return o.ok; }));
  const auto worstMs = std::chrono::duration_cast<std::chrono::milliseconds>(worst).count();
  MESSAGE("the longest gap between two 10 ms ticks while " << kCount << " processes started: " << worstMs << " ms");
  // A slice is at most 32 spawns or 10 ms; all 1,500 at once take about a second. Sanitizer builds are slower.
  const char* scale = std::getenv("TM_TIME_SCALE");
  CHECK(worstMs < 500 * (scale ? std::max(1.0, std::atof(scale)) : 1.0));
}
