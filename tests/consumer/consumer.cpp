// A program that uses taskmaster as any other program would: the installed headers only, compiled and linked
// with nothing but what `pkg-config --cflags --libs taskmaster` says. It supervises one process until it is
// RUNNING, shuts down, and prints what it saw, its status through the command language, and that status as
// the control protocol's JSON (which needs Boost.JSON, a dependency the pkg-config file must declare).
#include <chrono>
#include <cstdio>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <taskmaster/taskmaster.hpp>

int main() {
  boost::asio::io_context io;
  taskmaster::Supervisor supervisor(io);
  taskmaster::Service service(supervisor, {});
  std::string running;
  auto sub = supervisor.onStateChange([&](const taskmaster::StateChange& c) {
    if (c.to != taskmaster::ProcessState::running) return;
    running = c.instance;
    supervisor.shutdown([&io] { io.stop(); });
  });
  if (supervisor.add({.name = "sleeper", .cmd = {"sleep", "30"}, .autostart = true,
                      .starttime = std::chrono::milliseconds(0)}))
    return 1;
  io.run();
  const auto report = service.status({});
  if (report.instances.size() != 1) return 1;
  std::printf("%s %s %s\n", running.c_str(), std::string(taskmaster::to_string(report.instances[0].state)).c_str(),
              boost::json::serialize(taskmaster::control::toJson(report.instances[0]).at("state")).c_str());
  return 0;
}
