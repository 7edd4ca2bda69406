// supervisord's XML-RPC methods (taskmaster/xmlrpc.hpp): the codec on its own, then the Interface over a real
// Supervisor running tm_helper, answering as supervisord 4.2.5 does (its structures, fault codes and strings).
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <taskmaster/commands.hpp>
#include <taskmaster/xmlrpc.hpp>

#include "support.hpp"
#include "xmlrpc/names.hpp"
#include "xmlrpc/value.hpp"

namespace {
using namespace taskmaster;
using namespace taskmaster::xmlrpc::detail;

std::string helper() {
  const char* h = std::getenv("TM_HELPER");
  REQUIRE_MESSAGE(h, "TM_HELPER is not set");
  return h;
}

void writeFile(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

// A Supervisor of the YAML in `text`, its Service and an Interface over it; call() is a client's round trip.
struct Fixture {
  test::TempDir dir;
  std::filesystem::path file = dir.path / "taskmaster.yml";
  boost::asio::io_context io;
  Supervisor supervisor{io};
  std::optional<Service> service;
  std::optional<xmlrpc::Interface> interface;
  int shutdowns = 0;
  int restarts = 0;

  // "{dir}" in `text` is the fixture's directory.
  explicit Fixture(std::string text, OutputLog* eventLog = nullptr) {
    for (std::size_t at; (at = text.find("{dir}")) != std::string::npos;) text.replace(at, 5, dir.path.string());
    writeFile(file, text);
    auto loaded = loadConfig(file.string());
    REQUIRE_MESSAGE(loaded.ok(), (loaded.errors.empty() ? "" : loaded.errors.front().str()));
    service.emplace(supervisor, std::move(loaded.config), eventLog);
    (void)service->apply();
    interface.emplace(*service, xmlrpc::InterfaceHooks{[this] { ++shutdowns; }, [this] { ++restarts; }});
  }
  ~Fixture() {
    interface.reset();
    supervisor.shutdown();
    io.restart();
    io.run_for(std::chrono::seconds(5));
  }

  // The raw answer to `body`; it never comes from inside call().
  std::string raw(std::string_view body) {
    std::optional<std::string> answer;
    interface->call(body, [&](std::string a) { answer = std::move(a); });
    CHECK_FALSE(answer.has_value());
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!answer && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
    REQUIRE(answer.has_value());
    return std::move(*answer);
  }

  Expected<Value, Fault> call(std::string method, std::vector<Value> params = {}) {
    auto answer = decodeResponse(raw(encodeCall(MethodCall{std::move(method), std::move(params)})));
    return answer;
  }

  Value ok(std::string method, std::vector<Value> params = {}) {
    auto answer = call(method, std::move(params));
    REQUIRE_MESSAGE(answer.ok(), method << ": " << (answer ? "" : answer.error().text));
    return *answer;
  }

  Fault fault(std::string method, std::vector<Value> params = {}) {
    auto answer = call(method, std::move(params));
    REQUIRE_MESSAGE(!answer.ok(), method << " did not fault");
    return answer.error();
  }

  // Runs the loop until `done` holds, for 10 s at most.
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    io.restart();
    while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
    return done();
  }

  ProcessState state(const std::string& instance) {
    auto report = service->status({instance});
    REQUIRE(report.instances.size() == 1);
    return report.instances.front().state;
  }
};

std::string text(const Value& v, std::string_view member) {
  const Value* m = v.member(member);
  REQUIRE_MESSAGE(m, "no member " << member);
  CHECK(m->kind == Value::Kind::string);
  return m->text;
}

std::int64_t number(const Value& v, std::string_view member) {
  const Value* m = v.member(member);
  REQUIRE_MESSAGE(m, "no member " << member);
  CHECK(m->kind == Value::Kind::integer);
  return m->integer;
}

std::string programs(const std::string& body) { return "programs:\n" + body; }

Value resultEntryFor(std::string group, std::string name, int status, std::string description) {
  return structure({{"name", string(std::move(name))}, {"group", string(std::move(group))},
                    {"status", integer(status)}, {"description", string(std::move(description))}});
}

std::string program(const std::string& name, const std::string& args, const std::string& more = "") {
  return fmt::format("  {}:\n    cmd: {} {}\n    starttime: 300ms\n    stoptime: 2s\n{}", name, helper(), args, more);
}

}  // namespace

// --- the codec ------------------------------------------------------------------------------------

