// The command language (taskmaster/commands.hpp) through the public API: the table, the typed Service and
// the Interpreter's text and data. No program is ever started: every instance stays STOPPED.
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>
#include <taskmaster/commands.hpp>

#include "support.hpp"

namespace {
using namespace taskmaster;

void writeFile(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

const char* const kTwoPrograms =
    "programs:\n"
    "  web:\n    cmd: /bin/true\n    numprocs: 2\n"
    "  worker:\n    cmd: /bin/true\n";

// A supervisor of the configuration in `text`, its Service and Interpreter, and what the Interpreter logged.
struct Fixture {
  test::TempDir dir;
  std::filesystem::path file = dir.path / "taskmaster.yml";
  boost::asio::io_context io;
  Supervisor supervisor{io};
  std::optional<Service> service;
  std::optional<Interpreter> interpreter;
  std::vector<std::string> logged;

  explicit Fixture(const std::string& text = kTwoPrograms) {
    writeFile(file, text);
    auto loaded = loadConfig(file.string());
    REQUIRE(loaded.ok());
    service.emplace(supervisor, std::move(loaded.config));
    (void)service->apply();
    interpreter.emplace(*service, [this](LogLevel level, std::string_view m) {
      logged.push_back(std::string(to_string(level)) + " " + std::string(m));
    });
  }

  // Runs `words` to its answer; the answer never comes from inside run().
  CommandReply run(std::vector<std::string> words, RunContext context = {}) {
    std::optional<CommandReply> reply;
    interpreter->run(words, context, [&](CommandReply r) { reply = std::move(r); });
    CHECK_FALSE(reply.has_value());
    io.restart();
    io.run();
    REQUIRE(reply.has_value());
    return std::move(*reply);
  }
};

}  // namespace

TEST_CASE("the command table is the one list: lookup, help, completion") {
  for (const auto& c : commandTable()) {
    CHECK(findCommand(c.name) == &c);
    CHECK(c.usage.starts_with(c.name));
    CHECK(c.minArgs <= c.maxArgs);
  }
  CHECK(findCommand("exit")->id == CommandId::quit);
  CHECK(findCommand("stauts") == nullptr);
  CHECK(unknownCommandMessage("stauts") == "unknown command 'stauts' (did you mean 'status'?)");
  CHECK(unknownCommandMessage("xyzzy") == "unknown command 'xyzzy'");

  const auto names = [] { return std::vector<std::string>{"all", "web"}; };
  CHECK(completeWords({}, names) == commandNames());
  CHECK(completeWords({"help"}, names) == commandNames());
  CHECK(completeWords({"stop"}, names) == names());
  CHECK(completeWords({"signal"}, names).front() == "HUP");
  CHECK(completeWords({"signal", "HUP"}, names) == names());
  CHECK(completeWords({"version"}, names).empty());
  CHECK(completeWords({"help", "stop"}, names).empty());  // help takes one word
  CHECK(completeWords({"nosuch"}, names).empty());

  Fixture f;
  const auto help = f.run({"help"});
  REQUIRE(help.lines.size() == commandTable().size() + 3);
  for (std::size_t i = 0; i < commandTable().size(); ++i)
    CHECK(help.lines[i + 1].starts_with("  " + std::string(commandTable()[i].usage)));
  CHECK(f.run({"help", "stop"}).lines.front() == "usage: stop NAME...");
  CHECK(f.run({"help", "stpo"}).lines == std::vector<std::string>{"no command 'stpo' (did you mean 'stop'?)"});
}

TEST_CASE("status resolves names, and an unknown one comes with the closest existing name") {
  Fixture f;
  auto report = f.service->status({"web", "wrker", "web:1", "zzzzzz"});
  REQUIRE(report.instances.size() == 3);
  CHECK(report.instances[0].instance == "web:0");
  CHECK(report.instances[2].instance == "web:1");
  REQUIRE(report.unknown.size() == 2);
  CHECK(report.unknown[0].name == "wrker");
  CHECK(report.unknown[0].suggestion == "worker");
  CHECK_FALSE(report.unknown[1].suggestion.has_value());
  CHECK(f.service->status({}).instances.size() == 3);
  CHECK(f.service->targetNames() == std::vector<std::string>{"all", "web", "web:0", "web:1", "worker"});

  const auto reply = f.run({"status", "worker", "wbe"}, {.source = "socket", .colour = false, .shell = false});
  CHECK_FALSE(reply.ok);
  REQUIRE(reply.lines.size() == 2);
  CHECK(reply.lines[0].starts_with("worker    STOPPED    not started"));
  CHECK(reply.lines[1] == "wbe: ERROR (no such program; did you mean 'web'?)");
  CHECK(reply.errors == std::vector<std::string>{reply.lines[1]});
  const auto data = toJson(reply);
  REQUIRE(data.is_array());
  CHECK(data.as_array().size() == 1);
  CHECK(data.as_array()[0].at("state") == "STOPPED");
  CHECK(f.logged == std::vector<std::string>{"info command from socket: status worker wbe",
                                             "warn command from socket failed: status worker wbe: " + reply.lines[1]});
}

TEST_CASE("stop answers per instance, in the order of the names, an unknown name in its place") {
  Fixture f;
  const auto reply = f.run({"stop", "worker", "nosuch", "web"});
  CHECK_FALSE(reply.ok);
  CHECK(reply.lines == std::vector<std::string>{"worker: not running", "nosuch: ERROR (no such program)",
                                                "web:0: not running", "web:1: not running"});
  CHECK(boost::json::serialize(toJson(reply)) ==
        R"([{"instance":"worker","ok":true,"message":"not running"},)"
        R"({"instance":"nosuch","ok":false,"message":"no such program"},)"
        R"({"instance":"web:0","ok":true,"message":"not running"},)"
        R"({"instance":"web:1","ok":true,"message":"not running"}])");
}

TEST_CASE("pid and signal: a bare number for one instance, an error for one that is not running") {
  Fixture f;
  CHECK(f.run({"pid", "worker"}).lines == std::vector<std::string>{"0"});
  const auto several = f.run({"pid", "web"});
  CHECK(several.lines == std::vector<std::string>{"web:0 0", "web:1 0"});
  CHECK(boost::json::serialize(toJson(several)) == R"({"web:0":0,"web:1":0})");
  CHECK(toJson(f.run({"pid"})).as_int64() == Service::ownPid());

  const auto sent = f.run({"signal", "usr1", "worker", "wokrer"});
  CHECK(sent.lines == std::vector<std::string>{"worker: ERROR (not running)",
                                               "wokrer: ERROR (no such program; did you mean 'worker'?)"});
  CHECK(f.run({"signal", "NOPE", "worker"}).lines == std::vector<std::string>{"unknown signal 'NOPE'"});
  const auto report = f.service->signal(10, {"web"});
  CHECK_FALSE(report.ok());
  CHECK(report.results.size() == 2);
}

TEST_CASE("wrong commands are usage errors; quit is refused outside a shell, without a line to print") {
  Fixture f;
  auto unknown = f.run({"stauts"});
  CHECK((unknown.usage && !unknown.ok));
  CHECK(unknown.lines == std::vector<std::string>{"unknown command 'stauts' (did you mean 'status'?); type 'help' for the list"});
  CHECK(f.run({"start"}).lines == std::vector<std::string>{"usage: start NAME..."});
  CHECK(f.run({"reload", "now"}).usage);

  const RunContext socket{.source = "socket", .colour = false, .shell = false};
  auto quit = f.run({"exit"}, socket);
  CHECK((quit.usage && !quit.ok && !quit.quit && quit.lines.empty()));
  CHECK(quit.errors == std::vector<std::string>{"'exit' ends a shell; 'shutdown' stops taskmaster"});
  CHECK(f.run({"quit"}).quit);
  auto shutdown = f.run({"shutdown"}, socket);
  CHECK((shutdown.quit && shutdown.ok));
  CHECK(toJson(f.run({"version"})).as_string() == Service::version());
  // events is a stream the control server answers itself: an interpreter, in a shell or not, says where it is.
  for (const auto& context : {RunContext{}, socket}) {
    auto events = f.run({"events"}, context);
    CHECK((events.usage && !events.ok));
    CHECK(events.lines == std::vector<std::string>{"'events' follows the control socket: run 'taskmaster ctl events'"});
  }
}

TEST_CASE("reload keeps the running configuration when the file is invalid, and applies a valid one") {
  Fixture f;
  writeFile(f.file, "programs:\n  web:\n    cmd: /bin/true\n    numprocs: lots\n");
  auto failed = f.run({"reload"});
  CHECK_FALSE(failed.ok);
  REQUIRE(failed.lines.size() == 2);
  CHECK(failed.lines[0].find("numprocs") != std::string::npos);
  CHECK(failed.lines[1] == "reload failed: 1 problem in " + f.file.string() + "; nothing changed");
  CHECK(toJson(failed).is_null());
  CHECK(f.service->config().programs.size() == 2);
  CHECK(f.supervisor.instanceNames().size() == 3);

  writeFile(f.file, "programs:\n  worker:\n    cmd: /bin/true\n  extra:\n    cmd: /bin/true\n");
  auto report = f.service->reload();
  REQUIRE(report.ok());
  CHECK(report.applied.added == std::vector<std::string>{"extra"});
  CHECK(report.applied.removed == std::vector<std::string>{"web"});
  CHECK(report.applied.unchanged == std::vector<std::string>{"worker"});
  CHECK(f.service->config().programs.size() == 2);
  CHECK(describe(report.applied) == std::vector<std::string>{"added: extra", "removed: web", "unchanged: worker"});
}

TEST_CASE("the status text says when an exit's status is unknown, and 'not started' only when nothing ran") {
  const auto now = std::chrono::system_clock::now();
  taskmaster::InstanceStatus ran;
  ran.instance = "web";
  ran.state = taskmaster::ProcessState::exited;
  ran.lastExitTime = now - std::chrono::seconds(5);  // it exited, but someone else took its status
  taskmaster::InstanceStatus never;
  never.instance = "db";
  const auto lines = taskmaster::formatStatus({ran, never}, now);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("exit status unknown") != std::string::npos);
  CHECK(lines[1].ends_with("not started"));
}
