// Writes to stdout or stderr without ever blocking the event loop.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace cli {

// A pipe or a terminal is written through Asio from a queue, so a reader that stops reading (`| less`)
// holds up the answers, not supervision. A regular file or /dev/null never blocks for long and is written
// directly. Write errors (EPIPE: the reader is gone) drop the text.
class OutputStream {
 public:
  OutputStream(boost::asio::io_context& io, int fd);
  // Writes what is still queued, blocking: at exit, when nothing else is left to do.
  ~OutputStream();
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;

  // Queues `text`; `written`, if given, runs on the loop once the text has gone to the system (or was
  // dropped), never from inside write().
  void write(std::string text, std::function<void()> written = {});

  // Bytes queued and not yet written.
  [[nodiscard]] std::size_t pending() const { return pending_; }

 private:
  struct Chunk {
    std::string text;
    std::function<void()> written;
  };
  void pump();
  void done(Chunk& chunk);

  boost::asio::io_context& io_;
  int fd_;
  std::optional<boost::asio::posix::stream_descriptor> stream_;  // set for pollable outputs only
  std::deque<Chunk> queue_;
  std::size_t sent_ = 0;  // of the first chunk, while it is being written
  std::size_t pending_ = 0;
  bool writing_ = false;
  bool broken_ = false;
};

}  // namespace cli