TEST_CASE("the decoder reads every type supervisorctl and xmlrpc.client send") {
  const auto call = decodeCall(
      "<?xml version='1.0'?><methodCall><methodName> supervisor.x </methodName><params>"
      "<param><value><string>a &amp; b</string></value></param>"
      "<param><value>bare</value></param>"
      "<param><value><string/></value></param>"
      "<param><value><int>-12</int></value></param>"
      "<param><value><i4>7</i4></value></param>"
      "<param><value><boolean>1</boolean></value></param>"
      "<param><value><double>1.5</double></value></param>"
      "<param><value><base64>aGk=</base64></value></param>"
      "<param><value><array><data><value><int>1</int></value><value>x</value></data></array></value></param>"
      "<param><value><struct><member><name>k</name><value><boolean>0</boolean></value></member></struct></value></param>"
      "<param><value><nil/></value></param>"
      "<param><value><dateTime.iso8601>20261206T20:00:00</dateTime.iso8601></value></param>"
      "</params></methodCall>");
  REQUIRE(call.ok());
  CHECK(call->name == "supervisor.x");
  const auto& p = call->params;
  REQUIRE(p.size() == 12);
  CHECK(p[0] == string("a & b"));
  CHECK(p[1] == string("bare"));
  CHECK(p[2] == string(""));
  CHECK(p[3] == integer(-12));
  CHECK(p[4] == integer(7));
  CHECK(p[5] == boolean(true));
  CHECK(p[6].kind == Value::Kind::real);
  CHECK(p[6].real == 1.5);
  CHECK(p[7].kind == Value::Kind::binary);
  CHECK(p[7].text == "hi");
  CHECK(p[8] == array({integer(1), string("x")}));
  CHECK(p[9] == structure({{"k", boolean(false)}}));
  CHECK(p[10].kind == Value::Kind::nil);
  CHECK(p[11].text == "20261206T20:00:00");
  // No <params>: no arguments.
  const auto bare = decodeCall("<methodCall><methodName>system.listMethods</methodName></methodCall>");
  REQUIRE(bare.ok());
  CHECK(bare->params.empty());
}

TEST_CASE("malformed requests are faults that say what is wrong; a DOCTYPE is refused before anything is expanded") {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"", "no element found"},
      {"<methodCall><methodName>x</methodName>", "no element found"},
      {"<methodCall><params/></methodCall>", "no <methodName>"},
      {"<notACall/>", "<notACall> where a <methodCall> was expected"},
      {"<methodCall><methodName>x</methodName><params><param><value><int>z</int></value></param></params></methodCall>",
       "<int>: not an integer: 'z'"},
      {"<methodCall><methodName>x</methodName><params><param><value><boolean>2</boolean></value></param></params>"
       "</methodCall>",
       "<boolean>: not 0 or 1"},
      {"<methodCall><methodName>x</methodName><params><param><value><foo>1</foo></value></param></params></methodCall>",
       "unknown value type <foo>"},
      {"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>"
       "<methodCall><methodName>&lol2;</methodName></methodCall>",
       "a DOCTYPE is not accepted"},
      {"<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><methodCall><methodName>x</methodName></methodCall>",
       "a DOCTYPE is not accepted"},
      {"<methodCall><methodName>&xxe;</methodName></methodCall>", "undefined entity"},
  };
  for (const auto& entry : bad) {  // no structured binding: INFO captures it, which clang 14 refuses
    const std::string& body = entry.first;
    const std::string& why = entry.second;
    const auto call = decodeCall(body);
    REQUIRE_MESSAGE(!call.ok(), body);
    CHECK(call.error().code == FaultCode::incorrectParameters);
    CHECK_MESSAGE(call.error().text.find(why) != std::string::npos, body << " -> " << call.error().text);
  }
}

TEST_CASE("the decoder bounds the size, the nesting and the number of elements") {
  const DecodeLimits limits{.maxBytes = 4096, .maxDepth = 16, .maxElements = 100};
  std::string deep = "<methodCall><methodName>x</methodName><params><param>";
  for (int i = 0; i < 20; ++i) deep += "<value><array><data>";
  const auto nested = decodeCall(deep, limits);
  REQUIRE_FALSE(nested.ok());
  CHECK(nested.error().text == "INCORRECT_PARAMETERS: nested deeper than 16");

  std::string many = "<methodCall><methodName>x</methodName><params>";
  for (int i = 0; i < 60; ++i) many += "<param><value>a</value></param>";
  const auto wide = decodeCall(many + "</params></methodCall>", limits);
  REQUIRE_FALSE(wide.ok());
  CHECK(wide.error().text == "INCORRECT_PARAMETERS: more than 100 elements");

  const auto big = decodeCall(std::string(5000, ' '), limits);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().text == "INCORRECT_PARAMETERS: request larger than 4096 bytes");
}

