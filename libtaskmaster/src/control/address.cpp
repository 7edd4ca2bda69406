#include "control/wire.hpp"

#include <sys/socket.h>

#include <cstring>

namespace taskmaster::inline v0::control::detail {

bool fillAddress(const std::string& path, sockaddr_un& address) {
  address = {};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace taskmaster::inline v0::control::detail
