#include "process/console.hpp"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <taskmaster/error.hpp>

namespace taskmaster::inline v0::detail {
namespace asio = boost::asio;
namespace {

// write(2) without SIGPIPE: a program that closed its stdin must not kill taskmaster, whose signal
// dispositions are the embedding program's. SIGPIPE is blocked on this thread for the call, and the one the
// write raised, if any, is taken back before it is unblocked.
ssize_t writeQuietly(int fd, std::string_view bytes) {
  sigset_t pipe, old, pending;
  ::sigemptyset(&pipe);
  ::sigaddset(&pipe, SIGPIPE);
  ::sigpending(&pending);
  const bool wasPending = ::sigismember(&pending, SIGPIPE) == 1;
  ::pthread_sigmask(SIG_BLOCK, &pipe, &old);
  const ssize_t n = retryOnEintr([&] { return ::write(fd, bytes.data(), bytes.size()); });
  const int err = errno;
  if (n < 0 && err == EPIPE && !wasPending) {
    const timespec now{0, 0};
    (void)retryOnEintr([&] { return ::sigtimedwait(&pipe, nullptr, &now); });
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

// Shared with the wait for writability, which may outlive the Console.
struct Channel {
  Channel(asio::io_context& io, int fd) : descriptor(io, fd) {}
  asio::posix::stream_descriptor descriptor;
  std::string pending;  // bytes the program has not taken yet
  bool waiting = false;
  std::error_code failed;  // the program's end is gone: every later write fails with it
};

// Writes what the program takes now; waits for it to take the rest. The wait holds the channel weakly (a
// Console's, which goes with it) or, `owned`, strongly: a feed closes the fd once done, or with the io_context.
void drain(const std::shared_ptr<Channel>& channel, bool owned) {
  Channel& c = *channel;
  while (!c.pending.empty()) {
    const ssize_t n = writeQuietly(c.descriptor.native_handle(), c.pending);
    if (n > 0) {
      c.pending.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) break;
    c.failed = {n < 0 ? errno : EIO, std::generic_category()};
    c.pending.clear();
    return;
  }
  if (c.pending.empty()) return;
  c.waiting = true;
  c.descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                          [weak = std::weak_ptr(channel), strong = owned ? channel : nullptr,
                           owned](boost::system::error_code ec) {
                            const auto self = weak.lock();
                            if (!self || ec == asio::error::operation_aborted) return;
                            self->waiting = false;
                            drain(self, owned);
                          });
}

class FdConsole final : public Console {
 public:
  FdConsole(asio::io_context& io, int fd, bool terminal)
      : channel_(std::make_shared<Channel>(io, fd)), terminal_(terminal) {}
  ~FdConsole() override {
    boost::system::error_code ignored;
    channel_->descriptor.close(ignored);  // cancels the wait
  }
  FdConsole(const FdConsole&) = delete;
  FdConsole& operator=(const FdConsole&) = delete;

  [[nodiscard]] bool terminal() const override { return terminal_; }

  std::error_code write(std::string_view bytes) override {
    Channel& c = *channel_;
    if (c.failed) return c.failed;
    if (c.pending.size() + bytes.size() > kMaxPendingInput) return Errc::input_full;
    c.pending.append(bytes);
    if (!c.waiting) drain(channel_, false);
    return c.failed;
  }

  std::error_code resize(unsigned short rows, unsigned short columns) override {
    if (!terminal_) return std::make_error_code(std::errc::inappropriate_io_control_operation);
    const winsize size{rows, columns, 0, 0};
    if (::ioctl(channel_->descriptor.native_handle(), TIOCSWINSZ, &size) < 0) return {errno, std::generic_category()};
    return {};
  }

 private:
  std::shared_ptr<Channel> channel_;
  bool terminal_;
};

}  // namespace

void feed(asio::io_context& io, UniqueFd fd, std::string bytes) {
  auto channel = std::make_shared<Channel>(io, fd.get());
  (void)fd.release();  // the stream_descriptor owns it now
  channel->pending = std::move(bytes);
  drain(channel, true);  // the last holder of the channel closes the fd
}

std::unique_ptr<Console> makeConsole(asio::io_context& io, UniqueFd fd, bool terminal) {
  auto console = std::make_unique<FdConsole>(io, fd.get(), terminal);
  (void)fd.release();  // the stream_descriptor owns it now
  return console;
}

}  // namespace taskmaster::inline v0::detail
