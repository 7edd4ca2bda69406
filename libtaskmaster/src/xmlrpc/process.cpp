// The methods on processes: their info, start, stop and signal, one, a group or all, with supervisord's faults,
// its result arrays and its waits (a start answers once the process is RUNNING or failed, a stop once it is
// down), every wait a completion of the Service: the loop never blocks.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <limits>
#include <locale>
#include <sstream>
#include <system_error>
#include <tuple>

#include <fmt/format.h>

#include "process/launcher.hpp"
#include "xmlrpc/methods.hpp"

namespace taskmaster::inline v0::xmlrpc::detail {

int stateCode(ProcessState state) {
  switch (state) {
    case ProcessState::stopped: return 0;
    case ProcessState::starting: return 10;
    case ProcessState::running: return 20;
    case ProcessState::backoff: return 30;
    case ProcessState::stopping: return 40;
    case ProcessState::exited: return 100;
    case ProcessState::fatal: return 200;
  }
  return 1000;  // UNKNOWN
}

std::string_view stateName(ProcessState state) { return to_string(state); }

bool runningState(ProcessState state) {
  return state == ProcessState::starting || state == ProcessState::running || state == ProcessState::backoff;
}

namespace {

// Unix seconds as supervisord sends them (capped_int): 0 for never, at most 2^31 - 1.
std::int64_t seconds(WallTime time) {
  if (time == WallTime{}) return 0;
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
  return std::clamp<std::int64_t>(s, 0, std::numeric_limits<std::int32_t>::max());
}

// "Dec 23 03:04 PM" in local time, in the C locale whatever this process's is.
std::string stopTime(std::int64_t unix) {
  const auto t = static_cast<std::time_t>(unix);
  std::tm local{};
  ::localtime_r(&t, &local);
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << std::put_time(&local, "%b %d %I:%M %p");
  return out.str();
}

// supervisord's spawnerr: why the last start failed, in its words where it has some.
std::string spawnError(const ProcessName& p) {
  const InstanceStatus& s = p.status;
  if (s.state != ProcessState::backoff && s.state != ProcessState::fatal) return {};
  std::string_view reason = s.reason;
  if (reason.starts_with("exited too quickly")) return "Exited too quickly (process log may have details)";
  if (reason.starts_with("spawn error: ")) reason.remove_prefix(13);
  if (const auto gaveUp = reason.find(" (gave up after "); gaveUp != std::string_view::npos) reason = reason.substr(0, gaveUp);
  if (p.spec && !p.spec->cmd.empty() && reason == p.spec->cmd.front() + ": " + std::generic_category().message(ENOENT))
    return fmt::format("can't find command '{}'", p.spec->cmd.front());
  return std::string(reason);
}

std::string description(const ProcessName& p, std::int64_t start, std::int64_t stop, std::int64_t now,
                        const std::string& spawnerr) {
  switch (p.status.state) {
    case ProcessState::running:
      return fmt::format("pid {}, uptime {}", p.status.pid, formatUptime(std::chrono::seconds(std::max<std::int64_t>(0, now - start))));
    case ProcessState::backoff:
    case ProcessState::fatal:
      return spawnerr.empty() ? fmt::format("unknown error (try \"tail {}\")", p.name) : spawnerr;
    case ProcessState::stopped:
    case ProcessState::exited: return start ? stopTime(stop) : "Not started";
    default: return {};
  }
}

std::string logPath(const ProgramSpec* spec, StdStream stream, int index) {
  if (!spec || (stream == StdStream::err && spec->redirectStderr)) return {};
  return spec->outputPath(stream, index).value_or("");
}

// supervisord's check of the command before a start (get_execv_args): NO_FILE, NOT_EXECUTABLE.
std::optional<Fault> checkCommand(const ProgramSpec& spec) {
  const std::string& program = spec.cmd.front();
  const auto path = spec.env.contains("PATH") ? spec.env.at("PATH") : std::string(::getenv("PATH") ? ::getenv("PATH") : "");
  const auto found = ::taskmaster::detail::findExecutable(program, path);
  struct stat st{};
  if (!found || ::stat(found->c_str(), &st) != 0) return Fault(FaultCode::noFile, fmt::format("can't find command '{}'", program));
  if (S_ISDIR(st.st_mode)) return Fault(FaultCode::notExecutable, fmt::format("command at '{}' is a directory", *found));
  if (!(st.st_mode & 0111)) return Fault(FaultCode::notExecutable, fmt::format("command at '{}' is not executable", *found));
  if (::access(found->c_str(), X_OK) != 0)
    return Fault(FaultCode::notExecutable, fmt::format("no permission to run command '{}'", *found));
  return std::nullopt;
}

}  // namespace

Value processInfo(const ProcessName& p, WallTime now) {
  const ProgramSpec* spec = p.spec;
  const auto start = seconds(p.status.startTime);
  const auto stop = seconds(p.status.lastExitTime);
  const auto at = seconds(now);
  const auto spawnerr = spawnError(p);
  int exitstatus = 0;
  // A start that failed (exited too quickly) has none, as supervisord's; a signal's is -1.
  if (p.status.lastExit && spawnerr.empty()) exitstatus = p.status.lastExit->exited() ? p.status.lastExit->code : -1;
  const auto stdoutPath = logPath(spec, StdStream::out, p.status.index);
  return structure({
      {"name", string(p.name)},
      {"group", string(p.group)},
      {"start", integer(start)},
      {"stop", integer(stop)},
      {"now", integer(at)},
      {"state", integer(stateCode(p.status.state))},
      {"statename", string(std::string(stateName(p.status.state)))},
      {"spawnerr", string(spawnerr)},
      {"exitstatus", integer(exitstatus)},
      {"logfile", string(stdoutPath)},
      {"stdout_logfile", string(stdoutPath)},
      {"stderr_logfile", string(logPath(spec, StdStream::err, p.status.index))},
      {"pid", integer(p.status.pid)},
      {"description", string(description(p, start, stop, at, spawnerr))},
  });
}

Expected<ProcessName, Fault> oneProcess(const Service& service, std::string_view name) {
  const auto spec = splitNamespec(name);
  auto found = spec.process ? resolve(service, spec) : std::vector<ProcessName>{};
  if (found.empty()) return Fault(FaultCode::badName, name);
  return std::move(found.front());
}

Expected<ProcessName, Fault> oneProcess(const Service& service, const Params& params) {
  auto name = stringParam(params, 0);
  if (!name) return name.error();
  return oneProcess(service, *name);
}

Value resultEntry(const ProcessName& process, FaultCode status, std::string description) {
  return structure({{"name", string(process.name)},
                    {"group", string(process.group)},
                    {"status", integer(static_cast<int>(status))},
                    {"description", string(std::move(description))}});
}

namespace {

void getProcessInfo(const ContextPtr& context, const Params& params, Reply reply) {
  auto process = oneProcess(context->service, params);
  if (!process) return reply(process.error());
  reply(processInfo(*process, std::chrono::system_clock::now()));
}

void getAllProcessInfo(const ContextPtr& context, const Params&, Reply reply) {
  const auto now = std::chrono::system_clock::now();
  Value all = array();
  for (const auto& p : processNames(context->service)) all.items.push_back(processInfo(p, now));
  reply(std::move(all));
}

// One process's operation, as its single-process method does it; `name` is how the caller named it.
using One = void (*)(const ContextPtr&, const ProcessName&, const std::string& name, const Value& argument, Reply);

void startOne(const ContextPtr& context, const ProcessName& p, const std::string& name, const Value& wait, Reply reply) {
  const ProgramSpec* spec = p.spec;  // used at once: the pass that listed it
  if (!spec) return reply(Fault(FaultCode::badName, name));
  if (auto fault = checkCommand(*spec)) return reply(*fault);
  if (runningState(p.status.state)) return reply(Fault(FaultCode::alreadyStarted, name));
  const bool waiting = wait.boolean;
  context->service.start({p.status.instance}, [waiting, name, reply](ActionReport report) {
    if (!waiting) return;
    const auto* outcome = report.outcomes.empty() ? nullptr : std::get_if<Outcome>(&report.outcomes.front());
    if (!outcome) return reply(Fault(FaultCode::badName, name));  // removed meanwhile
    if (outcome->ok) return reply(boolean(true));
    // It went down again without failing to start: stopped by someone else while starting.
    if (outcome->message == "stopped before it was up") return reply(Fault(FaultCode::abnormalTermination, name));
    reply(Fault(FaultCode::spawnError, name));
  });
  if (!waiting) reply(boolean(true));
}

void stopOne(const ContextPtr& context, const ProcessName& p, const std::string& name, const Value& wait, Reply reply) {
  if (!runningState(p.status.state)) return reply(Fault(FaultCode::notRunning, name));
  const bool waiting = wait.boolean;
  context->service.stop({p.status.instance}, [waiting, name, reply](ActionReport report) {
    if (!waiting) return;
    const auto* outcome = report.outcomes.empty() ? nullptr : std::get_if<Outcome>(&report.outcomes.front());
    if (!outcome) return reply(Fault(FaultCode::badName, name));
    if (!outcome->ok) return reply(Fault(FaultCode::failed, outcome->message));
    reply(boolean(true));
  });
  if (!waiting) reply(boolean(true));
}

// `signal`: the signal as the caller gave it, already checked.
void signalOne(const ContextPtr& context, const ProcessName& p, const std::string& name, const Value& signal,
               Reply reply) {
  const auto state = p.status.state;
  if (state != ProcessState::running && state != ProcessState::starting && state != ProcessState::stopping)
    return reply(Fault(FaultCode::notRunning, name));
  (void)context->service.signal(static_cast<int>(signal.integer), {p.status.instance});
  reply(boolean(true));
}

// A start supervisord answers without waiting: with no start period, it is RUNNING (or failed) at once.
bool startsAtOnce(const ProcessName& p) { return p.spec && p.spec->starttime == Duration::zero(); }

// make_allfunc: `one` on each of `processes` that passes `wanted`, all in one pass; an entry each in the
// result array, and the answer once all have one. The entries that come at once (or that supervisord would
// have at once: `atOnce`) are first, in order; then those that waited, in the order supervisord would list
// them: it polls the waits every 50 ms and lists the ones a poll finds done in their order, so here a wait's
// entry goes by the 50 ms slice it ended in, then by its order.
void forEach(const ContextPtr& context, const std::vector<ProcessName>& processes, bool (*wanted)(ProcessState),
             One one, const Value& argument, Reply reply, bool (*atOnce)(const ProcessName&) = nullptr) {
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::size_t order;
    std::int64_t slice;  // -1: answered during the pass
    Value value;
  };
  struct Gather {
    std::vector<Entry> entries;
    std::size_t pending = 1;  // released after the pass, so an early answer cannot end it
    bool passing = true;
    Clock::time_point began = Clock::now();
    Reply done;
  };
  auto gather = std::make_shared<Gather>();
  gather->done = std::move(reply);
  auto release = [gather] {
    if (--gather->pending > 0) return;
    std::ranges::stable_sort(gather->entries, [](const Entry& a, const Entry& b) {
      return std::tie(a.slice, a.order) < std::tie(b.slice, b.order);
    });
    Value results = array();
    for (auto& e : gather->entries) results.items.push_back(std::move(e.value));
    gather->done(std::move(results));
  };
  for (std::size_t i = 0; i < processes.size(); ++i) {
    const auto& p = processes[i];
    if (!wanted(p.status.state)) continue;
    ++gather->pending;
    const bool now = atOnce && atOnce(p);
    one(context, p, namespec(p), argument, [gather, p, i, now, release](Answer answer) {
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - gather->began);
      const std::int64_t slice = gather->passing || now ? -1 : waited.count() / 50;
      gather->entries.push_back({i, slice, answer ? resultEntry(p, FaultCode::success, "OK")
                                                  : resultEntry(p, answer.error().code, answer.error().text)});
      release();
    });
  }
  gather->passing = false;
  release();
}

