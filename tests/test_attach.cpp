// A program's console: tty and stdin programs, Supervisor::sendInput and resizeTerminal, Service::attach and
// its keyboard, and attach over a real control socket. Real processes (tm_helper) on real pseudo-terminals.
#include <doctest/doctest.h>

#include <taskmaster/taskmaster.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "support.hpp"
#include "supervisor_fixture.hpp"

using namespace std::chrono_literals;
using taskmaster::Errc;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;
namespace fs = std::filesystem;

namespace {

ProgramSpec helperSpec(std::string name, std::vector<std::string> args) {
  return test::helperSpec(std::move(name), std::move(args), 100ms);
}

std::size_t openFds() {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{}));
}

class Fixture {
 public:
  ~Fixture() {
    bool done = false;
    sup.shutdown([&] { done = true; });
    runUntil([&] { return done; }, 15s);
  }
  bool runUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.run_one_for(50ms);
    }
    return true;
  }
  void start(ProgramSpec spec) {
    const std::string name = spec.name;
    REQUIRE_FALSE(sup.add(std::move(spec)));
    std::optional<std::vector<taskmaster::Outcome>> result;
    REQUIRE_FALSE(sup.start(name, [&](auto o) { result = std::move(o); }));
    REQUIRE(runUntil([&] { return result.has_value(); }));
  }
  std::string output(const std::string& name) {
    auto log = sup.output(name, taskmaster::StdStream::out);
    return log ? log->lastBytes(1 << 20) : std::string{};
  }
  bool outputHas(const std::string& name, const std::string& text, std::chrono::milliseconds limit = 10s) {
    return runUntil([&] { return output(name).find(text) != std::string::npos; }, limit);
  }
  ProcessState state(const std::string& name) {
    std::vector<taskmaster::InstanceStatus> out;
    REQUIRE_FALSE(sup.status(name, out));
    return out.front().state;
  }

  boost::asio::io_context io;
  taskmaster::Supervisor sup{io};
};

}  // namespace

TEST_CASE("a tty program runs on a terminal it leads, 24x80, and sees its new size after resizeTerminal") {
  Fixture f;
  auto spec = helperSpec("term", {"--tty-info", "--print-env", "TERM", "--watch-size"});
  spec.tty = true;
  f.start(spec);
  REQUIRE(f.outputHas("term", "watching"));
  const auto text = f.output("term");
  CHECK(text.find("isatty 1 1 1 leader 1 size 24 80") != std::string::npos);
  CHECK(text.find("TERM=xterm-256color") != std::string::npos);
  auto resized = f.sup.resizeTerminal("term", 40, 100);
  REQUIRE_MESSAGE(resized, (resized ? "" : resized.error().str()));
  CHECK(f.outputHas("term", "size 40 100"));
  // A terminal's line discipline: what is typed is echoed, and the program reads it as a line.
  auto sent = f.sup.sendInput("term", "hello\n");
  CHECK(sent);
  CHECK(f.outputHas("term", "hello"));
}

TEST_CASE("a tty program's environment may set TERM itself") {
  Fixture f;
  auto spec = helperSpec("term", {"--print-env", "TERM", "--forever"});
  spec.tty = true;
  spec.env["TERM"] = "vt100";
  f.start(spec);
  CHECK(f.outputHas("term", "TERM=vt100"));
}

TEST_CASE("a stdin program reads what sendInput sends, and sees the end of input only when it exits") {
  Fixture f;
  auto spec = helperSpec("echo", {"--echo", "--forever"});
  spec.stdin = true;
  f.start(spec);
  REQUIRE(f.outputHas("echo", "ready"));
  CHECK(f.sup.sendInput("echo", "one\ntwo\n"));
  CHECK(f.outputHas("echo", "echo: two"));
  CHECK(f.output("echo").find("echo: one\n") != std::string::npos);
  auto resize = f.sup.resizeTerminal("echo", 10, 10);
  REQUIRE_FALSE(resize);
  CHECK(resize.error().detail.find("echo has no terminal") != std::string::npos);
}

