#include "log/event_log.hpp"

#include <cctype>

namespace cli {
using taskmaster::ProcessState;

taskmaster::Result<> EventLog::open(const std::string& path, taskmaster::Rotation rotation) {
  if (path != kSyslog) {
    auto opened = output_.setFile(path, rotation);
    if (opened) syslog_.reset();
    return opened;
  }
  auto memory = output_.setFile("");
  if (memory) syslog_.emplace();
  return memory;
}

void EventLog::write(LogLevel level, std::string_view message, taskmaster::WallTime time) {
  if (level < level_) return;
  std::string name(to_string(level));
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // One event, one line: control characters (a newline in a program's name or a config value) are escaped.
  const std::string line = fmt::format("{} {:<5} {}\n", taskmaster::formatTime(time, taskmaster::TimeZone::local),
                                       name, taskmaster::escapeControl(message));
  output_.append(line);
  if (mirror_) mirror_->write(line);
  // The daemon facility, taskmaster's tag, the level as the severity. Lost when syslog does not take it at
  // once: the lines stay in memory for `maintail`.
  constexpr int kDaemon = 3;
  if (syslog_) (void)syslog_->send(kDaemon, taskmaster::syslogSeverity(level), "taskmaster", message, time);
}

void EventLog::write(LogLevel level, std::string_view message) {
  write(level, message, std::chrono::system_clock::now());
}

void StateLogger::operator()(const taskmaster::StateChange& c) {
  const taskmaster::ProgramSpec* spec = c.spec.get();
  // "M" of "retry N of M": the program's startretries, written as the configuration writes it.
  const std::string budget = !spec                                                 ? std::to_string(c.retries)
                             : spec->startretries == taskmaster::kInfiniteRetries ? std::string("infinite")
                                                                                   : std::to_string(spec->startretries);
  const std::string exit = c.exit ? c.exit->str() : "exit status unknown";
  auto log = [&](LogLevel level, std::string message) { log_.write(level, message, c.time); };

  switch (c.to) {
    case ProcessState::starting: {
      if (c.pid == 0) return log(LogLevel::debug, fmt::format("{} STARTING without a process", c.instance));
      std::string why;
      if (c.from == ProcessState::backoff && c.retries > 0)
        why = fmt::format(" (retry {} of {})", c.retries, budget);
      else if (c.from == ProcessState::exited || c.from == ProcessState::backoff)
        why = " (autorestart)";  // from BACKOFF without retries: a restart held back by the crash-loop policy
      return log(LogLevel::info, fmt::format("{} spawned, pid {}{}", c.instance, c.pid, why));
    }
    case ProcessState::running:
      return log(LogLevel::info, fmt::format("{} RUNNING, pid {}", c.instance, c.pid));
    case ProcessState::backoff:
      if (c.retries == 0)  // held back by the crash-loop policy, not a failed start
        return log(LogLevel::warn, fmt::format("{} BACKOFF: {}", c.instance, c.reason));
      return log(LogLevel::warn, fmt::format("{} BACKOFF: {}; retry {} of {} in {}", c.instance, c.reason, c.retries,
                                             budget, taskmaster::formatDuration(c.retryIn)));
    case ProcessState::fatal:
      return log(LogLevel::error, fmt::format("{} FATAL: {}", c.instance, c.reason));
    case ProcessState::exited:
      if (c.expected)
        return log(LogLevel::info, fmt::format("{} exited ({}), pid {}, expected", c.instance, exit, c.pid));
      return log(LogLevel::warn, fmt::format("{} exited unexpectedly ({}), pid {}", c.instance, exit, c.pid));
    case ProcessState::stopping:
      if (c.from == ProcessState::stopping)  // again: SIGKILL went out after stoptime, or the process outlived it
        return log(LogLevel::warn, fmt::format("{} {}, pid {}", c.instance, c.reason, c.pid));
      if (!spec) return log(LogLevel::info, fmt::format("{} stop requested, pid {}", c.instance, c.pid));
      return log(LogLevel::info,
                 fmt::format("{} stop requested: sending SIG{} to pid {}, SIGKILL after {}", c.instance,
                             taskmaster::signalName(spec->stopsignal), c.pid, taskmaster::formatDuration(spec->stoptime)));
    case ProcessState::stopped:
      if (c.from == ProcessState::stopping)  // a process ended: its exit, or that its status is unknown
        return log(LogLevel::info, fmt::format("{} stopped ({}), pid {}", c.instance, exit, c.pid));
      return log(LogLevel::info, fmt::format("{} stopped (was {})", c.instance, to_string(c.from)));
  }
}

// "web waiting for db", "web: dependency db is FATAL", "web is unhealthy: ...", "web is healthy".
void StateLogger::operator()(const taskmaster::DetailChange& d) {
  using Kind = taskmaster::DetailChange::Kind;
  using taskmaster::Health;
  auto log = [&](LogLevel level, std::string message) { log_.write(level, message, d.time); };
  switch (d.kind) {
    case Kind::waiting:
      if (d.text.empty()) return log(LogLevel::debug, fmt::format("{} no longer waits", d.instance));
      return log(LogLevel::info, fmt::format("{} {}", d.instance, d.text));
    case Kind::dependencyFailed: return log(LogLevel::warn, fmt::format("{}: {}", d.instance, d.text));
    case Kind::health:
      if (d.health == Health::unhealthy) {
        return log(LogLevel::warn, d.text.empty() ? fmt::format("{} is unhealthy", d.instance)
                                                  : fmt::format("{} is unhealthy: {}", d.instance, d.text));
      }
      return log(d.health == Health::healthy ? LogLevel::info : LogLevel::debug,
                 fmt::format("{} is {}", d.instance, to_string(d.health)));
    case Kind::statusText: return log(LogLevel::info, fmt::format("{} status: {}", d.instance, d.text));
  }
}

}  // namespace cli