bool notRunning(ProcessState state) { return !runningState(state); }
bool signallable(ProcessState state) {
  return state == ProcessState::running || state == ProcessState::starting || state == ProcessState::stopping;
}

// A group's processes, or BAD_NAME.
Expected<std::vector<ProcessName>, Fault> groupOf(const ContextPtr& context, const std::string& group) {
  auto processes = groupProcesses(context->service, group);
  if (processes.empty()) return Fault(FaultCode::badName, group);
  return processes;
}

Expected<Value, Fault> waitParam(const Params& params, std::size_t index) {
  auto wait = boolParam(params, index, true);
  if (!wait) return wait.error();
  return boolean(*wait);
}

// The start, stop and signal methods, one (or a group by "g:*"), a group, or all.
void onProcess(const ContextPtr& context, const Params& params, Reply reply, One one, bool (*wanted)(ProcessState),
               const Value& argument, bool (*atOnce)(const ProcessName&) = nullptr) {
  auto name = stringParam(params, 0);
  if (!name) return reply(name.error());
  const auto spec = splitNamespec(*name);
  if (!spec.process) {
    if (resolve(context->service, spec).empty()) return reply(Fault(FaultCode::badName, *name));
    return forEach(context, groupProcesses(context->service, spec.group), wanted, one, argument, std::move(reply),
                   atOnce);
  }
  auto process = oneProcess(context->service, params);
  if (!process) return reply(process.error());
  one(context, *process, *name, argument, std::move(reply));
}

