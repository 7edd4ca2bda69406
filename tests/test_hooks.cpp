// Hooks: the `hooks:` configuration (reading, errors, writing), the dispatcher's rate limits, queue and
// concurrency on a fake clock, and the texts deliveries send (JSON, syslog line, mail).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include <doctest/doctest.h>
#include <taskmaster/config.hpp>
#include <taskmaster/hooks.hpp>

#include "fake_host.hpp"
#include "support.hpp"
#include "hooks/deliveries.hpp"
#include "hooks/dispatcher.hpp"

using namespace taskmaster;
using namespace std::chrono_literals;

namespace {

std::string errors(const ConfigResult& result) {
  std::string out;
  for (const auto& error : result.errors) out += error.str() + "\n";
  return out;
}

ConfigResult parse(const std::string& hooks) {
  return parseConfig("programs:\n  web: {cmd: /bin/true}\n  worker: {cmd: /bin/true}\nhooks:\n" + hooks, "t.yml");
}

HookEvent crash(const std::string& program, ProcessState to = ProcessState::backoff) {
  return HookEvent{.event = std::string(to_string(to)), .program = program, .group = program, .instance = program,
                   .from = ProcessState::starting, .to = to, .pid = 42, .exit = ExitStatus{1, 0, false},
                   .reason = "exited too quickly (exit status 1)"};
}

// A dispatcher whose deliveries are recorded and ended by the test.
struct Recorder {
  test::FakeHost host;
  std::vector<detail::Job> started;
  std::vector<detail::DeliveryDone> pending;
  std::vector<std::pair<LogLevel, std::string>> logged;
  detail::Dispatcher dispatcher{host,
                                [this](const detail::Job& job, detail::DeliveryDone done) -> std::unique_ptr<detail::Delivery> {
                                  started.push_back(job);
                                  pending.push_back(std::move(done));
                                  return nullptr;
                                },
                                [this](LogLevel level, std::string_view message) {
                                  logged.emplace_back(level, std::string(message));
                                }};
  void finishAll(const std::string& error = {}) {
    for (auto& done : std::exchange(pending, {})) done(detail::Delivered{error});
  }
};

HookSpec hook(std::vector<std::string> on, std::optional<Duration> rateLimit = std::nullopt) {
  HookSpec h;
  h.on = std::move(on);
  h.command = "true";
  h.rateLimit = rateLimit;
  return h;
}

}  // namespace

TEST_CASE("hooks: every kind read as the documentation shows it") {
  auto r = parse(R"(  - on: [FATAL, unexpected_exit]
    programs: [web, worker]
    exec: "/usr/local/bin/page-me"
  - on: [fatal]
    webhook: "http://127.0.0.1:9000/alerts"
  - on: [EXITED, FATAL]
    email: {to: "ops@example.com", sendmail: /usr/sbin/sendmail}
    rate_limit: 60s
  - on: [BACKOFF, Fatal, RUNNING]
    syslog: {facility: local3, tag: tm, socket: /tmp/log.sock}
    timeout: 2s
  - on: taskmaster_started
    webhook: {url: "https://example.com/x", timeout: 500ms}
)");
  REQUIRE_MESSAGE(r.ok(), errors(r));
  const auto& h = r.config.hooks;
  REQUIRE(h.size() == 5);
  CHECK(h[0].on == std::vector<std::string>{"FATAL", "unexpected_exit"});
  CHECK(h[0].programs == std::vector<std::string>{"web", "worker"});
  CHECK(h[0].kind == HookSpec::Kind::exec);
  CHECK(h[0].command == "/usr/local/bin/page-me");
  CHECK(h[0].effectiveRateLimit() == Duration::zero());
  CHECK(h[1].on == std::vector<std::string>{"FATAL"});
  CHECK(h[1].kind == HookSpec::Kind::webhook);
  CHECK(h[1].url == "http://127.0.0.1:9000/alerts");
  CHECK(h[1].effectiveRateLimit() == 60s);
  CHECK(h[2].kind == HookSpec::Kind::email);
  CHECK(h[2].to == "ops@example.com");
  CHECK(h[2].rateLimit == Duration(60s));
  CHECK(h[3].kind == HookSpec::Kind::syslog);
  CHECK(h[3].facility == "local3");
  CHECK(h[3].tag == "tm");
  CHECK(h[3].socket == "/tmp/log.sock");
  CHECK(h[3].timeout == 2s);
  CHECK(h[3].on == std::vector<std::string>{"BACKOFF", "FATAL", "RUNNING"});
  CHECK(h[4].on == std::vector<std::string>{"taskmaster_started"});
  CHECK(h[4].timeout == 500ms);
}

