// The control protocol: newline-delimited JSON over a Unix stream socket (docs/protocol.md), a server that
// serves it on a Supervisor's io_context, and a small blocking client for command-line tools.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/json/value.hpp>

#include <taskmaster/state.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0 {
class Supervisor;
}

namespace taskmaster::inline v0::control {

inline constexpr int kVersion = 1;
inline constexpr std::size_t kMaxLine = 64 * 1024;  // longest request line; longer ones end the connection

struct Request {
  boost::json::value id;  // echoed in the reply; null when absent
  std::string cmd;
  std::vector<std::string> args;
};

struct Reply {
  bool ok = true;
  std::vector<std::string> lines;  // human-readable answer, as the shell prints it
  boost::json::value data;         // machine-readable result (null when the command has none)
  std::string error;               // set when the request itself was bad
};

// Parses one request line; nullopt and `error` set when it is not a valid request.
[[nodiscard]] std::optional<Request> parseRequest(std::string_view line, std::string& error);
[[nodiscard]] std::string encodeRequest(const Request& request);
[[nodiscard]] std::string encodeReply(const boost::json::value& id, const Reply& reply);
[[nodiscard]] std::optional<Reply> parseReply(std::string_view line);

[[nodiscard]] boost::json::object toJson(const StateChange& change);
[[nodiscard]] boost::json::object toJson(const InstanceStatus& status);

// $XDG_RUNTIME_DIR/taskmaster.sock, else /tmp/taskmaster-UID/taskmaster.sock.
[[nodiscard]] std::string defaultSocketPath();

// Answers one request; must call `reply` exactly once, now or later, on the loop's thread.
using Handler = std::function<void(const Request&, std::function<void(Reply)> reply)>;

struct ServerOptions {
  std::string path{};               // the socket file
  std::optional<unsigned> group{};  // also accept peers of this gid (besides the same uid and root)
  std::size_t maxClients = 512;     // further connections get an error line and are closed
  std::size_t maxQueued = 4 << 20;  // bytes queued for a client that does not read; past it, disconnected
  std::chrono::milliseconds partialTimeout{10000};  // a started request line must be complete within this
};

// Serves the protocol. The "events" command is answered by the server itself: it streams every StateChange
// of the supervisor as a JSON line until the client disconnects. Every other command goes to the handler.
class Server {
 public:
  Server(boost::asio::io_context& io, Supervisor& supervisor, Handler handler);
  ~Server();  // closes the socket and removes its file
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Fails with EADDRINUSE when a live server answers on the path (a stale file is
  // replaced), and with the system's error otherwise; `detail` says what was tried.
  [[nodiscard]] std::error_code listen(const ServerOptions& options, std::string& detail);
  void close();
  [[nodiscard]] std::size_t clients() const;

  class Impl;  // the implementation, shared with its connections

 private:
  std::shared_ptr<Impl> impl_;
};

// A blocking client, for command-line tools (never for code on the supervisor's loop).
class Client {
 public:
  Client() = default;
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  [[nodiscard]] std::error_code connect(const std::string& path);
  // Sends one request and waits for its reply; nullopt when the connection failed (see lastError()).
  [[nodiscard]] std::optional<Reply> call(const std::string& cmd, const std::vector<std::string>& args = {});
  // After call("events"): the next event line, parsed; nullopt at end of stream.
  [[nodiscard]] std::optional<boost::json::object> nextEvent();
  [[nodiscard]] const std::string& lastError() const { return error_; }

 private:
  std::optional<std::string> readLine();
  int fd_ = -1;
  std::string buffer_;
  std::string error_;
  long nextId_ = 1;
};

}  // namespace taskmaster::inline v0::control
