// supervisord's event listeners (docs/events.md): the programs with `events` (`[eventlistener:x]` in a
// supervisord.conf) are pools of listener processes, sent supervisord's events in its protocol on their stdin
// and stdout: PROCESS_STATE_*, TICK_*, SUPERVISOR_STATE_CHANGE_*, PROCESS_GROUP_*, PROCESS_LOG_* and
// REMOTE_COMMUNICATION, with supervisord 4.2.5's headers and payloads, so that listeners written for
// supervisord (superlance's) work unchanged.
//
// Threading: as Supervisor (supervisor.hpp); every call on the loop's thread, every callback from it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <taskmaster/config.hpp>
#include <taskmaster/log.hpp>
#include <taskmaster/supervisor.hpp>

namespace taskmaster::inline v0::events {

// True for a type name supervisord knows, concrete ("PROCESS_STATE_RUNNING", "TICK_5") or abstract ("EVENT",
// "PROCESS_STATE", "TICK"...: all of their subtypes). Upper case, as supervisord writes them.
[[nodiscard]] bool isEventType(std::string_view name);

enum class SupervisorState { running, stopping };

// The pools of a Supervisor's configuration and the events they are sent. It follows the Supervisor's state
// changes and the listeners' stdout from its construction; the Supervisor must outlive it.
class EventListeners {
 public:
  // `log` hears what supervisord logs about its pools: an overflowing buffer, a rejected event, a listener
  // that breaks the protocol.
  EventListeners(Supervisor& supervisor, LogSink log = {});
  ~EventListeners();
  EventListeners(const EventListeners&) = delete;
  EventListeners& operator=(const EventListeners&) = delete;

  // Makes the pools those of `config` (the programs with `events`; a pool is a supervisord group: its
  // programs' instances are its members) and takes its `identifier` for the headers. Groups that appear are
  // PROCESS_GROUP_ADDED (at the first call, every group, in the configuration's order), groups that go
  // PROCESS_GROUP_REMOVED. Call it before the Supervisor applies `config`, so that the pools hear its first
  // state changes, and again after every change of the configuration. A pool that stays keeps its buffer.
  void configure(const Config& config);

  // SUPERVISOR_STATE_CHANGE_RUNNING at start (supervisord sends it before any process starts), STOPPING before
  // shutdown.
  void supervisorState(SupervisorState state);
  // REMOTE_COMMUNICATION (supervisor.sendRemoteCommEvent): `type:TYPE`, a newline, `data`.
  void remoteCommunication(std::string_view type, std::string_view data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmaster::inline v0::events
