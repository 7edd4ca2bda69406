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

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "support.hpp"

using namespace std::chrono_literals;
namespace control = taskmaster::control;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

// A raw client socket, for sending what a well-behaved client never would.
int rawConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

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
  control::Server server{io, sup, [](const control::Request& r, auto reply) {
                           if (r.cmd == "echo") return reply({true, r.args, boost::json::value(r.args.size()), {}});
                           reply({false, {"unknown command '" + r.cmd + "'"}, nullptr, {}});
                         }};
  std::thread thread;
};

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
                 Case{R"({"id":{"n":[1e999]},"cmd":"status"})", "\"id\" must be a finite number"}}) {
    CAPTURE(c.line);
    auto r = control::parseRequest(c.line);
    CHECK(r.ok() == (c.error == nullptr));
    if (c.error && !r) CHECK_MESSAGE(r.error().detail.find(c.error) != std::string::npos, r.error().detail);
  }
  auto r = control::parseRequest(R"({"v":1,"id":"a","cmd":"start","args":["web","db"]})");
  REQUIRE(r);
  CHECK(r->id == boost::json::value("a"));
  CHECK(r->args == std::vector<std::string>{"web", "db"});
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
  int fd = rawConnect(f.path);
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
  int fd = rawConnect(f.path);
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
  int fd = rawConnect(f.path);
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
  for (int i = 0; i < 300; ++i) fds.push_back(rawConnect(f.path));
  for (auto deadline = std::chrono::steady_clock::now() + 10s; f.clients() < 300;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(10ms);
  }
  int served = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {  // while the 300 stay connected
    int fd = rawConnect(f.path);
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
  int fd = rawConnect(f.path);
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
      int fd = rawConnect(f.path);
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
    int fd = rawConnect(f.path);
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
