// The library's log: what it has to say that is no state change (a throwing observer, an exit whose status
// someone else took) goes to one sink that the embedding program sets. Without a sink it is dropped.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace taskmaster::inline v0 {

enum class LogLevel { debug, info, warn, error };

// "debug", "info", "warn", "error"; parseLogLevel also takes "warning".
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;
[[nodiscard]] std::optional<LogLevel> parseLogLevel(std::string_view text);

// Called on the loop's thread; must not throw.
using LogSink = std::function<void(LogLevel, std::string_view message)>;

// Lines to the local syslog daemon: one RFC 3164 datagram each ("<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: message")
// on a Unix datagram socket, /dev/log by default (rsyslog's, journald's). Sent without waiting: a line the
// daemon cannot take at once is lost, never the caller's time. For `--log syslog` and the syslog hooks.
class SyslogWriter {
 public:
  explicit SyslogWriter(std::string socket = "/dev/log");
  ~SyslogWriter();
  SyslogWriter(const SyslogWriter&) = delete;
  SyslogWriter& operator=(const SyslogWriter&) = delete;

  // `facility` and `severity` are syslog's numbers (daemon: 3; err: 3, warning: 4, notice: 5, info: 6).
  // A system error when the line was not sent: ENOENT or ECONNREFUSED when no daemon listens there, EAGAIN
  // when it does not keep up.
  std::error_code send(int facility, int severity, std::string_view tag, std::string_view message,
                       std::chrono::system_clock::time_point time);
  [[nodiscard]] const std::string& socket() const { return socket_; }

  // The line as sent, without its datagram.
  [[nodiscard]] static std::string format(int facility, int severity, std::string_view host, std::string_view tag,
                                          int pid, std::string_view message,
                                          std::chrono::system_clock::time_point time);

 private:
  std::string socket_;
  std::string host_;
  int fd_ = -1;
};

// syslog's severity for a log level: debug 7, info 6, warn 4, error 3.
[[nodiscard]] int syslogSeverity(LogLevel level) noexcept;

}  // namespace taskmaster::inline v0
