#include "process/capture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace taskmaster::inline v0::detail {
namespace asio = boost::asio;
namespace {

constexpr std::size_t kReadSize = 1 << 20;
constexpr int kDefaultPipe = 64 * 1024;  // Linux's pipe size, unless the user's pipes are over their limit
constexpr int kLargePipe = 1 << 20;      // the most an unprivileged process may ask (/proc/sys/fs/pipe-max-size)

// One buffer for every read of the thread: each chunk is handed on before the next read, and most pipes
// never need it whole.
char* readBuffer() {
  thread_local auto buffer = std::make_unique_for_overwrite<char[]>(kReadSize);
  return buffer.get();
}

class Reader : public std::enable_shared_from_this<Reader> {
 public:
  Reader(asio::io_context& io, int fd, std::function<void(std::string_view)> onData, std::function<void()> onEnd)
      : pipe_(io, fd), onData_(std::move(onData)), onEnd_(std::move(onEnd)) {}

  void wait() {
    pipe_.async_wait(asio::posix::stream_descriptor::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) { self->readable(ec); });
  }

 private:
  void readable(boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // the io_context is going away
    char* buffer = readBuffer();
    const ssize_t n = ec ? -1 : retryOnEintr([&] { return ::read(pipe_.native_handle(), buffer, kReadSize); });
    if (n > 0) {
      if (n >= pipeSize_ && pipeSize_ < kLargePipe) grow();
      onData_(std::string_view(buffer, static_cast<std::size_t>(n)));
      return wait();
    }
    if (n < 0 && !ec && errno == EAGAIN) return wait();
    onEnd_();  // every writer has closed it (or it failed): the process and whatever it left are gone
  }

  // The pipe was full: the program writes faster than one turn of the loop drains 64 KiB.
  void grow() {
    const int size = ::fcntl(pipe_.native_handle(), F_SETPIPE_SZ, kLargePipe);
    pipeSize_ = size > 0 ? size : kLargePipe;  // refused (the user's pipe quota): do not ask again
  }

  asio::posix::stream_descriptor pipe_;
  std::function<void(std::string_view)> onData_;
  std::function<void()> onEnd_;
  int pipeSize_ = kDefaultPipe;
};

}  // namespace

void capture(asio::io_context& io, UniqueFd readEnd, std::function<void(std::string_view)> onData,
             std::function<void()> onEnd) {
  auto reader = std::make_shared<Reader>(io, readEnd.get(), std::move(onData), std::move(onEnd));
  (void)readEnd.release();  // the stream_descriptor owns it now
  reader->wait();
}

}  // namespace taskmaster::inline v0::detail
