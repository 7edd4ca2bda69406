// The control protocol and server over a real Unix socket, with hostile and broken clients.
#include <doctest/doctest.h>

#include <taskmaster/taskmaster.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>
#include <type_traits>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "support.hpp"

using namespace std::chrono_literals;
namespace control = taskmaster::control;
namespace fs = std::filesystem;

namespace {

using test::sendAll;
using test::TempDir;

// Everything the server sends until it closes the connection (or `limit` passes).
std::string readAll(int fd, std::chrono::milliseconds limit = 5s) {
  timeval tv{static_cast<time_t>(limit.count() / 1000), static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

// The server runs on its own thread; the test thread plays the clients.
class Fixture {
 public:
  explicit Fixture(control::ServerOptions options = {}) {
    options.path = (dir.path / "tm.sock").string();
    path = options.path;
    auto listening = server.listen(options);
    REQUIRE_MESSAGE(listening, (listening ? "" : listening.error().str()));
    thread = std::thread([this] { io.run(); });
  }
  ~Fixture() {
    boost::asio::post(io, [this] { server.close(); work.reset(); sup.shutdown(); });
    thread.join();
  }
  std::size_t clients() {
    std::promise<std::size_t> p;
    boost::asio::post(io, [&] { p.set_value(server.clients()); });
    return p.get_future().get();
  }

  TempDir dir;
  std::string path;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
  taskmaster::Supervisor sup{io};
  // "echo" answers its args; "follow" opens a stream whose lines the test pushes through `sinks`; "later" is
  // answered when the test calls its responder in `pending`.
  control::Server server{io, sup, [this](const control::Request& r, control::Responder respond) {
                           if (r.cmd == "echo") return respond({true, r.args, boost::json::value(r.args.size()), {}});
                           if (r.cmd == "follow") return respond({true, {"following"}, nullptr, {}}, follow());
                           if (r.cmd == "later") return pending.push_back(std::move(respond));
                           respond({false, {"unknown command '" + r.cmd + "'"}, nullptr, {}});
                         }};
  std::vector<control::StreamSink> sinks;  // loop thread only, like the members below
  std::vector<control::Responder> pending;  // "later" requests, answered by the test
  int streamsOpened = 0, streamsEnded = 0;
  std::thread thread;

  // Runs `f` on the loop's thread and returns its result.
  template <class F>
  auto onLoop(F f) {
    return test::onLoop(io, std::move(f));
  }

 private:
  control::StreamSource follow() {
    return [this](control::StreamSink sink) {
      ++streamsOpened;
      sinks.push_back(std::move(sink));
      return taskmaster::Subscription([this] { ++streamsEnded; });
    };
  }
};

// The lines a raw socket receives, one at a time; nullopt when the server closed it or nothing came for 10 s.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  std::optional<std::string> next() {
    while (true) {
      if (auto line = framer_.next()) return line;
      char buf[65536];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      framer_.append({buf, static_cast<std::size_t>(n)});
    }
  }

 private:
  int fd_;
  taskmaster::LineFramer framer_;
};

boost::json::object parseObject(const std::string& line) {
  auto v = boost::json::parse(line);
  REQUIRE_MESSAGE(v.is_object(), line);
  return v.as_object();
}

}  // namespace

