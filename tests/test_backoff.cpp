// The restart policy's arithmetic (core/backoff.hpp), table by table.
#include <doctest/doctest.h>

#include <vector>

#include "core/backoff.hpp"

using namespace std::chrono_literals;
using taskmaster::Duration;
using taskmaster::ProgramSpec;
using namespace taskmaster::detail;

namespace {

struct CrashCase {
  const char* name;
  void (*tweak)(ProgramSpec&);
  std::vector<Duration> delays;  // for youngExits 1, 2, 3 ...
};

}  // namespace

TEST_CASE("crashDelay: a burst at once, then a delay growing by the factor to the cap") {
  const CrashCase cases[] = {
      {"the defaults", [](ProgramSpec&) {}, {0s, 0s, 0s, 1s, 2s, 4s, 8s, 16s, 30s, 30s}},
      {"no burst", [](ProgramSpec& s) { s.restartBurst = 0; }, {1s, 2s, 4s, 8s}},
      {"a factor of 1 is a constant delay", [](ProgramSpec& s) { s.restartDelayFactor = 1; }, {0s, 0s, 0s, 1s, 1s, 1s}},
      {"a fractional factor", [](ProgramSpec& s) { s.restartBurst = 1; s.restartDelay = 100ms; s.restartDelayFactor = 1.5; },
       {0ms, 100ms, 150ms, 225ms, 337ms}},
      {"the cap", [](ProgramSpec& s) { s.restartBurst = 0; s.restartDelay = 2s; s.restartDelayMax = 3s; }, {2s, 3s, 3s}},
      {"delay equal to the cap", [](ProgramSpec& s) { s.restartBurst = 0; s.restartDelay = 5s; s.restartDelayMax = 5s; }, {5s, 5s}},
      {"a zero delay turns the policy off", [](ProgramSpec& s) { s.restartDelay = 0ms; }, {0s, 0s, 0s, 0s, 0s, 0s}},
      {"the largest factor", [](ProgramSpec& s) { s.restartBurst = 0; s.restartDelayFactor = 100; s.restartDelayMax = 24h; },
       {1s, 100s, 10000s, 24h, 24h}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    ProgramSpec spec{.name = "web", .cmd = {"web"}};
    c.tweak(spec);
    REQUIRE(spec.validate().empty());
    std::vector<Duration> got;
    for (int n = 1; n <= static_cast<int>(c.delays.size()); ++n) got.push_back(crashDelay(spec, n));
    CHECK(got == c.delays);
  }
}

TEST_CASE("crashDelay stays at the cap however long the loop lasts") {
  ProgramSpec spec;
  for (int n : {100, 1'000, 1'000'000, 2'000'000'000}) CHECK(crashDelay(spec, n) == 30s);
}

TEST_CASE("failedStartDelay: the n-th retry waits n seconds, at most restart_delay_max, never under 1 s") {
  struct Case {
    const char* name;
    Duration cap;
    std::vector<Duration> delays;  // for retries 1, 2, 3 ...
  };
  const Case cases[] = {
      {"the defaults", 30s, {1s, 2s, 3s, 4s}},
      {"a cap of 3 s", 3s, {1s, 2s, 3s, 3s, 3s}},
      {"a cap below 1 s", 200ms, {1s, 1s, 1s}},
      {"a cap that is not whole seconds", 2500ms, {1s, 2s, 2500ms, 2500ms}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    ProgramSpec spec;
    spec.restartDelayMax = c.cap;
    spec.restartDelay = std::min(spec.restartDelay, c.cap);
    std::vector<Duration> got;
    for (int n = 1; n <= static_cast<int>(c.delays.size()); ++n) got.push_back(failedStartDelay(spec, n));
    CHECK(got == c.delays);
  }
  ProgramSpec spec;
  CHECK(failedStartDelay(spec, 1'000'000) == 30s);  // startretries: infinite
}

TEST_CASE("stayedUp: a run of restart_reset_after or more forgives") {
  ProgramSpec spec;
  CHECK_FALSE(stayedUp(spec, 199ms));
  CHECK(stayedUp(spec, 200ms));
  spec.restartResetAfter = 0ms;
  CHECK(stayedUp(spec, 0ms));
}
