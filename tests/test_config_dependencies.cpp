// depends_on in the YAML configuration: its forms, its errors at their place, and the writer's round trip.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/config.hpp>

#include "config_support.hpp"

using taskmaster::Condition;
using taskmaster::Config;
using taskmaster::Dependency;
using taskmaster::ProgramSpec;

namespace {

std::vector<std::string> errors(std::string_view yaml) {
  auto result = taskmaster::parseConfig(yaml, "deps.yml");
  std::vector<std::string> out;
  for (const auto& error : result.errors) out.push_back(error.str());
  return out;
}

std::vector<Dependency> dependenciesOf(std::string_view yaml, std::string_view program) {
  auto result = taskmaster::parseConfig(yaml, "deps.yml");
  INFO(test::showErrors(result));
  REQUIRE(result.ok());
  for (const auto& spec : result.config.programs)
    if (spec.name == program) return spec.dependsOn;
  FAIL("no program " << std::string(program));
  return {};
}

}  // namespace

TEST_CASE("depends_on: a list of names (running), or a map of names to conditions, compose's form too") {
  const std::string programs = "  db: {cmd: a}\n  migrate: {cmd: a}\n  cache: {cmd: a}\n";
  CHECK(dependenciesOf("programs:\n" + programs + "  web:\n    cmd: a\n    depends_on: [db, cache]\n", "web") ==
        std::vector<Dependency>{{"db", Condition::running}, {"cache", Condition::running}});
  CHECK(dependenciesOf("programs:\n" + programs +
                           "  web:\n    cmd: a\n    depends_on:\n      db: healthy\n"
                           "      migrate: completed_successfully\n"
                           "      cache: {condition: started}\n",
                       "web") == std::vector<Dependency>{{"db", Condition::healthy},
                                                         {"migrate", Condition::completedSuccessfully},
                                                         {"cache", Condition::started}});
  CHECK(dependenciesOf("programs:\n" + programs + "  web:\n    cmd: a\n    depends_on: {db: completed, cache:}\n",
                       "web") == std::vector<Dependency>{{"db", Condition::completed}, {"cache", Condition::running}});
  CHECK(dependenciesOf("programs:\n" + programs + "  web:\n    cmd: a\n    depends_on: []\n", "web").empty());
}

TEST_CASE("depends_on: unknown names, itself, cycles and bad conditions at their line:column, naming the program") {
  CHECK(errors("programs:\n  db: {cmd: a}\n  web:\n    cmd: a\n    depends_on: [dbb]\n") ==
        std::vector<std::string>{
            "deps.yml:5:18: program 'web': depends_on: unknown program 'dbb' (did you mean 'db'?)"});
  CHECK(errors("programs:\n  web:\n    cmd: a\n    depends_on:\n      - web\n") ==
        std::vector<std::string>{"deps.yml:5:9: program 'web': depends_on: a program cannot depend on itself"});
  CHECK(errors("programs:\n  web:\n    cmd: a\n    depends_on: [api]\n"
               "  api:\n    cmd: a\n    depends_on: {web: running}\n") ==
        std::vector<std::string>{"deps.yml:7:18: program 'api': depends_on: dependency cycle: web -> api -> web"});
  CHECK(errors("programs:\n  db: {cmd: a}\n  web:\n    cmd: a\n    depends_on: {db: helthy}\n") ==
        std::vector<std::string>{
            "deps.yml:5:22: program 'web': depends_on: db: expected started, running, healthy, completed or "
            "completed_successfully, got 'helthy' (did you mean 'healthy'?)"});
  CHECK(errors("programs:\n  db: {cmd: a}\n  web:\n    cmd: a\n    depends_on: {db: {conditions: healthy}}\n") ==
        std::vector<std::string>{
            "deps.yml:5:23: program 'web': depends_on: db: unknown key 'conditions' (expected condition)"});
  CHECK(errors("programs:\n  db: {cmd: a}\n  web:\n    cmd: a\n    depends_on: db\n") ==
        std::vector<std::string>{"deps.yml:5:17: program 'web': depends_on: expected a list of program names, or a "
                                 "map of program names to conditions, got 'db'"});
  CHECK(errors("programs:\n  db: {cmd: a}\n  web:\n    cmd: a\n    depends_on: [db, db]\n") ==
        std::vector<std::string>{"deps.yml:5:22: program 'web': depends_on: 'db' is listed twice"});
}

TEST_CASE("depends_on reads back the same from what taskmaster convert writes") {
  Config config;
  for (auto name : {"db", "migrate", "g:cache"}) config.programs.push_back(ProgramSpec{.name = name, .cmd = {"a"}});
  ProgramSpec list{.name = "api", .cmd = {"a"}, .dependsOn = {{"db"}, {"g:cache"}}};
  ProgramSpec map{.name = "web",
                  .cmd = {"a"},
                  .dependsOn = {{"db", Condition::healthy},
                                {"migrate", Condition::completedSuccessfully},
                                {"api", Condition::running},
                                {"g:cache", Condition::started}}};
  config.programs.push_back(list);
  config.programs.push_back(map);
  const auto text = taskmaster::formatYaml(config, {});
  INFO(text);
  auto read = taskmaster::parseConfig(text, "converted.yml");
  INFO(test::showErrors(read));
  REQUIRE(read.ok());
  CHECK(read.config.programs == config.programs);
  CHECK(text.find("    depends_on:\n      - db\n      - 'g:cache'\n") != std::string::npos);
  CHECK(text.find("      migrate: completed_successfully\n") != std::string::npos);
}
