// Internal: writing to a child's stdin pipe or terminal master from the loop, without ever blocking it.
#pragma once

#include "private.hpp"

#include <memory>

#include <taskmaster/util.hpp>

#include "core/host.hpp"

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

// A Console on `fd` (non-blocking: a terminal's master, or a pipe's write end), which it owns and closes when
// destroyed. Bytes the program does not take at once wait, up to kMaxPendingInput, and are written as it
// reads. Throws when the fd cannot join the io_context.
[[nodiscard]] std::unique_ptr<Console> makeConsole(boost::asio::io_context& io, UniqueFd fd, bool terminal);

}  // namespace taskmaster::inline v0::detail
