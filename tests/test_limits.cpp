// Resource limits of a program (`limits:`): their spellings, their mistakes at their place, their validation,
// and what a change does on reload. The child that prints its limits is in test_supervisor.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/config.hpp>

#include "config_support.hpp"

using taskmaster::Limit;
using taskmaster::ProgramSpec;
using taskmaster::Resource;
using taskmaster::kUnlimited;

namespace {

using test::showErrors;

std::string withLimits(std::string_view limits) {
  return fmt::format("programs:\n  web:\n    cmd: a\n    limits:\n{}", limits);
}

std::map<Resource, Limit> limitsOf(std::string_view limits) {
  auto result = taskmaster::parseConfig(withLimits(limits), "test.yml");
  INFO(showErrors(result));
  REQUIRE(result.ok());
  REQUIRE(result.config.programs.size() == 1);
  return result.config.programs.front().limits;
}

}  // namespace

TEST_CASE("each resource takes its unit: counts, sizes, seconds, and unlimited") {
  const auto limits = limitsOf(
      "      nofile: 4096\n"
      "      nproc: unlimited\n"
      "      core: 0\n"
      "      as: 1GB\n"
      "      memlock: 64KB\n"
      "      cpu: 1h\n"
      "      fsize: 1048576\n"
      "      stack: {soft: 8MB, hard: Unlimited}\n");
  CHECK(limits.at(Resource::nofile) == Limit{4096, 4096});
  CHECK(limits.at(Resource::nproc) == Limit{kUnlimited, kUnlimited});
  CHECK(limits.at(Resource::core) == Limit{0, 0});
  CHECK(limits.at(Resource::as) == Limit{1ull << 30, 1ull << 30});
  CHECK(limits.at(Resource::memlock) == Limit{64 * 1024, 64 * 1024});
  CHECK(limits.at(Resource::cpu) == Limit{3600, 3600});
  CHECK(limits.at(Resource::fsize) == Limit{1 << 20, 1 << 20});
  CHECK(limits.at(Resource::stack) == Limit{8 << 20, kUnlimited});
  CHECK(limits.size() == 8);
}

TEST_CASE("a mistake in limits is reported at its place, with the resource named") {
  struct Case {
    std::string limits;
    std::string message;
    int line;
    int column;
  };
  const std::vector<Case> cases = {
      {"      nofil: 10\n", "program 'web': limits: unknown resource 'nofil' (did you mean 'nofile'?)", 5, 7},
      {"      rss: 10\n", "limits: unknown resource 'rss' (known: nofile, nproc, core, as, memlock, cpu, fsize, stack)",
       5, 7},
      {"      nofile: lots\n", "limits: nofile: expected a number or unlimited, got 'lots'", 5, 15},
      {"      nofile: 1KB\n", "limits: nofile: expected a number or unlimited, got '1KB'", 5, 15},
      {"      as: 1.5GB\n", "limits: as: expected a size such as 512MB, or unlimited, got '1.5GB'", 5, 11},
      {"      cpu: 1.5\n", "limits: cpu: expected a number of seconds or unlimited, got '1.5'", 5, 12},
      {"      core: -1\n", "limits: core: expected a size such as 512MB, or unlimited", 5, 13},
      {"      nofile: {soft: 10}\n", "limits: nofile: expected both soft and hard", 5, 15},
      {"      nofile: {soft: 10, max: 20}\n", "limits: nofile: unknown key 'max' (expected soft and hard)", 5, 26},
      {"      nofile: {soft: 20, hard: 10}\n", "limits: nofile: the soft limit (20) is above the hard limit (10)", 5,
       7},
      {"      nofile: [1, 2]\n", "limits: nofile: expected a number or unlimited, got a list", 5, 15},
  };
  for (const auto& c : cases) {
    auto result = taskmaster::parseConfig(withLimits(c.limits), "test.yml");
    INFO(c.limits);
    INFO(showErrors(result));
    REQUIRE(result.errors.size() == 1);
    const auto& d = result.errors.front();
    CHECK(d.str().find(c.message) != std::string::npos);
    CHECK(d.line == c.line);
    CHECK(d.column == c.column);
  }
  auto notAMap = taskmaster::parseConfig("programs:\n  web:\n    cmd: a\n    limits: 10\n", "test.yml");
  REQUIRE(notAMap.errors.size() == 1);
  CHECK(notAMap.errors.front().message == "limits: expected a map of resources (nofile, nproc, core...) to limits, got '10'");
}

TEST_CASE("parseLimit and formatLimit write back what they read") {
  CHECK(taskmaster::parseLimit(Resource::nofile, "UNLIMITED") == kUnlimited);
  CHECK(taskmaster::parseLimit(Resource::cpu, "90s") == 90u);
  CHECK_FALSE(taskmaster::parseLimit(Resource::cpu, "1500ms"));
  CHECK_FALSE(taskmaster::parseLimit(Resource::nofile, "18446744073709551615"));  // RLIM_INFINITY in disguise
  CHECK(taskmaster::formatLimit(Resource::as, 1ull << 30) == "1GB");
  CHECK(taskmaster::formatLimit(Resource::nofile, 1024) == "1024");
  CHECK(taskmaster::formatLimit(Resource::stack, kUnlimited) == "unlimited");
  for (int i = 0; i < taskmaster::kResourceCount; ++i) {
    const auto resource = static_cast<Resource>(i);
    CHECK(taskmaster::parseResource(taskmaster::to_string(resource)) == resource);
  }
}

TEST_CASE("a change of limits restarts the program on reload; critical applies live") {
  ProgramSpec before{.name = "web", .cmd = {"a"}};
  ProgramSpec after = before;
  after.limits[Resource::nofile] = {1024, 1024};
  CHECK_FALSE(after.sameProcessAs(before));
  ProgramSpec critical = before;
  critical.critical = true;
  CHECK(critical.sameProcessAs(before));
  auto read = taskmaster::parseConfig("programs:\n  web: {cmd: a, critical: yes}\n", "test.yml");
  REQUIRE(read.ok());
  CHECK(read.config.programs.front().critical);
}
