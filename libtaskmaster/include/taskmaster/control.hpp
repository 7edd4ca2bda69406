// The control protocol: newline-delimited JSON over a Unix stream socket (docs/protocol.md), a server that
// serves it on a Supervisor's io_context, and a small blocking client for command-line tools.
//
// Boost.JSON values appear in these signatures (a request's id, a reply's data), so Boost.JSON is part of the
// public dependency: the pkg-config file declares it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <taskmaster/error.hpp>
#include <taskmaster/state.hpp>
#include <taskmaster/supervisor.hpp>
#include <taskmaster/util.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0 {
class Interpreter;  // commands.hpp
}

namespace taskmaster::inline v0::control {

inline constexpr int kVersion = 1;
inline constexpr std::size_t kMaxLine = 64 * 1024;  // longest request line; longer ones end the connection

struct Request {
  boost::json::value id;  // echoed in the reply; null when absent
  std::string cmd;
  std::vector<std::string> args;
  bool withData = true;  // "data": false asks for the reply without its "data" (a client that prints `lines`)
  // Not on the wire: the server's number for the connection it came on (from 1; 0 for none), which ties the
  // input and resize requests of an attach to the attachment of their connection.
  std::uint64_t connection = 0;
};

struct Reply {
  bool ok = true;
  std::vector<std::string> lines;  // human-readable answer, as the shell prints it
  boost::json::value data;         // machine-readable result (null when the command has none)
  std::string error;               // set when the request itself was bad
};

// --- messages: each function reads or writes one line (encoders end it with '\n') ----------------------

// A request line; the Error's detail says what is wrong with it, in words for the error reply.
[[nodiscard]] Result<Request> parseRequest(std::string_view line);
[[nodiscard]] std::string encodeRequest(const Request& request);
[[nodiscard]] std::string encodeReply(const boost::json::value& id, const Reply& reply);
// A reply line (an object with "ok"); an Error for anything else, event lines included.
[[nodiscard]] Result<Reply> parseReply(std::string_view line);
// The event line of a state change: {"v":1,"event":"state",...}; of a detail (waiting for dependencies,
// health, STATUS= text): {"v":1,"event":"detail","detail":"waiting",...}.
[[nodiscard]] std::string encodeEvent(const StateChange& change);
[[nodiscard]] std::string encodeEvent(const DetailChange& change);

// The lines of an attach's stream besides its output: {"v":1,"event":"keyboard","name":"web","keyboard":true}
// when the keyboard comes to the client, and {"v":1,"event":"detached","name":"web","reason":"exited",
// "line":"web exited with status 0"} when the attachment ends.
[[nodiscard]] std::string encodeKeyboard(std::string_view name, bool keyboard);
[[nodiscard]] std::string encodeDetached(std::string_view name, std::string_view reason, std::string_view line);

// An output line of a followed log (tail -f, maintail -f): {"v":1,"event":"output","name":"web:1",
// "stream":"stdout","data":"..."}. `data` must be UTF-8 already (see Utf8Stream).
[[nodiscard]] std::string encodeOutput(std::string_view name, std::string_view stream, std::string_view data);

// JSON carries text: bytes that are not UTF-8 (a program may write anything) become U+FFFD, one for each
// maximal invalid sequence, as the Unicode standard recommends.
[[nodiscard]] std::string validUtf8(std::string_view bytes);

// The same for bytes that come in chunks: a character split across two chunks is kept whole, its first
// bytes held back until the next chunk.
class Utf8Stream {
 public:
  [[nodiscard]] std::string feed(std::string_view chunk);
  // The bytes held back, as U+FFFD (the stream ended inside a character); nothing when none.
  [[nodiscard]] std::string finish();

