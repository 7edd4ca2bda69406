#include "hooks/deliveries.hpp"

#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "process/asio_host.hpp"
#include "process/command.hpp"
#include "util/http_client.hpp"

namespace taskmaster::inline v0::detail {
namespace json = boost::json;
namespace {

std::string stateName(const std::optional<ProcessState>& state) {
  return state ? std::string(to_string(*state)) : std::string();
}

std::string suppressedLine(std::uint64_t suppressed) {
  return fmt::format("{} similar event{} suppressed", suppressed, suppressed == 1 ? "" : "s");
}

// "web:1 FATAL (from BACKOFF): exited too quickly (exit status 1)", one line.
std::string summary(const HookEvent& event, std::uint64_t suppressed) {
  std::string text = eventTitle(event);
  if (event.from && event.to) text += fmt::format(" (from {} to {})", to_string(*event.from), to_string(*event.to));
  if (!event.reason.empty()) text += ": " + event.reason;
  if (suppressed > 0) text += "; " + suppressedLine(suppressed);
  return escapeControl(text);
}

std::string hostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

// A pending command or request as a Delivery.
template <class Pending>
class Holding final : public Delivery {
 public:
  explicit Holding(std::unique_ptr<Pending> pending) : pending_(std::move(pending)) {}

 private:
  std::unique_ptr<Pending> pending_;
};

std::unique_ptr<Delivery> run(AsioHost& host, std::shared_ptr<ProgramSpec> spec, const Job& job, std::string input,
                              DeliveryDone done) {
  CommandRequest request{std::move(spec), job.event.instance, job.event.index, std::move(input), job.hook->timeout};
  auto pending = host.runCommand(std::move(request), [done = std::move(done)](CommandResult result) {
    done(Delivered{result.failure()});
  });
  return std::make_unique<Holding<PendingCommand>>(std::move(pending));
}

// Nothing that can start a header of its own.
std::string oneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

std::string mailSubject(const HookEvent& event, const std::string& host) {
  const auto& who = event.instance.empty() ? event.program : event.instance;
  if (who.empty()) return fmt::format("taskmaster: {} on {}", event.event, host);
  if (event.event == "unexpected_exit") return fmt::format("taskmaster: {} exited unexpectedly on {}", who, host);
  return fmt::format("taskmaster: {} is {} on {}", who, event.event, host);
}

}  // namespace

std::string eventJson(const HookEvent& event, std::uint64_t suppressed, const std::string& host) {
  json::object o;
  o["event"] = event.event;
  o["program"] = event.program;
  o["group"] = event.group;
  o["instance"] = event.instance;
  o["index"] = event.index;
  o["from"] = event.from ? json::value(to_string(*event.from)) : json::value(nullptr);
  o["to"] = event.to ? json::value(to_string(*event.to)) : json::value(nullptr);
  o["pid"] = event.pid;
  o["exit_code"] = event.exit && event.exit->exited() ? json::value(event.exit->code) : json::value(nullptr);
  o["exit_signal"] = event.exit && !event.exit->exited() ? json::value("SIG" + signalName(event.exit->signal))
                                                          : json::value(nullptr);
  o["expected"] = event.expected;
  o["reason"] = event.reason;
  o["time"] = formatTime(event.time, TimeZone::utc);
  o["host"] = host;
  o["suppressed"] = suppressed;
  return json::serialize(o);
}

std::map<std::string, std::string> eventEnvironment(const HookEvent& event, std::uint64_t suppressed) {
  std::map<std::string, std::string> env{
      {"TASKMASTER_EVENT", event.event},
      {"TASKMASTER_GROUP", event.group},
      {"TASKMASTER_FROM", stateName(event.from)},
      {"TASKMASTER_TO", stateName(event.to)},
      {"TASKMASTER_PID", event.pid ? std::to_string(event.pid) : std::string()},
      {"TASKMASTER_REASON", event.reason},
      {"TASKMASTER_SUPPRESSED", std::to_string(suppressed)},
  };
  if (event.exit && event.exit->exited()) env["TASKMASTER_EXIT_CODE"] = std::to_string(event.exit->code);
  if (event.exit && !event.exit->exited()) env["TASKMASTER_EXIT_SIGNAL"] = "SIG" + signalName(event.exit->signal);
  return env;
}

namespace {

// err for what needs someone, warning for what supervision handles, notice for the rest.
int severity(const HookEvent& event) {
  if (event.event == "FATAL" || event.event == "unexpected_exit" || event.event == "unhealthy") return 3;
  if (event.event == "BACKOFF" || event.event == "EXITED") return 4;
  return 5;
}

}  // namespace

std::string syslogLine(const HookSpec& hook, const HookEvent& event, std::uint64_t suppressed,
                       const std::string& host, WallTime now, int pid) {
  return SyslogWriter::format(syslogFacility(hook.facility).value_or(3), severity(event), host, hook.tag, pid,
                              summary(event, suppressed), now);
}

std::string mailMessage(const HookSpec& hook, const HookEvent& event, std::uint64_t suppressed,
                        const std::string& host) {
  std::string out = fmt::format("To: {}\n", oneLine(hook.to));
  if (!hook.from.empty()) out += fmt::format("From: {}\n", oneLine(hook.from));
  out += fmt::format("Subject: {}\n", oneLine(mailSubject(event, host)));
  out += "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nAuto-Submitted: auto-generated\n\n";
  auto field = [&out](std::string_view name, const std::string& value) {
    if (!value.empty()) out += fmt::format("{}: {}\n", name, oneLine(value));
  };
  field("event", event.event);
  field("program", event.program);
  field("instance", event.instance);
  field("from", stateName(event.from));
  field("to", stateName(event.to));
  field("pid", event.pid ? std::to_string(event.pid) : std::string());
  field("exit", event.exit ? event.exit->str() : std::string());
  field("reason", event.reason);
  field("time", formatTime(event.time, TimeZone::local));
  field("host", host);
  if (suppressed > 0) out += fmt::format("\n{} since the previous mail (rate_limit {}).\n", suppressedLine(suppressed),
                                         formatDuration(hook.effectiveRateLimit()));
  return out;
}

Deliverer::Deliverer(AsioHost& host, LogSink log) : host_(host), log_(std::move(log)), hostname_(hostName()) {}

Deliverer::~Deliverer() = default;

std::unique_ptr<Delivery> Deliverer::deliver(const Job& job, DeliveryDone done) {
  switch (job.hook->kind) {
    case HookSpec::Kind::exec: return exec(job, std::move(done));
    case HookSpec::Kind::webhook: return webhook(job, std::move(done));
    case HookSpec::Kind::email: return email(job, std::move(done));
    case HookSpec::Kind::syslog: break;
  }
  syslog(job, done);
  return nullptr;
}

// /bin/sh -c COMMAND, as the event's program would run (TASKMASTER_PROGRAM, _PROCESS, _INSTANCE), with the
// event in its environment and as JSON on its stdin.
std::unique_ptr<Delivery> Deliverer::exec(const Job& job, DeliveryDone done) {
  auto spec = std::make_shared<ProgramSpec>();
  spec->name = job.event.program;
  spec->cmd = {"/bin/sh", "-c", job.hook->command};
  spec->env = eventEnvironment(job.event, job.suppressed);
  return run(host_, std::move(spec), job, eventJson(job.event, job.suppressed, hostname_) + "\n", std::move(done));
}

std::unique_ptr<Delivery> Deliverer::email(const Job& job, DeliveryDone done) {
  auto spec = std::make_shared<ProgramSpec>();
  spec->name = job.event.program;
  spec->cmd = {job.hook->sendmail, "-t", "-oi"};  // the recipients from the headers; a lone "." ends nothing
  return run(host_, std::move(spec), job, mailMessage(*job.hook, job.event, job.suppressed, hostname_),
             std::move(done));
}

std::unique_ptr<Delivery> Deliverer::webhook(const Job& job, DeliveryDone done) {
  http::ClientRequest request{.method = "POST",
                              .url = job.hook->url,
                              .body = eventJson(job.event, job.suppressed, hostname_),
                              .contentType = "application/json",
                              .timeout = job.hook->timeout};
  auto pending = http::request(host_.io(), std::move(request), [done = std::move(done)](http::ClientResponse r) {
    if (r.success()) return done({});
    if (r.status == 0) return done(Delivered{r.error});
    auto line = r.body.substr(0, r.body.find('\n')).substr(0, 200);
    done(Delivered{line.empty() ? fmt::format("answered {}", r.status)
                                : fmt::format("answered {}: {}", r.status, escapeControl(line))});
  });
  return std::make_unique<Holding<http::PendingRequest>>(std::move(pending));
}

// One datagram, never waiting: a syslog daemon that does not keep up loses lines, not taskmaster its loop.
void Deliverer::syslog(const Job& job, const DeliveryDone& done) {
  const auto& path = job.hook->socket;
  auto& writer = syslog_[path];
  if (!writer) writer = std::make_unique<SyslogWriter>(path);
  const auto error = writer->send(syslogFacility(job.hook->facility).value_or(3), severity(job.event), job.hook->tag,
                                  summary(job.event, job.suppressed), job.event.time);
  if (!error) return done({});
  const auto reason = fmt::format("send to {}: {}", path, error.message());
  if (error != std::errc::no_such_file_or_directory && error != std::errc::connection_refused)
    return done(Delivered{reason});
  // No syslog daemon there: said once until the next configure, not at every event.
  const bool first = warned_.insert(path).second;
  if (first && log_) {
    log_(LogLevel::warn, fmt::format("hook {} (syslog): {} (said once until the hooks change)", job.index, reason));
  }
  done(Delivered{reason, true});
}

}  // namespace taskmaster::inline v0::detail
