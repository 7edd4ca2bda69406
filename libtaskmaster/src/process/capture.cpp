#include "process/capture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace taskmaster::inline v0::detail {
namespace asio = boost::asio;
namespace {

constexpr std::size_t kReadSize = 1 << 20;
constexpr std::size_t kFairRead = 64 * 1024;
constexpr int kDefaultPipe = 64 * 1024;  // Linux's pipe size, unless the user's pipes are over their limit
constexpr int kLargePipe = 1 << 20;      // the most an unprivileged process may ask (/proc/sys/fs/pipe-max-size)
// What one turn of the loop may read from all the pipes together, about: everything else the loop does (a
// control command, an exit) waits for the turn to end. One program writing as fast as it can is read 1 MiB at a
// time (fewer system calls); when many are, each read is smaller, down to 64 KiB, so a turn stays short.
constexpr std::size_t kTurnBudget = 4 << 20;

// Pipes of this thread whose last read found them full: their programs write faster than they are read.
thread_local std::size_t busyPipes = 0;

std::size_t readSize() { return std::clamp(kTurnBudget / std::max<std::size_t>(busyPipes, 1), kFairRead, kReadSize); }

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
  ~Reader() { setBusy(false); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  void wait() {
    pipe_.async_wait(asio::posix::stream_descriptor::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) { self->readable(ec); });
  }

 private:
  void readable(boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // the io_context is going away
    char* buffer = readBuffer();
    const std::size_t size = readSize();
    const ssize_t n = ec ? -1 : retryOnEintr([&] { return ::read(pipe_.native_handle(), buffer, size); });
    if (n > 0) {
      const bool full = n >= std::min<ssize_t>(pipeSize_, static_cast<ssize_t>(size));
      setBusy(full);
      if (full && pipeSize_ < kLargePipe) grow();
      onData_(std::string_view(buffer, static_cast<std::size_t>(n)));
      return wait();
    }
    if (n < 0 && !ec && errno == EAGAIN) return wait();
    setBusy(false);
    onEnd_();  // every writer has closed it (or it failed): the process and whatever it left are gone
  }

  void setBusy(bool busy) {
    if (busy != busy_) busy ? ++busyPipes : --busyPipes;
    busy_ = busy;
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
  bool busy_ = false;
};

}  // namespace

void capture(asio::io_context& io, UniqueFd readEnd, std::function<void(std::string_view)> onData,
             std::function<void()> onEnd) {
  auto reader = std::make_shared<Reader>(io, readEnd.get(), std::move(onData), std::move(onEnd));
  (void)readEnd.release();  // the stream_descriptor owns it now
  reader->wait();
}

}  // namespace taskmaster::inline v0::detail
