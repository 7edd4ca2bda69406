// Output as taskmaster keeps it: a program's stdout and stderr, and the event log. Each is an OutputLog: a
// file appended to and rotated by size, its most recent bytes in memory (what `tail` shows, even when the
// file is discarded), and followers told of every new chunk (`tail -f`). An OutputWriter writes to a
// descriptor that may block (a pipe nobody reads, a terminal stopped with Ctrl-S) without ever blocking.
// docs/output.md describes what is captured, where it goes and the limits.
//
// Threading: as Supervisor (supervisor.hpp); every call on the loop's thread, every callback from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <taskmaster/error.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/subscription.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0 {

// One output: the file (optional), the recent bytes in memory, the followers. Never blocks on anything but
// the local disk and never throws for a failure of the system: a write that fails (a full disk, a file-size
// limit) is dropped and counted, and the first write that works again is preceded by one line saying how many
// bytes were dropped and why. Nothing is dropped while the file accepts writes.
class OutputLog {
 public:
  explicit OutputLog(std::size_t tailBytes = kDefaultTailBytes);
  ~OutputLog();
  OutputLog(const OutputLog&) = delete;
  OutputLog& operator=(const OutputLog&) = delete;

  // Appends to `path` from now on (created 0644 when missing), closing any previous file; an empty path keeps
  // the output in memory only. On failure nothing changes; the Error names the path ("cannot open
  // /var/log/web.log: Permission denied").
  [[nodiscard]] Result<> setFile(const std::string& path, Rotation rotation = {});
  void setRotation(Rotation rotation);
  // Keeps the most recent `bytes` (the older ones are forgotten at once when it shrinks).
  void setTailBytes(std::size_t bytes);
  [[nodiscard]] const std::string& path() const;

  // Everything the output gets goes through here: to the file (rotating it first when it would grow past
  // maxBytes: a chunk is split at its last newline that fits, when it has one; a line the file ends with is
  // finished in it, up to 64 KiB past maxBytes), to memory, to the followers.
  void append(std::string_view bytes);

  // Opens the file again by its name: logrotate(8) moved it away (SIGUSR2). Failure keeps the old file.
  [[nodiscard]] Result<> reopen();
  // Truncates the file and forgets the bytes in memory (`clear`). Backups stay.
  void clear();

  // The last `bytes` bytes in memory, or the last `lines` lines (the unfinished last line counts as one).
  [[nodiscard]] std::string lastBytes(std::size_t bytes) const;
  [[nodiscard]] std::string lastLines(std::size_t lines) const;

  // `sink` gets every chunk appended from now on, until the Subscription is reset. Sinks may unsubscribe
  // (themselves or others) while being called.
  [[nodiscard]] Subscription follow(std::function<void(std::string_view chunk)> sink);
  [[nodiscard]] std::size_t followers() const;

  // Bytes dropped since the last report (0 once a write has worked again), and in all.
  [[nodiscard]] std::uint64_t dropped() const;
  [[nodiscard]] std::uint64_t droppedTotal() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the followers' Subscriptions, which may outlive the log
};

// Writes to a descriptor without ever blocking the loop: what the descriptor does not take at once is queued
// (up to maxQueued bytes) and written when it is writable; past that, new text is dropped and counted, and
// once the queue has drained a line "[taskmaster] N bytes dropped: the reader is not reading" goes out first.
// For a regular file or /dev/null (which never block for long) writes are direct. A terminal is opened
// again and a pipe duplicated, so the non-blocking flag never reaches the descriptor the caller gave.
// A reader gone for good (EPIPE) drops everything silently from then on.
class OutputWriter {
 public:
  static constexpr std::size_t kDefaultMaxQueued = 1 << 20;
  OutputWriter(boost::asio::io_context& io, int fd, std::size_t maxQueued = kDefaultMaxQueued);
  // Writes what is still queued, blocking for at most `flushTimeout`: at exit.
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  // Queues `text` whole or drops it whole (never a part of it). `written`, if given, runs on the loop once
  // the text went to the system or was dropped, never from inside write().
  void write(std::string_view text, std::function<void()> written = {});
  [[nodiscard]] std::size_t pending() const;
  [[nodiscard]] std::uint64_t droppedTotal() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Where programs' lines go when their stdout or stderr is /dev/stdout or /dev/stderr (forwarding, for
// containers and services): whole lines, each prefixed with its instance ("web:1 | ..."), many lines at once
// when many arrived. The default writes them with an OutputWriter to taskmaster's own fd 1 or 2; a shell sets
// its own so they are printed above its prompt.
using ForwardSink = std::function<void(StdStream target, std::string_view lines)>;

}  // namespace taskmaster::inline v0
