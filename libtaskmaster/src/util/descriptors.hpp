// Internal: what an event loop may be given of a descriptor that someone else owns (stdin, stdout, stderr).
#pragma once

#include "private.hpp"

namespace taskmaster::inline v0::detail {

// Whether epoll can watch `fd`: true for pipes, sockets and terminals, false for regular files and
// /dev/null. Those are never handed to Asio: epoll refuses them (EPERM), and they never block for long.
[[nodiscard]] bool pollable(int fd);

// A new close-on-exec descriptor for the same file, to hand to Asio, or -1 (errno says why). Asio makes the
// descriptors it uses non-blocking, and that flag belongs to the open file, shared by duplicates: on a
// terminal it would make stdin, stdout and stderr non-blocking for the program's own synchronous writes and
// for the shell it was started from. So a terminal or a pipe is opened again through /proc/self/fd (an open
// file of its own, already non-blocking); anything else (a socket) is duplicated, and shares the flag.
// `mode` is O_RDONLY or O_WRONLY.
[[nodiscard]] int watchableCopy(int fd, int mode);

}  // namespace taskmaster::inline v0::detail
