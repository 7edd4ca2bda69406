// What Asio may be given of stdin, stdout and stderr.
#pragma once

namespace cli {

// Whether epoll can watch `fd`: true for pipes, sockets and terminals, false for regular files and
// /dev/null. Those are never handed to Asio: epoll refuses them (EPERM), and they never block for long.
[[nodiscard]] bool pollable(int fd);

// A new close-on-exec descriptor for the same file, to hand to Asio. Asio makes the descriptors it uses
// non-blocking, and that flag belongs to the open file, shared by duplicates: on a terminal it would make
// stdin, stdout and stderr non-blocking for taskmaster's own synchronous writes and for the shell it was
// started from. So a terminal is opened again (an open file of its own); anything else is duplicated.
// `mode` is O_RDONLY or O_WRONLY.
[[nodiscard]] int watchableCopy(int fd, int mode);

}  // namespace cli
