// supervisord's control interface (docs/xmlrpc.md): the XML-RPC methods that supervisorctl 4.2.5 and the tools
// built on it call (`supervisor.*`, `system.*`), answered from the command API (commands.hpp), and the HTTP/1.1
// server that carries them on a Unix socket or TCP, with /logtail and /mainlogtail for `tail -f`.
//
// Threading: as Supervisor (supervisor.hpp); every call on the loop's thread, every callback from it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <taskmaster/commands.hpp>
#include <taskmaster/config.hpp>
#include <taskmaster/error.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::xmlrpc {

// --- the methods -----------------------------------------------------------------------------------

// What only the embedding program can do. shutdown and restart are called on the loop after the answer (True)
// has been handed to `done`, never from inside call(); the others from inside the method, before its answer.
struct InterfaceHooks {
  std::function<void()> shutdown{};  // supervisor.shutdown: stop every program and leave
  std::function<void()> restart{};   // supervisor.restart: stop every program, read the configuration again, start
  // supervisor.sendRemoteCommEvent: a REMOTE_COMMUNICATION event for the event listeners (events.hpp). Without
  // it the event goes nowhere, as in a supervisord without listeners.
  std::function<void(std::string_view type, std::string_view data)> remoteCommunication{};
  // addProcessGroup or removeProcessGroup changed the Service's configuration (the event listeners' pools and
  // PROCESS_GROUP_* events follow it).
  std::function<void()> configChanged{};
};

// supervisord's methods over a Service, with its return structures, fault codes and fault strings
// (docs/xmlrpc.md, "Methods"). The Service must outlive it.
class Interface {
 public:
  Interface(Service& service, InterfaceHooks hooks = {});
  ~Interface();
  Interface(const Interface&) = delete;
  Interface& operator=(const Interface&) = delete;

  // `body`: the XML of a POST /RPC2 request. `done` gets the XML of the methodResponse (a value or a fault;
  // never anything else, whatever the body), exactly once, later on the loop and never from inside call().
  // Calls that wait (startProcess with wait) answer when their instances have settled; `done` is still called
  // once the Interface is gone (with a fault), so a caller may keep it as long as it needs.
  void call(std::string_view body, std::function<void(std::string response)> done);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// --- the HTTP server -------------------------------------------------------------------------------

struct ServerOptions {
  std::size_t maxBodyBytes = 1024 * 1024;           // a larger request is a 413 and a closed connection
  std::size_t maxHeaderBytes = 16 * 1024;
  std::chrono::milliseconds requestTimeout{30000};  // a started request must be complete within this
  std::chrono::milliseconds writeTimeout{60000};    // a client that reads nothing for this long is dropped
  std::size_t maxClients = 1024;                    // connections past it are closed at once
};

// One listener per HttpServerConfig (a Unix socket or a TCP port), each with its own authentication:
// POST /RPC2 to the Interface, GET /logtail/NAME[/stdout|stderr] and /mainlogtail from the Service. An idle
// keep-alive connection is never dropped (supervisorctl does not retry); nothing it does blocks the loop.
class Server {
 public:
  Server(boost::asio::io_context& io, Service& service, Interface& interface, ServerOptions options = {});
  ~Server();  // closes every listener and connection, and removes the Unix sockets it created
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Makes the listeners those of `servers`: one that is already listening with the same settings stays as it
  // is (its connections too); the others are opened, changed or closed. A listener that cannot be opened is
  // an Error naming it ("cannot listen on /run/supervisor.sock: Permission denied"), and the others are
  // still applied; a listener whose new settings fail keeps its old ones.
  [[nodiscard]] std::vector<Error> configure(const std::vector<HttpServerConfig>& servers);
  void close();

  // Where it listens ("unix:///run/supervisor.sock", "http://127.0.0.1:9001": a port 0 as bound).
  [[nodiscard]] std::vector<std::string> addresses() const;
  [[nodiscard]] std::size_t clients() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace taskmaster::inline v0::xmlrpc
