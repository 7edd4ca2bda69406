// Internal: watching a child's exit. PidfdChild is the strategy for an embedded library that must never call
// waitpid(-1): each child is watched through its own pidfd on the io_context.
#pragma once

#include "private.hpp"

#include <memory>

#include <taskmaster/util.hpp>

#include "core/host.hpp"

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

class OrphanReaper;

// Takes ownership of the pidfd. Throws when the pidfd cannot join the io_context; the caller then still
// owns the child (and must kill and reap it). The reaper is told of the child until it is reaped.
[[nodiscard]] std::unique_ptr<Child> watchChild(boost::asio::io_context& io, int pid, UniqueFd& pidfd,
                                                bool killGroupOnExit, ExitHandler onExit,
                                                const std::shared_ptr<OrphanReaper>& reaper);

}  // namespace taskmaster::inline v0::detail
