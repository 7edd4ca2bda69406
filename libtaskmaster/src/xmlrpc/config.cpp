// The methods on the configuration: reloadConfig, addProcessGroup, removeProcessGroup, getAllConfigInfo.
#include "xmlrpc/methods.hpp"

namespace taskmaster::inline v0::xmlrpc::detail {

namespace {
const std::vector<Method> kConfig{};
}  // namespace

std::span<const Method> configMethods() { return kConfig; }

}  // namespace taskmaster::inline v0::xmlrpc::detail
