#include "util/http.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <sstream>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

namespace taskmaster::inline v0::detail::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using boost::system::error_code;

// What the connections share with their Listener; it outlives both (each connection holds it). The
// connections are owned here until they close, so that one waiting for its handler's answer stays.
struct Core {
  asio::io_context& io;
  Limits limits;
  Handler handler;
  std::shared_ptr<Acceptor> acceptor{};
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections{};
};

Connection::Connection(std::shared_ptr<Core> core, Protocol::socket socket)
    : core_(std::move(core)),
      socket_(std::move(socket)),
      timer_(core_->io),
      buffer_(core_->limits.maxHeaderBytes + 1024) {}

Connection::~Connection() = default;

// Idle between requests: no timeout (supervisorctl keeps its connection and never retries on one the server
// dropped). Blank lines between requests are skipped: supervisorctl's logtail client sends one after its
// request. The first byte of a request starts its clock.
void Connection::waitForRequest() {
  if (!open_) return;
  const auto* data = static_cast<const char*>(buffer_.data().data());
  std::size_t blank = 0;
  while (blank < buffer_.size() && (data[blank] == '\r' || data[blank] == '\n')) ++blank;
  buffer_.consume(blank);
  if (buffer_.size() > 0) return readRequest();
  socket_.async_read_some(buffer_.prepare(1024), [self = shared_from_this()](error_code ec, std::size_t n) {
    if (ec) return self->close();
    self->buffer_.commit(n);
    self->waitForRequest();
  });
}

void Connection::readRequest() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(core_->limits.maxHeaderBytes));
  parser_->body_limit(core_->limits.maxBodyBytes);
  arm(core_->limits.requestTimeout);
  bhttp::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
    self->timer_.cancel();
    self->onRead(ec);
  });
}

void Connection::onRead(error_code ec) {
  if (!open_) return;
  if (ec == bhttp::error::body_limit) {
    return reply(Status::payload_too_large,
                 fmt::format("request body too large: the limit is {} bytes\n", core_->limits.maxBodyBytes), true);
  }
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    return reply(Status::bad_request,
                 fmt::format("bad request: headers larger than {} bytes\n", core_->limits.maxHeaderBytes), true);
  }
  // The client left, or the request timed out (the timer closed the socket): nobody to answer.
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      (ec && ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()))
    return close();
  if (ec) return reply(Status::bad_request, fmt::format("bad request: {}\n", ec.message()), true);
  core_->handler(shared_from_this());
}

void Connection::reply(Response response, bool close) {
  if (!open_ || streaming_) return;
  const auto& request = parser_->get();
  response.version(request.version() == 10 ? 10 : 11);
  response.set(bhttp::field::server, "taskmaster");
  if (response.find(bhttp::field::content_length) == response.end()) response.content_length(response.body().size());
  keepAlive_ = !close && request.keep_alive();
  response.keep_alive(keepAlive_);
  response_ = std::move(response);
  arm(core_->limits.writeTimeout);
  bhttp::async_write(socket_, response_, [self = shared_from_this()](error_code ec, std::size_t) {
    self->timer_.cancel();
    if (ec) return self->close();
    if (!self->keepAlive_) return self->finish();
    self->waitForRequest();
  });
}

void Connection::reply(Status status, std::string body, bool close) { reply(textResponse(status, std::move(body)), close); }

Response textResponse(Status status, std::string body) {
  Response response{status, 11};
  response.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::move(body);
  return response;
}

void Connection::stream(StreamHeader header) {
  if (!open_ || streaming_) return;
  const auto& request = parser_->get();
  streaming_ = true;
  chunked_ = request.version() == 11 && request.keep_alive();
  header.version(request.version() == 10 ? 10 : 11);
  header.set(bhttp::field::server, "taskmaster");
  if (chunked_) header.chunked(true);
  else header.keep_alive(false);
  std::ostringstream text;
  text << header.base();
  queued_ = std::move(text).str();
  flush();
  watchForClose();
}

void Connection::send(std::string_view bytes) {
  if (!open_ || !streaming_ || bytes.empty()) return;
  if (queued_.size() + sending_.size() + bytes.size() > core_->limits.maxPendingBytes) return close();
  if (chunked_) queued_ += fmt::format("{:x}\r\n", bytes.size());
  queued_ += bytes;
  if (chunked_) queued_ += "\r\n";
  flush();
}

