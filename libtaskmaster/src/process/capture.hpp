// Internal: reading a child's stdout or stderr from its pipe on the loop.
#pragma once

#include "private.hpp"

#include <functional>
#include <string_view>

#include <taskmaster/util.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

// Reads the pipe `readEnd` (non-blocking) from the loop until its writers are all gone, handing each chunk
// to onData as it comes, then calls onEnd once. One read per readiness, so a program that writes without
// pause gets its turn with the others and never holds the loop; the more pipes are found full, the smaller
// each read (1 MiB down to 64 KiB), so that a turn of the loop stays short. A pipe found full grows to 1 MiB
// (when the system allows), so a program writing fast needs fewer turns. Runs on its own: it ends with the pipe, or with
// the io_context. Throws when the pipe cannot join the io_context (the caller's fd is closed then).
void capture(boost::asio::io_context& io, UniqueFd readEnd, std::function<void(std::string_view)> onData,
             std::function<void()> onEnd);

}  // namespace taskmaster::inline v0::detail
