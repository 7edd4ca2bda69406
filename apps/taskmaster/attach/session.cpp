#include "attach/session.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <taskmaster/output.hpp>

#include "attach/detach_keys.hpp"
#include "attach/line_editor.hpp"
#include "attach/terminal.hpp"
#include "shell/descriptors.hpp"

namespace cli {
namespace asio = boost::asio;
using taskmaster::InputMode;

std::optional<InputMode> parseInputMode(std::string_view text) {
  for (auto mode : {InputMode::tty, InputMode::stdin, InputMode::none})
    if (taskmaster::to_string(mode) == text) return mode;
  return std::nullopt;
}

std::string detachedLine(std::string_view name, std::string_view state) {
  if (state.empty()) return fmt::format("detached from {}", name);
  return fmt::format("detached from {} (still {})", name, state);
}

struct AttachSession::Impl {
  Impl(asio::io_context& io, AttachSettings s, AttachHooks h)
      : io(io),
        settings(std::move(s)),
        hooks(std::move(h)),
        filter(settings.detachKeys),
        terminal(::isatty(STDIN_FILENO) == 1),
        out(io, STDOUT_FILENO),
        winch(io, SIGWINCH) {}

  void start(std::string_view recent) {
    write(recent);
    if (terminal) {
      guard.emplace(STDIN_FILENO, settings.mode == InputMode::tty ? TerminalMode::raw : TerminalMode::keys);
      if (settings.mode == InputMode::tty) {
        sendSize();
        waitForResize();
      }
    }
    if (!settings.keyboard) say("another client has the keyboard: you watch until it detaches");
    else if (settings.mode == InputMode::none) say(fmt::format("{} reads no input: you watch", settings.name));
    readKeys();
  }

  // A message of the session's own, on a line of its own (raw mode: "\r\n").
  void say(std::string_view text) {
    write(fmt::format("{}[{}]\r\n", atLineStart ? "" : "\r\n", text));
  }

  void write(std::string_view text) {
    if (text.empty()) return;
    out.write(text);
    atLineStart = text.back() == '\n';
  }

  void readKeys() {
    if (!::isatty(STDIN_FILENO) && !pollable(STDIN_FILENO)) return readAll();  // a file, or /dev/null
    keys.emplace(io, watchableCopy(STDIN_FILENO, O_RDONLY));
    waitForKeys();
  }

  void waitForKeys() {
    keys->async_wait(asio::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
      if (ec || done) return;
      std::array<char, 4096> buffer;
      const ssize_t n = ::read(keys->native_handle(), buffer.data(), buffer.size());
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return waitForKeys();
      if (n <= 0) return endOfInput();
      typed({buffer.data(), static_cast<std::size_t>(n)});
      if (!done) waitForKeys();
    });
  }

  // What cannot be waited on never blocks: read at once, whole.
  void readAll() {
    std::array<char, 4096> buffer;
    ssize_t n = 0;
    while ((n = ::read(STDIN_FILENO, buffer.data(), buffer.size())) > 0)
      send({buffer.data(), static_cast<std::size_t>(n)});
  }

  // A terminal that hangs up ends the session; a pipe's end is the end of the input, and the program goes on
  // being watched until it ends or the client is interrupted.
  void endOfInput() {
    if (terminal) return detach();
    if (settings.mode == InputMode::stdin && !lineEditor.line().empty()) send(std::string(lineEditor.line()));
  }

  void typed(std::string_view bytes) {
    if (detaching) return;
    if (!terminal) return send(bytes);  // data from a pipe: sent as it is, no detach keys in it
    auto filtered = filter.feed(bytes);
    if (settings.mode == InputMode::stdin) {
      auto edited = lineEditor.feed(filtered.forward);
      if (settings.keyboard) write(edited.echo);
      send(edited.input);
    } else if (settings.mode == InputMode::tty) {
      send(filtered.forward);
    } else if (filtered.forward.find('\x03') != std::string::npos) {
      filtered.detach = true;  // nothing reads the keys: Ctrl-C leaves, as one expects of a program that only prints
    }
    if (filtered.detach) detach();
  }

  void detach() {
    if (done || detaching) return;
    detaching = true;
    hooks.detached([this](std::string line) { end(std::move(line)); });
  }

  void send(std::string_view bytes) {
    if (bytes.empty() || !settings.keyboard || settings.mode == InputMode::none) return;
    hooks.input(std::string(bytes));
  }

  void sendSize() {
    if (auto size = terminalSize(STDIN_FILENO)) hooks.resize(size->rows, size->columns);
  }

  void waitForResize() {
    winch.async_wait([this](boost::system::error_code ec, int) {
      if (ec || done) return;
      sendSize();
      waitForResize();
    });
  }

  void end(std::string line) {
    if (done) return;
    done = true;
    boost::system::error_code ignored;
    if (keys) keys->cancel(ignored);
    winch.cancel(ignored);
    if (guard) guard->restore();  // before the line: it is written in the terminal's own mode
    const std::string text = fmt::format("{}{}\n", atLineStart ? "" : "\n", line);
    out.write(text, [this] {
      auto finished = hooks.finished;
      if (finished) finished();
    });
  }

  asio::io_context& io;
  AttachSettings settings;
  AttachHooks hooks;
  DetachKeyFilter filter;
  LineEditor lineEditor;
  const bool terminal;  // stdin is a terminal: keys, and the detach sequence among them
  taskmaster::OutputWriter out;
  asio::signal_set winch;
  std::optional<asio::posix::stream_descriptor> keys;
  std::optional<TerminalGuard> guard;
  bool atLineStart = true;
  bool detaching = false;  // the detach line is on its way
  bool done = false;
};

AttachSession::AttachSession(asio::io_context& io, AttachSettings settings, AttachHooks hooks)
    : impl_(std::make_unique<Impl>(io, std::move(settings), std::move(hooks))) {}

AttachSession::~AttachSession() {
  boost::system::error_code ignored;
  if (impl_->keys) impl_->keys->close(ignored);
}

void AttachSession::start(std::string_view recent) { impl_->start(recent); }
void AttachSession::output(std::string_view chunk) {
  if (!impl_->done) impl_->write(chunk);
}
void AttachSession::keyboard(bool held) {
  if (impl_->done || held == impl_->settings.keyboard) return;
  impl_->settings.keyboard = held;
  if (!held) return;
  impl_->say("you have the keyboard");
  // The program's window is the size of the terminal that types into it.
  if (impl_->guard && impl_->settings.mode == InputMode::tty) impl_->sendSize();
}
void AttachSession::end(std::string line) { impl_->end(std::move(line)); }
void AttachSession::detach() { impl_->detach(); }
bool AttachSession::ended() const { return impl_->done; }

}  // namespace cli
