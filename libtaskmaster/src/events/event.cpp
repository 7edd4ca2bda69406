// supervisord's event types and payloads (event.hpp).
#include "events/event.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace taskmaster::inline v0::events::detail {

namespace {

constexpr std::array<std::string_view, kEventTypeCount> kNames{
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_UNKNOWN",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_LOG_STDOUT",
    "PROCESS_LOG_STDERR",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
    "TICK_5",
    "TICK_60",
    "TICK_3600",
    "PROCESS_GROUP_ADDED",
    "PROCESS_GROUP_REMOVED",
};

// supervisord's abstract types (events.py EventTypes): each is the prefix of its subtypes' names.
constexpr std::array<std::string_view, 6> kAbstract{
    "PROCESS_STATE", "PROCESS_COMMUNICATION", "PROCESS_LOG", "SUPERVISOR_STATE_CHANGE", "TICK", "PROCESS_GROUP",
};

}  // namespace

std::string_view eventName(EventType type) noexcept {
  const auto i = static_cast<std::size_t>(type);
  return i < kNames.size() ? kNames[i] : "UNKNOWN";
}

std::optional<EventMask> eventMask(std::string_view name) {
  if (name == "EVENT") return (EventMask{1} << kEventTypeCount) - 1;
  EventMask mask = 0;
  const bool abstract = std::ranges::find(kAbstract, name) != kAbstract.end();
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    const auto candidate = kNames[i];
    const bool subtype = abstract && candidate.size() > name.size() && candidate.starts_with(name) &&
                         candidate[name.size()] == '_';
    if (candidate == name || subtype) mask |= EventMask{1} << i;
  }
  if (mask == 0) return std::nullopt;
  return mask;
}

std::vector<std::string> eventTypeNames() {
  std::vector<std::string> names{"EVENT"};
  names.insert(names.end(), kAbstract.begin(), kAbstract.end());
  names.insert(names.end(), kNames.begin(), kNames.end());
  return names;
}

EventType stateEventType(ProcessState to) noexcept {
  switch (to) {
    case ProcessState::stopped: return EventType::processStateStopped;
    case ProcessState::starting: return EventType::processStateStarting;
    case ProcessState::running: return EventType::processStateRunning;
    case ProcessState::backoff: return EventType::processStateBackoff;
    case ProcessState::stopping: return EventType::processStateStopping;
    case ProcessState::exited: return EventType::processStateExited;
    case ProcessState::fatal: return EventType::processStateFatal;
  }
  return EventType::processStateUnknown;
}

std::string stateEventPayload(const ProcessNames& names, const StateChange& change) {
  auto out = fmt::format("processname:{} groupname:{} from_state:{}", names.process, names.group,
                         to_string(change.from));
  switch (change.to) {
    case ProcessState::starting:
    case ProcessState::backoff: out += fmt::format(" tries:{}", change.retries); break;
    case ProcessState::running:
    case ProcessState::stopping:
    case ProcessState::stopped: out += fmt::format(" pid:{}", change.pid); break;
    case ProcessState::exited: out += fmt::format(" expected:{} pid:{}", change.expected ? 1 : 0, change.pid); break;
    case ProcessState::fatal: break;
  }
  return out;
}

std::string logEventPayload(const ProcessNames& names, int pid, std::string_view channel, std::string_view data) {
  return fmt::format("processname:{} groupname:{} pid:{} channel:{}\n{}", names.process, names.group, pid, channel,
                     data);
}

std::string tickPayload(std::int64_t when) { return fmt::format("when:{}", when); }

std::string remotePayload(std::string_view type, std::string_view data) {
  return fmt::format("type:{}\n{}", type, data);
}

std::string groupPayload(std::string_view group) { return fmt::format("groupname:{}\n", group); }

std::string envelope(std::string_view identifier, const Event& event, std::string_view pool,
                     std::uint64_t poolSerial) {
  return fmt::format("ver:3.0 server:{} serial:{} pool:{} poolserial:{} eventname:{} len:{}\n", identifier,
                     event.serial, pool, poolSerial, eventName(event.type), event.payload.size());
}

}  // namespace taskmaster::inline v0::events::detail
