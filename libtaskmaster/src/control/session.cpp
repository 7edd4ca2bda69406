#include "control/session.hpp"

#include <atomic>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "control/wire.hpp"

namespace taskmaster::inline v0::control::detail {
namespace asio = boost::asio;

namespace {
constexpr std::size_t kMaxBatch = 64;  // lines handed to one gathered write
std::atomic<std::uint64_t> connections{0};  // servers may run on several threads
}

Session::Session(SessionOwner& owner, asio::local::stream_protocol::socket socket)
    : owner_(owner), connection_(++connections), socket_(std::move(socket)), partial_(socket_.get_executor()) {}

void Session::refuse(std::string message) {
  sendReply(encodeReply(nullptr, {false, {}, nullptr, std::move(message)}));
  closing_ = true;
}

void Session::close() {
  if (closed_) return;
  detach();
  owner_.drop(this);  // may destroy *this: nothing after
}

void Session::detach() {
  closed_ = true;
  stream_.reset();
  partial_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

// The client has finished sending: answer what it asked, then close.
void Session::hangUp() {
  closing_ = true;
  stream_.reset();  // ends a stream too: a client that wants events keeps its side open
  if (!busy_ && !writing_) close();
}

void Session::read() {
  if (reading_ || closed_ || closing_ || busy_) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
    self->reading_ = false;
    if (self->closed_) return;
    if (ec == asio::error::eof) return self->hangUp();
    if (ec) return self->close();
    self->inbox_.append({self->chunk_.data(), n});
    self->process();
  });
}

// Handles every complete line in the inbox, then reads more unless a request is being answered.
void Session::process() {
  while (!busy_ && !closed_ && !closing_) {
    auto line = inbox_.next();
    if (!line) break;
    if (line->find_first_not_of(" \t") == std::string::npos) continue;
    if (line->size() > kMaxLine) return refuse(fmt::format("request line longer than {} bytes", kMaxLine));
    handle(*line);
  }
  if (closed_ || closing_) return;
  if (inbox_.partial() > kMaxLine) return refuse(fmt::format("request line longer than {} bytes", kMaxLine));
  watchPartial();
  read();
}

// A client that starts a line and never finishes it loses its connection after partialTimeout.
void Session::watchPartial() {
  if (inbox_.partial() == 0 || busy_) {
    partial_.cancel();
    partialArmed_ = false;
    return;
  }
  if (partialArmed_) return;
  partialArmed_ = true;
  partial_.expires_after(owner_.options().partialTimeout);
  partial_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    self->refuse("incomplete request: timed out waiting for the end of the line");
  });
}

void Session::handle(const std::string& line) {
  auto request = parseRequest(line);
  if (!request) return sendReply(encodeReply(nullptr, {false, {}, nullptr, request.error().detail}));
  request->connection = connection_;
  busy_ = true;
  partial_.cancel();
  partialArmed_ = false;
  owner_.serve(*request, Responder([weak = weak_from_this(), id = request->id, withData = request->withData](
                                       Reply reply, StreamSource stream) {
    auto self = weak.lock();
    if (!withData) reply.data = nullptr;
    if (self && !self->closed_) self->answer(id, std::move(reply), std::move(stream));
  }));
}

void Session::answer(const boost::json::value& id, Reply reply, StreamSource stream) {
  busy_ = false;
  sendReply(encodeReply(id, reply));
  if (closed_) return;
  if (stream) {  // replaces the stream this client followed, if any
    stream_.reset();
    stream_ = stream([weak = weak_from_this()](const SharedLine& line) {
      if (auto self = weak.lock()) self->sendStreamLine(line);
    });
  }
  if (closing_ && !writing_) return close();
  // Next request: later on the loop, never from inside the handler's own call.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (!self->closed_) self->process();
  });
}

void Session::sendReply(std::string message) {
  if (closed_) return;
  queuedReplies_ += message.size();
  if (queuedReplies_ > owner_.options().maxQueued) return close();  // a client that does not read its replies
  enqueue(std::make_shared<const std::string>(std::move(message)), true);
}

// Past the limit, a stream line is dropped, and so is every later one until the queue has drained and the
// "lagged" line is queued: the client sees one gap, announced where it is.
void Session::sendStreamLine(const SharedLine& line) {
  if (closed_) return;
  if (dropped_ > 0 || queued_ + line->size() > owner_.options().maxQueued) {
    ++dropped_;
    if (!writing_) written();  // nothing queued: the client has caught up already
    return;
  }
  enqueue(line, false);
}

void Session::enqueue(SharedLine line, bool reply) {
  queued_ += line->size();
  outbox_.push_back({std::move(line), reply});
  if (!writing_) write();
}

void Session::write() {
  writing_ = true;
  inFlight_ = std::min(outbox_.size(), kMaxBatch);
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(inFlight_);
  for (std::size_t i = 0; i < inFlight_; ++i) buffers.emplace_back(asio::buffer(*outbox_[i].line));
  asio::async_write(socket_, buffers, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
    if (self->closed_) return;
    if (ec) return self->close();
    for (; self->inFlight_ > 0; --self->inFlight_) {
      const auto& front = self->outbox_.front();
      self->queued_ -= front.line->size();
      if (front.reply) self->queuedReplies_ -= front.line->size();
      self->outbox_.pop_front();
    }
    if (!self->outbox_.empty()) return self->write();
    self->writing_ = false;
    self->written();
  });
}

// Everything queued has been written.
void Session::written() {
  if (dropped_ > 0) {
    enqueue(std::make_shared<const std::string>(encodeLagged(std::exchange(dropped_, 0))), false);
    return;
  }
  if (closing_ && !busy_) close();
}

}  // namespace taskmaster::inline v0::control::detail
