// The command language (taskmaster/commands.hpp) through the public API: the table, the typed Service and
// the Interpreter's text and data. No program is ever started (every instance stays STOPPED), but in the
// tests of tail, at the end, which read what real programs write.
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <taskmaster/commands.hpp>
#include <taskmaster/control.hpp>

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

  explicit Fixture(const std::string& text = kTwoPrograms, OutputLog* eventLog = nullptr) {
    writeFile(file, text);
    auto loaded = loadConfig(file.string());
    REQUIRE(loaded.ok());
    service.emplace(supervisor, std::move(loaded.config), eventLog);
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
    while (!reply && io.run_one() > 0) {}  // live children keep the loop busy: stop at the answer
    REQUIRE(reply.has_value());
    return std::move(*reply);
  }

  // Runs the loop until `done` holds, for 10 s at most.
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    io.restart();
    while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
    return done();
  }
};

// The text of a tail or maintail reply.
const OutputTail& outputOf(const CommandReply& reply) {
  const auto* tail = std::get_if<OutputTail>(&reply.data);
  REQUIRE(tail != nullptr);
  return *tail;
}

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
  // tail: a name, then the stream, whatever options come before or between; no word after -n (a number).
  const std::vector<std::string> streams{"stdout", "stderr"};
  CHECK(completeWords({"tail"}, names) == names());
  CHECK(completeWords({"tail", "-f", "-n", "5"}, names) == names());
  CHECK(completeWords({"tail", "-n"}, names).empty());
  CHECK(completeWords({"tail", "web"}, names) == streams);
  CHECK(completeWords({"tail", "-f", "web", "-100"}, names) == streams);
  CHECK(completeWords({"tail", "web", "stderr"}, names).empty());
  CHECK(completeWords({"clear"}, names) == names());
  CHECK(completeWords({"maintail"}, names).empty());
  CHECK(completeWords({"nosuch"}, names).empty());

  Fixture f;
  const auto help = f.run({"help"});
  // Every command a person types; input and resize belong to attach's protocol.
  std::vector<const CommandInfo*> typed;
  for (const auto& c : commandTable())
    if (c.scope != CommandScope::attached) typed.push_back(&c);
  CHECK(typed.size() + 2 == commandTable().size());
  REQUIRE(help.lines.size() == typed.size() + 3);
  for (std::size_t i = 0; i < typed.size(); ++i) CHECK(help.lines[i + 1].starts_with("  " + std::string(typed[i]->usage)));
  CHECK(findCommand("fg")->id == CommandId::attach);
  const auto words = commandNames();
  CHECK(std::ranges::find(words, "input") == words.end());
  CHECK(std::ranges::find(words, "fg") != words.end());
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

TEST_CASE("the details of an instance: waiting in the status text and its JSON, health, and as an event line") {
  const auto now = std::chrono::system_clock::now();
  InstanceStatus waiting;
  waiting.instance = "web";
  waiting.waiting = "waiting for db";
  InstanceStatus healthy;
  healthy.instance = "db";
  healthy.state = ProcessState::running;
  healthy.pid = 12;
  healthy.uptime = std::chrono::seconds(5);
  healthy.health = Health::healthy;
  InstanceStatus sick = healthy;
  sick.instance = "api";
  sick.health = Health::unhealthy;
  sick.healthText = "connection refused";
  sick.statusText = "serving";
  const auto lines = formatStatus({waiting, healthy, sick}, now);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "web    STOPPED    waiting for db");
  CHECK(lines[1] == "db     RUNNING    pid 12, uptime 0:00:05, healthy");
  CHECK(lines[2] == "api    RUNNING    pid 12, uptime 0:00:05, unhealthy: connection refused, status: serving");

  auto json = control::toJson(waiting);
  CHECK(json.at("waiting") == "waiting for db");
  CHECK_FALSE(json.contains("health"));  // details only when set
  auto sickJson = control::toJson(sick);
  CHECK(sickJson.at("health") == "unhealthy");
  CHECK(sickJson.at("health_text") == "connection refused");
  CHECK(sickJson.at("status_text") == "serving");
  CHECK_FALSE(sickJson.contains("waiting"));

  DetailChange change;
  change.kind = DetailChange::Kind::dependencyFailed;
  change.program = change.instance = "web";
  change.text = "dependency db is FATAL";
  const auto line = control::encodeEvent(change);
  REQUIRE(line.ends_with("\n"));
  auto event = boost::json::parse(line).as_object();
  CHECK(event.at("event") == "detail");
  CHECK(event.at("detail") == "dependency_failed");
  CHECK(event.at("text") == "dependency db is FATAL");
  CHECK(event.at("health") == "none");
}