TEST_CASE("sendInput to a program that never reads fails past 64 KiB and never blocks the loop") {
  Fixture f;
  auto spec = helperSpec("deaf", {"--forever"});
  spec.stdin = true;
  f.start(spec);
  const std::string chunk(4096, 'x');
  std::size_t sent = 0;
  std::optional<taskmaster::Error> refused;
  const auto began = std::chrono::steady_clock::now();
  while (sent < (4u << 20)) {
    auto r = f.sup.sendInput("deaf", chunk);
    if (!r) {
      refused = r.error();
      break;
    }
    sent += chunk.size();
  }
  const auto took = std::chrono::steady_clock::now() - began;
  REQUIRE(refused);
  CHECK(refused->code == Errc::input_full);
  CHECK(refused->detail.find("deaf") != std::string::npos);
  // The pipe takes what it holds (64 KiB, or 1 MiB grown), then 64 KiB wait in taskmaster.
  CHECK(sent >= 64u * 1024);
  CHECK(sent <= (1u << 20) + 64u * 1024);
  CHECK(took < 2s);
  // The loop goes on: the program is still supervised and stops.
  bool stopped = false;
  REQUIRE_FALSE(f.sup.stop("deaf", [&](auto) { stopped = true; }));
  CHECK(f.runUntil([&] { return stopped; }));
}

TEST_CASE("input is refused, naming the program, without tty or stdin, when not running, and for several") {
  Fixture f;
  f.start(helperSpec("quiet", {"--forever"}));
  auto none = f.sup.sendInput("quiet", "x");
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::no_input);
  CHECK(none.error().detail.find("quiet") != std::string::npos);

  auto spec = helperSpec("idle", {"--forever"});
  spec.stdin = true;
  REQUIRE_FALSE(f.sup.add(spec));
  auto down = f.sup.sendInput("idle", "x");
  REQUIRE_FALSE(down);
  CHECK(down.error().code == Errc::not_running);
  CHECK(down.error().detail == "idle is not running");

  auto many = helperSpec("many", {"--forever"});
  many.stdin = true;
  many.numprocs = 2;
  REQUIRE_FALSE(f.sup.add(many));
  CHECK(f.sup.sendInput("many", "x").error().code == Errc::several_instances);
  CHECK(f.sup.sendInput("nosuch", "x").error().code == Errc::no_such_program);
}

TEST_CASE("no fd is left behind once a tty or stdin program has exited") {
  Fixture f;
  auto tty = helperSpec("tty", {"--tty-info", "--sleep", "300", "--exit", "0"});
  tty.tty = true;
  tty.autorestart = taskmaster::AutoRestart::never;
  auto piped = helperSpec("piped", {"--echo"});
  piped.stdin = true;
  piped.autorestart = taskmaster::AutoRestart::never;
  // The first spawn opens the spawning thread's slots for good: count after one.
  auto warmup = helperSpec("warmup", {"--sleep", "300", "--exit", "0"});
  warmup.autorestart = taskmaster::AutoRestart::never;
  f.start(warmup);
  REQUIRE(f.runUntil([&] { return f.state("warmup") == ProcessState::exited; }));
  f.runUntil([] { return false; }, 200ms);
  const std::size_t before = openFds();
  REQUIRE_FALSE(f.sup.add(tty));
  REQUIRE_FALSE(f.sup.add(piped));
  REQUIRE_FALSE(f.sup.start("tty"));
  REQUIRE_FALSE(f.sup.start("piped"));
  REQUIRE(f.outputHas("piped", "ready"));
  CHECK(openFds() > before);
  REQUIRE_FALSE(f.sup.stop("piped"));
  REQUIRE(f.runUntil([&] { return f.state("tty") == ProcessState::exited && f.state("piped") == ProcessState::stopped; }));
  CHECK(f.output("tty").find("isatty 1 1 1") != std::string::npos);
  CHECK(f.runUntil([&] { return openFds() == before; }));
  CHECK(openFds() == before);
}

