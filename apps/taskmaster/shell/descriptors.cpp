#include "shell/descriptors.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <taskmaster/util.hpp>

namespace cli {

bool pollable(int fd) {
  const taskmaster::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return false;
  epoll_event event{};
  event.events = EPOLLIN;
  return ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &event) == 0;
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
