// Internal: what the library's own components built on a Supervisor (the hooks) reach behind its public
// interface: its AsioHost, to run commands on the supervisor's launcher and orphan reaper.
#pragma once

#include "private.hpp"

#include <taskmaster/supervisor.hpp>

namespace taskmaster::inline v0::detail {

class AsioHost;

struct SupervisorAccess {
  [[nodiscard]] static AsioHost& host(Supervisor& supervisor);
};

}  // namespace taskmaster::inline v0::detail
