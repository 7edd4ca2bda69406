// Internal: one client connection of the control server.
#pragma once

#include "private.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <taskmaster/control.hpp>

namespace taskmaster::inline v0::control::detail {

class Session;

// What a session needs from its server. Outlives every session that is not closed or detached.
class SessionOwner {
 public:
  [[nodiscard]] virtual const ServerOptions& options() const = 0;
  // Answers one request through `respond` (built-ins first, then the embedding program's handler).
  virtual void serve(const Request& request, Responder respond) = 0;
  // The session has closed: forget it (this may destroy it).
  virtual void drop(Session* session) = 0;

 protected:
  ~SessionOwner() = default;
};

// One client connection. Requests are answered one at a time and in order; a reply may open a stream,
// whose lines then follow on the connection. Queued output is shared lines: a stream line costs one
// pointer per client. Stream lines that do not fit under ServerOptions::maxQueued are dropped and
// counted, and a "lagged" line is sent once the client has caught up; replies are never dropped.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(SessionOwner& owner, boost::asio::local::stream_protocol::socket socket);

  void start() { read(); }
  [[nodiscard]] int nativeHandle() { return socket_.native_handle(); }
  // Answers with one error line and hangs up.
  void refuse(std::string message);
  void close();
  // Closes without telling the owner (which is going away).
  void detach();

 private:
  struct Queued {
    SharedLine line;
    bool reply;  // else a stream line
  };

  void read();
  void process();
  void hangUp();
  void watchPartial();
  void handle(const std::string& line);
  void answer(const boost::json::value& id, Reply reply, StreamSource stream);
  void sendReply(std::string message);
  void sendStreamLine(const SharedLine& line);
  void enqueue(SharedLine line, bool reply);
  void write();
  void written();

  SessionOwner& owner_;
  const std::uint64_t connection_;  // this connection's number (Request::connection)
  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer partial_;
  std::array<char, 4096> chunk_{};
  LineFramer inbox_;
  std::deque<Queued> outbox_;
  std::size_t inFlight_ = 0;       // lines at the front of outbox_ being written
  std::size_t queued_ = 0;         // bytes in outbox_
  std::size_t queuedReplies_ = 0;  // of which replies
  std::uint64_t dropped_ = 0;      // stream lines dropped since the last "lagged" line
  Subscription stream_;
  bool reading_ = false, busy_ = false, writing_ = false, closing_ = false, closed_ = false, partialArmed_ = false;
};

}  // namespace taskmaster::inline v0::control::detail
