#include "daemon/init.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace cli {

std::string adoptOrphans(const RunOptions& options, taskmaster::Supervisor& supervisor) {
  const bool pid1 = ::getpid() == 1;
  if (!options.init && !options.subreaper && !pid1) return {};
  // PID 1 gets the orphans of its namespace anyway; elsewhere they would go to the nearest subreaper or init.
  if (!pid1 && ::prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
    return fmt::format("cannot become a subreaper (PR_SET_CHILD_SUBREAPER): {}", std::strerror(errno));
  if (auto ec = supervisor.reapOrphans()) return fmt::format("cannot reap orphans: {}", ec.message());
  return {};
}

std::optional<int> criticalExit(const taskmaster::StateChange& change) {
  using State = taskmaster::ProcessState;
  if (!change.spec || !change.spec->critical) return std::nullopt;
  if (change.to == State::fatal) return kExitCriticalFatal;
  if (change.to != State::exited) return std::nullopt;
  // EXITED is followed by a restart when autorestart says so: that exit is not for good.
  const auto policy = change.spec->autorestart;
  if (policy == taskmaster::AutoRestart::always || (policy == taskmaster::AutoRestart::unexpected && !change.expected))
    return std::nullopt;
  if (!change.exit) return kExitFailure;  // its status is unknown
  return change.exit->exited() ? change.exit->code : 128 + change.exit->signal;
}

}  // namespace cli
