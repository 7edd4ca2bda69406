// The HTTP client (util/http_client.hpp) against servers on real sockets: a thread that answers one request as
// told, a port nobody listens on, a listener that never answers, and openssl's own TLS server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include "support.hpp"
#include "util/http_client.hpp"

namespace http = taskmaster::detail::http;
using namespace std::chrono_literals;

extern char** environ;

namespace {

// A TCP listener on 127.0.0.1 and a port of the system's choice.
struct Listening {
  int fd = -1;
  int port = 0;
  Listening() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~Listening() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  Listening(const Listening&) = delete;
  Listening& operator=(const Listening&) = delete;
};

// Answers one request with `answer`, keeping what it received; `whole`: once the request has come whole,
// else after its first bytes, whatever they are.
struct OneAnswer {
  Listening listening;
  std::string received;
  std::thread thread;
  explicit OneAnswer(std::string answer, bool whole = true) {
    thread = std::thread([this, whole, answer = std::move(answer)] {
      const int client = ::accept4(listening.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      char buffer[4096];
      // The headers, then the body their Content-Length announces.
      for (ssize_t n; (n = ::read(client, buffer, sizeof buffer)) > 0;) {
        received.append(buffer, static_cast<std::size_t>(n));
        if (!whole) break;
        const auto end = received.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const auto length = received.find("Content-Length: ");
        const std::size_t body = length == std::string::npos ? 0 : std::stoul(received.substr(length + 16));
        if (received.size() >= end + 4 + body) break;
      }
      test::sendAll(client, answer);
      ::close(client);
    });
  }
  ~OneAnswer() {
    if (thread.joinable()) thread.join();
  }
  // What came, once answered.
  const std::string& request() {
    if (thread.joinable()) thread.join();
    return received;
  }
  OneAnswer(const OneAnswer&) = delete;
  OneAnswer& operator=(const OneAnswer&) = delete;
};

struct Client {
  boost::asio::io_context io;
  std::optional<http::ClientResponse> response;
  std::chrono::steady_clock::duration took{};

  http::ClientResponse send(http::ClientRequest request) {
    const auto start = std::chrono::steady_clock::now();
    bool inside = true;
    auto pending = http::request(io, std::move(request), [&](http::ClientResponse r) {
      CHECK_FALSE(inside);
      took = std::chrono::steady_clock::now() - start;
      response = std::move(r);
    });
    inside = false;
    io.run();
    io.restart();
    REQUIRE(response);
    return *response;
  }
};

std::string url(int port, const std::string& path = "/hook") { return "http://127.0.0.1:" + std::to_string(port) + path; }

}  // namespace

TEST_CASE("a POST answered 200: the request as sent, the status and the body") {
  OneAnswer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  Client client;
  auto r = client.send({.method = "POST", .url = url(server.listening.port, "/alerts?x=1"), .body = "{\"a\":1}",
                        .contentType = "application/json"});
  CHECK(r.success());
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  CHECK(r.error.empty());
  const auto& sent = server.request();
  CHECK(sent.rfind("POST /alerts?x=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(sent.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(sent.find("Host: 127.0.0.1:" + std::to_string(server.listening.port)) != std::string::npos);
  CHECK(sent.ends_with("\r\n\r\n{\"a\":1}"));
}

TEST_CASE("a 503 is an answer, not a success") {
  OneAnswer server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown");
  Client client;
  auto r = client.send({.url = url(server.listening.port)});
  CHECK(r.status == 503);
  CHECK_FALSE(r.success());
  CHECK(r.body == "down");
}

TEST_CASE("a port nobody listens on: connection refused, at once") {
  int port = 0;
  {
    Listening gone;
    port = gone.port;
  }
  Client client;
  auto r = client.send({.url = url(port), .timeout = 5000ms});
  CHECK(r.status == 0);
  CHECK(r.error.find("Connection refused") != std::string::npos);
  CHECK(r.error.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(client.took < 2s);
}

TEST_CASE("a server that never answers: timed out after the request's timeout") {
  Listening silent;  // connections wait in its backlog: connected, never answered
  Client client;
  auto r = client.send({.url = url(silent.port), .timeout = 300ms});
  CHECK(r.status == 0);
  CHECK(r.error == "timed out after 300ms");
  CHECK(client.took >= 300ms);
  CHECK(client.took < 3s);
}

TEST_CASE("bad URLs are refused with the URL, after request() has returned") {
  Client client;
  for (const char* bad : {"ftp://example.com/", "http://", "http://host:99999/", "http://host:x/", "localhost:80",
                          "http://user@host/", "http://[::1/"}) {
    auto r = client.send({.url = bad});
    CHECK(r.status == 0);
    CHECK(r.error.rfind("bad URL", 0) == 0);
    CHECK(r.error.find(bad) != std::string::npos);
  }
}

TEST_CASE("destroying the pending request cancels it: no report") {
  Listening silent;
  boost::asio::io_context io;
  bool reported = false;
  auto pending = http::request(io, {.url = url(silent.port), .timeout = 200ms}, [&](http::ClientResponse) {
    reported = true;
  });
  io.run_for(50ms);
  pending.reset();
  io.run_for(400ms);
  CHECK_FALSE(reported);
}

TEST_CASE("https to a server that speaks plain HTTP: the handshake fails, in words") {
  OneAnswer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false);
  Client client;
  auto r = client.send({.url = "https://127.0.0.1:" + std::to_string(server.listening.port) + "/", .timeout = 5000ms});
  CHECK(r.status == 0);
  CHECK(r.error.rfind("TLS handshake with 127.0.0.1: ", 0) == 0);
  CHECK(client.took < 3s);
}

TEST_CASE("https to a server with a self-signed certificate: refused, the certificate not verified") {
  test::TempDir dir;
  const auto key = (dir.path / "key.pem").string();
  const auto cert = (dir.path / "cert.pem").string();
  const auto make = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert +
                    " -subj /CN=localhost -days 1 >/dev/null 2>&1";
  if (std::system(make.c_str()) != 0) {
    MESSAGE("openssl(1) is missing: the self-signed server is not tested");
    return;
  }
  int port = 0;
  {
    Listening free;
    port = free.port;
  }
  const std::string accept = std::to_string(port);
  const char* argv[] = {"openssl", "s_server", "-quiet", "-accept", accept.c_str(), "-cert", cert.c_str(),
                        "-key", key.c_str(), "-www", nullptr};
  pid_t server = 0;
  REQUIRE(::posix_spawnp(&server, "openssl", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
  // Until it listens.
  const auto until = std::chrono::steady_clock::now() + 10s;
  for (int fd; std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(20ms)) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (up) break;
  }
  Client client;
  auto r = client.send({.url = "https://localhost:" + accept + "/", .timeout = 5000ms});
  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  CHECK(r.status == 0);
  CHECK(r.error.rfind("TLS handshake with localhost: ", 0) == 0);
  CHECK(r.error.find("certificate verify failed") != std::string::npos);
}
