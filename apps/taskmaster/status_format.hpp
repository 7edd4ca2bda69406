// The `status` table: one line per instance, name, state, details, aligned in columns.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <taskmaster/state.hpp>

namespace cli {

// "0:03:12", or "2 days, 3:04:05".
[[nodiscard]] std::string formatUptime(std::chrono::milliseconds uptime);

// "web:0    RUNNING    pid 4242, uptime 0:03:12". With colour, the state name carries an ANSI colour;
// the padding is computed on the plain text so the columns stay aligned.
[[nodiscard]] std::vector<std::string> formatStatus(const std::vector<taskmaster::InstanceStatus>& instances,
                                                    taskmaster::WallTime now, bool colour);

// The state name, coloured when asked: green RUNNING, yellow for the transient states, red FATAL.
[[nodiscard]] std::string stateLabel(taskmaster::ProcessState state, bool colour);

}  // namespace cli
