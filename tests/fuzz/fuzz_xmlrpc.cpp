// libFuzzer target: raw bytes as one or more HTTP requests to the XML-RPC server, over a real Unix socket: its
// request parsing, limits, Basic authentication and routing, and for POST /RPC2 the Interface's XML decoding
// and methods. The same bytes go to a listener without authentication and to one with it (admin:secret, as
// {SHA}). Whatever the bytes, the server must answer or close, never crash, and leave no connection behind.
#include <taskmaster/taskmaster.hpp>
#include <taskmaster/xmlrpc.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

namespace {

namespace xmlrpc = taskmaster::xmlrpc;
using namespace std::chrono_literals;

[[noreturn]] void violated(std::string_view what) {
  std::fprintf(stderr, "invariant violated: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// Everything the target keeps from one input to the next: a supervisor without programs (no method may run
// anything), and the server on two sockets in a private directory.
struct World {
  World() {
    char pattern[] = "/tmp/taskmaster-fuzz-xmlrpc.XXXXXX";
    if (!::mkdtemp(pattern)) violated("mkdtemp");
    dir = pattern;
    taskmaster::HttpServerConfig open;
    open.address = dir + "/open.sock";
    taskmaster::HttpServerConfig guarded;
    guarded.address = dir + "/guarded.sock";
    guarded.username = "admin";
    guarded.password = "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4";  // "secret"
    if (!server.configure({open, guarded}).empty()) violated("the server cannot listen");
    paths[0] = open.address;
    paths[1] = guarded.address;
  }
  ~World() {
    server.close();  // removes its sockets
    ::rmdir(dir.c_str());
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  std::string dir;
  std::string paths[2];
  boost::asio::io_context io;
  taskmaster::Supervisor supervisor{io};
  taskmaster::Service service{supervisor, taskmaster::Config{}};
  xmlrpc::Interface interface{service};
  xmlrpc::Server server{io, service, interface,
                        {.maxBodyBytes = 64 * 1024, .maxHeaderBytes = 8 * 1024, .requestTimeout = 2s,
                         .writeTimeout = 2s, .maxClients = 16}};
};

int connectTo(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) violated("connect");
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

// Sends `input` and then the end of it, reading every answer, until the server closes the connection. A stream
// (/logtail) never ends on its own: the client leaves after a while, as supervisorctl's Ctrl-C.
void exchange(World& world, const std::string& path, std::string_view input) {
  const int fd = connectTo(path);
  std::size_t sent = 0;
  bool ended = false;
  char buffer[65536];
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (sent < input.size()) {
      const ssize_t n = ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      else if (errno != EAGAIN) sent = input.size();  // the server closed: nothing more to send
    } else if (!ended) {
      ::shutdown(fd, SHUT_WR);
      ended = true;
    }
    world.io.run_for(1ms);
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
    }
    if (n == 0 || (n < 0 && errno != EAGAIN)) break;
  }
  ::close(fd);
  for (int i = 0; i < 100 && world.server.clients() > 0; ++i) world.io.run_for(1ms);
  if (world.server.clients() > 0) violated("a connection outlived its client");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const auto& path : world.paths) exchange(world, path, input);
  return 0;
}