TEST_CASE("the encoder escapes markup and replaces what XML 1.0 cannot carry, so that any output reaches the client") {
  // ESC, NUL and a bare 0xFF byte, as a program may write them: each becomes U+FFFD; tabs and newlines stay.
  const std::string log = std::string("\x1b[31mred\x1b[0m <b>&amp;</b>\t\n") + '\0' + "\xff" + "\xef\xbf\xbf end";
  const auto body = encodeResponse(string(log));
  CHECK(body.find("\x1b") == std::string::npos);
  CHECK(body.find('\0') == std::string::npos);
  CHECK(body.find("&lt;b&gt;&amp;amp;&lt;/b&gt;") != std::string::npos);
  const auto back = decodeResponse(body);
  REQUIRE(back.ok());
  CHECK(back->text == "\xEF\xBF\xBD[31mred\xEF\xBF\xBD[0m <b>&amp;</b>\t\n\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end");
  // Every type survives the round trip; a fault keeps its bare code.
  const Value all = structure({{"i", integer(-5)}, {"big", integer(5'000'000'000)}, {"b", boolean(true)},
                               {"a", array({string("x"), array()})}, {"s", structure({})}});
  const auto round = decodeResponse(encodeResponse(all));
  REQUIRE(round.ok());
  CHECK(*round == all);
  const auto fault = decodeResponse(encodeFault(Fault(FaultCode::badName, "web:9")));
  REQUIRE_FALSE(fault.ok());
  CHECK(fault.error().code == FaultCode::badName);
  CHECK(fault.error().text == "BAD_NAME: web:9");
}

// --- the methods ----------------------------------------------------------------------------------

TEST_CASE("getVersion is 3.0, unknown methods are UNKNOWN_METHOD, a wrong count INCORRECT_PARAMETERS") {
  Fixture f(programs(program("web", "--forever")));
  CHECK(f.ok("supervisor.getVersion") == string("3.0"));
  CHECK(f.ok("supervisor.getAPIVersion") == string("3.0"));
  CHECK(f.ok("supervisor.getSupervisorVersion") == string("4.2.5"));
  CHECK(f.ok("supervisor.getIdentification") == string("supervisor"));
  CHECK(f.ok("supervisor.getState") == structure({{"statecode", integer(1)}, {"statename", string("RUNNING")}}));
  CHECK(f.ok("supervisor.getPID") == integer(::getpid()));
  for (const auto* name : {"supervisor.nothing", "nothing", "supervisor._update", "a.b.c", "supervisor.getState.x"}) {
    const auto fault = f.fault(name);
    CHECK(fault.code == FaultCode::unknownMethod);
    CHECK(fault.text == "UNKNOWN_METHOD");
  }
  const auto count = f.fault("supervisor.getState", {integer(1)});
  CHECK(count.code == FaultCode::incorrectParameters);
  CHECK(count.text == "INCORRECT_PARAMETERS");
  // A parameter of the wrong type is a fault, never anything worse.
  for (const auto* method : {"supervisor.readProcessStdoutLog", "supervisor.tailProcessStderrLog"})
    CHECK(f.fault(method, {array(), integer(0), integer(0)}).code == FaultCode::incorrectParameters);
  for (const auto* method : {"supervisor.getProcessInfo", "supervisor.startProcess", "supervisor.stopProcess",
                             "supervisor.clearProcessLogs", "supervisor.addProcessGroup", "system.methodHelp"})
    CHECK(f.call(method, {structure({})}).error().code != FaultCode::success);
  CHECK(f.fault("supervisor.readProcessStdoutLog", {string("web"), string("x"), integer(0)}).code ==
        FaultCode::incorrectParameters);
  const auto malformed = decodeResponse(f.raw("<methodCall>"));
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.error().code == FaultCode::incorrectParameters);
}

TEST_CASE("getAllProcessInfo: supervisord's 14 keys, sorted by group and name, a YAML program's instances as a group") {
  Fixture f(programs(program("zeta", "--forever") + program("web", "--forever", "    numprocs: 2\n") +
                     program("g:b", "--forever") + program("g:a", "--forever")));
  const auto all = f.ok("supervisor.getAllProcessInfo");
  REQUIRE(all.items.size() == 5);
  std::vector<std::string> names;
  for (const auto& info : all.items) names.push_back(text(info, "group") + " " + text(info, "name"));
  CHECK(names == std::vector<std::string>{"g a", "g b", "web 0", "web 1", "zeta zeta"});
  const auto& zeta = all.items[4];
  CHECK(zeta.names == std::vector<std::string>{"name", "group", "start", "stop", "now", "state", "statename", "spawnerr",
                                               "exitstatus", "logfile", "stdout_logfile", "stderr_logfile", "pid",
                                               "description"});
  CHECK(number(zeta, "state") == 0);
  CHECK(text(zeta, "statename") == "STOPPED");
  CHECK(text(zeta, "description") == "Not started");
  CHECK(number(zeta, "start") == 0);
  CHECK(number(zeta, "pid") == 0);
  CHECK(std::abs(number(zeta, "now") - std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch()).count()) < 5);
  const auto one = f.ok("supervisor.getProcessInfo", {string("web:1")});
  CHECK(text(one, "group") == "web");
  CHECK(text(one, "name") == "1");
  CHECK(f.ok("supervisor.getProcessInfo", {string("zeta")}) == f.ok("supervisor.getProcessInfo", {string("zeta:zeta")}));
  for (const auto* bad : {"web", "web:*", "web:7", "nope", "g:"}) {
    const auto fault = f.fault("supervisor.getProcessInfo", {string(bad)});
    CHECK(fault.code == FaultCode::badName);
    CHECK(fault.text == std::string("BAD_NAME: ") + bad);
  }
}

