// taskmaster as a container's PID 1 (or with --init), and as a subreaper (--subreaper): orphans reaped, and the
// exit of a critical program turned into taskmaster's own. See docs/cli.md.
#pragma once

#include <optional>
#include <string>

#include <taskmaster/supervisor.hpp>

#include "options.hpp"

namespace cli {

// The exit code when a critical program's FATAL ends taskmaster (docs/cli.md).
inline constexpr int kExitCriticalFatal = 3;

// Makes taskmaster a subreaper when asked (--subreaper, or --init outside PID 1), so that the orphans of its
// programs come back to it, and has the supervisor reap every orphan. Nothing without --init, --subreaper or
// PID 1. An error message when the kernel refuses either.
[[nodiscard]] std::string adoptOrphans(const RunOptions& options, taskmaster::Supervisor& supervisor);

// When `change` ends a critical program for good (it exited and is not restarted, or it is FATAL): the code
// taskmaster exits with, as s6-overlay does: its exit code, 128 + N when killed by signal N,
// kExitCriticalFatal for FATAL. nullopt for any other change.
[[nodiscard]] std::optional<int> criticalExit(const taskmaster::StateChange& change);

}  // namespace cli
