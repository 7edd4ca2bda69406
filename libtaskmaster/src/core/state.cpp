#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>

#include <array>

#include <fmt/format.h>

namespace taskmaster::inline v0 {
namespace {

constexpr std::array<std::string_view, kProcessStateCount> kStateNames{
    "STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"};
static_assert(static_cast<int>(ProcessState::fatal) + 1 == kProcessStateCount);

}  // namespace

std::string_view to_string(ProcessState s) noexcept {
  auto i = static_cast<std::size_t>(s);
  return i < kStateNames.size() ? kStateNames[i] : "UNKNOWN";
}

std::string_view to_string(Health h) noexcept {
  switch (h) {
    case Health::none: return "none";
    case Health::starting: return "starting";
    case Health::healthy: return "healthy";
    case Health::unhealthy: return "unhealthy";
  }
  return "UNKNOWN";
}

std::string_view to_string(DetailChange::Kind k) noexcept {
  switch (k) {
    case DetailChange::Kind::waiting: return "waiting";
    case DetailChange::Kind::dependencyFailed: return "dependency_failed";
    case DetailChange::Kind::health: return "health";
    case DetailChange::Kind::statusText: return "status_text";
  }
  return "UNKNOWN";
}

std::string ExitStatus::str() const {
  if (exited()) return fmt::format("exit status {}", code);
  return fmt::format("terminated by SIG{}{}", signalName(signal), coreDumped ? " (core dumped)" : "");
}

}  // namespace taskmaster::inline v0
