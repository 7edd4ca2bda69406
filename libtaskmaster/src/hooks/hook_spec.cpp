// HookSpec's names: the events, the kinds, syslog's facilities.
#include <taskmaster/config.hpp>
#include <taskmaster/state.hpp>

#include <algorithm>
#include <array>
#include <utility>

#include "util/text.hpp"

namespace taskmaster::inline v0 {

Duration HookSpec::effectiveRateLimit() const {
  if (rateLimit) return *rateLimit;
  // A mail or an HTTP call per crash of a crash loop is what nobody wants; a command or a syslog line is cheap
  // and local, and is what one writes to see every event.
  return kind == Kind::email || kind == Kind::webhook ? std::chrono::seconds(60) : Duration::zero();
}

std::string_view to_string(HookSpec::Kind kind) noexcept {
  switch (kind) {
    case HookSpec::Kind::exec: return "exec";
    case HookSpec::Kind::webhook: return "webhook";
    case HookSpec::Kind::syslog: return "syslog";
    case HookSpec::Kind::email: return "email";
  }
  return "?";
}

const std::vector<std::string>& hookEventNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (int s = 0; s < kProcessStateCount; ++s) out.emplace_back(to_string(static_cast<ProcessState>(s)));
    for (const char* other : {"unexpected_exit", "unhealthy", "reload", "taskmaster_started", "taskmaster_stopping"})
      out.emplace_back(other);
    return out;
  }();
  return names;
}

std::optional<std::string> hookEventName(std::string_view name) {
  const auto lower = detail::toLower(name);
  for (const auto& event : hookEventNames()) {
    if (detail::toLower(event) == lower) return event;
  }
  return std::nullopt;
}

std::optional<int> syslogFacility(std::string_view name) {
  static constexpr auto kFacilities = std::to_array<std::pair<std::string_view, int>>({
      {"kern", 0}, {"user", 1}, {"mail", 2}, {"daemon", 3}, {"auth", 4}, {"syslog", 5}, {"lpr", 6}, {"news", 7},
      {"uucp", 8}, {"cron", 9}, {"authpriv", 10}, {"ftp", 11}, {"local0", 16}, {"local1", 17}, {"local2", 18},
      {"local3", 19}, {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
  });
  const auto lower = detail::toLower(name);
  auto found = std::ranges::find(kFacilities, std::string_view(lower), &std::pair<std::string_view, int>::first);
  if (found == kFacilities.end()) return std::nullopt;
  return found->second;
}

}  // namespace taskmaster::inline v0
