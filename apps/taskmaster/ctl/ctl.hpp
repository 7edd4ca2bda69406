// taskmaster ctl: one command against a running taskmaster, its event stream, or a remote shell.
#pragma once

#include "options.hpp"

namespace cli {

// Exit codes: 0 ok, 1 the command failed, 2 bad usage, 3 no taskmaster answers.
[[nodiscard]] int runCtl(const CtlOptions& options);

}  // namespace cli