TEST_CASE("startProcess waits until RUNNING, stopProcess until stopped; their faults are supervisord's") {
  Fixture f(programs(program("web", "--forever")));
  CHECK(f.ok("supervisor.startProcess", {string("web")}) == boolean(true));
  CHECK(f.state("web") == ProcessState::running);
  const auto info = f.ok("supervisor.getProcessInfo", {string("web")});
  CHECK(text(info, "statename") == "RUNNING");
  CHECK(number(info, "pid") > 0);
  CHECK(text(info, "description").starts_with(fmt::format("pid {}, uptime 0:00:0", number(info, "pid"))));
  const auto again = f.fault("supervisor.startProcess", {string("web")});
  CHECK(again.code == FaultCode::alreadyStarted);
  CHECK(again.text == "ALREADY_STARTED: web");

  CHECK(f.ok("supervisor.stopProcess", {string("web")}) == boolean(true));
  CHECK(f.state("web") == ProcessState::stopped);
  const auto stopped = f.fault("supervisor.stopProcess", {string("web"), boolean(true)});
  CHECK(stopped.text == "NOT_RUNNING: web");
  const auto unknown = f.fault("supervisor.stopProcess", {string("nope")});
  CHECK(unknown.text == "BAD_NAME: nope");
  const auto info2 = f.ok("supervisor.getProcessInfo", {string("web")});
  CHECK(text(info2, "statename") == "STOPPED");
  CHECK(text(info2, "description") != "Not started");
  CHECK(number(info2, "stop") >= number(info2, "start"));
}

TEST_CASE("a start that fails is SPAWN_ERROR, a missing command NO_FILE; the info says why as supervisord does") {
  Fixture f(programs(program("quick", "--exit 3", "    startretries: 0\n") +
                     "  missing:\n    cmd: /nonexistent/x\n  searched:\n    cmd: no-such-command-here\n"
                     "  dir:\n    cmd: /tmp\n"));
  const auto spawn = f.fault("supervisor.startProcess", {string("quick")});
  CHECK(spawn.code == FaultCode::spawnError);
  CHECK(spawn.text == "SPAWN_ERROR: quick");
  const auto info = f.ok("supervisor.getProcessInfo", {string("quick")});
  CHECK(text(info, "statename") == "FATAL");
  CHECK(number(info, "state") == 200);
  CHECK(text(info, "spawnerr") == "Exited too quickly (process log may have details)");
  CHECK(text(info, "description") == "Exited too quickly (process log may have details)");
  CHECK(number(info, "exitstatus") == 0);

  CHECK(f.fault("supervisor.startProcess", {string("missing")}).text == "NO_FILE: can't find command '/nonexistent/x'");
  CHECK(f.fault("supervisor.startProcess", {string("searched")}).text ==
        "NO_FILE: can't find command 'no-such-command-here'");
  const auto dir = f.fault("supervisor.startProcess", {string("dir")});
  CHECK(dir.code == FaultCode::notExecutable);
  CHECK(dir.text == "NOT_EXECUTABLE: command at '/tmp' is a directory");
  CHECK(f.state("missing") == ProcessState::stopped);  // refused before any spawn
}

TEST_CASE("a program that cannot be spawned at all says so in supervisord's words") {
  Fixture f(programs("  auto:\n    cmd: /nonexistent/auto\n    autostart: true\n    startretries: 0\n"));
  CHECK(f.runUntil([&] { return f.state("auto") == ProcessState::fatal; }));
  const auto info = f.ok("supervisor.getProcessInfo", {string("auto")});
  CHECK(text(info, "spawnerr") == "can't find command '/nonexistent/auto'");
  CHECK(text(info, "description") == "can't find command '/nonexistent/auto'");
}

TEST_CASE("the group and all operations: one entry per member that passes the filter, faults in their entries") {
  Fixture f(programs(program("g:a", "--forever") + program("g:b", "--exit 1", "    startretries: 0\n") +
                     "  g:c:\n    cmd: /nonexistent/c\n" + program("solo", "--forever")));
  const auto started = f.ok("supervisor.startProcessGroup", {string("g")});
  // The fault that comes at once first, then the waits as they end: b fails long before a is up.
  CHECK(started == array({structure({{"name", string("c")}, {"group", string("g")}, {"status", integer(20)},
                                     {"description", string("NO_FILE: can't find command '/nonexistent/c'")}}),
                          structure({{"name", string("b")}, {"group", string("g")}, {"status", integer(50)},
                                     {"description", string("SPAWN_ERROR: g:b")}}),
                          structure({{"name", string("a")}, {"group", string("g")}, {"status", integer(80)},
                                     {"description", string("OK")}})}));
  // Started ones are left out; startProcess("g:*") is the group's call.
  const auto again = f.ok("supervisor.startProcess", {string("g:*")});
  REQUIRE(again.items.size() == 2);
  CHECK(text(again.items[0], "name") == "c");  // at once
  CHECK(text(again.items[1], "name") == "b");  // once its start has failed again
  CHECK(f.fault("supervisor.startProcessGroup", {string("nope")}).text == "BAD_NAME: nope");
  CHECK(f.fault("supervisor.startProcess", {string("nope:*")}).text == "BAD_NAME: nope:*");

  // Without waiting: OK at once, the start goes on.
  const auto quick = f.ok("supervisor.startAllProcesses", {boolean(false)});
  std::vector<std::string> entries;
  for (const auto& e : quick.items) entries.push_back(text(e, "name") + "=" + std::to_string(number(e, "status")));
  CHECK(entries == std::vector<std::string>{"b=80", "c=20", "solo=80"});
  CHECK(f.runUntil([&] { return f.state("solo") == ProcessState::running; }));

  const auto stopped = f.ok("supervisor.stopAllProcesses");
  entries.clear();
  for (const auto& e : stopped.items) entries.push_back(text(e, "group") + ":" + text(e, "name"));
  CHECK(entries == std::vector<std::string>{"g:a", "solo:solo"});
  CHECK(f.ok("supervisor.stopProcessGroup", {string("g")}) == array());
}

