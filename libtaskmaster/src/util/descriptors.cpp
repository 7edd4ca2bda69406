#include "util/descriptors.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <taskmaster/util.hpp>

namespace taskmaster::inline v0::detail {

bool pollable(int fd) {
  const UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return false;
  epoll_event event{};
  event.events = EPOLLIN;
  return ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &event) == 0;
}

int watchableCopy(int fd, int mode) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    // O_NONBLOCK also keeps the open from waiting for a reader: a pipe's write end whose reader is gone
    // fails (ENXIO) and is duplicated below. Opening may also be refused (a pipe created by another user).
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    const int own = retryOnEintr([&] { return ::open(self.c_str(), mode | O_NOCTTY | O_CLOEXEC | O_NONBLOCK); });
    if (own >= 0) return own;
    if (::isatty(fd)) {
      if (const char* name = ::ttyname(fd)) {
        const int tty = retryOnEintr([&] { return ::open(name, mode | O_NOCTTY | O_CLOEXEC | O_NONBLOCK); });
        if (tty >= 0) return tty;
      }
    }
  }
  return ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

}  // namespace taskmaster::inline v0::detail
