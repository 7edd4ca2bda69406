// Internal: the methods of the Interface (xmlrpc.hpp), one table, each method a function of its parameters
// that answers through a Reply: at once, or later for the methods that wait.
#pragma once

#include "private.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <taskmaster/xmlrpc.hpp>

#include "xmlrpc/names.hpp"
#include "xmlrpc/value.hpp"

namespace taskmaster::inline v0::xmlrpc::detail {

using Answer = Expected<Value, Fault>;
using Reply = std::function<void(Answer)>;
using Params = std::vector<Value>;

// What every method reaches. Methods that answer later hold it by a weak_ptr: the Interface may go first.
struct Context {
  Service& service;
  InterfaceHooks hooks;
};
using ContextPtr = std::shared_ptr<Context>;

struct Method {
  std::string_view name;       // "supervisor.getState"
  void (*run)(const ContextPtr&, const Params&, Reply);
  std::size_t minParams = 0;
  std::size_t maxParams = 0;
  std::string_view signature;  // the types, return type first: "struct", "boolean string boolean"
  std::string_view help;       // system.methodHelp
  bool whileShuttingDown = false;  // answered even then (else SHUTDOWN_STATE)
};

// Every method, sorted by name.
[[nodiscard]] std::span<const Method> methods();
[[nodiscard]] const Method* findMethod(std::string_view name);

// Runs one call: the method found, its parameters counted, the shutdown refused, then the method.
void dispatch(const ContextPtr& context, std::string_view name, const Params& params, Reply reply);

// The parts of the table, each defined beside its methods.
[[nodiscard]] std::span<const Method> systemMethods();
[[nodiscard]] std::span<const Method> stateMethods();
[[nodiscard]] std::span<const Method> processMethods();
[[nodiscard]] std::span<const Method> logMethods();
[[nodiscard]] std::span<const Method> configMethods();

// --- what the methods share ------------------------------------------------------------------------

// Parameter `index` as a string, an int or a boolean; an INCORRECT_PARAMETERS Fault when it is another type.
[[nodiscard]] Expected<std::string, Fault> stringParam(const Params& params, std::size_t index);
[[nodiscard]] Expected<std::int64_t, Fault> intParam(const Params& params, std::size_t index);
// A boolean, or an int as Python's truth (0 false); absent: `fallback`.
[[nodiscard]] Expected<bool, Fault> boolParam(const Params& params, std::size_t index, bool fallback);

// supervisord's process states and their names.
[[nodiscard]] int stateCode(ProcessState state);
[[nodiscard]] std::string_view stateName(ProcessState state);
// RUNNING_STATES: STARTING, RUNNING, BACKOFF.
[[nodiscard]] bool runningState(ProcessState state);

// The one process parameter 0 (or `name`) names, or BAD_NAME (a group's name too, as supervisord's).
[[nodiscard]] Expected<ProcessName, Fault> oneProcess(const Service& service, const Params& params);
[[nodiscard]] Expected<ProcessName, Fault> oneProcess(const Service& service, std::string_view name);

// Where the log of a process's stream is: its file, or (a YAML configuration's output kept in memory only) its
// OutputLog. BAD_NAME, or NO_FILE when it has none, as supervisord: no file (a supervisord.conf's NONE, a
// redirected stderr) or a file not there yet. /logtail answers 404 for the same.
struct LogSource {
  std::string path;                   // the file; empty: in memory
  std::shared_ptr<OutputLog> memory;  // set when in memory
};
[[nodiscard]] Expected<LogSource, Fault> processLog(const Service& service, std::string_view name, StdStream stream);

// The process info struct of getProcessInfo.
[[nodiscard]] Value processInfo(const ProcessName& process, WallTime now);
// An entry of the result array of the operations on many: {name, group, status, description}.
[[nodiscard]] Value resultEntry(const ProcessName& process, FaultCode status, std::string description);
[[nodiscard]] Value faultStruct(const Fault& fault);

}  // namespace taskmaster::inline v0::xmlrpc::detail
