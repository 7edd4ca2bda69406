#include "descriptors.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace cli {

bool pollable(int fd) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return false;
  epoll_event event{};
  event.events = EPOLLIN;
  const bool ok = ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &event) == 0;
  ::close(ep);
  return ok;
}

int watchableCopy(int fd, int mode) {
  if (::isatty(fd)) {
    if (const char* name = ::ttyname(fd)) {
      int own = ::open(name, mode | O_NOCTTY | O_CLOEXEC);
      if (own >= 0) return own;
    }
  }
  return ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

}  // namespace cli