TEST_CASE("signals: a name or a number, BAD_SIGNAL, NOT_RUNNING, a group's entries") {
  Fixture f(programs(program("w", "--forever", "    numprocs: 2\n") + program("idle", "--forever")));
  CHECK(f.ok("supervisor.startProcess", {string("w:0")}) == boolean(true));
  CHECK(f.ok("supervisor.signalProcess", {string("w:0"), string("CONT")}) == boolean(true));
  CHECK(f.ok("supervisor.signalProcess", {string("w:0"), string("sigcont")}) == boolean(true));
  CHECK(f.ok("supervisor.signalProcess", {string("w:0"), integer(18)}) == boolean(true));
  CHECK(f.fault("supervisor.signalProcess", {string("w:0"), string("BOGUS")}).text == "BAD_SIGNAL: BOGUS");
  CHECK(f.fault("supervisor.signalProcess", {string("idle"), string("HUP")}).text == "NOT_RUNNING: idle");
  CHECK(f.fault("supervisor.signalProcess", {string("nope"), string("HUP")}).text == "BAD_NAME: nope");
  // Only the members that can take a signal: w:1 is not running.
  const auto group = f.ok("supervisor.signalProcessGroup", {string("w"), string("CONT")});
  CHECK(group == array({resultEntryFor("w", "0", 80, "OK")}));
  CHECK(f.ok("supervisor.signalProcess", {string("w:*"), string("bogus")}) ==
        array({resultEntryFor("w", "0", 11, "BAD_SIGNAL: bogus")}));
  CHECK(f.ok("supervisor.signalAllProcesses", {string("TERM")}) == array({resultEntryFor("w", "0", 80, "OK")}));
  CHECK(f.runUntil([&] { return f.state("w:0") != ProcessState::running; }));
}

TEST_CASE("logs: supervisord's offsets and lengths, its tail quirk, NO_FILE, and text any client can read") {
  Fixture f(programs(
      "  out:\n    cmd: /usr/bin/printf 'one\\ntwo \\033[31mred\\033[0m\\n'\n    starttime: 0s\n"
      "    autorestart: never\n    stdout: {dir}/out.log\n" +
      program("mem", "--stderr oops --forever") +
      program("later", "--forever", "    stdout: {dir}/later.log\n    redirect_stderr: true\n")));
  CHECK(f.ok("supervisor.startProcess", {string("out")}) == boolean(true));
  CHECK(f.runUntil([&] { return f.state("out") == ProcessState::exited; }));
  const std::string all = "one\ntwo \xEF\xBF\xBD[31mred\xEF\xBF\xBD[0m\n";  // ESC is not XML: U+FFFD
  const auto read = [&](std::int64_t offset, std::int64_t length) {
    return f.call("supervisor.readProcessStdoutLog", {string("out"), integer(offset), integer(length)});
  };
  CHECK(*read(0, 0) == string(all));
  CHECK(*read(0, 3) == string("one"));
  CHECK(*read(4, 3) == string("two"));
  CHECK(*read(-4, 0) == string("[0m\n"));
  CHECK(*read(-1000, 0) == string(all));
  CHECK(*read(1000, 0) == string(""));
  CHECK(read(-4, 2).error().text == "BAD_ARGUMENTS");
  CHECK(read(0, -2).error().text == "BAD_ARGUMENTS");
  CHECK(f.fault("supervisor.readProcessStdoutLog", {string("nope"), integer(0), integer(0)}).text == "BAD_NAME: nope");
  // tailFile's quirk: anything past the offset gives the last `length` bytes; nothing past it, nothing.
  const auto size = static_cast<std::int64_t>(std::string("one\ntwo \x1b[31mred\x1b[0m\n").size());
  CHECK(f.ok("supervisor.tailProcessStdoutLog", {string("out"), integer(0), integer(4)}) ==
        array({string("[0m\n"), integer(size), boolean(true)}));
  CHECK(f.ok("supervisor.tailProcessLog", {string("out"), integer(size), integer(4)}) ==
        array({string(""), integer(size), boolean(false)}));
  CHECK(f.ok("supervisor.tailProcessStdoutLog", {string("out"), integer(size - 1), integer(100)}) ==
        array({string(all), integer(size), boolean(false)}));

  // A file not there yet is NO_FILE with its path, tail's empty; a redirected stderr has none.
  const auto path = (f.dir.path / "later.log").string();
  CHECK(f.fault("supervisor.readProcessStdoutLog", {string("later"), integer(0), integer(0)}).text == "NO_FILE: " + path);
  CHECK(f.ok("supervisor.tailProcessStdoutLog", {string("later"), integer(0), integer(10)}) ==
        array({string(""), integer(0), boolean(false)}));
  CHECK(f.fault("supervisor.readProcessStderrLog", {string("later"), integer(0), integer(0)}).code == FaultCode::noFile);
  // An output kept in memory only is read from memory.
  CHECK(f.ok("supervisor.startProcess", {string("mem")}) == boolean(true));
  CHECK(f.runUntil([&] { return f.ok("supervisor.readProcessStderrLog", {string("mem"), integer(-100), integer(0)}) ==
                                string("oops\n"); }));

  CHECK(f.ok("supervisor.clearProcessLogs", {string("out")}) == boolean(true));
  CHECK(*read(0, 0) == string(""));
  CHECK(f.fault("supervisor.clearProcessLogs", {string("nope")}).text == "BAD_NAME: nope");
  const auto cleared = f.ok("supervisor.clearAllProcessLogs");
  CHECK(cleared.items.size() == 3);
  for (const auto& entry : cleared.items) CHECK(number(entry, "status") == 80);
  // No event log was given: the main log is NO_FILE.
  CHECK(f.fault("supervisor.readLog", {integer(0), integer(0)}).code == FaultCode::noFile);
}

