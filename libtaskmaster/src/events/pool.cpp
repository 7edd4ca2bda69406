// A pool of event listeners (pool.hpp).
#include "events/pool.hpp"

#include <utility>

#include <fmt/format.h>

namespace taskmaster::inline v0::events::detail {

Pool::Pool(std::string name, EventMask types, std::size_t bufferSize, LogSink log)
    : name_(std::move(name)), types_(types), bufferSize_(bufferSize), log_(std::move(log)) {}

void Pool::accept(std::shared_ptr<const Event> event) { push({std::move(event), serial_++}, false); }

void Pool::requeue(Delivery delivery) {
  if (log_)
    log_(LogLevel::debug, fmt::format("pool {}: event {} goes back to the head of the buffer", name_,
                                      delivery.event->serial));
  push(std::move(delivery), true);
}

// As supervisord: a full buffer drops its oldest event, even to make room for one put back at the head.
void Pool::push(Delivery delivery, bool head) {
  while (!buffer_.empty() && buffer_.size() >= bufferSize_) {
    if (log_)
      log_(LogLevel::error, fmt::format("pool {} event buffer overflowed, discarding event {}", name_,
                                        buffer_.front().event->serial));
    buffer_.pop_front();
  }
  if (head) buffer_.push_front(std::move(delivery));
  else buffer_.push_back(std::move(delivery));
}

void Pool::dispatch(std::vector<Member*>& members, std::string_view identifier, const Send& send) {
  while (!buffer_.empty()) {
    Member* free = nullptr;
    for (Member* member : members) {
      if (member->running && member->protocol.state() == ListenerState::ready) {
        free = member;
        break;
      }
    }
    if (free == nullptr) return;
    const auto& next = buffer_.front();
    auto bytes = envelope(identifier, *next.event, name_, next.poolSerial);
    bytes += next.event->payload;
    if (!send(*free, bytes)) return;  // its stdin is full or closed: the event waits for the next chance
    free->protocol.sent();
    free->busy = std::move(buffer_.front());
    buffer_.pop_front();
  }
}

void Pool::handle(Member& member, const std::vector<ListenerSignal>& signals) {
  for (const auto& signal : signals) {
    switch (signal.kind) {
      case ListenerSignal::Kind::ready: break;
      case ListenerSignal::Kind::result:
        if (!member.busy) break;
        if (!signal.ok) {
          if (log_)
            log_(LogLevel::warn, fmt::format("{}: event {} was rejected", member.name, member.busy->event->serial));
          requeue(std::move(*member.busy));
        }
        member.busy.reset();
        break;
      case ListenerSignal::Kind::garbage:
        if (log_)
          log_(LogLevel::warn, fmt::format("{}: event listener protocol error: {}; it gets no events until it is "
                                           "restarted (UNKNOWN)", member.name, signal.text));
        lost(member);
        break;
    }
  }
}

void Pool::lost(Member& member) {
  if (!member.busy) return;
  requeue(std::move(*member.busy));
  member.busy.reset();
}

}  // namespace taskmaster::inline v0::events::detail
