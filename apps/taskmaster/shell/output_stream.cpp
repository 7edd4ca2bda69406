#include "shell/output_stream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>

#include <taskmaster/util.hpp>

#include "shell/descriptors.hpp"

namespace cli {
namespace asio = boost::asio;

using taskmaster::writeAll;

OutputStream::OutputStream(asio::io_context& io, int fd) : io_(io), fd_(fd) {
  if (pollable(fd)) stream_.emplace(io, watchableCopy(fd, O_WRONLY));
}

OutputStream::~OutputStream() {
  if (stream_) {
    boost::system::error_code ignored;
    stream_->close(ignored);  // gives the descriptor back in blocking mode
  }
  for (bool first = true; auto& chunk : queue_) {
    const std::string_view rest = std::string_view(chunk.text).substr(first ? sent_ : 0);
    first = false;
    if (broken_ || !writeAll(fd_, rest)) return;
  }
}

void OutputStream::write(std::string text, std::function<void()> written) {
  pending_ += text.size();
  queue_.push_back({std::move(text), std::move(written)});
  if (!writing_) pump();
}

void OutputStream::done(Chunk& chunk) {
  pending_ -= chunk.text.size();
  if (chunk.written) asio::post(io_, std::move(chunk.written));
}

void OutputStream::pump() {
  while (!queue_.empty() && (broken_ || !stream_)) {
    auto& chunk = queue_.front();
    if (!broken_ && !writeAll(fd_, chunk.text)) broken_ = true;
    done(chunk);
    queue_.pop_front();
  }
  if (queue_.empty()) return;
  writing_ = true;
  const auto& text = queue_.front().text;
  stream_->async_write_some(asio::buffer(text.data() + sent_, text.size() - sent_),
                            [this](boost::system::error_code ec, std::size_t n) {
                              writing_ = false;
                              if (ec == asio::error::operation_aborted) return;
                              if (ec) broken_ = true;
                              sent_ += n;
                              if (broken_ || sent_ == queue_.front().text.size()) {
                                done(queue_.front());
                                queue_.pop_front();
                                sent_ = 0;
                              }
                              pump();
                            });
}

}  // namespace cli
