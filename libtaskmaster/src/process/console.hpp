// Internal: writing to a child's stdin pipe or terminal master from the loop, without ever blocking it.
#pragma once

#include "private.hpp"

#include <memory>
#include <string>

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

// Writes `bytes` to `fd` (a pipe's non-blocking write end, which it owns) as the reader takes them, then closes
// it: the reader sees the end of its input. Runs on its own, until then, the reader's end is closed, or the
// io_context goes. Throws when the fd cannot join the io_context.
void feed(boost::asio::io_context& io, UniqueFd fd, std::string bytes);

}  // namespace taskmaster::inline v0::detail