TEST_CASE("tail's arguments: supervisorctl's -BYTES, tail(1)'s -n LINES, -f, the stream; a message for each mistake") {
  auto parse = [](std::vector<std::string> args, bool named = true) { return parseTailArgs(args, named); };
  auto defaults = parse({"web"});
  REQUIRE(defaults);
  CHECK((defaults->name == "web" && defaults->stream == StdStream::out && !defaults->follow));
  CHECK((defaults->size.bytes == 1600 && !defaults->size.lines));
  auto bytes = parse({"-4000", "web:1", "stderr"});
  REQUIRE(bytes);
  CHECK((bytes->size.bytes == 4000 && bytes->stream == StdStream::err && bytes->name == "web:1"));
  auto follow = parse({"-f", "web", "stderr"});
  REQUIRE(follow);
  CHECK((follow->follow && follow->stream == StdStream::err));
  CHECK(parse({"-n", "20", "web"})->size.lines == 20u);
  CHECK(parse({"web", "-n5"})->size.lines == 5u);  // options may follow the name
  CHECK(parse({"-0", "web"})->size.bytes == 0u);
  auto main = parse({"-f", "-n", "3"}, false);
  REQUIRE(main);
  CHECK((main->follow && main->size.lines == 3u && main->name.empty()));

  auto error = [&](std::vector<std::string> args, bool named = true) {
    auto r = parse(std::move(args), named);
    REQUIRE_FALSE(r);
    return r.error().detail;
  };
  CHECK(error({"-n"}) == "-n needs a number of lines: -n 20");
  CHECK(error({"-n", "many", "web"}) == "-n many: not a number of lines");
  CHECK(error({"-100", "-n", "3", "web"}) == "-n: give -BYTES or -n LINES, not both");
  CHECK(error({"-x", "web"}) == "unknown option '-x' (the options are -f, -BYTES and -n LINES)");
  CHECK(error({"-f"}) == "which program? Name one: tail web");
  CHECK(error({"web", "stdin"}) == "'stdin' is not a stream: stdout or stderr");
  CHECK(error({"web", "stdout", "more"}) == "unexpected argument 'more'");
  CHECK(error({"-99999999999999999999999", "web"}).starts_with("unknown option"));
  CHECK(error({"web"}, false) == "unexpected argument 'web': maintail shows the event log");
}

TEST_CASE("tail and maintail refusals: usage errors with the usage, one instance only, no event log") {
  Fixture f;
  auto usage = f.run({"tail", "-n", "x", "web:0"});
  CHECK((usage.usage && !usage.ok));
  CHECK(usage.lines == std::vector<std::string>{"tail: -n x: not a number of lines",
                                                "usage: tail [-f] [-BYTES | -n LINES] NAME [stdout|stderr]"});
  CHECK(usage.errors == std::vector<std::string>{usage.lines.front()});
  CHECK(f.run({"tail"}).lines == std::vector<std::string>{"usage: tail [-f] [-BYTES | -n LINES] NAME [stdout|stderr]"});
  CHECK(f.run({"maintail", "web"}).usage);

  auto several = f.run({"tail", "web"});
  CHECK((!several.ok && !several.usage));
  CHECK(several.lines == std::vector<std::string>{"web has 2 instances: name one of them (web:0, web:1)"});
  CHECK(f.run({"tail", "all"}).lines ==
        std::vector<std::string>{"all has 3 instances: name one of them (web:0, web:1, worker)"});
  CHECK(f.run({"tail", "wbe"}).lines == std::vector<std::string>{"wbe: ERROR (no such program; did you mean 'web'?)"});
  auto service = f.service->output("web", StdStream::out);
  REQUIRE_FALSE(service);
  CHECK(service.error().detail == "web has 2 instances: name one of them (web:0, web:1)");

  auto nolog = f.run({"maintail"});
  CHECK((!nolog.ok && !nolog.usage));
  CHECK(nolog.lines == std::vector<std::string>{"maintail: this taskmaster keeps no event log"});
}