TEST_CASE("requests are parsed strictly, with a message for each mistake") {
  struct Case {
    const char* line;
    const char* error;  // nullptr: valid
  };
  for (auto c : {Case{R"({"v":1,"id":3,"cmd":"status","args":["web"]})", nullptr}, Case{R"({"cmd":"status"})", nullptr},
                 Case{"{", "malformed JSON"}, Case{"[1,2]", "must be a JSON object"}, Case{R"({"id":1})", "missing \"cmd\""},
                 Case{R"({"cmd":""})", "missing \"cmd\""}, Case{R"({"cmd":"x","args":"web"})", "\"args\" must be an array"},
                 Case{R"({"cmd":"x","args":[1]})", "\"args\" must be an array"},
                 Case{R"({"v":2,"cmd":"x"})", "unsupported protocol version 2"},
                 Case{R"({"id":1e999,"cmd":"status"})", "\"id\" must be a finite number"},
                 Case{R"({"id":{"n":[1e999]},"cmd":"status"})", "\"id\" must be a finite number"},
                 Case{R"({"cmd":"status","data":false})", nullptr},
                 Case{R"({"cmd":"status","data":0})", "\"data\" must be true or false"}}) {
    CAPTURE(c.line);
    auto r = control::parseRequest(c.line);
    CHECK(r.ok() == (c.error == nullptr));
    if (c.error && !r) CHECK_MESSAGE(r.error().detail.find(c.error) != std::string::npos, r.error().detail);
  }
  auto r = control::parseRequest(R"({"v":1,"id":"a","cmd":"start","args":["web","db"]})");
  REQUIRE(r);
  CHECK(r->id == boost::json::value("a"));
  CHECK(r->args == std::vector<std::string>{"web", "db"});
  CHECK(r->withData);
  auto back = control::parseRequest(control::encodeRequest({1, "status", {}, false}));
  REQUIRE(back);
  CHECK_FALSE(back->withData);
}

TEST_CASE("the server answers a client on a 0600 socket, and the client gets its reply") {
  Fixture f;
  struct stat st{};
  REQUIRE(::stat(f.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  control::Client client;
  REQUIRE(client.connect(f.path));
  auto reply = client.call("echo", {"a", "b"});
  REQUIRE(reply);
  CHECK(reply->ok);
  CHECK(reply->lines == std::vector<std::string>{"a", "b"});
  CHECK(reply->data == boost::json::value(2));
  auto linesOnly = client.call("echo", {"a", "b"}, false);
  REQUIRE(linesOnly);
  CHECK(linesOnly->lines == std::vector<std::string>{"a", "b"});
  CHECK(linesOnly->data.is_null());
  auto bad = client.call("nope");
  REQUIRE(bad);
  CHECK_FALSE(bad->ok);
}

TEST_CASE("a second server refuses a live socket, and replaces a stale one") {
  Fixture f;
  boost::asio::io_context io;
  taskmaster::Supervisor sup(io);
  control::Server second(io, sup, [](auto&, auto reply) { reply({}); });
  auto refused = second.listen({.path = f.path});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == std::errc::address_in_use);
  CHECK(refused.error().detail == "another taskmaster is already listening on " + f.path);

  TempDir dir;
  auto stale = (dir.path / "stale.sock").string();
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, stale.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);  // the file stays, nobody listens
  }
  CHECK(second.listen({.path = stale}));
  second.close();
  CHECK_FALSE(fs::exists(stale));  // removed on close
}

TEST_CASE("malformed requests get an error reply and the connection goes on") {
  Fixture f;
  int fd = test::connectUnix(f.path);
  REQUIRE(fd >= 0);
  sendAll(fd, "this is not json\n{\"cmd\":1}\n\n{\"id\":7,\"cmd\":\"echo\",\"args\":[\"still here\"]}\n");
  ::shutdown(fd, SHUT_WR);
  auto out = readAll(fd);
  ::close(fd);
  CHECK_MESSAGE(out.find("malformed JSON") != std::string::npos, out);
  CHECK_MESSAGE(out.find("missing \\\"cmd\\\"") != std::string::npos, out);
  CHECK_MESSAGE(out.find(R"("id":7,"ok":true,"lines":["still here"])") != std::string::npos, out);
}

TEST_CASE("an oversized line ends the connection with an error; others are still served") {
  Fixture f;
  int fd = test::connectUnix(f.path);
  sendAll(fd, std::string(control::kMaxLine + 100, 'x'));
  auto out = readAll(fd);
  ::close(fd);
  CHECK_MESSAGE(out.find("longer than 65536 bytes") != std::string::npos, out);
  control::Client client;
  REQUIRE(client.connect(f.path));
  CHECK(client.call("echo", {"ok"}));
}

