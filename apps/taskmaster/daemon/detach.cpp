#include "daemon/detach.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <taskmaster/util.hpp>

namespace cli {
namespace {
taskmaster::UniqueFd readyFd;  // the daemon's end of the pipe its parent waits on
}

int detach() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return -1;
  taskmaster::UniqueFd readEnd(fds[0]);
  taskmaster::UniqueFd writeEnd(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;  // both ends close on the way out
  if (pid > 0) {  // the parent: relay the daemon's verdict, then leave
    writeEnd.reset();
    std::string message;
    char buf[512];
    ssize_t n;
    while ((n = taskmaster::retryOnEintr([&] { return ::read(readEnd.get(), buf, sizeof buf); })) > 0)
      message.append(buf, static_cast<std::size_t>(n));
    if (message == "ok") std::_Exit(0);
    fmt::print(stderr, "taskmaster: {}\n", message.empty() ? "the daemon died while starting" : message);
    std::_Exit(1);
  }
  readEnd.reset();
  readyFd = std::move(writeEnd);
  ::setsid();
  if (taskmaster::UniqueFd null(::open("/dev/null", O_RDWR)); null) {
    for (int fd = 0; fd < 3; ++fd) ::dup2(null.get(), fd);
    if (null.get() <= 2) (void)null.release();  // it is one of stdin, stdout, stderr now
  }
  return 0;
}

void ready(std::string_view error) {
  if (!readyFd) return;
  (void)taskmaster::writeAll(readyFd.get(), error.empty() ? std::string_view("ok") : error);
  readyFd.reset();
}

PidFile::~PidFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

std::string PidFile::write(const std::string& path) {
  taskmaster::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return fmt::format("cannot write the pid file {}: {}", path, std::strerror(errno));
  (void)taskmaster::writeAll(fd.get(), fmt::format("{}\n", ::getpid()));
  path_ = path;
  return {};
}

}  // namespace cli
