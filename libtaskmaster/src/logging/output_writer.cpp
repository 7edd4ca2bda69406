// OutputWriter: text to a descriptor that may stop taking it, without ever blocking the loop (output.hpp).
//
// A pollable descriptor (pipe, socket, terminal) is written through a non-blocking copy of its own: what it
// takes at once is written at once, the rest is queued, and the loop waits for it to be writable (Asio waits;
// the writes are ours, so the count of bytes written is always exact, even at exit). Once a text has been
// dropped for want of room, later texts are dropped too until the queue has drained: the output then has one
// gap, marked by one line, rather than a few texts missing here and there. A write that fails for another
// reason than EAGAIN (EPIPE: the reader is gone) drops everything from then on; the embedding program must
// ignore SIGPIPE (taskmaster's supervise() does) or the first such write ends it.
#include <taskmaster/output.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "util/descriptors.hpp"

namespace taskmaster::inline v0 {
namespace asio = boost::asio;
namespace {

// How long the destructor may block writing what is still queued: exit never hangs on a reader that stopped.
constexpr std::chrono::milliseconds kFlushTimeout{1000};

}  // namespace

struct OutputWriter::Impl : std::enable_shared_from_this<Impl> {
  struct Chunk {
    std::string text;
    std::function<void()> written;
  };

  Impl(asio::io_context& context, int target, std::size_t limit) : io(context), fd(target), maxQueued(limit) {}

  void done(std::function<void()>& written) {
    if (written) asio::post(io, std::move(written));
  }

  void drop(std::size_t bytes, std::function<void()>& written) {
    droppedTotal += bytes;
    done(written);
  }

  // One write(2) to the copy: the bytes taken, or -1 (errno).
  [[nodiscard]] ssize_t writeSome(std::string_view bytes) {
    return retryOnEintr([&] { return ::write(stream->native_handle(), bytes.data(), bytes.size()); });
  }

  // Writes what the copy takes at once and queues the rest.
  void send(std::string_view text, std::function<void()> written) {
    if (broken) return drop(text.size(), written);
    if (queue.empty()) {
      const ssize_t n = writeSome(text);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        breakDown();
        return drop(text.size(), written);
      }
      if (n > 0) text.remove_prefix(static_cast<std::size_t>(n));
      if (text.empty()) return done(written);
    }
    queue.push_back({std::string(text), std::move(written)});
    pending += text.size();
    if (!waiting) waitWritable();
  }

  // Writes from the queue until it is empty or the copy takes no more.
  void pump() {
    while (!queue.empty()) {
      Chunk& chunk = queue.front();
      const ssize_t n = writeSome(std::string_view(chunk.text).substr(sent));
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return waitWritable();
      if (n <= 0) return breakDown();
      sent += static_cast<std::size_t>(n);
      pending -= static_cast<std::size_t>(n);
      if (sent == chunk.text.size()) {
        done(chunk.written);
        queue.pop_front();
        sent = 0;
      }
    }
    reportDropped();  // drained: the line about what was lost goes out now, not only with the next text
  }

  void reportDropped() {
    if (droppedUnreported == 0) return;
    send(fmt::format("[taskmaster] {} bytes dropped: the reader is not reading\n", droppedUnreported), {});
    droppedUnreported = 0;
  }

