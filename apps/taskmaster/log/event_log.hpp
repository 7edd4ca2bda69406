// The event log: one line per event, and the observer that turns the library's state changes into such
// lines. The lines go to an OutputLog (a file rotated by size, the recent lines in memory for `maintail`, the
// followers of `maintail -f`) and, with --no-shell, to stderr through an OutputWriter. The format is
// described in docs/logging.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <taskmaster/error.hpp>
#include <taskmaster/log.hpp>
#include <taskmaster/output.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>
#include <taskmaster/util.hpp>

namespace cli {

using taskmaster::LogLevel;

// Appends lines to its OutputLog, each line one append (so one write(2) on an O_APPEND descriptor: a line is
// never cut, even in a file several taskmasters share). Never blocks and never fails: a line the file or the
// mirror cannot take is dropped and counted, and logging never stops supervision.
class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Writes to `path` from now on (created when missing, appended to), rotated as `rotation` says; `syslog`
  // (kSyslog): to the local syslog socket instead, the lines kept in memory for `maintail`. On failure the log
  // keeps its previous file, if any; the Error names the path.
  [[nodiscard]] taskmaster::Result<> open(const std::string& path, taskmaster::Rotation rotation);
  void setRotation(taskmaster::Rotation rotation) { output_.setRotation(rotation); }
  // Opens the file again by its name, after logrotate(8) moved it away (SIGUSR2).
  [[nodiscard]] taskmaster::Result<> reopen() { return output_.reopen(); }
  [[nodiscard]] const std::string& path() const { return syslog_ ? kSyslog : output_.path(); }

  void setLevel(LogLevel level) { level_ = level; }
  [[nodiscard]] LogLevel level() const { return level_; }
  // Every line also goes to this writer (stderr with --no-shell); null for none. It must outlive the log's use.
  void mirrorTo(taskmaster::OutputWriter* writer) { mirror_ = writer; }
  // The lines as `maintail` shows and follows them.
  [[nodiscard]] taskmaster::OutputLog& output() { return output_; }

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
  static inline const std::string kSyslog = "syslog";
  taskmaster::OutputLog output_;
  std::optional<taskmaster::SyslogWriter> syslog_;  // set: the lines go to syslog, not to a file
  taskmaster::OutputWriter* mirror_ = nullptr;
  LogLevel level_ = LogLevel::info;
};

// Subscribed to Supervisor::onStateChange: writes each transition as the event it means (spawned, RUNNING,
// exited, BACKOFF, FATAL, stop requested, SIGKILL sent, stopped), with details from the change's spec. And to
// Supervisor::onDetailChange: waiting for dependencies, a failed dependency, health, STATUS= text.
class StateLogger {
 public:
  explicit StateLogger(EventLog& log) : log_(log) {}
  void operator()(const taskmaster::StateChange& change);
  void operator()(const taskmaster::DetailChange& change);

 private:
  EventLog& log_;
};

}  // namespace cli
