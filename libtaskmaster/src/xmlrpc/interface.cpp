// The Interface: a request's body decoded, its method run, the answer encoded and handed over on the loop.
#include <taskmaster/xmlrpc.hpp>

#include <algorithm>
#include <charconv>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "xmlrpc/methods.hpp"

namespace taskmaster::inline v0::xmlrpc {

using namespace detail;

// A call not answered yet. Answered once: by its method, or by the Interface's end.
struct Pending {
  std::function<void(std::string)> done;
  bool answered = false;
};

struct Interface::State {
  ContextPtr context;
  std::vector<std::weak_ptr<Pending>> waiting;  // the calls that did not answer at once
};

Interface::Interface(Service& service, InterfaceHooks hooks)
    : state_(std::make_shared<State>(State{std::make_shared<Context>(Context{service, std::move(hooks)}), {}})) {}

Interface::~Interface() {
  auto& io = state_->context->service.supervisor().context();
  for (const auto& weak : state_->waiting) {
    const auto pending = weak.lock();
    if (!pending || std::exchange(pending->answered, true)) continue;
    boost::asio::post(io, [pending, text = encodeFault(Fault(FaultCode::shutdownState))] { pending->done(text); });
  }
}

void Interface::call(std::string_view body, std::function<void(std::string response)> done) {
  auto& io = state_->context->service.supervisor().context();
  auto pending = std::make_shared<Pending>(Pending{std::move(done), false});
  auto reply = [&io, pending](Answer answer) {
    if (std::exchange(pending->answered, true)) return;
    std::string text = answer ? encodeResponse(*answer) : encodeFault(answer.error());
    boost::asio::post(io, [pending, text = std::move(text)] { pending->done(text); });
  };
  auto request = decodeCall(body);
  if (!request) return reply(request.error());
  dispatch(state_->context, request->name, request->params, reply);
  if (pending->answered) return;
  std::erase_if(state_->waiting, [](const auto& weak) { return weak.expired(); });
  state_->waiting.push_back(pending);
}

}  // namespace taskmaster::inline v0::xmlrpc

namespace taskmaster::inline v0::xmlrpc::detail {

std::span<const Method> methods() {
  static const std::vector<Method> table = [] {
    std::vector<Method> all;
    for (const auto part : {systemMethods(), stateMethods(), processMethods(), logMethods(), configMethods()})
      all.insert(all.end(), part.begin(), part.end());
    std::ranges::sort(all, {}, &Method::name);
    return all;
  }();
  return table;
}

const Method* findMethod(std::string_view name) {
  const auto all = methods();
  const auto it = std::ranges::lower_bound(all, name, {}, &Method::name);
  return it != all.end() && it->name == name ? &*it : nullptr;
}

void dispatch(const ContextPtr& context, std::string_view name, const Params& params, Reply reply) {
  const Method* method = findMethod(name);
  if (!method) return reply(Fault(FaultCode::unknownMethod));
  if (params.size() < method->minParams || params.size() > method->maxParams)
    return reply(Fault(FaultCode::incorrectParameters));
  if (!method->whileShuttingDown && context->service.supervisor().shuttingDown())
    return reply(Fault(FaultCode::shutdownState));
  method->run(context, params, std::move(reply));
}

Expected<std::string, Fault> stringParam(const Params& params, std::size_t index) {
  const Value& v = params.at(index);
  switch (v.kind) {
    case Value::Kind::string:
    case Value::Kind::binary: return v.text;
    case Value::Kind::integer: return std::to_string(v.integer);
    default: return Fault(FaultCode::incorrectParameters, "a string was expected");
  }
}

Expected<std::int64_t, Fault> intParam(const Params& params, std::size_t index) {
  const Value& v = params.at(index);
  if (v.kind == Value::Kind::integer) return v.integer;
  if (v.kind == Value::Kind::boolean) return std::int64_t{v.boolean};
  if (v.kind == Value::Kind::string) {  // Python's int("12"), as supervisord's int(offset)
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
    if (!v.text.empty() && ec == std::errc{} && end == v.text.data() + v.text.size()) return n;
  }
  return Fault(FaultCode::incorrectParameters, "an integer was expected");
}

Expected<bool, Fault> boolParam(const Params& params, std::size_t index, bool fallback) {
  if (index >= params.size()) return fallback;
  const Value& v = params[index];
  if (v.kind == Value::Kind::boolean) return v.boolean;
  if (v.kind == Value::Kind::integer) return v.integer != 0;
  return Fault(FaultCode::incorrectParameters, "a boolean was expected");
}

Value faultStruct(const Fault& fault) {
  return structure({{"faultCode", integer(static_cast<int>(fault.code))}, {"faultString", string(fault.text)}});
}

}  // namespace taskmaster::inline v0::xmlrpc::detail