TEST_CASE("attach: the first attachment has the keyboard; the next gets it when the first is closed") {
  Fixture f;
  auto spec = helperSpec("echo", {"--echo"});
  spec.stdin = true;
  f.start(spec);
  REQUIRE(f.outputHas("echo", "ready"));
  taskmaster::Service service(f.sup, taskmaster::Config{});
  auto first = service.attach("echo");
  REQUIRE(first);
  auto second = service.attach("echo");
  REQUIRE(second);
  CHECK((*first)->mode() == taskmaster::InputMode::stdin);
  CHECK((*first)->text().find("ready") != std::string::npos);
  CHECK((*first)->keyboard());
  CHECK_FALSE((*second)->keyboard());
  auto refused = (*second)->input("nope\n");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::keyboard_elsewhere);

  std::string seen;
  auto following = (*second)->follow([&](std::string_view chunk) { seen.append(chunk); });
  bool handed = false;
  (*second)->onKeyboard([&] { handed = true; });
  CHECK((*first)->input("from first\n"));
  CHECK(f.runUntil([&] { return seen.find("echo: from first") != std::string::npos; }));
  first->reset();
  CHECK((*second)->keyboard());
  CHECK(f.runUntil([&] { return handed; }));
  CHECK((*second)->input("from second\n"));
  CHECK(f.runUntil([&] { return seen.find("echo: from second") != std::string::npos; }));

  std::optional<taskmaster::Detached> how;
  (*second)->onDetached([&](const taskmaster::Detached& d) { how = d; });
  REQUIRE_FALSE(f.sup.signal("echo", SIGTERM));
  REQUIRE(f.runUntil([&] { return how.has_value(); }));
  CHECK(how->reason == "exited");
  CHECK(how->line == "echo was terminated by SIGTERM");
  CHECK((*second)->detached());
  CHECK((*second)->input("late\n").error().code == Errc::not_running);
}

TEST_CASE("attach ends with \"stopped\" on a stop and \"removed\" when its program is removed") {
  Fixture f;
  auto spec = helperSpec("echo", {"--echo"});
  spec.stdin = true;
  f.start(spec);
  taskmaster::Service service(f.sup, taskmaster::Config{});
  auto attached = service.attach("echo");
  REQUIRE(attached);
  std::optional<taskmaster::Detached> how;
  (*attached)->onDetached([&](const taskmaster::Detached& d) { how = d; });
  std::string seen;
  auto following = (*attached)->follow([&](std::string_view chunk) { seen.append(chunk); });
  REQUIRE_FALSE(f.sup.stop("echo"));
  REQUIRE(f.runUntil([&] { return how.has_value(); }));
  CHECK(how->reason == "stopped");
  CHECK(how->line == "echo was stopped");
  // The attachment is over: the next process's output is not its own.
  REQUIRE_FALSE(f.sup.start("echo"));
  REQUIRE(f.runUntil([&] { return f.output("echo").find("ready\nready") != std::string::npos; }));
  CHECK(seen.find("ready") == std::string::npos);

  f.start(helperSpec("other", {"--forever"}));
  auto other = service.attach("other");
  REQUIRE(other);
  CHECK((*other)->mode() == taskmaster::InputMode::none);
  CHECK((*other)->keyboard());
  CHECK((*other)->input("x").error().code == Errc::no_input);
  std::optional<taskmaster::Detached> gone;
  (*other)->onDetached([&](const taskmaster::Detached& d) { gone = d; });
  REQUIRE_FALSE(f.sup.remove("other"));
  REQUIRE(f.runUntil([&] { return gone.has_value(); }));
  CHECK(gone->reason == "removed");
}

TEST_CASE("attach is refused for a program that is not running, and for a program of several instances") {
  Fixture f;
  REQUIRE_FALSE(f.sup.add(helperSpec("idle", {"--forever"})));
  taskmaster::Service service(f.sup, taskmaster::Config{});
  auto idle = service.attach("idle");
  REQUIRE_FALSE(idle);
  CHECK(idle.error().code == Errc::not_running);
  CHECK(idle.error().detail == "idle is not running");
  CHECK_FALSE(service.attach("nosuch"));
}

namespace {

// A taskmaster's control socket, served on its own thread, and raw clients on the test's.
class SocketFixture {
 public:
  SocketFixture() {
    auto listening = server.listen({.path = (dir.path / "tm.sock").string()});
    REQUIRE_MESSAGE(listening, (listening ? "" : listening.error().str()));
  }
  ~SocketFixture() {
    boost::asio::post(io, [this] {
      server.close();
      sup.shutdown([this] { work.reset(); });
    });
    if (thread.joinable()) thread.join();
  }
  void run() {
    thread = std::thread([this] { io.run(); });
  }
  int connect() {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const auto path = (dir.path / "tm.sock").string();
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }

