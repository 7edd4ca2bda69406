// Small building blocks that the library and the taskmaster command share, so that each thing is done one
// way: fd ownership, EINTR retry, line framing, time, duration and text formatting.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <taskmaster/state.hpp>

namespace taskmaster::inline v0 {

// Owns one file descriptor and closes it when destroyed. Move-only; -1 is "none".
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;  // closes the fd it held, if any

 private:
  int fd_ = -1;
};

// Calls `call` until it does not fail with EINTR; returns its last result (errno tells why when negative).
template <class Call>
auto retryOnEintr(Call&& call) {
  auto result = call();
  while (result < 0 && errno == EINTR) result = call();
  return result;
}

// Writes all of `bytes` to a blocking fd, retrying short writes and EINTR. False on any other failure.
[[nodiscard]] bool writeAll(int fd, std::string_view bytes) noexcept;

// Cuts a byte stream into lines. Bytes go in as they arrive; complete lines come out without their '\n'
// (and without a '\r' before it). Each byte is searched once, however the stream is split.
class LineFramer {
 public:
  void append(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete line, or nullopt until one has arrived.
  [[nodiscard]] std::optional<std::string> next();
  // The bytes of a line that has started but not ended yet.
  [[nodiscard]] std::size_t partial() const noexcept { return buffer_.size() - start_; }
  // Takes the started line as it is (at the end of a stream).
  [[nodiscard]] std::string takePartial();

 private:
  std::string buffer_;
  std::size_t start_ = 0;    // where the next line begins
  std::size_t scanned_ = 0;  // bytes from start_ known to hold no '\n'
};

enum class TimeZone { utc, local };

// ISO 8601 with milliseconds: "2026-12-06T11:05:02.114Z" (utc), or "2026-12-06T12:05:02.114+01:00"
// (local). The empty string for the epoch, which stands for "never".
[[nodiscard]] std::string formatTime(WallTime time, TimeZone zone);

// How the configuration would write it, in the largest unit that keeps it whole: "10s", "1500ms", "2m", "1h".
[[nodiscard]] std::string formatDuration(std::chrono::milliseconds duration);

// The text with control characters shown as \xNN: a value echoed in a message or a log stays on one line
// and can neither forge another line nor drive a terminal.
[[nodiscard]] std::string escapeControl(std::string_view text);

}  // namespace taskmaster::inline v0
