// The settings of taskmaster's own process that a configuration may carry (supervisord's `[supervisord]`
// section): its umask, working directory and resource limits, applied once at start, before any program runs.
#pragma once

#include <string>

#include <taskmaster/config.hpp>

namespace cli {

// Raises the soft limits to `minfds` and `minprocs` (the hard ones too when privileged), sets the umask and
// changes to `directory`, in that order. An error message naming the setting when one cannot be applied;
// empty when all were (or none is set).
[[nodiscard]] std::string applyProcessSettings(const taskmaster::Config& config);

}  // namespace cli
