// --daemon: detach from the terminal, and tell the parent (still attached) whether startup worked.
#pragma once

#include <string>
#include <string_view>

namespace cli {

// Forks. The parent waits until the child calls ready() and exits with 0, or with 1 after printing the
// child's error; it never returns. The child returns in a new session with stdio on /dev/null.
// Returns -1, in the calling process and with nothing left open, when the pipe or the fork fails.
[[nodiscard]] int detach();

// In the daemon: startup finished (error empty) or failed (error printed by the waiting parent).
void ready(std::string_view error = {});

// Writes the pid file; removes it when the process exits through ~PidFile.
class PidFile {
 public:
  PidFile() = default;
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  [[nodiscard]] std::string write(const std::string& path);  // an error message, or empty
 private:
  std::string path_;
};

}  // namespace cli