TEST_CASE("hooks: the writer's YAML reads back as the same hooks") {
  auto r = parse(R"(  - on: [FATAL, unexpected_exit]
    programs: [web]
    exec: "echo 'a: b' >> /tmp/x"
  - on: [FATAL]
    webhook: "http://127.0.0.1:9000/alerts?a=1,2"
    timeout: 3s
  - on: [EXITED]
    email: {to: "ops@example.com, dev@example.com", from: "tm <tm@example.com>"}
    rate_limit: 0s
  - on: [RUNNING]
    syslog: {}
)");
  REQUIRE_MESSAGE(r.ok(), errors(r));
  const auto yaml = formatYaml(r.config);
  auto again = parseConfig(yaml, "again.yml");
  const auto why = errors(again) + yaml;
  REQUIRE_MESSAGE(again.ok(), why);
  CHECK(again.config.hooks == r.config.hooks);
}

TEST_CASE("hooks: mistakes are placed and explained") {
  struct Case {
    std::string hooks;
    std::string error;
  };
  const std::vector<Case> cases{
      {"  - on: [FATL]\n    exec: x\n", "t.yml:5:10: hooks[1]: on: unknown event 'FATL' (did you mean 'FATAL'?)"},
      {"  - on: [unexpected_exti]\n    exec: x\n", "(did you mean 'unexpected_exit'?)"},
      {"  - on: [FATAL]\n    exec: x\n    programs: [wbe]\n", "t.yml:7:16: hooks: programs: no program 'wbe' (did you mean 'web'?)"},
      {"  - on: [FATAL]\n", "hooks[1]: missing what to do: one of exec, webhook, syslog, email"},
      {"  - on: [FATAL]\n    exec: x\n    webhook: http://h/\n", "more than one of exec, webhook, syslog, email"},
      {"  - exec: x\n", "hooks[1]: missing 'on'"},
      {"  - on: [FATAL]\n    exec: x\n    rate_limt: 1s\n", "t.yml:7:5: unknown key 'rate_limt' (did you mean 'rate_limit'?)"},
      {"  - on: [FATAL]\n    webhook: ftp://x/\n", "webhook: expected an http:// or https:// URL, got 'ftp://x/'"},
      {"  - on: [FATAL]\n    email: {from: a@b}\n", "email: missing 'to'"},
      {"  - on: [FATAL]\n    syslog: {facility: deamon}\n", "unknown facility 'deamon'"},
      {"  - on: [FATAL]\n    syslog: {sockt: /x}\n", "unknown key 'sockt' (did you mean 'socket'?)"},
      {"  - on: [FATAL]\n    exec: x\n    timeout: soon\n", "timeout: expected a duration"},
      {"  - on: [FATAL]\n    exec: x\n    timeout: 0s\n", "timeout: must be more than 0"},
      {"  on: FATAL\n", "hooks: expected a list of hooks, got a map"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.hooks);
    INFO(c.hooks);
    CHECK_FALSE(r.ok());
    CHECK_MESSAGE(errors(r).find(c.error) != std::string::npos, errors(r));
  }
  auto typo = parseConfig("programs: {}\nhook: []\n", "t.yml");
  CHECK(errors(typo).find("unknown key 'hook' (did you mean 'hooks'?)") != std::string::npos);
}

TEST_CASE("a hook gets the events it listens to, of its programs, each once") {
  Recorder r;
  HookSpec web = hook({"FATAL", "unexpected_exit"});
  web.programs = {"web"};
  r.dispatcher.configure({web, hook({"EXITED", "reload"})});
  r.dispatcher.offer(crash("web", ProcessState::fatal));
  r.dispatcher.offer(crash("worker", ProcessState::fatal));
  auto exited = crash("web", ProcessState::exited);
  r.dispatcher.offer(exited, true);  // an unexpected exit: the first hook by that name, the second as EXITED
  r.dispatcher.offer(HookEvent{.event = "reload"});
  REQUIRE(r.started.size() == 4);  // at most kHookConcurrency at once
  CHECK(r.started[0].index == 1);
  CHECK(r.started[0].event.event == "FATAL");
  CHECK(r.started[1].index == 1);
  CHECK(r.started[1].event.event == "unexpected_exit");
  CHECK(r.started[2].index == 2);
  CHECK(r.started[2].event.event == "EXITED");
  CHECK(r.started[3].event.event == "reload");
}

