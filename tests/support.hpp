// Helpers shared by the tests.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <taskmaster/state.hpp>

// Failure messages name states: "RUNNING", not "2".
template <>
struct doctest::StringMaker<taskmaster::ProcessState> {
  static String convert(taskmaster::ProcessState s) { return String(taskmaster::to_string(s).data()); }
};

namespace test {

// A fresh directory under /tmp, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tm-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// While it lives, this process cannot open one more fd: the limit is lowered to the fds in use, and every
// one left under it is taken. `fds()` are the taken ones (a forked child may close some to get room).
class NoFdsLeft {
 public:
  NoFdsLeft() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    int highest = 0;
    for (auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
      highest = std::max(highest, std::stoi(e.path().filename()));
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(highest + 1);
    ok_ = ::setrlimit(RLIMIT_NOFILE, &low) == 0;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds_.push_back(fd);
  }
  ~NoFdsLeft() { release(); }
  NoFdsLeft(const NoFdsLeft&) = delete;
  NoFdsLeft& operator=(const NoFdsLeft&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const std::vector<int>& fds() const { return fds_; }
  void release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_{};
  std::vector<int> fds_;
  bool ok_ = false;
};

}  // namespace test