TEST_CASE("a client that sends half a line and waits is disconnected after the partial timeout") {
  Fixture f({.partialTimeout = 200ms});
  int fd = test::connectUnix(f.path);
  sendAll(fd, "{\"cmd\":\"ec");
  auto begin = std::chrono::steady_clock::now();
  auto out = readAll(fd, 5s);
  ::close(fd);
  CHECK(out.find("incomplete request") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - begin < 4s);
}

TEST_CASE("hundreds of simultaneous connections are all served, and clients over the limit are told so") {
  Fixture f({.maxClients = 300});
  std::vector<int> fds;
  for (int i = 0; i < 300; ++i) fds.push_back(test::connectUnix(f.path));
  for (auto deadline = std::chrono::steady_clock::now() + 10s; f.clients() < 300;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(10ms);
  }
  int served = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {  // while the 300 stay connected
    int fd = test::connectUnix(f.path);
    if (readAll(fd).find("too many clients (limit 300)") != std::string::npos) ++refused;
    ::close(fd);
  }
  for (int fd : fds) sendAll(fd, "{\"cmd\":\"echo\",\"args\":[\"hi\"]}\n");
  for (int fd : fds) {
    ::shutdown(fd, SHUT_WR);
    auto out = readAll(fd);
    if (out.find("\"lines\":[\"hi\"]") != std::string::npos) ++served;
    ::close(fd);
  }
  CHECK(served == 300);
  CHECK(refused == 20);
}

TEST_CASE("a client that never reads is dropped once its queue is full; the server stays responsive") {
  Fixture f({.maxQueued = 64 * 1024});
  int fd = test::connectUnix(f.path);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::string flood;
  for (int i = 0; i < 2000; ++i) flood += "{\"cmd\":\"echo\",\"args\":[\"" + std::string(200, 'y') + "\"]}\n";
  std::thread writer([&] { sendAll(fd, flood); });
  control::Client client;
  REQUIRE(client.connect(f.path));
  CHECK(client.call("echo", {"responsive"}));
  writer.join();  // the server stops reading a client it cannot answer, then drops it
  CHECK(readAll(fd, 5s).size() < flood.size());
  ::close(fd);
}

TEST_CASE("a peer of another uid is refused (by the 0600 mode, and by SO_PEERCRED behind it)") {
  if (::geteuid() != 0) return;  // needs root to become another user
  Fixture f;
  ::chmod(f.dir.path.c_str(), 0755);
  auto attempt = [&](mode_t socketMode) {
    ::chmod(f.path.c_str(), socketMode);
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgid(65534) < 0 || ::setuid(65534) < 0) ::_exit(90);
      int fd = test::connectUnix(f.path);
      if (fd < 0) ::_exit(errno == EACCES ? 10 : 91);
      sendAll(fd, "{\"cmd\":\"echo\",\"args\":[\"x\"]}\n");
      auto out = readAll(fd);
      ::_exit(out.find("permission denied: uid 65534") != std::string::npos ? 20 : 92);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  CHECK(attempt(0600) == 10);  // cannot even connect
  CHECK(attempt(0666) == 20);  // connects, and is told no
}

TEST_CASE("the events command streams state changes as JSON lines") {
  Fixture f;
  control::Client client;
  REQUIRE(client.connect(f.path));
  auto ack = client.call("events");
  REQUIRE(ack);
  CHECK(ack->ok);
  boost::asio::post(f.io, [&] {
    (void)f.sup.add({.name = "ev", .cmd = {"sleep", "30"}, .autostart = true, .starttime = 100ms});
  });
  auto first = client.nextEvent();
  REQUIRE(first);
  CHECK((*first)["instance"] == "ev");
  CHECK((*first)["from"] == "STOPPED");
  CHECK((*first)["to"] == "STARTING");
  CHECK((*first)["pid"].as_int64() > 0);
  auto second = client.nextEvent();
  REQUIRE(second);
  CHECK((*second)["to"] == "RUNNING");
}

