#include "shell/line_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>

#include "shell/descriptors.hpp"

namespace cli {
namespace asio = boost::asio;

LineReader::LineReader(asio::io_context& io, int fd) : io_(io), fd_(fd) {
  if (pollable(fd)) stream_.emplace(io, watchableCopy(fd, O_RDONLY));
}

void LineReader::close() {
  closed_ = true;
  if (stream_) {
    boost::system::error_code ignored;
    stream_->close(ignored);
  }
}

void LineReader::next(Handler handler) {
  if (closed_) return;
  if (auto line = framer_.next()) {
    asio::post(io_, [this, line = std::move(*line), handler = std::move(handler)]() mutable {
      if (!closed_) handler(std::move(line));
    });
    return;
  }
  if (end_) {
    std::optional<std::string> last;
    if (framer_.partial() > 0) last = framer_.takePartial();
    asio::post(io_, [this, last = std::move(last), handler = std::move(handler)]() mutable {
      if (!closed_) handler(std::move(last));
    });
    return;
  }
  fill(std::move(handler));
}

void LineReader::fill(Handler handler) {
  if (stream_) {
    stream_->async_read_some(asio::buffer(chunk_), [this, handler = std::move(handler)](
                                                       boost::system::error_code ec, std::size_t n) mutable {
      if (ec == asio::error::operation_aborted || closed_) return;
      received(n, static_cast<bool>(ec), std::move(handler));  // EOF or a read error both end the input
    });
    return;
  }
  asio::post(io_, [this, handler = std::move(handler)]() mutable {
    if (closed_) return;
    const ssize_t n = taskmaster::retryOnEintr([this] { return ::read(fd_, chunk_.data(), chunk_.size()); });
    received(n > 0 ? static_cast<std::size_t>(n) : 0, n <= 0, std::move(handler));
  });
}

void LineReader::received(std::size_t bytes, bool end, Handler handler) {
  framer_.append({chunk_.data(), bytes});
  if (end) end_ = true;
  next(std::move(handler));
}

}  // namespace cli