TEST_CASE("multicall: each slot the raw value or a fault struct, in order, a wait holding back the calls after it") {
  Fixture f(programs(program("web", "--forever")));
  const auto call = [](std::string name, std::vector<Value> params) {
    return structure({{"methodName", string(std::move(name))}, {"params", array(std::move(params))}});
  };
  const auto results = f.ok("system.multicall", {array({
      call("supervisor.getVersion", {}),
      call("supervisor.startProcess", {string("web")}),
      call("supervisor.getProcessInfo", {string("web")}),
      call("supervisor.nothing", {}),
      call("system.multicall", {array()}),
      structure({{"params", array()}}),
      call("supervisor.stopProcess", {string("web")}),
  })});
  REQUIRE(results.items.size() == 7);
  CHECK(results.items[0] == string("3.0"));
  CHECK(results.items[1] == boolean(true));
  CHECK(text(results.items[2], "statename") == "RUNNING");  // asked after the start had ended
  CHECK(results.items[3] == structure({{"faultCode", integer(1)}, {"faultString", string("UNKNOWN_METHOD")}}));
  CHECK(results.items[4] == structure({{"faultCode", integer(2)},
                                       {"faultString", string("INCORRECT_PARAMETERS: Recursive system.multicall forbidden")}}));
  CHECK(results.items[5] ==
        structure({{"faultCode", integer(2)}, {"faultString", string("INCORRECT_PARAMETERS: No methodName")}}));
  CHECK(results.items[6] == boolean(true));
  CHECK(f.state("web") == ProcessState::stopped);
}

TEST_CASE("system: 41 methods as supervisord lists them, their help and signatures") {
  Fixture f(programs(program("web", "--forever")));
  const auto names = f.ok("system.listMethods");
  REQUIRE(names.items.size() == 41);
  CHECK(names.items.front() == string("supervisor.addProcessGroup"));
  CHECK(names.items.back() == string("system.multicall"));
  CHECK(f.ok("system.methodSignature", {string("supervisor.startProcess")}) ==
        array({string("boolean"), string("string"), string("boolean")}));
  CHECK(text(structure({{"h", f.ok("system.methodHelp", {string("supervisor.getState")})}}), "h").find("@return") !=
        std::string::npos);
  CHECK(f.fault("system.methodHelp", {string("nope")}).text == "SIGNATURE_UNSUPPORTED");
  CHECK(f.fault("system.methodSignature", {string("nope")}).code == FaultCode::signatureUnsupported);
  CHECK(f.ok("supervisor.sendRemoteCommEvent", {string("t"), string("d")}) == boolean(true));
  CHECK(f.fault("supervisor.sendProcessStdin", {string("web"), string("x")}).text == "NOT_RUNNING: web");
  CHECK(f.ok("supervisor.startProcess", {string("web")}) == boolean(true));
  CHECK(f.fault("supervisor.sendProcessStdin", {string("web"), string("x")}).text == "NO_FILE: web");
}

TEST_CASE("sendProcessStdin writes to the stdin pipe of a program that has one") {
  Fixture f(programs(program("echo", "--echo", "    stdin: true\n")));
  CHECK(f.fault("supervisor.sendProcessStdin", {string("echo"), string("x")}).text == "NOT_RUNNING: echo");
  CHECK(f.ok("supervisor.startProcess", {string("echo")}) == boolean(true));
  CHECK(f.ok("supervisor.sendProcessStdin", {string("echo"), string("hello\n")}) == boolean(true));
  CHECK(f.runUntil([&] {
    return f.ok("supervisor.readProcessStdoutLog", {string("echo"), integer(-100), integer(0)}) ==
           string("ready\necho: hello\n");
  }));
}

TEST_CASE("shutdown and restart call the hooks; once shutting down, every method but a few is SHUTDOWN_STATE") {
  Fixture f(programs(program("web", "--forever")));
  CHECK(f.ok("supervisor.restart") == boolean(true));
  CHECK(f.runUntil([&] { return f.restarts == 1; }));  // after the answer
  CHECK(f.ok("supervisor.shutdown") == boolean(true));
  CHECK(f.runUntil([&] { return f.shutdowns == 1; }));
  f.supervisor.shutdown();
  CHECK(f.fault("supervisor.getAllProcessInfo").text == "SHUTDOWN_STATE");
  CHECK(f.fault("supervisor.startProcess", {string("web")}).text == "SHUTDOWN_STATE");
  CHECK(f.fault("supervisor.getState").text == "SHUTDOWN_STATE");
  CHECK(f.ok("system.listMethods").items.size() == 41);
}

