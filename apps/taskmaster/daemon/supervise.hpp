// taskmaster itself: the supervisor of a configuration, in the foreground with its shell, without one
// (--no-shell), or detached (--daemon); always with its event log, control socket and signal handling.
#pragma once

#include "options.hpp"

namespace cli {

// Loads the configuration, detaches when asked, supervises until told to stop. Returns the exit code.
[[nodiscard]] int supervise(RunOptions options);

}  // namespace cli
