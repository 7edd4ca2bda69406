#include "attach/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace cli {

TerminalGuard::TerminalGuard(int fd, TerminalMode mode) : fd_(fd) {
  termios original{};
  if (::tcgetattr(fd, &original) != 0) return;
  termios changed = original;
  if (mode == TerminalMode::raw) {
    ::cfmakeraw(&changed);
  } else {
    // No line discipline (LineEditor does it), no signals from Ctrl-C or Ctrl-Z, no flow control (Ctrl-S and
    // Ctrl-Q may be keys of the detach sequence); output still turns '\n' into "\r\n".
    changed.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ECHONL | ISIG | IEXTEN);
    changed.c_iflag &= ~static_cast<tcflag_t>(IXON | IXOFF);
  }
  changed.c_cc[VMIN] = 1;
  changed.c_cc[VTIME] = 0;
  // TCSADRAIN: what was printed before (the recent output) is shown as it was meant to be.
  int set = 0;
  do set = ::tcsetattr(fd, TCSADRAIN, &changed);
  while (set != 0 && errno == EINTR);
  if (set == 0) saved_ = original;
}

void TerminalGuard::restore() {
  if (!saved_) return;
  // TCSAFLUSH would drop keys typed after the detach key: they are left for whatever reads the terminal next.
  while (::tcsetattr(fd_, TCSADRAIN, &*saved_) != 0 && errno == EINTR) {
  }
  saved_.reset();
}

std::optional<TerminalSize> terminalSize(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_row == 0 || size.ws_col == 0) return std::nullopt;
  return TerminalSize{size.ws_row, size.ws_col};
}

}  // namespace cli