TEST_CASE("out of fds, the server gives up its reserve fd so that a client still gets in") {
  Fixture f;
  test::NoFdsLeft exhausted;
  REQUIRE(exhausted.ok());
  pid_t pid = ::fork();
  if (pid == 0) {  // the client, in a process of its own with fds to spare
    for (std::size_t i = 0; i < 4 && i < exhausted.fds().size(); ++i) ::close(exhausted.fds()[i]);
    int fd = test::connectUnix(f.path);
    if (fd < 0) ::_exit(1);
    sendAll(fd, "{\"cmd\":\"echo\",\"args\":[\"got in\"]}\n");
    ::shutdown(fd, SHUT_WR);
    ::_exit(readAll(fd).find("got in") != std::string::npos ? 0 : 2);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  exhausted.release();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  control::Client client;  // and with fds back, business as usual
  REQUIRE(client.connect(f.path));
  CHECK(client.call("echo", {"again"}));
}

TEST_CASE("each state change is serialized once: every subscriber gets the same shared line") {
  boost::asio::io_context io;
  taskmaster::Supervisor sup(io);
  control::EventStream events(sup);
  std::vector<control::SharedLine> a, b, once;
  auto subA = events.source()([&](const control::SharedLine& l) { a.push_back(l); });
  auto subB = events.source()([&](const control::SharedLine& l) { b.push_back(l); });
  taskmaster::Subscription subOnce;
  subOnce = events.source()([&](const control::SharedLine& l) {
    once.push_back(l);
    subOnce.reset();  // unsubscribes itself from inside its own call
  });
  CHECK(events.subscribers() == 3);
  REQUIRE_FALSE(sup.add({.name = "ev", .cmd = {"sleep", "30"}, .autostart = true, .starttime = 50ms}));
  for (auto deadline = std::chrono::steady_clock::now() + 10s; b.size() < 2 && std::chrono::steady_clock::now() < deadline;)
    io.run_one_for(100ms);
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) CHECK(a[i].get() == b[i].get());  // one buffer, not two equal ones
  CHECK(once.size() == 1);
  CHECK(events.subscribers() == 2);
  auto first = parseObject(*a[0]);
  CHECK(first["v"] == 1);
  CHECK(first["event"] == "state");
  CHECK(first["instance"] == "ev");
  CHECK(first["to"] == "STARTING");
  CHECK(a[1]->ends_with("\n"));
  subA.reset();
  subB.reset();
  CHECK(events.subscribers() == 0);
  bool stopped = false;
  sup.shutdown([&] { stopped = true; });
  for (auto deadline = std::chrono::steady_clock::now() + 10s; !stopped && std::chrono::steady_clock::now() < deadline;)
    io.run_one_for(100ms);
  CHECK(stopped);
  CHECK(a.size() == 2);  // nothing after unsubscribing
}

TEST_CASE("a handler's reply may open a stream: its lines follow the reply, and it ends when the client leaves") {
  Fixture f;
  {
    control::Client client;
    REQUIRE(client.connect(f.path));
    auto ack = client.call("follow");
    REQUIRE(ack);
    CHECK(ack->lines == std::vector<std::string>{"following"});
    REQUIRE(f.onLoop([&] { return f.sinks.size(); }) == 1);
    f.onLoop([&] {
      f.sinks[0](std::make_shared<const std::string>("{\"v\":1,\"event\":\"log\",\"text\":\"hello\"}\n"));
    });
    auto line = client.nextEvent();
    REQUIRE(line);
    CHECK((*line)["event"] == "log");
    CHECK((*line)["text"] == "hello");
    auto echo = client.call("echo", {"still answering"});  // requests go on beside the stream
    REQUIRE(echo);
    CHECK(echo->lines == std::vector<std::string>{"still answering"});
    CHECK(f.onLoop([&] { return f.streamsEnded; }) == 0);
  }
  for (auto deadline = std::chrono::steady_clock::now() + 10s; f.clients() > 0;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(10ms);
  }
  CHECK(f.onLoop([&] { return f.streamsEnded; }) == 1);
}

