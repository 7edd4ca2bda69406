// supervisord's names for taskmaster's instances: the one mapping, in both directions.
#include "xmlrpc/names.hpp"

#include <algorithm>
#include <tuple>
#include <unordered_map>

namespace taskmaster::inline v0::xmlrpc::detail {

std::string namespec(const ProcessName& process) {
  return process.group == process.name ? process.name : process.group + ":" + process.name;
}

ProcessName nameOf(InstanceStatus status, const ProgramSpec* spec) {
  ProcessName out;
  const std::string& program = status.program;
  if (const auto colon = program.find(':'); colon != std::string::npos) {
    out.group = program.substr(0, colon);
    out.name = program.substr(colon + 1);
  } else if (status.instance == program) {
    out.group = out.name = program;
  } else {  // "web:1", an instance of a program of several
    out.group = program;
    out.name = status.instance.substr(program.size() + 1);
  }
  out.status = std::move(status);
  out.spec = spec;
  if (spec) out.priority = spec->priority;
  return out;
}

std::vector<ProcessName> processNames(const Service& service) {
  std::unordered_map<std::string_view, const ProgramSpec*> specs;
  for (const auto& spec : service.config().programs) specs.emplace(spec.name, &spec);
  std::vector<ProcessName> out;
  for (auto& status : service.status({}).instances) {
    const auto spec = specs.find(status.program);
    out.push_back(nameOf(std::move(status), spec == specs.end() ? nullptr : spec->second));
  }
  std::ranges::sort(out, [](const ProcessName& a, const ProcessName& b) {
    return std::tie(a.group, a.name) < std::tie(b.group, b.name);
  });
  return out;
}

std::vector<ProcessName> byPriority(std::vector<ProcessName> processes) {
  std::ranges::stable_sort(processes, [](const ProcessName& a, const ProcessName& b) {
    return std::tie(a.priority, a.group, a.name) < std::tie(b.priority, b.group, b.name);
  });
  return processes;
}

Namespec splitNamespec(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return {std::string(text), std::string(text)};
  const auto process = text.substr(colon + 1);
  if (process.empty() || process == "*") return {std::string(text.substr(0, colon)), std::nullopt};
  return {std::string(text.substr(0, colon)), std::string(process)};
}

std::vector<ProcessName> resolve(const Service& service, const Namespec& spec) {
  std::vector<ProcessName> out;
  for (auto& p : processNames(service))
    if (p.group == spec.group && (!spec.process || p.name == *spec.process)) out.push_back(std::move(p));
  return out;
}

std::optional<std::string> instanceOf(const Service& service, std::string_view text) {
  const auto spec = splitNamespec(text);
  if (!spec.process) return std::nullopt;
  auto found = resolve(service, spec);
  if (found.empty()) return std::nullopt;
  return std::move(found.front().status.instance);
}

std::vector<ProcessName> groupProcesses(const Service& service, std::string_view group) {
  return byPriority(resolve(service, Namespec{std::string(group), std::nullopt}));
}

}  // namespace taskmaster::inline v0::xmlrpc::detail
