// Internal: a short command run to completion on the loop: readiness probes and health checks (exec), exec
// hooks, sendmail. It is spawned through the launcher as a program's process is (the spec's user, environment,
// working directory and umask; its own process group), watched through its pidfd and known to the orphan
// reaper, its stdin fed from `input` without blocking, its stdout and stderr (one pipe) kept up to `maxOutput`
// bytes (the rest read and dropped), its process group SIGKILLed at `timeout`. Never blocks the loop.
#pragma once

#include "private.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>

namespace taskmaster::inline v0::detail {

struct CommandRequest {
  std::shared_ptr<const ProgramSpec> spec;  // spec->cmd is what runs (say {"/bin/sh", "-c", text})
  std::string instance;                     // TASKMASTER_* variables as for this instance of the program
  int index = 0;
  std::string input;  // written to its stdin, which is then closed; empty: /dev/null
  Duration timeout = std::chrono::seconds(10);
  std::size_t maxOutput = 4096;
};

struct CommandResult {
  std::optional<ExitStatus> exit;  // set when it ran and exited on its own
  std::string error;               // otherwise why not: "spawn error: ...", "timed out after 2s"
  std::string output;              // the first maxOutput bytes of its stdout and stderr
  [[nodiscard]] bool ok() const { return exit && exit->exited() && exit->code == 0; }
  // What a failed command says, for a check's or a hook's failure: why it did not run, or its status and the
  // first line it printed ("exit status 1: connection refused"), control characters escaped. Empty when ok().
  [[nodiscard]] std::string failure() const;
};
using CommandHandler = std::function<void(CommandResult)>;

// Destroying it before the result kills the command's process group and reaps it: no report, nothing left.
class PendingCommand {
 public:
  virtual ~PendingCommand() = default;
};

}  // namespace taskmaster::inline v0::detail