TEST_CASE("rate_limit: one delivery per interval and program; the latest held back comes at its end, with the count") {
  Recorder r;
  r.dispatcher.configure({hook({"BACKOFF", "FATAL"}, 10s)});
  r.dispatcher.offer(crash("web"));
  REQUIRE(r.started.size() == 1);
  CHECK(r.started[0].suppressed == 0);
  for (int i = 0; i < 5; ++i) {
    r.host.advance(1s);
    r.dispatcher.offer(crash("web"));
  }
  r.dispatcher.offer(crash("web", ProcessState::fatal));
  r.dispatcher.offer(crash("worker"));  // another program: its own interval
  REQUIRE(r.started.size() == 2);
  CHECK(r.started[1].event.program == "worker");
  CHECK(r.dispatcher.stats().suppressed == 6);
  r.finishAll();
  r.host.advance(4999ms);
  CHECK(r.started.size() == 2);
  r.host.advance(1ms);  // 10 s after the first delivery
  REQUIRE(r.started.size() == 3);
  CHECK(r.started[2].event.event == "FATAL");  // the last word is never lost
  CHECK(r.started[2].suppressed == 5);
  CHECK(r.dispatcher.stats().suppressed == 5);
  // A quiet interval later, the next event goes at once.
  r.host.advance(10s);
  r.dispatcher.offer(crash("web"));
  REQUIRE(r.started.size() == 4);
  CHECK(r.started[3].suppressed == 0);
}

TEST_CASE("rate_limit 0 (exec's default): every event delivered") {
  Recorder r;
  r.dispatcher.configure({hook({"BACKOFF"})});
  for (int i = 0; i < 3; ++i) {
    r.dispatcher.offer(crash("web"));
    r.finishAll();
  }
  CHECK(r.started.size() == 3);
}

TEST_CASE("the queue is bounded: past it events are dropped, counted and logged once") {
  Recorder r;
  r.dispatcher.configure({hook({"BACKOFF"})});
  const std::size_t offered = kHookConcurrencyPerHook + kHookQueueSize + 10;
  for (std::size_t i = 0; i < offered; ++i) r.dispatcher.offer(crash("web"));
  CHECK(r.started.size() == kHookConcurrencyPerHook);
  CHECK(r.dispatcher.stats().dropped == 10);
  CHECK(r.logged.size() == 1);
  bool idle = false;
  r.dispatcher.whenIdle([&] { idle = true; });
  while (!r.pending.empty()) r.finishAll("exit status 1");
  CHECK(idle);
  CHECK(r.started.size() == kHookConcurrencyPerHook + kHookQueueSize);
  CHECK(r.dispatcher.stats().failed == kHookConcurrencyPerHook + kHookQueueSize);
  // The drops were said again, with their count, once the queue moved; each failure said with its reason.
  CHECK(r.logged[1].second == "hook 1 (exec) for web BACKOFF: exit status 1");
  CHECK(r.logged[2].second == "hooks: 10 events dropped while the queue was full");
}

TEST_CASE("deliveries: at most 2 of one hook and 4 in all at once; a slow hook does not hold up the others") {
  Recorder r;
  r.dispatcher.configure({hook({"BACKOFF"}), hook({"FATAL"}), hook({"EXITED"})});
  for (int i = 0; i < 3; ++i) r.dispatcher.offer(crash("web"));  // hook 1: 2 under way, 1 waits
  r.dispatcher.offer(crash("web", ProcessState::fatal));         // hook 2 goes past it
  REQUIRE(r.started.size() == 3);
  CHECK(r.started[2].index == 2);
  r.dispatcher.offer(crash("web", ProcessState::exited));
  r.dispatcher.offer(crash("web", ProcessState::exited));
  REQUIRE(r.started.size() == 4);  // 4 in all
  CHECK(r.started[3].index == 3);
  r.pending[0](detail::Delivered{});  // one of hook 1's ends: the oldest that has room goes, hook 1's third
  REQUIRE(r.started.size() == 5);
  CHECK(r.started[4].index == 1);
}

TEST_CASE("configure: an unchanged hook keeps its rate limit; a changed one starts afresh") {
  Recorder r;
  r.dispatcher.configure({hook({"BACKOFF"}, 10s)});
  r.dispatcher.offer(crash("web"));
  r.dispatcher.configure({hook({"BACKOFF"}, 10s)});
  r.dispatcher.offer(crash("web"));
  CHECK(r.started.size() == 1);
  r.dispatcher.configure({hook({"BACKOFF"}, 20s)});
  r.dispatcher.offer(crash("web"));
  CHECK(r.started.size() == 2);
  r.dispatcher.configure({});
  r.dispatcher.offer(crash("web"));
  r.host.advance(1min);
  CHECK(r.started.size() == 2);
}