TEST_CASE("a stream client past its queue limit misses lines, then gets one lagged line with the count") {
  Fixture f({.maxQueued = 16 * 1024});
  control::Client client;
  REQUIRE(client.connect(f.path));
  REQUIRE(client.call("follow"));
  // 1000 lines of about 1 KiB, pushed at once while the client reads nothing: the queue holds 16 of them.
  constexpr int kLines = 1000;
  f.onLoop([&] {
    for (int i = 0; i < kLines; ++i)
      f.sinks[0](std::make_shared<const std::string>(
          fmt::format("{{\"event\":\"log\",\"n\":{},\"pad\":\"{}\"}}\n", i, std::string(1000, 'p'))));
  });
  std::int64_t received = 0, dropped = 0, last = -1;
  while (auto e = client.nextEvent()) {
    if ((*e)["event"] == "lagged") {
      dropped = (*e)["dropped"].as_int64();
      break;
    }
    CHECK((*e)["n"].as_int64() > last);  // in order, never repeated
    last = (*e)["n"].as_int64();
    ++received;
  }
  CHECK(received > 0);
  CHECK(dropped > 0);
  CHECK(received + dropped == kLines);
  CHECK(received * 1000 <= 16 * 1024);
  // Caught up: the stream goes on after the marker, on the same connection.
  f.onLoop([&] { f.sinks[0](std::make_shared<const std::string>("{\"event\":\"log\",\"n\":1000}\n")); });
  auto next = client.nextEvent();
  REQUIRE(next);
  CHECK((*next)["n"] == kLines);
  CHECK(f.clients() == 1);
}

TEST_CASE("an events subscriber that stops reading while many events flow stays connected, gets its replies, "
          "and learns how many events it missed") {
  Fixture f({.maxQueued = 16 * 1024});
  int fd = test::connectUnix(f.path);
  REQUIRE(fd >= 0);
  LineReader lines(fd);
  sendAll(fd, "{\"id\":1,\"cmd\":\"events\"}\n");
  auto ack = lines.next();
  REQUIRE(ack);
  CHECK(ack->find("following state changes") != std::string::npos);

  // 500 instances started then stopped: about 2000 events (roughly 500 KB) while the client reads nothing.
  std::size_t emitted = 0;
  taskmaster::Subscription counter;
  std::promise<std::size_t> flooded;
  f.onLoop([&] {
    counter = f.sup.onStateChange([&](const taskmaster::StateChange&) { ++emitted; });
    CHECK_FALSE(f.sup.add({.name = "many", .cmd = {"sleep", "30"}, .numprocs = 500, .autostart = false,
                           .starttime = 0ms, .stoptime = 5s}));
    CHECK_FALSE(f.sup.start("all", [&](auto) {
      CHECK_FALSE(f.sup.stop("all", [&](auto) { flooded.set_value(emitted); }));
    }));
  });
  auto flood = flooded.get_future();
  REQUIRE(flood.wait_for(120s) == std::future_status::ready);
  const std::size_t total = flood.get();
  CHECK(total >= 1500);

  // A request after the flood: answered, however far behind the client is. Then every event is accounted
  // for: delivered, or counted in a "lagged" line (one per gap; how many gaps depends on the kernel's buffer).
  sendAll(fd, "{\"id\":2,\"cmd\":\"echo\",\"args\":[\"behind\"]}\n");
  std::int64_t states = 0, dropped = 0, gaps = 0;
  bool replied = false, lastWasGap = false;
  while (!replied || states + dropped < static_cast<std::int64_t>(total)) {
    auto line = lines.next();
    REQUIRE_MESSAGE(line, "delivered ", states, ", dropped ", dropped, ", replied ", replied);
    auto o = parseObject(*line);
    if (o.contains("ok")) {
      CHECK(o["id"] == 2);
      CHECK(o["lines"] == boost::json::array{"behind"});
      replied = true;
    } else if (o["event"] == "lagged") {
      CHECK_FALSE(lastWasGap);  // never two markers in a row: a gap is announced once
      CHECK(o["dropped"].as_int64() > 0);
      dropped += o["dropped"].as_int64();
      ++gaps;
      lastWasGap = true;
    } else {
      CHECK(o["event"] == "state");
      ++states;
      lastWasGap = false;
    }
  }
  CHECK(replied);
  CHECK(gaps > 0);
  CHECK(states + dropped == static_cast<std::int64_t>(total));
  MESSAGE("events: ", total, " sent to a client that stopped reading: ", states, " delivered, ", dropped,
          " dropped in ", gaps, " gap(s)");

  // Caught up: the next event arrives on the same connection.
  CHECK_FALSE(f.onLoop([&] { return f.sup.start("many:7"); }));
  auto next = lines.next();
  REQUIRE(next);
  auto event = parseObject(*next);
  CHECK(event["event"] == "state");
  CHECK(event["instance"] == "many:7");
  f.onLoop([&] { counter.reset(); });
  ::close(fd);
}

