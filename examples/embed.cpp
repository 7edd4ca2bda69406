// A minimal embedding: supervise two programs, print every state change, stop after a few seconds.
#include <taskmaster/taskmaster.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

using namespace std::chrono_literals;

int main() {
  boost::asio::io_context io;
  taskmaster::Supervisor supervisor(io);

  auto subscription = supervisor.onStateChange([](const taskmaster::StateChange& c) {
    fmt::print("{} {} -> {} pid {}{}{}\n", c.instance, to_string(c.from), to_string(c.to), c.pid,
               c.reason.empty() ? "" : ": ", c.reason);
  });

  // Designated initializers: everything not named keeps the seed's defaults.
  (void)supervisor.add({.name = "sleeper", .cmd = {"sleep", "30"}, .numprocs = 2, .autostart = true,
                        .starttime = 200ms});
  (void)supervisor.add({.name = "crasher", .cmd = {"sh", "-c", "exit 3"}, .autostart = true,
                        .starttime = 200ms, .startretries = 1});

  boost::asio::steady_timer timer(io, 3s);
  timer.async_wait([&](auto) {
    for (const auto& s : supervisor.status())
      fmt::print("status: {} {} pid {} restarts {}\n", s.instance, to_string(s.state), s.pid, s.restarts);
    supervisor.shutdown([] { fmt::print("all stopped\n"); });
  });
  io.run();  // returns when nothing is left to do: every process stopped and reaped

  for (const auto& s : supervisor.status())
    if (s.state != taskmaster::ProcessState::stopped && s.state != taskmaster::ProcessState::fatal) return 1;
  return 0;
}
