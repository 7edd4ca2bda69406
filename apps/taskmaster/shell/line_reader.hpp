// Reads lines from a file descriptor without blocking the event loop, whatever the descriptor is.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <taskmaster/util.hpp>

namespace cli {

// A pipe or socket is waited on through the io_context. A regular file or /dev/null cannot be: epoll
// refuses them (EPERM), and a descriptor the reactor cannot watch breaks forks that re-create the reactor.
// Such input never blocks for long, so it is read with plain read() from handlers posted to the loop.
class LineReader {
 public:
  using Handler = std::function<void(std::optional<std::string>)>;

  LineReader(boost::asio::io_context& io, int fd);

  // Calls `handler` once, later on the loop, with the next line (without its newline or a trailing CR),
  // or nullopt at the end of the input. A last line without a newline still counts.
  void next(Handler handler);

  // Stops reading; pending handlers are not called.
  void close();

 private:
  void fill(Handler handler);
  void received(std::size_t bytes, bool end, Handler handler);

  boost::asio::io_context& io_;
  int fd_;
  std::optional<boost::asio::posix::stream_descriptor> stream_;  // set for pollable input only
  taskmaster::LineFramer framer_;
  std::array<char, 4096> chunk_{};
  bool end_ = false;
  bool closed_ = false;
};

}  // namespace cli
