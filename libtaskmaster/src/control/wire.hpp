// What the codec, the server and the client share below the public API.
#pragma once

#include "private.hpp"

#include <sys/un.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <taskmaster/control.hpp>

namespace taskmaster::inline v0::control::detail {

// The address of a socket path; false when the path is empty or too long for sun_path.
[[nodiscard]] bool fillAddress(const std::string& path, sockaddr_un& address);

// A reply from its parsed line: an Error when the object is not a reply (no "ok").
[[nodiscard]] Result<Reply> replyFromJson(const boost::json::object& object);

// The Error of the system call that just failed: errno, and "what was being done: its reason".
[[nodiscard]] inline Error systemError(std::string_view what) {
  const int err = errno;
  return {{err, std::generic_category()}, fmt::format("{}: {}", what, std::strerror(err))};
}

// The line a stream client gets after `dropped` of its lines were dropped: {"v":1,"event":"lagged",...}.
[[nodiscard]] std::string encodeLagged(std::uint64_t dropped);

}  // namespace taskmaster::inline v0::control::detail
