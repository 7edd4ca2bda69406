// The HTTP server of the XML-RPC interface over real sockets: authentication, the Unix socket's mode and its
// stale file, the limits (oversized bodies, half requests), keep-alive, reconfiguration, and /logtail.
#include <doctest/doctest.h>

#include <taskmaster/taskmaster.hpp>
#include <taskmaster/xmlrpc.hpp>

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <thread>
#include <type_traits>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "support.hpp"

using namespace std::chrono_literals;
namespace xmlrpc = taskmaster::xmlrpc;
using taskmaster::HttpServerConfig;

namespace {

using test::connectUnix;
using test::sendAll;
using test::TempDir;

constexpr std::string_view kCall =
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getVersion</methodName>\n<params>\n</params>\n"
    "</methodCall>\n";

int connectTcp(const std::string& url) {  // "http://127.0.0.1:PORT"
  const auto port = std::stoi(url.substr(url.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void receiveTimeout(int fd, std::chrono::milliseconds limit) {
  timeval tv{static_cast<time_t>(limit.count() / 1000), static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

struct Reply {
  int status = 0;
  std::string headers;
  std::string body;
  bool closed = false;  // the server closed the connection after it
};

// One response with a Content-Length, read from `fd` (status 0: nothing came, or the connection closed).
Reply readReply(int fd, std::chrono::milliseconds limit = 5s) {
  receiveTimeout(fd, limit);
  std::string data;
  char buffer[4096];
  Reply reply;
  std::size_t end = std::string::npos;
  while ((end = data.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return reply;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  reply.headers = data.substr(0, end + 2);
  reply.status = std::stoi(data.substr(9, 3));
  std::size_t length = 0;
  if (const auto at = reply.headers.find("Content-Length: "); at != std::string::npos)
    length = std::stoul(reply.headers.substr(at + 16));
  data.erase(0, end + 4);
  while (data.size() < length) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  reply.body = data;
  return reply;
}

// Whether the server closes `fd` within `limit`.
bool closedWithin(int fd, std::chrono::milliseconds limit) {
  receiveTimeout(fd, limit);
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
  }
  return n == 0 || errno == ECONNRESET;
}

// The status of the one answer to `request` on a new connection to `path`.
int statusOf(const std::string& path, std::string_view request) {
  const int fd = connectUnix(path);
  sendAll(fd, request);
  const int status = readReply(fd).status;
  ::close(fd);
  return status;
}

std::string post(std::string_view body, std::string_view extra = "") {
  return fmt::format("POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n{}Content-Length: {}\r\n\r\n{}",
                     extra, body.size(), body);
}

taskmaster::ProgramSpec program(std::string name, std::vector<std::string> cmd) {
  taskmaster::ProgramSpec spec;
  spec.name = std::move(name);
  spec.cmd = std::move(cmd);
  spec.autostart = true;
  spec.starttime = std::chrono::seconds(0);
  return spec;
}

// The server on its own thread; the test thread plays the clients.
class Fixture {
 public:
  // Runs `f` on the loop's thread and returns its result.
  template <class F>
  auto onLoop(F f) {
    return test::onLoop(io, std::move(f));
  }

  explicit Fixture(xmlrpc::ServerOptions options = {}, std::vector<taskmaster::ProgramSpec> programs = {})
      : service(supervisor, config(std::move(programs))), server(io, service, interface, options) {
    (void)service.apply();
    thread = std::thread([this] { io.run(); });
  }
  ~Fixture() {
    onLoop([this] {
      server.close();
      work.reset();
      supervisor.shutdown();
    });
    thread.join();
  }

  std::vector<taskmaster::Error> configure(const std::vector<HttpServerConfig>& servers) {
    return onLoop([&] { return server.configure(servers); });
  }
  HttpServerConfig unixSocket(std::string name = "rpc.sock") {
    HttpServerConfig config;
    config.address = (dir.path / name).string();
    return config;
  }
  std::vector<std::string> addresses() { return onLoop([this] { return server.addresses(); }); }
  std::size_t clients() { return onLoop([this] { return server.clients(); }); }

  TempDir dir;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{io.get_executor()};
  taskmaster::Supervisor supervisor{io};
  taskmaster::Service service;
  xmlrpc::Interface interface{service};
  xmlrpc::Server server;
  std::thread thread;

 private:
  taskmaster::Config config(std::vector<taskmaster::ProgramSpec> programs) {
    taskmaster::Config c;
    c.programs = std::move(programs);
    return c;
  }
};

}  // namespace

TEST_CASE("xmlrpc server: without the right credentials, every path is a 401 that asks for Basic") {
  Fixture f;
  auto config = f.unixSocket();
  config.username = "user";
  config.password = "secret";
  REQUIRE(f.configure({config}).empty());
  for (std::string_view extra : {"", "Authorization: Basic dXNlcjp3cm9uZw==\r\n", "Authorization: Bearer x\r\n"}) {
    for (const auto& request : {post(kCall, extra), fmt::format("GET /logtail/x HTTP/1.1\r\n{}\r\n", extra),
                                fmt::format("GET /nowhere HTTP/1.1\r\n{}\r\n", extra)}) {
      const int fd = connectUnix(config.address);
      REQUIRE(fd >= 0);
      sendAll(fd, request);
      const auto reply = readReply(fd);
      CHECK(reply.status == 401);
      CHECK(reply.headers.find("WWW-Authenticate: Basic realm=\"default\"") != std::string::npos);
      CHECK(closedWithin(fd, 2s));
      ::close(fd);
    }
  }
  const int fd = connectUnix(config.address);
  sendAll(fd, post(kCall, "Authorization: Basic dXNlcjpzZWNyZXQ=\r\n"));  // user:secret
  const auto reply = readReply(fd);
  CHECK(reply.status == 200);
  CHECK(reply.headers.find("Content-Type: text/xml") != std::string::npos);
  CHECK(reply.body.find("<methodResponse>") != std::string::npos);
  sendAll(fd, post(kCall, "Authorization: Basic !!!!\r\n"));
  CHECK(readReply(fd).status == 400);
  ::close(fd);
}

TEST_CASE("xmlrpc server: a {SHA} password is the SHA-1 of what the client sends") {
  Fixture f;
  auto config = f.unixSocket();
  config.username = "user";
  config.password = "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4";  // sha1("secret")
  REQUIRE(f.configure({config}).empty());
  CHECK(statusOf(config.address, post(kCall, "Authorization: Basic dXNlcjpzZWNyZXQ=\r\n")) == 200);
  // The hash itself is not the password.
  CHECK(statusOf(config.address,
                 post(kCall, "Authorization: Basic dXNlcjp7U0hBfWU1ZTlmYTFiYTMxZWNkMWFlODRmNzVjYWFhNDc0ZjNhNjYzZjA1ZjQ=\r\n")) ==
        401);
}

TEST_CASE("xmlrpc server: the socket gets its chmod, and goes when the server closes") {
  Fixture f;
  auto config = f.unixSocket();
  REQUIRE(f.configure({config}).empty());
  struct stat st{};
  REQUIRE(::stat(config.address.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  CHECK(S_ISSOCK(st.st_mode));
  config.chmod = 0660;
  REQUIRE(f.configure({config}).empty());
  REQUIRE(::stat(config.address.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
  CHECK(f.addresses() == std::vector<std::string>{"unix://" + config.address});
  if (::geteuid() == 0) {  // only root may give a file away
    const passwd* nobody = ::getpwnam("nobody");
    REQUIRE(nobody != nullptr);
    config.chown = "nobody:0";
    REQUIRE(f.configure({config}).empty());
    REQUIRE(::stat(config.address.c_str(), &st) == 0);
    CHECK(st.st_uid == nobody->pw_uid);
    CHECK(st.st_gid == 0);
  }
  config.chown = "no-such-user-here";
  const auto errors = f.configure({config});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].str() == fmt::format("cannot listen on {}: chown: no user named no-such-user-here", config.address));
  CHECK(::access(config.address.c_str(), F_OK) == 0);  // the socket as it was stays
  f.onLoop([&] { f.server.close(); });
  CHECK(::access(config.address.c_str(), F_OK) != 0);
}

TEST_CASE("xmlrpc server: a stale socket file is replaced, a live one is an error, another file is left") {
  Fixture f;
  auto config = f.unixSocket();
  {  // a socket file whose server is gone
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, config.address.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);
  }
  REQUIRE(f.configure({config}).empty());
  const int fd = connectUnix(config.address);
  REQUIRE(fd >= 0);
  ::close(fd);

  Fixture other;
  const auto errors = other.configure({config});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].str() == fmt::format("cannot listen on {}: another program listens there", config.address));
  CHECK(connectUnix(config.address) >= 0);  // still the first server's

  auto plain = other.unixSocket("plain");
  { std::ofstream(plain.address) << "data"; }
  REQUIRE(other.configure({plain}).size() == 1);
  CHECK(std::filesystem::is_regular_file(plain.address));
}

TEST_CASE("xmlrpc server: a body over the limit is a 413, a request without a length a 411") {
  Fixture f({.maxBodyBytes = 1000});
  auto config = f.unixSocket();
  REQUIRE(f.configure({config}).empty());
  const int fd = connectUnix(config.address);
  sendAll(fd, post(std::string(5000, 'x')));
  const auto reply = readReply(fd);
  CHECK(reply.status == 413);
  CHECK(reply.headers.find("Connection: close") != std::string::npos);
  ::close(fd);
  CHECK(statusOf(config.address, "POST /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n") == 411);
}

TEST_CASE("xmlrpc server: a half request times out alone; idle keep-alive connections stay") {
  Fixture f({.requestTimeout = 300ms});
  auto config = f.unixSocket();
  REQUIRE(f.configure({config}).empty());
  const int idle = connectUnix(config.address);
  sendAll(idle, post(kCall));
  REQUIRE(readReply(idle).status == 200);
  const int half = connectUnix(config.address);
  sendAll(half, "POST /RPC2 HTTP/1.1\r\nContent-Le");
  const auto started = std::chrono::steady_clock::now();
  const int other = connectUnix(config.address);
  sendAll(other, post(kCall));
  CHECK(readReply(other).status == 200);
  CHECK(std::chrono::steady_clock::now() - started < 250ms);
  CHECK(closedWithin(half, 3s));
  CHECK(std::chrono::steady_clock::now() - started >= 250ms);
  ::close(half);
  ::close(other);
  // Idle for longer than a request may take: still served, on the same connection.
  std::this_thread::sleep_for(600ms);
  sendAll(idle, post(kCall));
  CHECK(readReply(idle).status == 200);
  ::close(idle);
}

TEST_CASE("xmlrpc server: keep-alive: several requests on one connection, blank lines between them skipped") {
  Fixture f;
  auto config = f.unixSocket();
  REQUIRE(f.configure({config}).empty());
  const int fd = connectUnix(config.address);
  for (int i = 0; i < 3; ++i) {
    sendAll(fd, post(kCall) + "\r\n");
    const auto reply = readReply(fd);
    CHECK(reply.status == 200);
    CHECK(reply.headers.find("HTTP/1.1 200 OK\r\n") == 0);
    CHECK(reply.headers.find("Connection: close") == std::string::npos);
  }
  CHECK(f.clients() == 1);
  sendAll(fd, post(kCall, "Connection: close\r\n"));
  CHECK(readReply(fd).status == 200);
  CHECK(closedWithin(fd, 2s));
  ::close(fd);
  const int old = connectUnix(config.address);  // HTTP/1.0: closed after the answer
  sendAll(old, fmt::format("POST /RPC2 HTTP/1.0\r\nContent-Length: {}\r\n\r\n{}", kCall.size(), kCall));
  const auto reply = readReply(old);
  CHECK(reply.headers.find("HTTP/1.0 200 OK\r\n") == 0);
  CHECK(closedWithin(old, 2s));
  ::close(old);
}

TEST_CASE("xmlrpc server: configure() keeps an unchanged listener and its connections") {
  Fixture f;
  auto local = f.unixSocket();
  HttpServerConfig inet;
  inet.kind = HttpServerConfig::Kind::inet;
  inet.address = "127.0.0.1:0";
  REQUIRE(f.configure({local, inet}).empty());
  const auto addresses = f.addresses();
  REQUIRE(addresses.size() == 2);
  const int tcp = connectTcp(addresses[1]);
  REQUIRE(tcp >= 0);
  sendAll(tcp, post(kCall));
  REQUIRE(readReply(tcp).status == 200);
  const int fd = connectUnix(local.address);
  sendAll(fd, post(kCall));
  REQUIRE(readReply(fd).status == 200);

  // The inet listener is unchanged; the unix one gets credentials (in place: its client stays too, and is
  // now asked for them).
  auto guarded = local;
  guarded.username = "u";
  guarded.password = "p";
  REQUIRE(f.configure({guarded, inet}).empty());
  CHECK(f.addresses() == addresses);
  sendAll(tcp, post(kCall));
  CHECK(readReply(tcp).status == 200);
  sendAll(fd, post(kCall));
  CHECK(readReply(fd).status == 401);
  ::close(fd);

  // A listener that cannot be opened is an error naming it; the others are applied.
  HttpServerConfig bad;
  bad.kind = HttpServerConfig::Kind::inet;
  bad.address = "256.0.0.1:80";
  const auto errors = f.configure({guarded, inet, bad});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].str().starts_with("cannot listen on 256.0.0.1:80: "));
  sendAll(tcp, post(kCall));
  CHECK(readReply(tcp).status == 200);

  REQUIRE(f.configure({}).empty());
  CHECK(f.addresses().empty());
  CHECK(closedWithin(tcp, 2s));
  ::close(tcp);
}

TEST_CASE("xmlrpc server: /logtail streams a program's output, chunked, as it is written") {
  Fixture f({}, {program("talker", {"/bin/sh", "-c", "echo hello; sleep 0.5; echo world; exec sleep 60"})});
  auto config = f.unixSocket();
  REQUIRE(f.configure({config}).empty());
  std::this_thread::sleep_for(200ms);
  const int fd = connectUnix(config.address);
  // As supervisorctl's own client sends it: an empty Host, and an extra blank line.
  sendAll(fd, "GET /logtail/talker/stdout HTTP/1.1\r\nHost: \r\nAccept-Encoding: chunked\r\n\r\n\r\n");
  receiveTimeout(fd, 5s);
  std::string data;
  char buffer[4096];
  while (data.find("world") == std::string::npos) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  CHECK(data.find("HTTP/1.1 200 OK\r\n") == 0);
  CHECK(data.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(data.find("Content-Length") == std::string::npos);
  CHECK(data.find("6\r\nhello\n\r\n") != std::string::npos);
  CHECK(data.find("world\n") != std::string::npos);
  CHECK(f.clients() == 1);
  ::close(fd);
  for (int i = 0; i < 50 && f.clients() != 0; ++i) std::this_thread::sleep_for(20ms);
  CHECK(f.clients() == 0);

  for (std::string_view path : {"/logtail/nobody", "/logtail/talker/elsewhere"})
    CHECK(statusOf(config.address, fmt::format("GET {} HTTP/1.1\r\n\r\n", path)) == 404);
}

TEST_CASE("xmlrpc server: a /logtail client that reads nothing is dropped, not buffered for without end") {
  Fixture f({}, {program("spew", {"/bin/sh", "-c", "while :; do printf '%01000d\\n' 0; done"})});
  auto config = f.unixSocket();
  REQUIRE(f.configure({config}).empty());
  const int deaf = connectUnix(config.address);
  const int small = 4096;
  ::setsockopt(deaf, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sendAll(deaf, "GET /logtail/spew HTTP/1.1\r\n\r\n");
  const int reader = connectUnix(config.address);  // one that reads is served meanwhile
  sendAll(reader, post(kCall));
  CHECK(readReply(reader).status == 200);
  bool dropped = false;
  for (int i = 0; i < 500 && !dropped; ++i) {
    std::this_thread::sleep_for(20ms);
    dropped = f.clients() == 1;  // the reader's keep-alive connection stays
  }
  CHECK(dropped);
  ::close(deaf);
  ::close(reader);
}