TEST_CASE("the JSON payload: every field") {
  auto event = crash("web", ProcessState::fatal);
  event.instance = "web:1";
  event.index = 1;
  event.time = WallTime(std::chrono::milliseconds(1'700'000'000'123));
  const auto o = boost::json::parse(detail::eventJson(event, 3, "box")).as_object();
  auto text = [&o](const char* key) { return std::string(o.at(key).as_string()); };
  auto number = [&o](const char* key) { return o.at(key).to_number<long long>(); };
  CHECK(text("event") == "FATAL");
  CHECK(text("program") == "web");
  CHECK(text("instance") == "web:1");
  CHECK(number("index") == 1);
  CHECK(text("from") == "STARTING");
  CHECK(text("to") == "FATAL");
  CHECK(number("pid") == 42);
  CHECK(number("exit_code") == 1);
  CHECK(o.at("exit_signal").is_null());
  CHECK(o.at("expected").as_bool());
  CHECK(text("reason") == "exited too quickly (exit status 1)");
  CHECK(text("time") == "2023-11-14T22:13:20.123Z");
  CHECK(text("host") == "box");
  CHECK(number("suppressed") == 3);
  event.exit = ExitStatus{0, 9, false};
  const auto killed = boost::json::parse(detail::eventJson(event, 0, "box")).as_object();
  CHECK(killed.at("exit_code").is_null());
  CHECK(killed.at("exit_signal").as_string() == "SIGKILL");
  auto env = detail::eventEnvironment(event, 0);
  CHECK(env.at("TASKMASTER_EVENT") == "FATAL");
  CHECK(env.at("TASKMASTER_FROM") == "STARTING");
  CHECK(env.at("TASKMASTER_EXIT_SIGNAL") == "SIGKILL");
  CHECK_FALSE(env.contains("TASKMASTER_EXIT_CODE"));
}

TEST_CASE("the syslog line (RFC 3164) and the mail") {
  HookSpec h;
  h.kind = HookSpec::Kind::syslog;
  h.facility = "local0";
  auto event = crash("web", ProcessState::fatal);
  const auto line = detail::syslogLine(h, event, 2, "box", WallTime(std::chrono::seconds(1'700'000'000)), 77);
  CHECK(line.rfind("<131>", 0) == 0);  // local0 (16) * 8 + err (3)
  CHECK(line.find(" box taskmaster[77]: web FATAL (from STARTING to FATAL): exited too quickly (exit status 1); "
                  "2 similar events suppressed") != std::string::npos);
  CHECK(line.find('\n') == std::string::npos);
  h.kind = HookSpec::Kind::email;
  h.to = "ops@example.com";
  h.from = "tm@example.com\nBcc: evil@example.com";
  const auto mail = detail::mailMessage(h, event, 0, "box");
  CHECK(mail.rfind("To: ops@example.com\nFrom: tm@example.com Bcc: evil@example.com\n"
                   "Subject: taskmaster: web is FATAL on box\n", 0) == 0);
  CHECK(mail.find("\n\nevent: FATAL\nprogram: web\n") != std::string::npos);
  CHECK(mail.find("reason: exited too quickly (exit status 1)\n") != std::string::npos);
}

TEST_CASE("SyslogWriter: one datagram per line to the socket; a missing socket is an error, never a wait") {
  test::TempDir dir;
  const auto path = (dir.path / "log.sock").string();
  const int sink = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(sink, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  SyslogWriter writer(path);
  CHECK(!writer.send(3, syslogSeverity(LogLevel::warn), "taskmaster", "web BACKOFF\nforged", WallTime{}));
  char buffer[512] = {};
  const auto n = ::recv(sink, buffer, sizeof buffer - 1, MSG_DONTWAIT);
  REQUIRE(n > 0);
  const std::string line(buffer, static_cast<std::size_t>(n));
  CHECK(line.rfind("<28>", 0) == 0);  // daemon (3) * 8 + warning (4)
  CHECK(line.find(" taskmaster[" + std::to_string(::getpid()) + "]: web BACKOFF\\x0aforged") != std::string::npos);
  ::close(sink);
  SyslogWriter missing((dir.path / "none.sock").string());
  CHECK(missing.send(3, 6, "taskmaster", "x", WallTime{}) == std::errc::no_such_file_or_directory);
}