void Connection::flush() {
  if (writing_ || queued_.empty() || !open_) return;
  writing_ = true;
  sending_.swap(queued_);
  queued_.clear();
  arm(core_->limits.writeTimeout);
  asio::async_write(socket_, asio::buffer(sending_), [self = shared_from_this()](error_code ec, std::size_t) {
    self->writing_ = false;
    self->sending_.clear();
    self->timer_.cancel();
    if (ec) return self->close();
    self->flush();
  });
}

// Reads and drops whatever the client sends until it leaves: while a stream runs, and after a last reply
// (a close that does not reset a client whose request was not read whole, so that it gets its 413).
void Connection::watchForClose() {
  socket_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](error_code ec, std::size_t) {
    if (ec) return self->close();
    self->watchForClose();
  });
}

void Connection::finish() {
  error_code ignored;
  socket_.shutdown(Protocol::socket::shutdown_send, ignored);
  arm(core_->limits.requestTimeout);
  watchForClose();
}

void Connection::arm(std::chrono::milliseconds timeout) {
  timer_.expires_after(timeout);
  timer_.async_wait([weak = weak_from_this()](error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->close();
  });
}

void Connection::close() {
  if (!open_) return;
  const auto keep = shared_from_this();
  open_ = false;
  timer_.cancel();
  error_code ignored;
  socket_.shutdown(Protocol::socket::shutdown_both, ignored);
  socket_.close(ignored);
  held_.reset();
  core_->connections.erase(this);
}

namespace {

// Accepts on `acceptor` until it is no longer the current one. A failure (out of descriptors) waits a moment
// before the next accept instead of spinning.
void accept(const std::shared_ptr<Core>& core, const std::shared_ptr<Acceptor>& acceptor) {
  acceptor->async_accept([core, acceptor](error_code ec, Protocol::socket socket) {
    if (core->acceptor != acceptor) return;
    if (ec) {
      auto timer = std::make_shared<asio::steady_timer>(core->io, std::chrono::milliseconds(100));
      timer->async_wait([core, acceptor, timer](error_code) {
        if (core->acceptor == acceptor) accept(core, acceptor);
      });
      return;
    }
    if (core->connections.size() < core->limits.maxClients) {
      auto connection = std::make_shared<Connection>(core, std::move(socket));
      core->connections.emplace(connection.get(), connection);
      connection->start();
    }
    accept(core, acceptor);
  });
}

}  // namespace

Listener::Listener(asio::io_context& io, Limits limits, Handler handler)
    : core_(std::make_shared<Core>(Core{.io = io, .limits = limits, .handler = std::move(handler)})) {}

Listener::~Listener() { close(); }

error_code Listener::listen(const Protocol::endpoint& endpoint) {
  auto acceptor = std::make_shared<Acceptor>(core_->io);
  error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec && endpoint.protocol().family() != AF_UNIX)
    acceptor->set_option(Acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  stopAccepting();
  core_->acceptor = acceptor;
  accept(core_, acceptor);
  return {};
}

void Listener::stopAccepting() {
  if (!core_->acceptor) return;
  error_code ignored;
  core_->acceptor->close(ignored);
  core_->acceptor.reset();
}

void Listener::close() {
  stopAccepting();
  auto connections = std::move(core_->connections);
  core_->connections.clear();
  for (auto& [raw, connection] : connections) connection->close();
}

std::optional<Protocol::endpoint> Listener::local() const {
  if (!core_->acceptor) return std::nullopt;
  error_code ec;
  auto endpoint = core_->acceptor->local_endpoint(ec);
  if (ec) return std::nullopt;
  return endpoint;
}

std::size_t Listener::clients() const { return core_->connections.size(); }

std::string describe(const Protocol::endpoint& endpoint) {
  const auto* address = endpoint.data();
  if (address->sa_family == AF_UNIX) {
    const auto* local = reinterpret_cast<const sockaddr_un*>(address);
    const std::size_t length = endpoint.size() - offsetof(sockaddr_un, sun_path);
    return std::string(local->sun_path, strnlen(local->sun_path, length));
  }
  asio::ip::tcp::endpoint tcp;
  std::memcpy(tcp.data(), address, endpoint.size());
  tcp.resize(endpoint.size());
  const auto host = tcp.address().to_string();
  return tcp.address().is_v6() ? fmt::format("[{}]:{}", host, tcp.port()) : fmt::format("{}:{}", host, tcp.port());
}

}  // namespace taskmaster::inline v0::detail::http
