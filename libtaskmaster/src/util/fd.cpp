#include <taskmaster/util.hpp>

#include <unistd.h>

namespace taskmaster::inline v0 {

void UniqueFd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the fd is released whatever close() returns.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

bool writeAll(int fd, std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    const ssize_t n = retryOnEintr([&] { return ::write(fd, bytes.data(), bytes.size()); });
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace taskmaster::inline v0
