#include "daemon/settings.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace cli {
namespace {

std::string show(rlim_t value) { return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value); }

// As supervisord does: a soft limit below `minimum` is raised to it, and the hard limit with it when it is
// lower too (which only a privileged process may do). `key` and `what` word the error.
std::string raiseLimit(int resource, std::uint64_t minimum, std::string_view key, std::string_view what) {
  rlimit limit{};
  if (::getrlimit(resource, &limit) < 0) return fmt::format("{}: getrlimit: {}", key, std::strerror(errno));
  const auto wanted = static_cast<rlim_t>(minimum);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) return {};
  rlimit raised{wanted, limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted ? limit.rlim_max : wanted};
  if (::setrlimit(resource, &raised) == 0) return {};
  return fmt::format("{} = {}: cannot raise the limit on {} to {}: {} (the soft limit is {}, the hard limit {}); "
                     "raise the hard limit of this environment or lower {}",
                     key, minimum, what, minimum, std::strerror(errno), show(limit.rlim_cur), show(limit.rlim_max),
                     key);
}

}  // namespace

std::string applyProcessSettings(const taskmaster::Config& config) {
  if (config.minfds) {
    if (auto error = raiseLimit(RLIMIT_NOFILE, *config.minfds, "minfds", "open files"); !error.empty()) return error;
  }
  if (config.minprocs) {
    if (auto error = raiseLimit(RLIMIT_NPROC, *config.minprocs, "minprocs", "processes"); !error.empty())
      return error;
  }
  if (config.umask) ::umask(static_cast<mode_t>(*config.umask & 0777));
  if (config.directory && ::chdir(config.directory->c_str()) < 0)
    return fmt::format("directory = {}: cannot change to it: {}", *config.directory, std::strerror(errno));
  return {};
}

}  // namespace cli
