#include "event_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace cli {
using taskmaster::ProcessState;

namespace {

constexpr std::array<std::string_view, 4> kLevelNames{"debug", "info", "warn", "error"};

// "500 ms", "10 s": how the configuration would say it.
std::string formatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{} s", d.count() / 1000);
  return fmt::format("{} ms", d.count());
}

}  // namespace

std::optional<LogLevel> parseLogLevel(std::string_view text) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i)
    if (text == kLevelNames[i]) return static_cast<LogLevel>(i);
  if (text == "warning") return LogLevel::warn;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) noexcept { return kLevelNames[static_cast<std::size_t>(level)]; }

std::string isoTimestamp(taskmaster::WallTime time) {
  using namespace std::chrono;
  const auto sinceEpoch = duration_cast<milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(sinceEpoch / 1000);
  std::tm tm{};
  ::localtime_r(&seconds, &tm);
  const long offset = std::labs(tm.tm_gmtoff) / 60;  // minutes east of UTC
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sinceEpoch % 1000, tm.tm_gmtoff < 0 ? '-' : '+',
                     offset / 60, offset % 60);
}

EventLog::~EventLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::error_code EventLog::open(const std::string& path) {
  // O_CLOEXEC: the log belongs to taskmaster, not to the programs it spawns.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return {errno, std::generic_category()};
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  return {};
}

void EventLog::write(LogLevel level, std::string_view message, taskmaster::WallTime time) {
  if (fd_ < 0 || level < level_) return;
  std::string name(to_string(level));
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // One event, one line: control characters (a newline in a program's name or a config value) are escaped.
  std::string text;
  for (unsigned char c : message) {
    if (c < 0x20 || c == 0x7f) text += fmt::format("\\x{:02x}", c);
    else text += static_cast<char>(c);
  }
  const std::string line = fmt::format("{} {:<5} {}\n", isoTimestamp(time), name, text);
  for (int fd : {fd_, mirror_}) {
    std::size_t done = 0;
    while (fd >= 0 && done < line.size()) {
      ssize_t n = ::write(fd, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }
}

void EventLog::write(LogLevel level, std::string_view message) {
  write(level, message, std::chrono::system_clock::now());
}

void StateLogger::operator()(const taskmaster::StateChange& c) {
  const taskmaster::ProgramSpec* spec = specs_(c.program);
  const std::string exit = c.exit ? c.exit->str() : std::string{};
  auto log = [&](LogLevel level, std::string message) { log_.write(level, message, c.time); };

  switch (c.to) {
    case ProcessState::starting: {
      if (c.pid == 0) return log(LogLevel::debug, fmt::format("{} STARTING without a process", c.instance));
      std::string why;
      if (c.from == ProcessState::backoff && c.retries > 0)
        why = fmt::format(" (retry {} of {})", c.retries, spec ? spec->startretries : c.retries);
      else if (c.from == ProcessState::exited || c.from == ProcessState::backoff)
        why = " (autorestart)";  // from BACKOFF without retries: a restart held back by the rate limit
      return log(LogLevel::info, fmt::format("{} spawned, pid {}{}", c.instance, c.pid, why));
    }
    case ProcessState::running:
      return log(LogLevel::info, fmt::format("{} RUNNING, pid {}", c.instance, c.pid));
    case ProcessState::backoff:
      if (c.retries == 0)  // held back by the restart rate limit, not a failed start
        return log(LogLevel::warn, fmt::format("{} BACKOFF: {}", c.instance, c.reason));
      return log(LogLevel::warn, fmt::format("{} BACKOFF: {}; retry {} of {} in {}", c.instance, c.reason, c.retries,
                                             spec ? spec->startretries : c.retries, formatDuration(c.retryIn)));
    case ProcessState::fatal:
      return log(LogLevel::error, fmt::format("{} FATAL: {}", c.instance, c.reason));
    case ProcessState::exited:
      if (c.expected)
        return log(LogLevel::info, fmt::format("{} exited ({}), pid {}, expected", c.instance, exit, c.pid));
      return log(LogLevel::warn, fmt::format("{} exited unexpectedly ({}), pid {}", c.instance, exit, c.pid));
    case ProcessState::stopping:
      if (c.from == ProcessState::stopping)  // the same state again: stoptime passed and SIGKILL went out
        return log(LogLevel::warn, fmt::format("{} {}, pid {}", c.instance, c.reason, c.pid));
      if (!spec) return log(LogLevel::info, fmt::format("{} stop requested, pid {}", c.instance, c.pid));
      return log(LogLevel::info,
                 fmt::format("{} stop requested: sending SIG{} to pid {}, SIGKILL after {}", c.instance,
                             taskmaster::signalName(spec->stopsignal), c.pid, formatDuration(spec->stoptime)));
    case ProcessState::stopped:
      if (c.exit) return log(LogLevel::info, fmt::format("{} stopped ({}), pid {}", c.instance, exit, c.pid));
      return log(LogLevel::info, fmt::format("{} stopped (was {})", c.instance, to_string(c.from)));
  }
}

}  // namespace cli
