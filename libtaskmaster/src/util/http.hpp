// Internal: the HTTP/1.1 connections of the metrics endpoint and of the XML-RPC server, with Boost.Beast on the
// loop. Every read and write is asynchronous and bounded in size and time, so a slow or hostile client only
// holds its own connection; an idle keep-alive connection is kept as long as its client wants it (supervisorctl
// never retries on a connection the server dropped). TCP and Unix sockets alike (Asio's generic protocol).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <taskmaster/subscription.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail::http {

using Protocol = boost::asio::generic::stream_protocol;
using Acceptor = boost::asio::basic_socket_acceptor<Protocol>;
using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using StreamHeader = boost::beast::http::response<boost::beast::http::empty_body>;
using Status = boost::beast::http::status;

struct Limits {
  std::size_t maxHeaderBytes = 8 * 1024;            // request line and headers; larger is a 400
  std::size_t maxBodyBytes = 8 * 1024;              // larger is a 413
  std::chrono::milliseconds requestTimeout{10000};  // from a request's first byte to its end; then closed
  std::chrono::milliseconds writeTimeout{30000};    // a client that reads nothing for this long is dropped
  std::size_t maxClients = 1024;                    // connections past it are closed at once
  std::size_t maxPendingBytes = 1024 * 1024;        // a stream's bytes the client has not taken; past it, closed
};

class Listener;
struct Core;

// One client. The Listener's handler gets it once a request has been read whole, and answers with reply() or
// stream(), at once or later (a callback that may outlive the connection keeps a weak_ptr to it).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Core> core, Protocol::socket socket);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] const Request& request() const { return parser_->get(); }
  [[nodiscard]] bool open() const { return open_; }

  // Answers the request: Server and Content-Length (unless set) added, the version and Connection header
  // those of the request (HTTP/1.0 closes unless it asked for keep-alive), or `close`. Then the next request.
  void reply(Response response, bool close = false);
  // The same with a text/plain body.
  void reply(Status status, std::string body, bool close = false);
  // Answers with a body that never ends: `header` now, then every send() as one chunk (HTTP/1.1 keep-alive) or
  // as raw bytes (then closed). It ends when the client leaves, or has not taken maxPendingBytes.
  void stream(StreamHeader header);
  void send(std::string_view bytes);
  // Kept while the connection is open (a follower of a log): reset when it closes.
  void hold(Subscription subscription) { held_ = std::move(subscription); }
  void close();

  void start() { waitForRequest(); }

 private:
  void waitForRequest();
  void readRequest();
  void onRead(boost::system::error_code ec);
  void arm(std::chrono::milliseconds timeout);
  void flush();
  void watchForClose();
  void finish();

  std::shared_ptr<Core> core_;
  Protocol::socket socket_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Response response_;
  bool keepAlive_ = false;
  bool open_ = true;
  // A stream: what is queued, what is being written, and whether it is chunked.
  bool streaming_ = false;
  bool chunked_ = false;
  bool writing_ = false;
  std::string queued_;
  std::string sending_;
  char discard_[512]{};
  Subscription held_;
};

using Handler = std::function<void(const std::shared_ptr<Connection>& connection)>;

// Accepts on one listening socket at a time and serves its connections with `handler`.
class Listener {
 public:
  Listener(boost::asio::io_context& io, Limits limits, Handler handler);
  ~Listener();  // closes the socket and every connection
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens on `endpoint` (address reuse on TCP), in place of the socket it had; on failure, the
  // old socket stays.
  [[nodiscard]] boost::system::error_code listen(const Protocol::endpoint& endpoint);
  // Stops accepting; the connections stay.
  void stopAccepting();
  // Stops accepting and closes every connection.
  void close();
  [[nodiscard]] std::optional<Protocol::endpoint> local() const;
  [[nodiscard]] std::size_t clients() const;

 private:
  std::shared_ptr<Core> core_;
};

// A response with a text/plain body.
[[nodiscard]] Response textResponse(Status status, std::string body);

// "127.0.0.1:9001", "[::1]:9001", or the path of a Unix socket.
[[nodiscard]] std::string describe(const Protocol::endpoint& endpoint);

}  // namespace taskmaster::inline v0::detail::http
