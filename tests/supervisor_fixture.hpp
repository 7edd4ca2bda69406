// What the tests of a real Supervisor running tm_helper share: a spec of the helper program, and a Supervisor
// on its own io_context whose loop the test runs until a condition holds.
#pragma once

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <taskmaster/program_spec.hpp>
#include <taskmaster/supervisor.hpp>

namespace test {

// The helper program (TM_HELPER, set by meson) with `args`, up after `starttime`, stopped within 2 s.
inline taskmaster::ProgramSpec helperSpec(std::string name, std::vector<std::string> args,
                                          taskmaster::Duration starttime = std::chrono::milliseconds(200)) {
  const char* helper = std::getenv("TM_HELPER");
  REQUIRE_MESSAGE(helper, "TM_HELPER is not set");
  taskmaster::ProgramSpec s;
  s.name = std::move(name);
  s.cmd = {helper};
  s.cmd.insert(s.cmd.end(), args.begin(), args.end());
  s.starttime = starttime;
  s.stoptime = std::chrono::seconds(2);
  return s;
}

// Records every state change; shuts the Supervisor down (waiting for its processes) when destroyed.
class SupervisorFixture {
 public:
  SupervisorFixture() : sub_(sup.onStateChange([this](const taskmaster::StateChange& c) { changes.push_back(c); })) {}
  ~SupervisorFixture() {
    bool done = false;
    sup.shutdown([&] { done = true; });
    runUntil([&] { return done; }, std::chrono::seconds(15));
  }
  SupervisorFixture(const SupervisorFixture&) = delete;
  SupervisorFixture& operator=(const SupervisorFixture&) = delete;

  // Runs the loop until pred() holds; false after `limit`.
  bool runUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.run_one_for(std::chrono::milliseconds(50));
    }
    return true;
  }
  taskmaster::InstanceStatus one(const std::string& target) {
    std::vector<taskmaster::InstanceStatus> out;
    REQUIRE_FALSE(sup.status(target, out));
    REQUIRE(out.size() == 1);
    return out[0];
  }
  bool reaches(const std::string& target, taskmaster::ProcessState s,
               std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    return runUntil([&] { return one(target).state == s; }, limit);
  }

  boost::asio::io_context io;
  taskmaster::Supervisor sup{io};
  std::vector<taskmaster::StateChange> changes;

 private:
  taskmaster::Subscription sub_;
};

}  // namespace test