TEST_CASE("a call still waiting when the Interface goes is answered, with a fault, on the loop") {
  Fixture f(programs(fmt::format("  slow:\n    cmd: {} --forever\n    starttime: 5s\n", helper())));
  std::optional<std::string> answer;
  f.interface->call(encodeCall(MethodCall{"supervisor.startProcess", {string("slow")}}),
                    [&](std::string a) { answer = std::move(a); });
  f.io.restart();
  f.io.run_for(std::chrono::milliseconds(200));
  CHECK_FALSE(answer.has_value());
  f.interface.reset();
  CHECK_FALSE(answer.has_value());
  CHECK(f.runUntil([&] { return answer.has_value(); }));
  const auto decoded = decodeResponse(*answer);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().code == FaultCode::shutdownState);
}

TEST_CASE("reloadConfig says which groups differ and changes nothing; addProcessGroup and removeProcessGroup apply them") {
  Fixture f(programs(program("keep", "--forever") + program("edit", "--forever") + program("gone", "--forever") +
                     program("g:a", "--forever")));
  CHECK(f.ok("supervisor.reloadConfig") == array({array({array(), array(), array()})}));
  writeFile(f.file, programs(program("keep", "--forever") + program("edit", "--forever", "    autorestart: never\n") +
                             program("g:a", "--forever") + program("g:b", "--forever") + program("new", "--forever")));
  CHECK(f.ok("supervisor.reloadConfig") ==
        array({array({array({string("new")}), array({string("edit"), string("g")}), array({string("gone")})})}));
  CHECK(f.ok("supervisor.getAllProcessInfo").items.size() == 4);  // nothing applied

  CHECK(f.ok("supervisor.startProcess", {string("gone")}) == boolean(true));
  const auto running = f.fault("supervisor.removeProcessGroup", {string("gone")});
  CHECK(running.code == FaultCode::stillRunning);
  CHECK(running.text == "STILL_RUNNING: gone");
  CHECK(f.ok("supervisor.stopProcessGroup", {string("gone")}).items.size() == 1);
  CHECK(f.ok("supervisor.removeProcessGroup", {string("gone")}) == boolean(true));
  CHECK(f.fault("supervisor.removeProcessGroup", {string("gone")}).text == "BAD_NAME: gone");

  // update's sequence for a changed group: remove, then add from the file read.
  CHECK(f.ok("supervisor.removeProcessGroup", {string("g")}) == boolean(true));
  CHECK(f.ok("supervisor.addProcessGroup", {string("g")}) == boolean(true));
  CHECK(f.fault("supervisor.addProcessGroup", {string("g")}).text == "ALREADY_ADDED: g");
  CHECK(f.ok("supervisor.addProcessGroup", {string("new")}) == boolean(true));
  CHECK(f.fault("supervisor.addProcessGroup", {string("nope")}).text == "BAD_NAME: nope");
  std::vector<std::string> names;
  for (const auto& info : f.ok("supervisor.getAllProcessInfo").items) names.push_back(text(info, "group") + ":" + text(info, "name"));
  CHECK(names == std::vector<std::string>{"edit:edit", "g:a", "g:b", "keep:keep", "new:new"});
  CHECK(f.ok("supervisor.reloadConfig") == array({array({array(), array({string("edit")}), array()})}));
  // avail: the configuration read, each process in use or not.
  const auto config = f.ok("supervisor.getAllConfigInfo");
  REQUIRE(config.items.size() == 5);
  CHECK(text(config.items[0], "name") == "a");
  CHECK(config.items[0].member("inuse")->boolean);
  CHECK(number(config.items[0], "startsecs") == 0);

  writeFile(f.file, "programs:\n  bad:\n    cmd: \n");
  const auto bad = f.fault("supervisor.reloadConfig");
  CHECK(bad.code == FaultCode::cantReread);
  CHECK(bad.text.starts_with("CANT_REREAD: " + f.file.string()));
  // The taskmaster reload is unchanged: it applies the file at once.
  writeFile(f.file, programs(program("keep", "--forever")));
  CHECK(f.service->reload().ok());
  CHECK(f.ok("supervisor.reloadConfig") == array({array({array(), array(), array()})}));
}

TEST_CASE("getAllProcessInfo of 1,000 processes is one pass: well under a second") {
  std::string body;
  for (int i = 0; i < 100; ++i) body += fmt::format("  p{:03}:\n    cmd: /bin/true\n    numprocs: 10\n", i);
  Fixture f(programs(body));
  const auto request = encodeCall(MethodCall{"supervisor.getAllProcessInfo", {}});
  (void)f.raw(request);  // warm: the first call also pays for loading and the time zone
  const auto began = std::chrono::steady_clock::now();
  const auto response = f.raw(request);
  const auto took = std::chrono::steady_clock::now() - began;
  const auto answer = decodeResponse(response);
  REQUIRE(answer.ok());
  REQUIRE(answer->items.size() == 1000);
  CHECK(text(answer->items[999], "group") == "p099");
  CHECK(text(answer->items[999], "name") == "9");
  CHECK(took < std::chrono::seconds(1));
  MESSAGE("getAllProcessInfo of 1,000: " << std::chrono::duration_cast<std::chrono::microseconds>(took).count() << " us");
}

