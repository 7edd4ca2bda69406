// Helpers shared by the tests.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

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

// A client of the Unix socket at `path` (blocking), or -1.
inline int connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything of `data`, unless the peer goes.
inline void sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Runs `f` on the thread that runs `io` and returns its result.
template <class F>
auto onLoop(boost::asio::io_context& io, F f) {
  std::promise<decltype(f())> p;
  boost::asio::post(io, [&] {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      p.set_value();
    } else {
      p.set_value(f());
    }
  });
  return p.get_future().get();
}

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
