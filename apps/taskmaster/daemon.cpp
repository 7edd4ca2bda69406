#include "daemon.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace cli {
namespace {
int readyFd = -1;  // the daemon's end of the pipe its parent waits on
}

int detach() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid > 0) {  // the parent: relay the daemon's verdict, then leave
    ::close(fds[1]);
    std::string message;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) message.append(buf, static_cast<std::size_t>(n));
    if (message == "ok") std::_Exit(0);
    fmt::print(stderr, "taskmaster: {}\n", message.empty() ? "the daemon died while starting" : message);
    std::_Exit(1);
  }
  ::close(fds[0]);
  readyFd = fds[1];
  ::setsid();
  if (int null = ::open("/dev/null", O_RDWR); null >= 0) {
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
    if (null > 2) ::close(null);
  }
  return 0;
}

void ready(std::string_view error) {
  if (readyFd < 0) return;
  const std::string message = error.empty() ? std::string("ok") : std::string(error);
  [[maybe_unused]] auto n = ::write(readyFd, message.data(), message.size());
  ::close(readyFd);
  readyFd = -1;
}

PidFile::~PidFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

std::string PidFile::write(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("cannot write the pid file {}: {}", path, std::strerror(errno));
  const std::string text = fmt::format("{}\n", ::getpid());
  [[maybe_unused]] auto n = ::write(fd, text.data(), text.size());
  ::close(fd);
  path_ = path;
  return {};
}

}  // namespace cli
