// Internal: fork/exec of one program instance, with the child set up exactly (fds 0-2 only, its output into
// taskmaster's pipes or terminal, clean signal state, own process group, umask, workingdir, user, the original limit on
// open files) and exec errors reported back. Boost 1.81's own launcher leaks fds and misreports errors; see docs/architecture.md.
#pragma once

#include "private.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <taskmaster/error.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/util.hpp>

namespace taskmaster::inline v0::detail {

struct Launched {
  int pid = -1;
  UniqueFd pidfd;  // to watch its exit by
};

// What every spawn of one spec version shares, computed once: argv, the environment (the inherited one read
// at preparation, the spec's env and TASKMASTER_PROGRAM on top), the PATH search with the child's PATH, and
// the user's credentials. Immutable: one PreparedLaunch serves every instance of the spec.
struct PreparedLaunch;

// A failure (no such user, a command not found on PATH) is an error message. It is not worth keeping: the
// next attempt prepares again, so a binary installed or a user added meanwhile is found.
[[nodiscard]] Expected<std::shared_ptr<const PreparedLaunch>, std::string> prepareLaunch(const ProgramSpec& spec);

// The PATH search in the parent, with the child's PATH (execve does none): `name` as it is when it holds a '/',
// else the first regular, executable DIR/name of `path` (empty: /usr/local/bin:/usr/bin:/bin); nullopt if none.
[[nodiscard]] std::optional<std::string> findExecutable(const std::string& name, const std::string& path);

// What becomes the child's fds 0, 1 and 2 (-1: /dev/null): the ends of pipes (the same fd for stdout and
// stderr when stderr is redirected), or a terminal's slave on all three.
struct ChildStdio {
  int in = -1;
  int out = -1;
  int err = -1;
  bool terminal = false;  // `in` is a terminal: the child leads a session of its own with it as its controlling one
  // Besides 0-2: `extra` becomes the child's fd `extraTarget` (the notification fd of `ready: {fd: N}`).
  int extra = -1;
  int extraTarget = -1;
};

// Never throws for a failure of the system or of the spec; every failure is an error message ("chdir /srv/app:
// No such file or directory"), and leaves no process behind. `prepared` comes from prepareLaunch(spec). The
// child has no fd but 0, 1 and 2 (`stdio`), and stdio.extraTarget when asked. With `ready: {notify: true}`
// its NOTIFY_SOCKET is `notifySocket`.
// Blocks until the child has exec'd or failed (its own setup: a handful of system calls).
[[nodiscard]] Expected<Launched, std::string> launch(const ProgramSpec& spec, const PreparedLaunch& prepared,
                                                     const std::string& instance, int index, const ChildStdio& stdio,
                                                     std::string_view notifySocket = {});

// A new pseudo-terminal of `rows` x `columns`: the master (non-blocking, for the loop) and the slave, both
// O_CLOEXEC. Opened in the parent: the child of launch() may only make async-signal-safe calls.
struct Terminal {
  UniqueFd master;
  UniqueFd slave;
};
[[nodiscard]] Expected<Terminal, std::string> openTerminal(unsigned short rows, unsigned short columns);

// Opens the calling thread's stdio slots now (see launcher.cpp) rather than at its first spawn: opened early,
// they are low fds, and each spawn copies only the fds below them. False (errno set) when they cannot be.
bool openStdioSlots() noexcept;

// Waits for child `pid` to exit and reaps it, retrying EINTR. Blocks: only for a child that is exiting or has
// just been sent SIGKILL.
void reap(int pid) noexcept;

// SIGKILL to launched child `pid` and its process group, then reap(pid): for a child that must not outlive a
// failure to supervise it. The pid must not have been reaped yet, or it may name another process.
void killAndReap(int pid) noexcept;

}  // namespace taskmaster::inline v0::detail
