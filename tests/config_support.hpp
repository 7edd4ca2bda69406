// Helpers of the configuration tests: what a reading found, and a ProgramSpec spelled out field by field.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <taskmaster/config.hpp>

namespace test {

using taskmaster::ConfigResult;
using taskmaster::ProgramSpec;

inline std::string showErrors(const ConfigResult& result) {
  std::string out;
  for (const auto& error : result.errors) out += error.str() + "\n";
  return out.empty() ? "(no errors)" : out;
}

// Every field, one per line: comparing two of these shows exactly which field differs.
inline std::string dump(const ProgramSpec& s) {
  auto optional = [](const std::optional<std::string>& v) { return v ? fmt::format("'{}'", *v) : "none"; };
  std::string env;
  for (const auto& [key, value] : s.env) env += fmt::format("{}={} ", key, value);
  std::string limits;
  for (const auto& [resource, limit] : s.limits)
    limits += fmt::format("{}={}/{} ", taskmaster::to_string(resource), limit.soft, limit.hard);
  std::string dependsOn;
  for (const auto& d : s.dependsOn) dependsOn += fmt::format("{}={} ", d.program, taskmaster::to_string(d.condition));
  return fmt::format(
      "name={}\ncmd=[{}]\nnumprocs={}\nautostart={}\npriority={}\nautorestart={}\nexitcodes=[{}]\nstarttime={}ms\n"
      "startretries={}\nrestart_burst={}\nrestart_delay={}ms\nrestart_delay_factor={}\nrestart_delay_max={}ms\n"
      "restart_reset_after={}ms\nfatal_retry={}ms\n"
      "stopsignal={}\nstoptime={}ms\nstdout={}\nstderr={}\nstdout_maxbytes={}\nstdout_backups={}\n"
      "stderr_maxbytes={}\nstderr_backups={}\nredirect_stderr={}\ntail_bytes={}\nenv={}\nworkingdir={}\numask={:o}\n"
      "user={}\nstopasgroup={}\nkillasgroup={}\nlimits={}\ncritical={}\ndepends_on={}\n",
      s.name, fmt::join(s.cmd, "|"), s.numprocs, s.autostart, s.priority, taskmaster::to_string(s.autorestart),
      fmt::join(s.exitcodes, ","), s.starttime.count(), s.startretries, s.restartBurst, s.restartDelay.count(),
      s.restartDelayFactor, s.restartDelayMax.count(), s.restartResetAfter.count(), s.fatalRetry.count(),
      s.stopsignal, s.stoptime.count(), optional(s.stdoutPath), optional(s.stderrPath), s.stdoutRotation.maxBytes,
      s.stdoutRotation.backups, s.stderrRotation.maxBytes, s.stderrRotation.backups, s.redirectStderr, s.tailBytes,
      env, optional(s.workingdir), s.umask, optional(s.user), s.stopasgroup, s.killasgroup, limits,
      s.critical, dependsOn);
}

inline std::string dump(const std::vector<ProgramSpec>& programs) {
  std::string out;
  for (const auto& spec : programs) out += dump(spec) + "--\n";
  return out;
}

}  // namespace test
