// Internal: supervisord's names for taskmaster's instances (docs/xmlrpc.md, "Names and groups").
//
// supervisord names a process by its group and its own name; taskmaster by program and instance. The mapping:
// - a program "GROUP:PROCESS" (one instance: every process of a supervisord.conf is such a program, or a
//   program named PROCESS alone) is process PROCESS of group GROUP;
// - a program "web" of one instance is process "web" of group "web";
// - a program "web" of numprocs N (YAML) is group "web", whose processes are its instances: "0" ... "N-1",
//   so that supervisord's "web:1" is taskmaster's instance "web:1".
// Either way, supervisord's namespec GROUP:PROCESS is the instance's taskmaster name, and a namespec NAME
// alone is taskmaster's program of one instance NAME.
#pragma once

#include "private.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <taskmaster/commands.hpp>

namespace taskmaster::inline v0::xmlrpc::detail {

struct ProcessName {
  std::string group;
  std::string name;
  InstanceStatus status;  // its instance (status.instance is taskmaster's name), as it was when listed
  int priority = 999;     // its program's
  // Its program in Service::config(), when listed: valid until that changes, so only for use at once.
  const ProgramSpec* spec = nullptr;
};

// supervisord's name of an instance (make_namespec): NAME when group and process are the same, else GROUP:NAME.
[[nodiscard]] std::string namespec(const ProcessName& process);
// The group and process name of one instance, as the header says.
[[nodiscard]] ProcessName nameOf(InstanceStatus status, const ProgramSpec* spec);

// Every instance of the service's supervisor, in supervisord's order for getAllProcessInfo: by group, then
// by process name, as text.
[[nodiscard]] std::vector<ProcessName> processNames(const Service& service);
// The same in the order of the operations on many (startAllProcesses): by priority, then as above.
[[nodiscard]] std::vector<ProcessName> byPriority(std::vector<ProcessName> processes);

// A namespec as supervisord splits it (split_namespec): "g:p" is process p of group g, "g:" and "g:*" the
// whole group g (no process), "p" process p of group p.
struct Namespec {
  std::string group;
  std::optional<std::string> process;
};
[[nodiscard]] Namespec splitNamespec(std::string_view text);

// The processes a namespec names: one, or a whole group; none when its group or process does not exist.
[[nodiscard]] std::vector<ProcessName> resolve(const Service& service, const Namespec& spec);
// The taskmaster instance ("web:1", "g:a", "web") that a namespec names as one process; nullopt for a group
// ("g:*") or a name that resolves to nothing. For /logtail and the methods on one process.
[[nodiscard]] std::optional<std::string> instanceOf(const Service& service, std::string_view namespec);

// The processes of one group, by priority; none when there is no such group.
[[nodiscard]] std::vector<ProcessName> groupProcesses(const Service& service, std::string_view group);

}  // namespace taskmaster::inline v0::xmlrpc::detail
