// The status text: the `status` table, whose lines travel in the control protocol as they are printed.
#include <taskmaster/commands.hpp>

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

namespace taskmaster::inline v0 {
namespace {

constexpr int kGap = 4;  // spaces between columns

// "at 14:03:12" today, "at 2025-11-25 14:03:12" before.
std::string when(WallTime time, WallTime now) {
  auto toTm = [](WallTime t) {
    std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::localtime_r(&seconds, &tm);
    return tm;
  };
  const std::tm at = toTm(time);
  const std::tm today = toTm(now);
  const std::string clock = fmt::format("{:02}:{:02}:{:02}", at.tm_hour, at.tm_min, at.tm_sec);
  if (at.tm_year == today.tm_year && at.tm_yday == today.tm_yday) return "at " + clock;
  return fmt::format("at {:04}-{:02}-{:02} {}", at.tm_year + 1900, at.tm_mon + 1, at.tm_mday, clock);
}

// ", healthy", ", unhealthy: connection refused", and the program's STATUS= text, when there are.
std::string health(const InstanceStatus& s) {
  std::string out;
  switch (s.health) {
    case Health::none: break;
    case Health::starting: out = ", health: starting"; break;
    case Health::healthy: out = ", healthy"; break;
    case Health::unhealthy: out = s.healthText.empty() ? ", unhealthy" : ", unhealthy: " + s.healthText; break;
  }
  if (!s.statusText.empty()) out += fmt::format(", status: {}", s.statusText);
  return out;
}

std::string details(const InstanceStatus& s, WallTime now) {
  // A wanted start held for dependencies (docs/dependencies.md): what it waits for says more than its last exit.
  const bool down =
      s.state == ProcessState::stopped || s.state == ProcessState::exited || s.state == ProcessState::fatal;
  if (!s.waiting.empty() && down) return s.waiting;
  switch (s.state) {
    case ProcessState::running: {
      std::string out = fmt::format("pid {}, uptime {}", s.pid, formatUptime(s.uptime));
      if (s.restarts > 0) out += fmt::format(", restarts {}", s.restarts);
      return out + health(s);
    }
    case ProcessState::starting: return s.pid > 0 ? fmt::format("pid {}{}", s.pid, health(s)) : std::string{};
    case ProcessState::stopping: return s.pid > 0 ? fmt::format("pid {}", s.pid) : std::string{};
    case ProcessState::backoff:
    case ProcessState::fatal: return s.reason;
    case ProcessState::exited:
    case ProcessState::stopped:
      if (s.lastExitTime == WallTime{}) return "not started";
      return fmt::format("{} {}", s.lastExit ? s.lastExit->str() : "exit status unknown", when(s.lastExitTime, now));
  }
  return {};
}

const char* colourOf(ProcessState state) {
  switch (state) {
    case ProcessState::running: return "\x1b[32m";
    case ProcessState::starting:
    case ProcessState::stopping:
    case ProcessState::backoff: return "\x1b[33m";
    case ProcessState::fatal: return "\x1b[31m";
    default: return nullptr;
  }
}

}  // namespace

std::string formatUptime(std::chrono::milliseconds uptime) {
  auto total = std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(uptime).count());
  const long long days = total / 86400;
  total %= 86400;
  std::string clock = fmt::format("{}:{:02}:{:02}", total / 3600, total % 3600 / 60, total % 60);
  if (days == 0) return clock;
  return fmt::format("{} day{}, {}", days, days == 1 ? "" : "s", clock);
}

std::string stateLabel(ProcessState state, bool colour) {
  const std::string name(to_string(state));
  const char* code = colour ? colourOf(state) : nullptr;
  return code ? fmt::format("{}{}\x1b[0m", code, name) : name;
}

std::vector<std::string> formatStatus(const std::vector<InstanceStatus>& instances, WallTime now,
                                      bool colour) {
  std::size_t nameWidth = 0;
  std::size_t stateWidth = 0;
  for (const auto& s : instances) {
    nameWidth = std::max(nameWidth, s.instance.size());
    stateWidth = std::max(stateWidth, to_string(s.state).size());
  }
  std::vector<std::string> lines;
  for (const auto& s : instances) {
    std::string line = fmt::format("{:<{}}", s.instance, nameWidth + kGap);
    const std::string detail = details(s, now);
    line += stateLabel(s.state, colour);
    if (!detail.empty()) line += fmt::format("{:<{}}{}", "", stateWidth + kGap - to_string(s.state).size(), detail);
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // 