 private:
  std::string held_;
};

[[nodiscard]] boost::json::object toJson(const StateChange& change);
[[nodiscard]] boost::json::object toJson(const DetailChange& change);
[[nodiscard]] boost::json::object toJson(const InstanceStatus& status);

// $XDG_RUNTIME_DIR/taskmaster.sock, else /tmp/taskmaster-UID/taskmaster.sock.
[[nodiscard]] std::string defaultSocketPath();

// --- streams: lines that follow a reply on its connection (events; a log being followed) ---------------

// One line of the protocol with its '\n', serialized once and shared by every client it is sent to.
using SharedLine = std::shared_ptr<const std::string>;

// Takes a stream's lines for one client. Never blocks and never fails: a line that does not fit in the
// client's queue (ServerOptions::maxQueued) is dropped and counted, and once the client has caught up it
// gets one {"event":"lagged","dropped":N} line instead of the lines it missed.
using StreamSink = std::function<void(const SharedLine& line)>;

// Opens a stream for one client: `sink` is called for each line until the returned Subscription is reset,
// which happens when the client leaves or opens another stream. Called on the loop's thread, right after
// the reply that opened the stream was queued.
using StreamSource = std::function<Subscription(StreamSink sink)>;

// The supervisor's state changes and details (in order) as a stream: each change is serialized once,
// whatever the number of subscribers, and observed only while someone subscribes. Loop thread only.
class EventStream {
 public:
  explicit EventStream(Supervisor& supervisor);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // A source for Responder: respond(reply, events.source()). Subscriptions may outlive the EventStream.
  [[nodiscard]] StreamSource source() const;
  [[nodiscard]] std::size_t subscribers() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// How a handler answers a request: exactly once, now or later, on the loop's thread. Copyable. Once the
// client has left, answering does nothing.
class Responder {
 public:
  explicit Responder(std::function<void(Reply, StreamSource)> send) : send_(std::move(send)) {}
  void operator()(Reply reply) const { send_(std::move(reply), {}); }
  // The reply, then the stream's lines on the same connection until the client leaves.
  void operator()(Reply reply, StreamSource stream) const { send_(std::move(reply), std::move(stream)); }

 private:
  std::function<void(Reply, StreamSource)> send_;
};

using Handler = std::function<void(const Request& request, Responder respond)>;

// The command language (commands.hpp) as this protocol serves it: each request runs through `interpreter`
// as source "socket"; a wrong command is a bad request (its message in `error` too); `onShutdown` runs after
// the reply to a command that stops taskmaster. `interpreter` must outlive the server.
[[nodiscard]] Handler commandHandler(Interpreter& interpreter, std::function<void()> onShutdown);

// --- server -----------------------------------------------------------------------------------------

struct ServerOptions {
  std::string path{};               // the socket file
  std::optional<unsigned> group{};  // also accept peers of this gid (besides the same uid and root)
  // Refuse a socket directory that belongs to someone else or is open to others (in a shared directory such
  // as /tmp, anyone may create it first). Unset: required for the directory of the default path under /tmp
  // (/tmp/taskmaster-UID, see defaultSocketPath()), not for a directory the caller chose.
  std::optional<bool> requirePrivateDir{};
  std::size_t maxClients = 512;  // further connections get an error line and are closed
  // Bytes queued for one client. Past it, stream lines are dropped (the client gets a "lagged" line later);
  // replies are never dropped, and a client whose unread replies alone pass it is disconnected.
  std::size_t maxQueued = 4 << 20;
  std::chrono::milliseconds partialTimeout{10000};  // a started request line must be complete within this
};

// Serves the protocol. It answers "events" itself, with an EventStream of the supervisor; every other
// command goes to the handler.
class Server {
 public:
  Server(boost::asio::io_context& io, Supervisor& supervisor, Handler handler);
  ~Server();  // closes the socket and removes its file
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Prepares the directory (created 0700 when missing), replaces a stale socket file, binds and listens.
  // Fails with EADDRINUSE when a live server answers on the path, and with the system's error otherwise.
  // The Error's detail is a whole sentence that names the path ("another taskmaster is already listening
  // on PATH"): show it as it is.
  [[nodiscard]] Result<> listen(const ServerOptions& options);
  void close();
  [[nodiscard]] std::size_t clients() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

// --- client -----------------------------------------------------------------------------------------

// A blocking client, for command-line tools (never for code on the supervisor's loop).
class Client {
 public:
  [[nodiscard]] Result<> connect(const std::string& path);
  // Sends one request and waits for its reply, skipping event lines. An Error when the connection failed or
  // the server refused it (its reason in the detail).
  // withData false: the reply comes without its `data` (less to send, for a client that prints `lines`).
  [[nodiscard]] Result<Reply> call(const std::string& cmd, const std::vector<std::string>& args = {},
                                   bool withData = true);
  // After call("events"), or a call that opened another stream (tail -f): the next stream line, parsed; an
  // Error at the end of the stream. An event {"event":"lagged","dropped":N} says N lines were lost.
  [[nodiscard]] Result<boost::json::object> nextEvent();

  // For a caller with an event loop, which waits until fd() is readable before it reads:
  // the stream lines received already (some may have come with a reply), without reading;
  [[nodiscard]] std::vector<boost::json::object> bufferedEvents();
  // one read (it waits until something comes), then the stream lines it completed, maybe none; an Error at
  // the end of the stream.
  [[nodiscard]] Result<std::vector<boost::json::object>> readEvents();
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  Result<boost::json::value> readMessage();  // the next line, parsed once

  UniqueFd fd_;
  LineFramer framer_;
  long nextId_ = 1;
};

}  // namespace taskmaster::inline v0::control
