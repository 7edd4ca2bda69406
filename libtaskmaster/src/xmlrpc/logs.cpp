// The methods on output: reading, tailing and clearing the programs' logs and the event log.
#include "xmlrpc/methods.hpp"

namespace taskmaster::inline v0::xmlrpc::detail {

namespace {
const std::vector<Method> kLogs{};
}  // namespace

std::span<const Method> logMethods() { return kLogs; }

}  // namespace taskmaster::inline v0::xmlrpc::detail
