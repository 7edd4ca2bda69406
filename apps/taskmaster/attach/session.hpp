// Attached to a program: its recent output, then its live output, in this terminal; the keys typed go to the
// program, until the detach keys, the program's end or the owner's end(). One piece for `taskmaster ctl
// attach` (over the control socket) and the shell's attach (the Service's attachment, in-process): the owner
// links the session to the attachment and says how it ended.
//
// The terminal (stdin) is raw for a program on a pty, in key mode with local line editing for one that reads
// a pipe; it is given back as it was before the last line is printed, whichever way the session ends. SIGWINCH
// becomes a resize. Without a terminal on stdin, stdin is sent as it comes until its end (no detach keys:
// it is data).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <taskmaster/commands.hpp>

namespace cli {

// The input mode as the protocol names it (to_string's): "tty", "stdin" or "none".
[[nodiscard]] std::optional<taskmaster::InputMode> parseInputMode(std::string_view text);

struct AttachSettings {
  std::string name;        // the instance, for the messages
  taskmaster::InputMode mode = taskmaster::InputMode::none;
  bool keyboard = false;   // this attachment types; otherwise another client does, and this one watches
  std::string detachKeys;  // the bytes (parseDetachKeys)
};

// What the session asks of its owner. Called on the loop, never from inside a call of the owner's.
struct AttachHooks {
  std::function<void(std::string bytes)> input;
  std::function<void(unsigned short rows, unsigned short columns)> resize;
  // The line for a detach by the user, given to `done` (at once, or later on the loop): "detached from web
  // (still RUNNING)". Nothing typed is sent meanwhile.
  std::function<void(std::function<void(std::string line)> done)> detached;
  std::function<void()> finished;         // the last line is written: the session may be destroyed
};

// "detached from web (still RUNNING)"; without the state when it is not known.
[[nodiscard]] std::string detachedLine(std::string_view name, std::string_view state);

class AttachSession {
 public:
  AttachSession(boost::asio::io_context& io, AttachSettings settings, AttachHooks hooks);
  ~AttachSession();
  AttachSession(const AttachSession&) = delete;
  AttachSession& operator=(const AttachSession&) = delete;

  // The recent output, then the terminal in its mode and the keys read.
  void start(std::string_view recent);
  // The program's output, as it wrote it.
  void output(std::string_view chunk);
  // The keyboard came to this attachment, or went to another.
  void keyboard(bool held);
  // Ends the session: the terminal restored, then `line` ("web exited with status 0") printed on a line of
  // its own, then finished(). Nothing after the first end.
  void end(std::string line);
  // As the detach keys: end() with the line detached() gives.
  void detach();
  [[nodiscard]] bool ended() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cli
