// Internal: supervisord's event types and the payloads it writes for them (docs/events.md), byte for byte as
// supervisord 4.2.5 writes them.
#pragma once

#include "private.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <taskmaster/state.hpp>

namespace taskmaster::inline v0::events::detail {

// The concrete types, the ones an event has. The abstract ones (EVENT, PROCESS_STATE, TICK...) are sets of these.
enum class EventType : std::uint8_t {
  processStateStopped,
  processStateExited,
  processStateStarting,
  processStateStopping,
  processStateBackoff,
  processStateFatal,
  processStateRunning,
  processStateUnknown,
  processCommunicationStdout,
  processCommunicationStderr,
  processLogStdout,
  processLogStderr,
  remoteCommunication,
  supervisorStateChangeRunning,
  supervisorStateChangeStopping,
  tick5,
  tick60,
  tick3600,
  processGroupAdded,
  processGroupRemoved,
};
inline constexpr int kEventTypeCount = 20;

// A set of concrete types, one bit each.
using EventMask = std::uint32_t;
[[nodiscard]] constexpr EventMask bit(EventType type) { return EventMask{1} << static_cast<unsigned>(type); }

// supervisord's name of the type: "PROCESS_STATE_RUNNING", "TICK_5".
[[nodiscard]] std::string_view eventName(EventType type) noexcept;
// The concrete types a name subscribes to: itself, or every subtype of an abstract name (EVENT is all of
// them). nullopt for a name supervisord does not know. Names are upper case, as supervisord writes them.
[[nodiscard]] std::optional<EventMask> eventMask(std::string_view name);
// Every name eventMask() knows, abstract ones included: for "did you mean" hints.
[[nodiscard]] std::vector<std::string> eventTypeNames();

// One event, as every pool that takes it sends it.
struct Event {
  EventType type = EventType::processStateStopped;
  std::string payload;
  std::uint64_t serial = 0;  // the global serial, given when the first pool takes it
};

// A process as supervisord names it in payloads: its process name and its group's.
struct ProcessNames {
  std::string process;
  std::string group;
};

// The type of a state change (PROCESS_STATE_RUNNING...).
[[nodiscard]] EventType stateEventType(ProcessState to) noexcept;
// `processname:X groupname:G from_state:S` and the fields of the new state: tries for STARTING and BACKOFF;
// pid for RUNNING, STOPPING and STOPPED; expected and pid for EXITED. No trailing newline.
[[nodiscard]] std::string stateEventPayload(const ProcessNames& names, const StateChange& change);
// PROCESS_LOG_*: `processname:X groupname:G pid:N channel:stdout` then a newline and the bytes.
[[nodiscard]] std::string logEventPayload(const ProcessNames& names, int pid, std::string_view channel,
                                          std::string_view data);
// TICK_*: `when:EPOCH`.
[[nodiscard]] std::string tickPayload(std::int64_t when);
// REMOTE_COMMUNICATION: `type:T` then a newline and the data.
[[nodiscard]] std::string remotePayload(std::string_view type, std::string_view data);
// PROCESS_GROUP_*: `groupname:G` and a newline.
[[nodiscard]] std::string groupPayload(std::string_view group);

// The header line a listener reads before the payload, with its newline: `ver:3.0 server:ID serial:N pool:P
// poolserial:N eventname:TYPE len:N`. len counts bytes (supervisord counts characters: the same in ASCII).
[[nodiscard]] std::string envelope(std::string_view identifier, const Event& event, std::string_view pool,
                                   std::uint64_t poolSerial);

}  // namespace taskmaster::inline v0::events::detail