TEST_CASE("a reply is never dropped, even one that comes while stream lines are being dropped") {
  Fixture f({.maxQueued = 16 * 1024});
  int fd = test::connectUnix(f.path);
  REQUIRE(fd >= 0);
  LineReader lines(fd);
  sendAll(fd, "{\"id\":1,\"cmd\":\"follow\"}\n{\"id\":2,\"cmd\":\"later\"}\n");
  REQUIRE(lines.next());  // the reply to "follow"
  for (auto deadline = std::chrono::steady_clock::now() + 10s; f.onLoop([&] { return f.pending.size(); }) == 0;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(10ms);
  }
  constexpr int kLines = 200;
  f.onLoop([&] {  // the queue fills and drops lines; the reply comes in the middle of that
    for (int i = 0; i < kLines; ++i) {
      f.sinks[0](std::make_shared<const std::string>(fmt::format("{{\"event\":\"log\",\"n\":{},\"pad\":\"{}\"}}\n", i,
                                                                 std::string(1000, 'p'))));
      if (i == kLines / 2) f.pending[0]({true, {"answered late"}, nullptr, {}});
    }
  });
  std::int64_t received = 0, dropped = -1;
  bool replied = false;
  while (!(replied && dropped >= 0)) {
    auto line = lines.next();
    REQUIRE(line);
    auto o = parseObject(*line);
    if (o.contains("ok")) {
      CHECK(o["id"] == 2);
      CHECK(o["lines"] == boost::json::array{"answered late"});
      replied = true;
    } else if (o["event"] == "lagged") {
      dropped = o["dropped"].as_int64();
    } else {
      ++received;
    }
  }
  CHECK(dropped > 0);
  CHECK(received + dropped == kLines);
  ::close(fd);
}