void onGroup(const ContextPtr& context, const Params& params, Reply reply, One one, bool (*wanted)(ProcessState),
             const Value& argument, bool (*atOnce)(const ProcessName&) = nullptr) {
  auto name = stringParam(params, 0);
  if (!name) return reply(name.error());
  auto processes = groupOf(context, *name);
  if (!processes) return reply(processes.error());
  forEach(context, *processes, wanted, one, argument, std::move(reply), atOnce);
}

enum class Scope { process, group, all };

// The starts and the stops: the name (but for all), then `wait`, true unless given.
template <Scope scope, One one, bool (*wanted)(ProcessState)>
void waiting(const ContextPtr& context, const Params& params, Reply reply) {
  auto wait = waitParam(params, scope == Scope::all ? 0 : 1);
  if (!wait) return reply(wait.error());
  const auto atOnce = one == startOne ? startsAtOnce : nullptr;
  if constexpr (scope == Scope::process) onProcess(context, params, std::move(reply), one, wanted, *wait, atOnce);
  if constexpr (scope == Scope::group) onGroup(context, params, std::move(reply), one, wanted, *wait, atOnce);
  // Stops too go in priority order, as supervisord's (not in the reverse order of its shutdown).
  if constexpr (scope == Scope::all)
    forEach(context, byPriority(processNames(context->service)), wanted, one, *wait, std::move(reply), atOnce);
}

