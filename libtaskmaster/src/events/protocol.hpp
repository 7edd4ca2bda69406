// Internal: what an event listener says on its stdout, as supervisord reads it (dispatchers.py
// PEventListenerDispatcher): `READY\n` when it waits for an event, `RESULT <n>\n` and n bytes (OK, or
// anything else to reject the event) once it has handled one. Chunks may split or join these anywhere.
#pragma once

#include "private.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace taskmaster::inline v0::events::detail {

// ACKNOWLEDGED: started or answered, READY not said yet; READY: may be sent an event; BUSY: was sent one and
// has not answered; UNKNOWN: said something outside the protocol, and is sent nothing until its next process.
enum class ListenerState { acknowledged, ready, busy, unknown };
[[nodiscard]] std::string_view to_string(ListenerState state) noexcept;  // "ACKNOWLEDGED", ...

// What a chunk of output meant, in order.
struct ListenerSignal {
  enum class Kind {
    ready,    // READY: it waits for an event
    result,   // it answered the event it was sent: ok when the result is exactly OK
    garbage,  // it said something else: UNKNOWN from now on (what it said is in text)
  };
  Kind kind = Kind::ready;
  bool ok = false;
  std::string text;  // result: the result's bytes; garbage: what was wrong
};

class ListenerProtocol {
 public:
  // A result line longer than this, or a result longer than kMaxResult, is garbage: the listener is bounded.
  static constexpr std::size_t kMaxLine = 64;
  static constexpr std::size_t kMaxResult = 64 * 1024;

  [[nodiscard]] ListenerState state() const { return state_; }
  // A new process: ACKNOWLEDGED, what the last one said forgotten.
  void reset();
  // An event was written to it: READY becomes BUSY.
  void sent();
  // Reads a chunk of its stdout.
  [[nodiscard]] std::vector<ListenerSignal> feed(std::string_view chunk);

 private:
  bool step(std::vector<ListenerSignal>& out);  // one token of buffer_; false when more bytes are needed
  void garbage(std::vector<ListenerSignal>& out, std::string why);

  ListenerState state_ = ListenerState::acknowledged;
  std::string buffer_;
  bool haveLength_ = false;  // BUSY: the RESULT line was read, resultLength_ bytes are awaited
  std::size_t resultLength_ = 0;
};

}  // namespace taskmaster::inline v0::events::detail
