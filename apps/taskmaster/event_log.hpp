// The event log: one line per event in a file, and the observer that turns the library's state changes
// into such lines. The format is described in docs/logging.md.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>

namespace cli {

enum class LogLevel { debug, info, warn, error };

[[nodiscard]] std::optional<LogLevel> parseLogLevel(std::string_view text);
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;

// "2025-11-26T23:41:02.114+01:00": local time, milliseconds, UTC offset.
[[nodiscard]] std::string isoTimestamp(taskmaster::WallTime time);

// Appends lines to a file. Each line is one write(2) on an O_APPEND descriptor, so lines from several
// taskmasters sharing a file never interleave. Write errors are dropped: logging never stops supervision.
class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  ~EventLog();

  [[nodiscard]] std::error_code open(const std::string& path);
  void setLevel(LogLevel level) { level_ = level; }
  // Every line also goes to this fd (stderr with --no-shell); -1 for none.
  void mirrorTo(int fd) { mirror_ = fd; }

  void write(LogLevel level, std::string_view message, taskmaster::WallTime time);
  void write(LogLevel level, std::string_view message);

  template <class... Args>
  void debug(fmt::format_string<Args...> f, Args&&... args) {
    write(LogLevel::debug, fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) {
    write(LogLevel::info, fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void warn(fmt::format_string<Args...> f, Args&&... args) {
    write(LogLevel::warn, fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) {
    write(LogLevel::error, fmt::format(f, std::forward<Args>(args)...));
  }

 private:
  int fd_ = -1;
  int mirror_ = -1;
  LogLevel level_ = LogLevel::info;
};

// Subscribed to Supervisor::onStateChange: writes each transition as the event it means (spawned, RUNNING,
// exited, BACKOFF, FATAL, stop requested, SIGKILL sent, stopped).
class StateLogger {
 public:
  // The current spec of a program, for the details a StateChange does not carry (stop signal, retries);
  // null when the program is gone.
  using SpecLookup = std::function<const taskmaster::ProgramSpec*(std::string_view program)>;

  StateLogger(EventLog& log, SpecLookup specs) : log_(log), specs_(std::move(specs)) {}
  void operator()(const taskmaster::StateChange& change);

 private:
  EventLog& log_;
  SpecLookup specs_;
};

}  // namespace cli