TEST_CASE("requirePrivateDir refuses a socket directory open to others; by default only /tmp/taskmaster-UID is checked") {
  boost::asio::io_context io;
  taskmaster::Supervisor sup(io);
  TempDir dir;
  ::chmod(dir.path.c_str(), 0755);
  const auto path = (dir.path / "tm.sock").string();
  {
    control::Server server(io, sup, [](auto&, auto respond) { respond({}); });
    auto refused = server.listen({.path = path, .requirePrivateDir = true});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == std::errc::permission_denied);
    CHECK(refused.error().detail ==
          dir.path.string() + " is not private (owner " + std::to_string(::geteuid()) +
              ", mode 755): refusing to put the control socket there");
    CHECK_FALSE(fs::exists(path));
  }
  for (auto require : {std::optional<bool>{}, std::optional<bool>{false}}) {
    control::Server server(io, sup, [](auto&, auto respond) { respond({}); });
    CHECK(server.listen({.path = path, .requirePrivateDir = require}));  // a directory the caller chose
    CHECK(fs::exists(path));
  }
  // A missing directory is created private, and then passes the check.
  const auto nested = (dir.path / "run" / "tm.sock").string();
  control::Server server(io, sup, [](auto&, auto respond) { respond({}); });
  CHECK(server.listen({.path = nested, .requirePrivateDir = true}));
  struct stat st{};
  REQUIRE(::stat((dir.path / "run").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

namespace {

// The command language served on a real socket, as taskmaster serves it: a Service with an event log that
// the test writes to, its Interpreter, and commandHandler. The server runs on its own thread.
class CommandFixture {
 public:
  // Runs `f` on the loop's thread and returns its result.
  template <class F>
  auto onLoop(F f) -> decltype(f()) {
    return test::onLoop(io, std::move(f));
  }

  explicit CommandFixture(std::vector<taskmaster::ProgramSpec> programs = {}) {
    path = (dir.path / "tm.sock").string();
    const std::string error = onLoop([&] {
      taskmaster::Config config;
      config.programs = std::move(programs);
      service.emplace(sup, std::move(config), &eventLog);
      interpreter.emplace(*service);
      server.emplace(io, sup, control::commandHandler(*interpreter, {}));
      auto listening = server->listen({.path = path});
      if (!listening) return listening.error().str();
      (void)service->apply();
      return std::string{};
    });
    REQUIRE_MESSAGE(error.empty(), error);
  }
  ~CommandFixture() {
    std::promise<void> down;
    boost::asio::post(io, [&] {
      server->close();
      sup.shutdown([&] { down.set_value(); });
    });
    down.get_future().wait();
    boost::asio::post(io, [this] { work.reset(); });
    thread.join();
  }

  TempDir dir;
  std::string path;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
  taskmaster::Supervisor sup{io};
  taskmaster::OutputLog eventLog;
  std::optional<taskmaster::Service> service;
  std::optional<taskmaster::Interpreter> interpreter;
  std::optional<control::Server> server;
  std::thread thread{[this] { io.run(); }};  // last: everything above exists before the loop runs
};

std::string dataOf(const boost::json::object& event) { return std::string(event.at("data").as_string()); }

}  // namespace

TEST_CASE("output lines are JSON text: invalid bytes become U+FFFD, a character split across chunks stays whole") {
  CHECK(control::encodeOutput("web:1", "stdout", "hi\n") ==
        "{\"v\":1,\"event\":\"output\",\"name\":\"web:1\",\"stream\":\"stdout\",\"data\":\"hi\\n\"}\n");
  CHECK(control::validUtf8("caf\xC3\xA9") == "caf\xC3\xA9");
  CHECK(control::validUtf8("a\xFF" "b\xC3") == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  CHECK(control::validUtf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate: not UTF-8
  CHECK(control::validUtf8("\xF0\x9F\x98x") == "\xEF\xBF\xBDx");  // one U+FFFD for a truncated character
  control::Utf8Stream stream;
  CHECK(stream.feed("x\xF0\x9F") == "x");
  CHECK(stream.feed("\x98") == "");
  CHECK(stream.feed("\x80!") == "\xF0\x9F\x98\x80!");
  CHECK(stream.feed("\xC3") == "");
  CHECK(stream.feed("A") == "\xEF\xBF\xBD" "A");  // what was held was not the start of a character after all
  CHECK(stream.feed("\xE2\x82") == "");
  CHECK(stream.finish() == "\xEF\xBF\xBD");
  // A reply's lines are made text too.
  auto reply = control::parseReply(control::encodeReply(nullptr, {true, {"bad \xFF byte"}, nullptr, {}}));
  REQUIRE(reply);
  CHECK(reply->lines == std::vector<std::string>{"bad \xEF\xBF\xBD byte"});
}

TEST_CASE("maintail -f over the socket: the reply with the tail, then output lines, until the client leaves") {
  CommandFixture f;
  f.onLoop([&] { f.eventLog.append("one\ntwo\n\xE2\x82"); });  // the tail ends inside a character
  control::Client client;
  REQUIRE(client.connect(f.path));
  auto reply = client.call("maintail", {"-f", "-n", "2"});
  REQUIRE(reply);
  CHECK(reply->ok);
  CHECK(reply->lines == std::vector<std::string>{"two"});
  CHECK(boost::json::serialize(reply->data) == R"({"name":"","stream":"log","text":"two\n","follow":true})");
  CHECK(f.onLoop([&] { return f.eventLog.followers(); }) == 1);

  f.onLoop([&] {
    f.eventLog.append("\xAC and \xFF\n");  // the character completed, and a byte that is no UTF-8
    f.eventLog.append("three\n");
  });
  auto first = client.nextEvent();
  REQUIRE(first);
  CHECK((*first)["event"] == "output");
  CHECK((*first)["name"] == "");
  CHECK((*first)["stream"] == "log");
  CHECK(dataOf(*first) == "\xE2\x82\xAC and \xEF\xBF\xBD\n");
  auto second = client.nextEvent();
  REQUIRE(second);
  CHECK(dataOf(*second) == "three\n");

  // The connection still takes requests; their replies come among the output lines.
  auto version = client.call("version");
  REQUIRE(version);
  CHECK(version->ok);

  // Without -f: the same text, no stream; an invalid byte in it is replaced.
  control::Client other;
  REQUIRE(other.connect(f.path));
  auto plain = other.call("maintail", {"-n", "1"});
  REQUIRE(plain);
  CHECK(boost::json::serialize(plain->data) == R"({"name":"","stream":"log","text":"three\n","follow":false})");
  auto missing = other.call("tail", {"nosuch"});
  REQUIRE(missing);
  CHECK_FALSE(missing->ok);
  CHECK(missing->error.empty());
  auto usage = other.call("tail", {"-z", "x"});
  REQUIRE(usage);
  CHECK(usage->error == "tail: unknown option '-z' (the options are -f, -BYTES and -n LINES)");

  client = control::Client{};  // leaves: the server stops following for it
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = f.onLoop([&] { return f.eventLog.followers(); }) == 0;
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  CHECK(gone);
}

TEST_CASE("tail -f of a program goes on across its restarts, on the same connection") {
  CommandFixture f({taskmaster::ProgramSpec{
      .name = "talker",
      .cmd = {"/bin/sh", "-c", "echo hello; exec sleep 60"},
      .autostart = true,
      .starttime = 0ms}});
  control::Client client;
  REQUIRE(client.connect(f.path));
  std::string text;
  for (int i = 0; i < 500 && text.empty(); ++i) {  // until the program has said hello
    auto reply = client.call("tail", {"talker"});
    REQUIRE(reply);
    text = std::string(reply->data.at("text").as_string());
    if (text.empty()) std::this_thread::sleep_for(10ms);
  }
  CHECK(text == "hello\n");
  auto reply = client.call("tail", {"-f", "talker"});
  REQUIRE(reply);
  CHECK(reply->ok);
  CHECK(reply->data.at("follow") == true);

  control::Client restarter;
  REQUIRE(restarter.connect(f.path));
  auto restarted = restarter.call("restart", {"talker"});
  REQUIRE(restarted);
  CHECK(restarted->ok);
  auto event = client.nextEvent();
  REQUIRE(event);
  CHECK((*event)["name"] == "talker");
  CHECK((*event)["stream"] == "stdout");
  CHECK(dataOf(*event) == "hello\n");
}
