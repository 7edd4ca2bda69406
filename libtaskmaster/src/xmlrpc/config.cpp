// The methods on the configuration: reloadConfig (read the file, say which groups differ, change nothing),
// addProcessGroup and removeProcessGroup (supervisorctl's update does the rest with stopProcessGroup), and
// getAllConfigInfo (avail).
#include <pwd.h>

#include <algorithm>

#include <fmt/format.h>

#include "xmlrpc/methods.hpp"

namespace taskmaster::inline v0::xmlrpc::detail {

namespace {

Value names(const std::vector<std::string>& list) {
  Value out = array();
  for (const auto& name : list) out.items.push_back(string(name));
  return out;
}

void reloadConfig(const ContextPtr& context, const Params&, Reply reply) {
  auto report = context->service.reread();
  if (!report.ok()) {
    std::string why = report.problems.front().str();
    if (report.problems.size() > 1) why += fmt::format(" (and {} more problems)", report.problems.size() - 1);
    return reply(Fault(FaultCode::cantReread, why));
  }
  reply(array({array({names(report.added), names(report.changed), names(report.removed)})}));
}

// addProcessGroup and removeProcessGroup: the Service's answer as supervisord's faults.
template <GroupChange (Service::*change)(std::string_view)>
void changeGroup(const ContextPtr& context, const Params& params, Reply reply) {
  auto name = stringParam(params, 0);
  if (!name) return reply(name.error());
  switch ((context->service.*change)(*name)) {
    case GroupChange::done:
      if (context->hooks.configChanged) context->hooks.configChanged();
      return reply(boolean(true));
    case GroupChange::alreadyActive: return reply(Fault(FaultCode::alreadyAdded, *name));
    case GroupChange::stillRunning: return reply(Fault(FaultCode::stillRunning, *name));
    case GroupChange::unknown: break;
  }
  reply(Fault(FaultCode::badName, *name));
}

std::string commandLine(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

Value uidOf(const std::optional<std::string>& user) {
  if (!user) return string("none");
  passwd entry{};
  passwd* found = nullptr;
  std::string buffer(16384, '\0');
  if (::getpwnam_r(user->c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 && found)
    return integer(found->pw_uid);
  return string("none");
}

// One process's entry, with supervisord's keys; what supervisord would say 'none' for is 'none'.
Value configInfo(const ProgramSpec& spec, int index, bool inuse) {
  InstanceStatus status;
  status.program = spec.name;
  status.instance = spec.instanceName(index);
  status.index = index;
  const auto instance = nameOf(std::move(status), &spec);
  const auto log = [&](StdStream stream) {
    if (stream == StdStream::err && spec.redirectStderr) return string("none");
    return string(spec.outputPath(stream, index).value_or("none"));
  };
  Value exitcodes = array();
  for (const int code : spec.exitcodes) exitcodes.items.push_back(integer(code));
  const auto secs = [](Duration d) { return integer(std::chrono::duration_cast<std::chrono::seconds>(d).count()); };
  return structure({
      {"autostart", boolean(spec.autostart)},
      {"directory", string(spec.workingdir.value_or("none"))},
      {"uid", uidOf(spec.user)},
      {"command", string(commandLine(spec.cmd))},
      {"exitcodes", std::move(exitcodes)},
      {"group", string(instance.group)},
      {"group_prio", integer(spec.priority)},
      {"inuse", boolean(inuse)},
      {"killasgroup", boolean(spec.killasgroup)},
      {"name", string(instance.name)},
      {"process_prio", integer(spec.priority)},
      {"redirect_stderr", boolean(spec.redirectStderr)},
      {"startretries", integer(std::min(spec.startretries, 1'000'000))},
      {"startsecs", secs(spec.starttime)},
      {"stdout_capture_maxbytes", integer(0)},
      {"stdout_events_enabled", boolean(false)},
      {"stdout_logfile", log(StdStream::out)},
      {"stdout_logfile_backups", integer(spec.stdoutRotation.backups)},
      {"stdout_logfile_maxbytes", integer(static_cast<std::int64_t>(spec.stdoutRotation.maxBytes))},
      {"stdout_syslog", boolean(false)},
      {"stopsignal", integer(spec.stopsignal)},
      {"stopwaitsecs", secs(spec.stoptime)},
      {"stderr_capture_maxbytes", integer(0)},
      {"stderr_events_enabled", boolean(false)},
      {"stderr_logfile", log(StdStream::err)},
      {"stderr_logfile_backups", integer(spec.stderrRotation.backups)},
      {"stderr_logfile_maxbytes", integer(static_cast<std::int64_t>(spec.stderrRotation.maxBytes))},
      {"stderr_syslog", boolean(false)},
      {"serverurl", string("none")},
  });
}

// Every process of the configuration last read, in use when its group runs, sorted by process name.
void getAllConfigInfo(const ContextPtr& context, const Params&, Reply reply) {
  const Config& running = context->service.config();
  std::vector<std::pair<std::string, Value>> entries;
  for (const auto& spec : context->service.lastRead().programs) {
    const bool inuse = std::ranges::any_of(running.programs, [&](const ProgramSpec& s) { return s.group() == spec.group(); });
    for (int i = 0; i < spec.numprocs; ++i) {
      Value info = configInfo(spec, i, inuse);
      std::string key = info.member("name")->text;
      entries.emplace_back(std::move(key), std::move(info));
    }
  }
  std::ranges::stable_sort(entries, {}, &std::pair<std::string, Value>::first);
  Value out = array();
  for (auto& entry : entries) out.items.push_back(std::move(entry.second));
  reply(std::move(out));
}

const std::vector<Method> kConfig{
    {"supervisor.reloadConfig", reloadConfig, 0, 0, "array",
     "Reload the configuration.\n\nThe result contains three arrays containing names of process groups:\n\n* `added` "
     "gives the process groups that have been added\n* `changed` gives the process groups whose contents have "
     "changed\n* `removed` gives the process groups that are no longer in the configuration\n\n@return array result  "
     "[[added, changed, removed]]"},
    {"supervisor.addProcessGroup", changeGroup<&Service::addGroup>, 1, 1, "boolean string",
     "Update the config for a running process from config file.\n\n@param string name         name of process group "
     "to add\n@return boolean result     true if successful"},
    {"supervisor.removeProcessGroup", changeGroup<&Service::removeGroup>, 1, 1, "boolean string",
     "Remove a stopped process from the active configuration.\n\n@param string name         name of process group to "
     "remove\n@return boolean result     Indicates whether the removal was successful"},
    {"supervisor.getAllConfigInfo", getAllConfigInfo, 0, 0, "array",
     "Get info about all available process configurations. Each struct represents a single process (i.e. groups get "
     "flattened).\n\n@return array result  An array of process config info structs"},
};

}  // namespace

std::span<const Method> configMethods() { return kConfig; }

}  // namespace taskmaster::inline v0::xmlrpc::detail
