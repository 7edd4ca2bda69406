// The library's log: what it has to say that is no state change (a throwing observer, an exit whose status
// someone else took) goes to one sink that the embedding program sets. Without a sink it is dropped.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace taskmaster::inline v0 {

enum class LogLevel { debug, info, warn, error };

// "debug", "info", "warn", "error"; parseLogLevel also takes "warning".
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;
[[nodiscard]] std::optional<LogLevel> parseLogLevel(std::string_view text);

// Called on the loop's thread; must not throw.
using LogSink = std::function<void(LogLevel, std::string_view message)>;

}  // namespace taskmaster::inline v0