  test::TempDir dir;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
  taskmaster::Supervisor sup{io};
  taskmaster::Service service{sup, taskmaster::Config{}};
  taskmaster::Interpreter interpreter{service};
  taskmaster::control::Server server{io, sup, taskmaster::control::commandHandler(interpreter, {})};
  std::thread thread;
};

class Lines {
 public:
  explicit Lines(int fd) : fd_(fd) {}
  ~Lines() { ::close(fd_); }
  void send(const boost::json::object& request) {
    const std::string line = boost::json::serialize(request) + "\n";
    REQUIRE(::write(fd_, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  }
  // The next line as an object; an empty object when the connection ended or nothing came for 10 s.
  boost::json::object next() {
    while (true) {
      if (auto line = framer_.next()) return boost::json::parse(*line).as_object();
      char buf[65536];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return {};
      framer_.append({buf, static_cast<std::size_t>(n)});
    }
  }
  // Lines until one satisfies `pred` (returned), skipping the others; empty when none did.
  boost::json::object until(const std::function<bool(const boost::json::object&)>& pred) {
    for (auto line = next(); !line.empty(); line = next())
      if (pred(line)) return line;
    return {};
  }

 private:
  int fd_;
  taskmaster::LineFramer framer_;
};

bool isEvent(const boost::json::object& line, std::string_view event) {
  const auto* e = line.if_contains("event");
  return e && e->is_string() && e->as_string() == event;
}

bool isOutputWith(const boost::json::object& line, std::string_view text) {
  return isEvent(line, "output") && std::string_view(line.at("data").as_string()).find(text) != std::string_view::npos;
}

}  // namespace

TEST_CASE("attach over the control socket: output, input, resize, the keyboard handed over, and detached") {
  SocketFixture f;
  auto spec = helperSpec("term", {"--echo"});
  spec.tty = true;
  spec.autostart = true;
  REQUIRE_FALSE(f.sup.add(spec));
  f.run();
  Lines watcher(f.connect());
  // Wait for the program: attach refuses one that is not running yet.
  boost::json::object reply;
  for (int attempt = 0; attempt < 100; ++attempt) {
    watcher.send({{"cmd", "attach"}, {"args", {"term"}}});
    reply = watcher.next();
    if (reply.at("ok").as_bool()) break;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(reply.at("ok").as_bool());
  const auto& data = reply.at("data").as_object();
  CHECK(data.at("name").as_string() == "term");
  CHECK(data.at("mode").as_string() == "tty");
  CHECK(data.at("keyboard").as_bool());

  Lines second(f.connect());
  second.send({{"cmd", "attach"}, {"args", {"term"}}});
  auto other = second.next();
  REQUIRE(other.at("ok").as_bool());
  CHECK_FALSE(other.at("data").at("keyboard").as_bool());
  second.send({{"cmd", "input"}, {"args", {"nope\n"}}});
  auto refused = second.until([](const auto& l) { return l.contains("ok"); });
  CHECK_FALSE(refused.at("ok").as_bool());
  CHECK(boost::json::serialize(refused).find("another client has the keyboard") != std::string::npos);

  watcher.send({{"cmd", "input"}, {"args", {"hello\n"}}});
  CHECK(watcher.until([](const auto& l) { return l.contains("ok"); }).at("ok").as_bool());
  CHECK_FALSE(watcher.until([](const auto& l) { return isOutputWith(l, "echo: hello"); }).empty());
  CHECK_FALSE(second.until([](const auto& l) { return isOutputWith(l, "echo: hello"); }).empty());
  watcher.send({{"cmd", "resize"}, {"args", {"30", "90"}}});
  CHECK(watcher.until([](const auto& l) { return l.contains("ok"); }).at("ok").as_bool());
  CHECK(f.sup.spec("term")->tty);

  // input without an attach on its connection is refused
  Lines stranger(f.connect());
  stranger.send({{"cmd", "input"}, {"args", {"x"}}});
  CHECK_FALSE(stranger.next().at("ok").as_bool());

  // The first detaches by opening another stream: the second gets the keyboard.
  watcher.send({{"cmd", "events"}});
  auto handed = second.until([](const auto& l) { return isEvent(l, "keyboard"); });
  REQUIRE_FALSE(handed.empty());
  CHECK(handed.at("keyboard").as_bool());
  second.send({{"cmd", "input"}, {"args", {"again\n"}}});
  CHECK(second.until([](const auto& l) { return l.contains("ok"); }).at("ok").as_bool());
  CHECK_FALSE(second.until([](const auto& l) { return isOutputWith(l, "echo: again"); }).empty());

  // End of input on the terminal (^D): the program exits, and the attachment ends with a line saying how.
  second.send({{"cmd", "input"}, {"args", {"\x04"}}});
  auto detached = second.until([](const auto& l) { return isEvent(l, "detached"); });
  REQUIRE_FALSE(detached.empty());
  CHECK(detached.at("reason").as_string() == "exited");
  CHECK(detached.at("line").as_string() == "term exited with status 0");
}
