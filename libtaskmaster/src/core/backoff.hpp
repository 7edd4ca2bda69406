// Internal: the restart policy as pure functions of a spec and a count, so the state machine only counts and
// the arithmetic is tested on its own (tests/test_backoff.cpp). See docs/configuration.md#restart-policy.
#pragma once

#include "private.hpp"

#include <taskmaster/program_spec.hpp>

namespace taskmaster::inline v0::detail {

// The wait before restarting a process that exited from RUNNING, when `youngExits` (>= 1) is the number of
// exits in a row, this one included, of runs shorter than restart_reset_after. The first restart_burst are
// immediate (0); then restart_delay, times restart_delay_factor for each exit more, at most restart_delay_max.
[[nodiscard]] Duration crashDelay(const ProgramSpec& spec, int youngExits);

// The wait before retry number `retries` (>= 1) of a failed start: `retries` seconds (supervisord's rule), at
// most restart_delay_max (but never less than 1 s), which matters only with many retries (`startretries: infinite`).
[[nodiscard]] Duration failedStartDelay(const ProgramSpec& spec, int retries);

// Whether a run that lasted `ranFor` was long enough to forgive the exits before it.
[[nodiscard]] inline bool stayedUp(const ProgramSpec& spec, Duration ranFor) { return ranFor >= spec.restartResetAfter; }

}  // namespace taskmaster::inline v0::detail
