// The event log: one line per event in a file, and the observer that turns the library's state changes
// into such lines. The format is described in docs/logging.md.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <taskmaster/log.hpp>
#include <taskmaster/state.hpp>
#include <taskmaster/util.hpp>

namespace cli {

using taskmaster::LogLevel;

// Appends lines to a file. Each line is one write(2) on an O_APPEND descriptor, so lines from several
// taskmasters sharing a file never interleave. Write errors are dropped: logging never stops supervision.
class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  [[nodiscard]] std::error_code open(const std::string& path);
  void setLevel(LogLevel level) { level_ = level; }
  // Every line also goes to this fd (stderr with --no-shell); -1 for none.
  void mirrorTo(int fd) { mirror_ = fd; }

  void write(LogLevel level, std::string_view message, taskmaster::WallTime time);
  void write(LogLevel level, std::string_view message);
  // This log as the library's LogSink, for the command interpreter.
  [[nodiscard]] taskmaster::LogSink sink() {
    return [this](LogLevel level, std::string_view message) { write(level, message); };
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
  taskmaster::UniqueFd fd_;
  int mirror_ = -1;
  LogLevel level_ = LogLevel::info;
};

// Subscribed to Supervisor::onStateChange: writes each transition as the event it means (spawned, RUNNING,
// exited, BACKOFF, FATAL, stop requested, SIGKILL sent, stopped), with details from the change's spec.
class StateLogger {
 public:
  explicit StateLogger(EventLog& log) : log_(log) {}
  void operator()(const taskmaster::StateChange& change);

 private:
  EventLog& log_;
};

}  // namespace cli
