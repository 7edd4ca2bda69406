// Internal: fork/exec of one program instance, with the child set up exactly (fds 0-2 only, clean signal
// state, own process group, umask, workingdir, user) and exec errors reported back through a close-on-exec
// pipe. Boost 1.81's own launcher leaks fds and misreports errors; see docs/architecture.md.
#pragma once

#include "private.hpp"

#include <string>

#include <taskmaster/program_spec.hpp>

namespace taskmaster::inline v0::detail {

struct Launched {
  int pid = -1;
  int pidfd = -1;      // owned by the caller on success
  std::string error;   // set on failure: "chdir /srv/app: No such file or directory"
};

// Never throws for a failure of the system or of the spec; every failure is an error message.
[[nodiscard]] Launched launch(const ProgramSpec& spec, const std::string& instance, int index);

}  // namespace taskmaster::inline v0::detail