// The signal parameter: a name ("HUP", "SIGHUP", any case) or a number, as text or an int; BAD_SIGNAL else.
Expected<Value, Fault> signalParam(const Params& params, std::size_t index) {
  auto text = stringParam(params, index);
  if (!text) return text.error();
  const auto number = parseSignal(*text);
  if (!number) return Fault(FaultCode::badSignal, *text);
  return integer(*number);
}

// A bad signal for many: BAD_SIGNAL in the entry of each member that could take a signal, as supervisord's.
Value badSignals(const std::vector<ProcessName>& processes, const Fault& fault) {
  Value results = array();
  for (const auto& p : processes)
    if (signallable(p.status.state)) results.items.push_back(resultEntry(p, fault.code, fault.text));
  return results;
}

void signalProcess(const ContextPtr& context, const Params& params, Reply reply) {
  auto name = stringParam(params, 0);
  if (!name) return reply(name.error());
  const auto spec = splitNamespec(*name);
  if (resolve(context->service, spec).empty()) return reply(Fault(FaultCode::badName, *name));
  auto signal = signalParam(params, 1);
  if (!signal && !spec.process) return reply(badSignals(groupProcesses(context->service, spec.group), signal.error()));
  if (!signal) return reply(signal.error());
  onProcess(context, params, std::move(reply), signalOne, signallable, *signal);
}

void signalProcessGroup(const ContextPtr& context, const Params& params, Reply reply) {
  auto signal = signalParam(params, 1);
  auto name = stringParam(params, 0);
  if (!name) return reply(name.error());
  auto processes = groupOf(context, *name);
  if (!processes) return reply(processes.error());
  if (!signal) return reply(badSignals(*processes, signal.error()));
  forEach(context, *processes, signallable, signalOne, *signal, std::move(reply));
}

void signalAllProcesses(const ContextPtr& context, const Params& params, Reply reply) {
  auto signal = signalParam(params, 0);
  const auto processes = byPriority(processNames(context->service));
  if (!signal) return reply(badSignals(processes, signal.error()));
  forEach(context, processes, signallable, signalOne, *signal, std::move(reply));
}

