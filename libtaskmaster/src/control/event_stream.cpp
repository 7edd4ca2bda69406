// EventStream: the supervisor's state changes and details, serialized once per change and shared by every
// subscriber.
#include <taskmaster/control.hpp>

#include <cstdint>
#include <map>

namespace taskmaster::inline v0::control {

// Shared with the subscriptions, which may outlive the EventStream (a session closes after its server).
struct EventStream::State {
  explicit State(Supervisor& s) : supervisor(&s) {}

  Subscription subscribe(const std::shared_ptr<State>& self, StreamSink sink) {
    const std::uint64_t id = nextId++;
    sinks.emplace(id, std::make_shared<StreamSink>(std::move(sink)));
    // Observed only while someone follows: nobody pays for serializing events that nobody reads.
    if (sinks.size() == 1) {
      observer = supervisor->onStateChange([weak = std::weak_ptr(self)](const StateChange& c) {
        if (auto state = weak.lock()) state->publish(encodeEvent(c));
      });
      detailObserver = supervisor->onDetailChange([weak = std::weak_ptr(self)](const DetailChange& d) {
        if (auto state = weak.lock()) state->publish(encodeEvent(d));
      });
    }
    return Subscription([weak = std::weak_ptr(self), id] {
      auto state = weak.lock();
      if (!state) return;
      state->sinks.erase(id);
      if (state->sinks.empty()) {  // allowed inside the observer's own call
        state->observer.reset();
        state->detailObserver.reset();
      }
    });
  }

  // One serialization, then one pointer per subscriber. A sink may unsubscribe itself or others meanwhile:
  // the walk goes by id, and each sink is held while it runs.
  void publish(std::string encoded) {
    const SharedLine line = std::make_shared<const std::string>(std::move(encoded));
    for (auto it = sinks.begin(); it != sinks.end();) {
      const std::uint64_t id = it->first;
      const auto sink = it->second;
      (*sink)(line);
      it = sinks.upper_bound(id);
    }
  }

  Supervisor* supervisor;  // null once the EventStream is gone
  Subscription observer;
  Subscription detailObserver;
  std::map<std::uint64_t, std::shared_ptr<StreamSink>> sinks;
  std::uint64_t nextId = 0;
};

EventStream::EventStream(Supervisor& supervisor) : state_(std::make_shared<State>(supervisor)) {}

EventStream::~EventStream() {
  state_->observer.reset();
  state_->detailObserver.reset();
  state_->sinks.clear();
  state_->supervisor = nullptr;
}

StreamSource EventStream::source() const {
  return [weak = std::weak_ptr(state_)](StreamSink sink) {
    auto state = weak.lock();
    if (!state || !state->supervisor) return Subscription{};
    return state->subscribe(state, std::move(sink));
  };
}

std::size_t EventStream::subscribers() const { return state_->sinks.size(); }

}  // namespace taskmaster::inline v0::control
