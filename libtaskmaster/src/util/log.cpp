#include <taskmaster/log.hpp>

#include <array>

namespace taskmaster::inline v0 {
namespace {

constexpr std::array<std::string_view, 4> kLevelNames{"debug", "info", "warn", "error"};
static_assert(static_cast<std::size_t>(LogLevel::error) + 1 == kLevelNames.size());

}  // namespace

std::string_view to_string(LogLevel level) noexcept { return kLevelNames[static_cast<std::size_t>(level)]; }

std::optional<LogLevel> parseLogLevel(std::string_view text) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i)
    if (text == kLevelNames[i]) return static_cast<LogLevel>(i);
  if (text == "warning") return LogLevel::warn;
  return std::nullopt;
}

}  // namespace taskmaster::inline v0
