// Internal: a pool of event listeners, as supervisord's EventListenerPool: the events its types select wait in
// a buffer of at most bufferSize (the oldest dropped past it), and each goes to the first member that is
// RUNNING and READY. An event a member rejects, or that it was handling when it died or went astray, goes back
// to the head of the buffer.
#pragma once

#include "private.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <taskmaster/log.hpp>

#include "events/event.hpp"
#include "events/protocol.hpp"

namespace taskmaster::inline v0::events::detail {

// An event waiting in a pool, with its serial in that pool.
struct Delivery {
  std::shared_ptr<const Event> event;
  std::uint64_t poolSerial = 0;
};

// One listener process of a pool: an instance, followed from one of its processes to the next.
struct Member {
  std::string instance;  // taskmaster's name: where its input goes
  std::string name;      // supervisord's process name, for the log
  bool running = false;  // RUNNING: only then is it sent events
  ListenerProtocol protocol;
  std::optional<Delivery> busy;  // the event it was sent and has not answered
};

// Writes an event's bytes to a member's stdin; false when they could not be queued (nothing was).
using Send = std::function<bool(Member& member, std::string_view bytes)>;

class Pool {
 public:
  Pool(std::string name, EventMask types, std::size_t bufferSize, LogSink log);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] EventMask types() const { return types_; }
  [[nodiscard]] std::size_t bufferSize() const { return bufferSize_; }
  [[nodiscard]] bool takes(EventType type) const { return (types_ & bit(type)) != 0; }
  // A reload may change what the pool takes and its buffer (a smaller one drops the oldest at the next event).
  void setTypes(EventMask types) { types_ = types; }
  void setBufferSize(std::size_t size) { bufferSize_ = size; }

  // A new event: the next pool serial, at the tail of the buffer.
  void accept(std::shared_ptr<const Event> event);
  // An event back from a member (rejected, or lost with its process): at the head, with its serial.
  void requeue(Delivery delivery);
  [[nodiscard]] const std::deque<Delivery>& buffer() const { return buffer_; }

  // Sends the buffered events, oldest first, each to the first member RUNNING and READY, until none is left
  // or none can take one.
  void dispatch(std::vector<Member*>& members, std::string_view identifier, const Send& send);

  // What a member said on its stdout: a result frees it (a rejected event is requeued), garbage makes it
  // UNKNOWN (its event requeued). The caller dispatches next.
  void handle(Member& member, const std::vector<ListenerSignal>& signals);
  // Its process ended or left RUNNING: the event it was handling is requeued.
  void lost(Member& member);

 private:
  void push(Delivery delivery, bool head);

  std::string name_;
  EventMask types_ = 0;
  std::size_t bufferSize_ = 10;
  LogSink log_;
  std::deque<Delivery> buffer_;
  std::uint64_t serial_ = 0;  // the next pool serial
};

}  // namespace taskmaster::inline v0::events::detail