TEST_CASE("maintail shows the end of the event log in bytes or lines, and -f follows it with nothing missed") {
  OutputLog eventLog;
  Fixture f(kTwoPrograms, &eventLog);
  eventLog.append("first line\nsecond line\nthird line\n");
  auto all = f.run({"maintail"});
  REQUIRE(all.ok);
  CHECK(outputOf(all).text == "first line\nsecond line\nthird line\n");
  CHECK(all.lines == std::vector<std::string>{"first line", "second line", "third line"});
  CHECK(outputOf(all).stream == "log");
  CHECK(outputOf(all).name.empty());
  CHECK_FALSE(outputOf(all).follow);
  CHECK(outputOf(f.run({"maintail", "-11"})).text == "third line\n");
  CHECK(outputOf(f.run({"maintail", "-n", "2"})).text == "second line\nthird line\n");
  CHECK(boost::json::serialize(toJson(f.run({"maintail", "-n1"}))) ==
        R"({"name":"","stream":"log","text":"third line\n","follow":false})");

  // What is written between the command and the moment its front end follows is handed over first.
  std::optional<CommandReply> reply;
  f.interpreter->run({"maintail", "-f", "-n", "1"}, {}, [&](CommandReply r) { reply = std::move(r); });
  eventLog.append("written meanwhile\n");
  f.io.restart();
  f.io.run();
  REQUIRE(reply.has_value());
  const auto& tail = outputOf(*reply);
  CHECK(tail.text == "third line\n");
  REQUIRE(tail.follow);
  std::string followed;
  auto subscription = tail.follow([&](std::string_view chunk) { followed += chunk; });
  CHECK(followed == "written meanwhile\n");
  eventLog.append("and later, unfinished");
  CHECK(followed == "written meanwhile\nand later, unfinished");
  CHECK(eventLog.followers() == 1);
  subscription.reset();
  eventLog.append("not followed\n");
  CHECK(followed == "written meanwhile\nand later, unfinished");
  CHECK(eventLog.followers() == 0);

  // A reply never taken unsubscribes when it goes.
  reply = f.run({"maintail", "-f"});
  CHECK(eventLog.followers() == 1);
  reply.reset();
  CHECK(eventLog.followers() == 0);
}

TEST_CASE("tail shows what a program wrote, each stream apart; clear forgets it") {
  Fixture f(
      "programs:\n"
      "  talker:\n"
      "    cmd: /bin/sh -c 'printf \"one\\ntwo\\nthree\"; printf \"oops\\n\" >&2; exec sleep 60'\n"
      "    autostart: true\n"
      "    starttime: 0\n");
  auto written = [&](StdStream stream) { return f.service->output("talker", stream).value()->lastBytes(100); };
  REQUIRE(f.runUntil([&] { return written(StdStream::out) == "one\ntwo\nthree"; }));
  CHECK(f.runUntil([&] { return written(StdStream::err) == "oops\n"; }));

  auto out = f.run({"tail", "talker"});
  REQUIRE(out.ok);
  CHECK(outputOf(out).text == "one\ntwo\nthree");  // exactly: no newline added
  CHECK(outputOf(out).name == "talker");
  CHECK(outputOf(out).stream == "stdout");
  CHECK(out.lines == std::vector<std::string>{"one", "two", "three"});
  CHECK(outputOf(f.run({"tail", "-5", "talker"})).text == "three");
  CHECK(outputOf(f.run({"tail", "-n", "2", "talker"})).text == "two\nthree");
  CHECK(outputOf(f.run({"tail", "talker", "stderr"})).text == "oops\n");

  auto cleared = f.run({"clear", "talker", "nosuch"});
  CHECK_FALSE(cleared.ok);
  CHECK(cleared.lines == std::vector<std::string>{"talker: cleared", "nosuch: ERROR (no such program)"});
  CHECK(outputOf(f.run({"tail", "talker"})).text.empty());
  CHECK(outputOf(f.run({"tail", "talker", "stderr"})).text.empty());
  bool down = false;
  f.supervisor.shutdown([&] { down = true; });
  CHECK(f.runUntil([&] { return down; }));
}

TEST_CASE("tail -f follows a program from its start across the rotations of its file, nothing lost or repeated") {
  test::TempDir logs;
  const auto file = (logs.path / "counter.log").string();
  Fixture f(fmt::format(
      "programs:\n"
      "  counter:\n"
      "    cmd: /bin/sh -c 'i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; exec sleep 60'\n"
      "    starttime: 0\n"
      "    stdout: {}\n"
      "    stdout_maxbytes: 300\n"
      "    stdout_backups: 2\n",
      file));
  auto reply = f.run({"tail", "-f", "counter"});  // before it runs: nothing yet, then everything
  REQUIRE(reply.ok);
  CHECK(outputOf(reply).text.empty());
  std::string followed;
  auto following = outputOf(reply).follow([&](std::string_view chunk) { followed += chunk; });
  f.service->start({"counter"}, [](ActionReport) {});
  std::string expected;
  for (int i = 0; i < 200; ++i) expected += fmt::format("line {}\n", i);
  CHECK(f.runUntil([&] { return followed.size() >= expected.size(); }));
  CHECK(followed == expected);
  CHECK(std::filesystem::exists(file + ".1"));  // it did rotate, more than once
  CHECK(std::filesystem::exists(file + ".2"));
  CHECK_FALSE(std::filesystem::exists(file + ".3"));
  bool down = false;
  f.supervisor.shutdown([&] { down = true; });
  CHECK(f.runUntil([&] { return down; }));
}
