// system.* (listMethods, methodHelp, methodSignature, multicall) and the daemon's own supervisor.* methods
// (versions, identification, state, pid, shutdown, restart).
#include <unistd.h>

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "xmlrpc/methods.hpp"

namespace taskmaster::inline v0::xmlrpc::detail {

namespace {

constexpr std::string_view kApiVersion = "3.0";        // what supervisorctl checks (getVersion)
constexpr std::string_view kSupervisorVersion = "4.2.5";  // the supervisord whose interface this is

void listMethods(const ContextPtr&, const Params&, Reply reply) {
  Value names = array();
  for (const auto& m : methods()) names.items.push_back(string(std::string(m.name)));
  reply(std::move(names));
}

void methodHelp(const ContextPtr&, const Params& params, Reply reply) {
  const Method* m = params[0].kind == Value::Kind::string ? findMethod(params[0].text) : nullptr;
  if (!m) return reply(Fault(FaultCode::signatureUnsupported));
  reply(string(std::string(m->help)));
}

void methodSignature(const ContextPtr&, const Params& params, Reply reply) {
  const Method* m = params[0].kind == Value::Kind::string ? findMethod(params[0].text) : nullptr;
  if (!m) return reply(Fault(FaultCode::signatureUnsupported));
  Value types = array();
  for (std::string_view rest = m->signature; !rest.empty();) {
    const auto space = rest.find(' ');
    types.items.push_back(string(std::string(rest.substr(0, space))));
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  }
  reply(std::move(types));
}

// The calls of a multicall, run one after another: a call that waits holds back the ones after it.
struct Multicall {
  std::vector<Value> calls;
  Value results = array();
  std::size_t next = 0;
  Reply done;
};

// One call of a multicall, its fault in its slot: supervisord's rules.
void runOne(const ContextPtr& context, const Value& call, Reply reply) {
  const Value* name = call.member("methodName");
  if (!name || name->kind != Value::Kind::string) return reply(Fault(FaultCode::incorrectParameters, "No methodName"));
  if (name->text == "system.multicall")
    return reply(Fault(FaultCode::incorrectParameters, "Recursive system.multicall forbidden"));
  const Value* params = call.member("params");
  if (params && params->kind != Value::Kind::array) return reply(Fault(FaultCode::incorrectParameters));
  dispatch(context, name->text, params ? params->items : Params{}, std::move(reply));
}

// Runs the calls left; returns when one must be waited for (its answer runs the rest) or all are done.
void runRest(const std::weak_ptr<Context>& weak, const std::shared_ptr<Multicall>& multi) {
  while (multi->next < multi->calls.size()) {
    const auto context = weak.lock();
    if (!context) return;  // the Interface answers for it
    const std::size_t index = multi->next++;
    multi->results.items.emplace_back();
    // 0: running; 1: answered at once; 2: runRest returned, the answer resumes the calls.
    auto stage = std::make_shared<int>(0);
    runOne(context, multi->calls[index], [weak, multi, index, stage](Answer answer) {
      multi->results.items[index] = answer ? std::move(*answer) : faultStruct(answer.error());
      if (*stage == 0) *stage = 1;
      else runRest(weak, multi);
    });
    if (*stage == 1) continue;
    *stage = 2;
    return;
  }
  multi->done(std::move(multi->results));
}

void multicall(const ContextPtr& context, const Params& params, Reply reply) {
  if (params[0].kind != Value::Kind::array) return reply(Fault(FaultCode::incorrectParameters));
  auto multi = std::make_shared<Multicall>(Multicall{params[0].items, array(), 0, std::move(reply)});
  runRest(context, multi);
}

void getAPIVersion(const ContextPtr&, const Params&, Reply reply) { reply(string(std::string(kApiVersion))); }

void getSupervisorVersion(const ContextPtr&, const Params&, Reply reply) {
  reply(string(std::string(kSupervisorVersion)));
}

void getIdentification(const ContextPtr& context, const Params&, Reply reply) {
  reply(string(context->service.config().identifier));
}

// RUNNING: once shutting down, getState is SHUTDOWN_STATE as every method (supervisord's too).
void getState(const ContextPtr&, const Params&, Reply reply) {
  reply(structure({{"statecode", integer(1)}, {"statename", string("RUNNING")}}));
}

void getPID(const ContextPtr&, const Params&, Reply reply) { reply(integer(::getpid())); }

// Both answer True at once, then leave it to the embedding program: on the loop, after the answer has been
// handed over (never from inside Interface::call()).
void shutdown(const ContextPtr& context, const Params&, Reply reply) {
  reply(boolean(true));
  boost::asio::post(context->service.supervisor().context(), [weak = std::weak_ptr(context)] {
    const auto context = weak.lock();
    if (!context) return;
    if (context->hooks.shutdown) context->hooks.shutdown();
    else context->service.shutdown({});
  });
}

void restart(const ContextPtr& context, const Params&, Reply reply) {
  if (!context->hooks.restart) return reply(Fault(FaultCode::failed, "this taskmaster cannot restart"));
  reply(boolean(true));
  boost::asio::post(context->service.supervisor().context(), [weak = std::weak_ptr(context)] {
    if (const auto context = weak.lock()) context->hooks.restart();
  });
}

// To the event listeners that take REMOTE_COMMUNICATION, through the embedding program's hook.
void sendRemoteCommEvent(const ContextPtr& context, const Params& params, Reply reply) {
  for (const auto& p : params)
    if (p.kind != Value::Kind::string && p.kind != Value::Kind::binary)
      return reply(Fault(FaultCode::incorrectParameters, "type and data must be strings"));
  if (context->hooks.remoteCommunication) context->hooks.remoteCommunication(params[0].text, params[1].text);
  reply(boolean(true));
}

const std::vector<Method> kSystem{
    {"system.listMethods", listMethods, 0, 0, "array",
     "Return an array listing the available method names\n\n@return array result  An array of method names available "
     "(strings).", true},
    {"system.methodHelp", methodHelp, 1, 1, "string string",
     "Return a string showing the method's documentation\n\n@param string name   The name of the method.\n@return "
     "string result The documentation for the method name.", true},
    {"system.methodSignature", methodSignature, 1, 1, "array string",
     "Return an array describing the method signature in the form [rtype, ptype, ptype...] where rtype is the return "
     "data type of the method, and ptypes are the parameter data types that the method accepts in method argument "
     "order.\n\n@param string name  The name of the method.\n@return array result  The result.", true},
    {"system.multicall", multicall, 1, 1, "array array",
     "Process an array of calls, and return an array of results. Calls should be structs of the form {'methodName': "
     "string, 'params': array}. Each result is the value of its call, or a struct of the form {'faultCode': int, "
     "'faultString': string}.\n\n@param array calls  An array of call requests\n@return array result  An array of "
     "results", true},
};

const std::vector<Method> kState{
    {"supervisor.getAPIVersion", getAPIVersion, 0, 0, "string",
     "Return the version of the RPC API used by supervisord\n\n@return string version id"},
    {"supervisor.getVersion", getAPIVersion, 0, 0, "string",
     "Return the version of the RPC API used by supervisord (an alias of getAPIVersion)\n\n@return string version id"},
    {"supervisor.getSupervisorVersion", getSupervisorVersion, 0, 0, "string",
     "Return the version of the supervisor package whose interface this is\n\n@return string version"},
    {"supervisor.getIdentification", getIdentification, 0, 0, "string",
     "Return identifying string of supervisord\n\n@return string identifier identifying string"},
    {"supervisor.getState", getState, 0, 0, "struct",
     "Return current state of supervisord as a struct\n\n@return struct A struct with keys int statecode, string "
     "statename"},
    {"supervisor.getPID", getPID, 0, 0, "int", "Return the PID of supervisord\n\n@return int PID"},
    {"supervisor.shutdown", shutdown, 0, 0, "boolean",
     "Shut down the supervisor process\n\n@return boolean result always returns True unless error"},
    {"supervisor.restart", restart, 0, 0, "boolean",
     "Restart the supervisor process\n\n@return boolean result  always return True unless error"},
    {"supervisor.sendRemoteCommEvent", sendRemoteCommEvent, 2, 2, "boolean string string",
     "Send an event that will be received by event listener subprocesses subscribing to the "
     "RemoteCommunicationEvent.\n\n@param  string  type  "
     "String for the \"type\" key in the event header\n@param  string  data  Data for the event body\n@return boolean "
     "      Always return True unless error", true},
};

}  // namespace

std::span<const Method> systemMethods() { return kSystem; }
std::span<const Method> stateMethods() { return kState; }

}  // namespace taskmaster::inline v0::xmlrpc::detail