// taskmaster gives its programs no stdin pipe (their stdin is /dev/null): a running process's stdin is as
// closed, which supervisord answers NO_FILE.
void sendProcessStdin(const ContextPtr& context, const Params& params, Reply reply) {
  if (params[1].kind != Value::Kind::string && params[1].kind != Value::Kind::binary)
    return reply(Fault(FaultCode::incorrectParameters, "chars must be a string"));
  auto process = oneProcess(context->service, params);
  if (!process) return reply(process.error());
  const auto& status = process->status;
  const std::string name = *stringParam(params, 0);
  if (status.pid == 0 || status.state == ProcessState::stopping) return reply(Fault(FaultCode::notRunning, name));
  const auto sent = context->service.supervisor().sendInput(status.instance, params[1].text);
  if (sent) return reply(boolean(true));
  // supervisord's faults: NOT_RUNNING for a process gone meanwhile, NO_FILE for an input that is closed or
  // /dev/null; FAILED for 64 KiB the program has not read yet (supervisord buffers without a limit).
  const std::error_code code = sent.error().code;
  if (code == Errc::not_running) return reply(Fault(FaultCode::notRunning, name));
  if (code == Errc::input_full) return reply(Fault(FaultCode::failed, name));
  reply(Fault(FaultCode::noFile, name));
}

const std::vector<Method> kProcess{
    {"supervisor.getProcessInfo", getProcessInfo, 1, 1, "struct string",
     "Get info about a process named name\n\n@param string name The name of the process (or 'group:name')\n@return "
     "struct result     A structure containing data about the process"},
    {"supervisor.getAllProcessInfo", getAllProcessInfo, 0, 0, "array",
     "Get info about all processes\n\n@return array result  An array of process status results"},
    {"supervisor.startProcess", waiting<Scope::process, startOne, notRunning>, 1, 2, "boolean string boolean",
     "Start a process\n\n@param string name Process name (or ``group:name``, or ``group:*``)\n@param boolean wait Wait "
     "for process to be fully started\n@return boolean result     Always true unless error"},
    {"supervisor.startProcessGroup", waiting<Scope::group, startOne, notRunning>, 1, 2, "array string boolean",
     "Start all processes in the group named 'name'\n\n@param string name     The group name\n@param boolean wait    "
     "Wait for each process to be fully started\n@return array result   An array of process status info structs"},
    {"supervisor.startAllProcesses", waiting<Scope::all, startOne, notRunning>, 0, 1, "array boolean",
     "Start all processes listed in the configuration file\n\n@param boolean wait    Wait for each process to be fully "
     "started\n@return array result   An array of process status info structs"},
    {"supervisor.stopProcess", waiting<Scope::process, stopOne, runningState>, 1, 2, "boolean string boolean",
     "Stop a process named by name\n\n@param string name  The name of the process to stop (or 'group:name')\n@param "
     "boolean wait        Wait for the process to be fully stopped\n@return boolean result     Always return True "
     "unless error"},
    {"supervisor.stopProcessGroup", waiting<Scope::group, stopOne, runningState>, 1, 2, "array string boolean",
     "Stop all processes in the process group named 'name'\n\n@param string name     The group name\n@param boolean "
     "wait    Wait for each process to be fully stopped\n@return array result   An array of process status info "
     "structs"},
    {"supervisor.stopAllProcesses", waiting<Scope::all, stopOne, runningState>, 0, 1, "array boolean",
     "Stop all processes in the process list\n\n@param  boolean wait   Wait for each process to be fully "
     "stopped\n@return array result   An array of process status info structs"},
    {"supervisor.signalProcess", signalProcess, 2, 2, "boolean string string",
     "Send an arbitrary UNIX signal to the process named by name\n\n@param string name    Name of the process to "
     "signal (or 'group:name')\n@param string signal  Signal to send, as name ('HUP') or number ('1')\n@return boolean"},
    {"supervisor.signalProcessGroup", signalProcessGroup, 2, 2, "array string string",
     "Send a signal to all processes in the group named 'name'\n\n@param string name    The group name\n@param string "
     "signal  Signal to send, as name ('HUP') or number ('1')\n@return array"},
    {"supervisor.signalAllProcesses", signalAllProcesses, 1, 1, "array string",
     "Send a signal to all processes in the process list\n\n@param string signal  Signal to send, as name ('HUP') or "
     "number ('1')\n@return array         An array of process status info structs"},
    {"supervisor.sendProcessStdin", sendProcessStdin, 2, 2, "boolean string string",
     "Send a string of chars to the stdin of the process name. taskmaster's programs have no stdin pipe: a running "
     "process answers NO_FILE, as a process whose stdin is closed.\n\n@param string name        The process name to "
     "send to (or 'group:name')\n@param string chars       The character data to send to the process\n@return "
     "boolean result    Always return True unless error"},
};

}  // namespace

std::span<const Method> processMethods() { return kProcess; }

}  // namespace taskmaster::inline v0::xmlrpc::detail