  void waitWritable() {
    waiting = true;
    stream->async_wait(asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         self->waiting = false;
                         if (ec || !self->stream) return;  // closed by the destructor
                         self->pump();
                       });
  }

  // The reader is gone for good: what is queued and everything later is dropped, counted but not reported.
  void breakDown() {
    broken = true;
    for (Chunk& chunk : queue) drop(chunk.text.size() - std::exchange(sent, 0), chunk.written);
    queue.clear();
    pending = 0;
    droppedUnreported = 0;
  }

  // Blocking writes of what is queued, for at most kFlushTimeout in all.
  void flush() {
    const auto deadline = std::chrono::steady_clock::now() + kFlushTimeout;
    while (!broken && !queue.empty()) {
      const std::string& text = queue.front().text;
      const ssize_t n = writeSome(std::string_view(text).substr(sent));
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        if (sent == text.size()) {
          queue.pop_front();
          sent = 0;
        }
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return;
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return;
      pollfd wait{stream->native_handle(), POLLOUT, 0};
      if (::poll(&wait, 1, static_cast<int>(left)) == 0) return;  // EINTR: the loop computes what is left
    }
  }

  asio::io_context& io;
  int fd;  // the caller's: written directly when it is not pollable
  std::size_t maxQueued;
  std::optional<asio::posix::stream_descriptor> stream;  // the non-blocking copy of a pollable descriptor
  std::optional<int> restoreFlags;  // the caller's file status flags, when its copy shares them (a socket)
  std::deque<Chunk> queue;
  std::size_t sent = 0;     // of the first chunk
  std::size_t pending = 0;  // queued bytes not written yet
  std::uint64_t droppedTotal = 0;
  std::uint64_t droppedUnreported = 0;  // dropped for want of room, until the line about them is queued
  bool waiting = false;                 // for the copy to be writable
  bool broken = false;
};

OutputWriter::OutputWriter(asio::io_context& io, int fd, std::size_t maxQueued)
    : impl_(std::make_shared<Impl>(io, fd, maxQueued)) {
  if (!detail::pollable(fd)) return;
  Impl& s = *impl_;
  const int flags = ::fcntl(fd, F_GETFL);
  UniqueFd copy(detail::watchableCopy(fd, O_WRONLY));
  if (copy) {
    const int copyFlags = ::fcntl(copy.get(), F_GETFL);
    if (copyFlags >= 0 && !(copyFlags & O_NONBLOCK)) ::fcntl(copy.get(), F_SETFL, copyFlags | O_NONBLOCK);
    if (flags >= 0 && !(flags & O_NONBLOCK) && (::fcntl(fd, F_GETFL) & O_NONBLOCK)) s.restoreFlags = flags;
    boost::system::error_code ec;
    s.stream.emplace(io);
    s.stream->assign(copy.get(), ec);
    if (!ec) {
      (void)copy.release();
      return;
    }
    s.stream.reset();
    if (s.restoreFlags) ::fcntl(fd, F_SETFL, *s.restoreFlags);
  }
  // Without a copy to wait on, writing would block the loop sooner or later: everything is dropped instead.
  s.broken = true;
}

OutputWriter::~OutputWriter() {
  Impl& s = *impl_;
  if (!s.stream) return;
  s.flush();
  // The callbacks of what is left are not run: their owners are going away too.
  s.queue.clear();
  boost::system::error_code ignored;
  s.stream->close(ignored);
  s.stream.reset();
  if (s.restoreFlags) ::fcntl(s.fd, F_SETFL, *s.restoreFlags);
}

void OutputWriter::write(std::string_view text, std::function<void()> written) {
  Impl& s = *impl_;
  if (s.broken) return s.drop(text.size(), written);
  if (!s.stream) {  // a regular file or /dev/null: it does not block for long
    if (!writeAll(s.fd, text)) s.droppedTotal += text.size();
    return s.done(written);
  }
  // A text is queued whole when it fits, or when nothing is queued at all (however long it is).
  const bool drained = s.queue.empty();
  if (s.droppedUnreported > 0) {
    if (!drained) {
      s.droppedUnreported += text.size();
      return s.drop(text.size(), written);
    }
    s.reportDropped();
  } else if (!drained && s.pending + text.size() > s.maxQueued) {
    s.droppedUnreported += text.size();
    return s.drop(text.size(), written);
  }
  s.send(text, std::move(written));
}

std::size_t OutputWriter::pending() const { return impl_->pending; }

std::uint64_t OutputWriter::droppedTotal() const { return impl_->droppedTotal; }

}  // namespace taskmaster::inline v0