TEST_CASE("a start with no start period is listed with the answers that come at once, in order, as supervisord has it") {
  Fixture f(programs(fmt::format("  g:a:\n    cmd: {} --forever\n    starttime: 0s\n", helper()) +
                     "  g:b:\n    cmd: /nonexistent/b\n" + program("g:c", "--forever")));
  const auto started = f.ok("supervisor.startProcessGroup", {string("g")});
  std::vector<std::string> entries;
  for (const auto& e : started.items) entries.push_back(text(e, "name") + "=" + std::to_string(number(e, "status")));
  CHECK(entries == std::vector<std::string>{"a=80", "b=20", "c=80"});
}

TEST_CASE("a namespec names one instance as supervisord splits it: GROUP:PROCESS, NAME for NAME:NAME, never a group") {
  Fixture f(programs(program("web", "--forever", "    numprocs: 2\n") + program("g:a", "--forever") +
                     program("solo", "--forever")));
  CHECK(instanceOf(*f.service, "web:1") == "web:1");
  CHECK(instanceOf(*f.service, "g:a") == "g:a");
  CHECK(instanceOf(*f.service, "solo") == "solo");
  CHECK(instanceOf(*f.service, "solo:solo") == "solo");
  for (const auto* none : {"web", "web:*", "web:", "g", "a", "x:solo", "web:2", ""}) CHECK_FALSE(instanceOf(*f.service, none));
  CHECK(splitNamespec("g:").process == std::nullopt);
  CHECK(namespec(nameOf(f.service->status({"g:a"}).instances.front(), nullptr)) == "g:a");
  CHECK(namespec(nameOf(f.service->status({"solo"}).instances.front(), nullptr)) == "solo");
}

TEST_CASE("a start stopped by another call before it is up is ABNORMAL_TERMINATION; both calls are answered") {
  Fixture f(programs(fmt::format("  slow:\n    cmd: {} --forever\n    starttime: 3s\n", helper())));
  std::optional<std::string> start;
  f.interface->call(encodeCall(MethodCall{"supervisor.startProcess", {string("slow")}}),
                    [&](std::string a) { start = std::move(a); });
  CHECK(f.runUntil([&] { return f.state("slow") == ProcessState::starting; }));
  CHECK(f.ok("supervisor.stopProcess", {string("slow")}) == boolean(true));
  CHECK(f.runUntil([&] { return start.has_value(); }));
  const auto answer = decodeResponse(*start);
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.error().text == "ABNORMAL_TERMINATION: slow");
}

TEST_CASE("readLog and clearLog: the event log, its file when it has one") {
  test::TempDir dir;
  OutputLog events;
  REQUIRE(events.setFile((dir.path / "events.log").string()).ok());
  events.append("started\nweb: RUNNING\n");
  Fixture f(programs(program("web", "--forever")), &events);
  CHECK(f.ok("supervisor.readLog", {integer(0), integer(7)}) == string("started"));
  CHECK(f.ok("supervisor.readMainLog", {integer(-8), integer(0)}) == string("RUNNING\n"));
  CHECK(f.fault("supervisor.readLog", {integer(-8), integer(1)}).text == "BAD_ARGUMENTS");
  CHECK(f.ok("supervisor.clearLog") == boolean(true));
  CHECK(f.ok("supervisor.readLog", {integer(0), integer(0)}) == string(""));
}

TEST_CASE("base64 goes both ways, whatever its length") {
  const auto binary = [](std::string bytes) {
    Value v;
    v.kind = Value::Kind::binary;
    v.text = std::move(bytes);
    return v;
  };
  for (const std::string& bytes : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    const auto back = decodeResponse(encodeResponse(binary(bytes)));
    REQUIRE(back.ok());
    CHECK(back->kind == Value::Kind::binary);
    CHECK(back->text == bytes);
  }
  CHECK(encodeResponse(binary("ab")).find("<base64>YWI=</base64>") != std::string::npos);
}

TEST_CASE("a supervisord.conf's NONE log is NO_FILE, as supervisord says; tail of it is empty") {
  Fixture f(fmt::format("[supervisord]\n\n[program:nolog]\ncommand={} --stderr oops --forever\nautostart=false\n"
                        "stdout_logfile=NONE\nstderr_logfile=NONE\nstartsecs=0\n",
                        helper()));
  CHECK(f.ok("supervisor.startProcess", {string("nolog")}) == boolean(true));
  const auto fault = f.fault("supervisor.readProcessStderrLog", {string("nolog"), integer(-100), integer(0)});
  CHECK(fault.text == "NO_FILE: None");
  CHECK(f.ok("supervisor.tailProcessStderrLog", {string("nolog"), integer(0), integer(100)}) ==
        array({string(""), integer(0), boolean(false)}));
  const auto info = f.ok("supervisor.getProcessInfo", {string("nolog")});
  CHECK(text(info, "stdout_logfile") == "");
  CHECK(text(info, "stderr_logfile") == "");
}
