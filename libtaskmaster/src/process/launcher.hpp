// Internal: fork/exec of one program instance, with the child set up exactly (fds 0-2 only, clean signal
// state, own process group, umask, workingdir, user) and exec errors reported back through a close-on-exec
// pipe. Boost 1.81's own launcher leaks fds and misreports errors; see docs/architecture.md.
#pragma once

#include "private.hpp"

#include <string>

#include <taskmaster/error.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/util.hpp>

namespace taskmaster::inline v0::detail {

struct Launched {
  int pid = -1;
  UniqueFd pidfd;  // to watch its exit by
};

// Never throws for a failure of the system or of the spec; every failure is an error message ("chdir /srv/app:
// No such file or directory"), and leaves no process behind. Runs in four
// steps: prepare (argv, environment, PATH search, the user's credentials), openStdio, forkExec (vfork with every
// signal blocked; the child sets itself up and execs), collect (the exec error pipe, then a pidfd).
[[nodiscard]] Expected<Launched, std::string> launch(const ProgramSpec& spec, const std::string& instance, int index);

// Waits for child `pid` to exit and reaps it, retrying EINTR. Blocks: only for a child that is exiting or has
// just been sent SIGKILL.
void reap(int pid) noexcept;

// SIGKILL to launched child `pid` and its process group, then reap(pid): for a child that must not outlive a
// failure to supervise it. The pid must not have been reaped yet, or it may name another process.
void killAndReap(int pid) noexcept;

}  // namespace taskmaster::inline v0::detail
