// Internal: the probes of readiness checks and health checks on the loop (core/host.hpp ProbeRequest). TCP:
// an asynchronous resolve and connect bounded by the timeout. Exec and HTTP run through runCommand
// (process/command.hpp) and the HTTP client (util/http_client.hpp); here is what their results mean as
// probes.
#pragma once

#include "private.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/host.hpp"
#include "process/command.hpp"
#include "util/http_client.hpp"

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

// "HOST:PORT" ("[::1]:80" for an IPv6 address) as host and port; nullopt when it is not that.
[[nodiscard]] std::optional<std::pair<std::string, std::string>> splitHostPort(std::string_view target);

// Connects to target within `timeout`; the result comes once through done, never from inside.
[[nodiscard]] std::unique_ptr<PendingProbe> probeTcp(boost::asio::io_context& io, const std::string& target,
                                                     Duration timeout, ProbeHandler done);

// Passed: exit 0. Failed: "exit status 1: <its first line of output>", "timed out after 2s", "spawn error: ...".
[[nodiscard]] ProbeResult probeResult(const CommandResult& result);
// Passed: a 2xx answer. Failed: "HTTP 503", or why no answer came ("connection refused").
[[nodiscard]] ProbeResult probeResult(const http::ClientResponse& response);

}  // namespace taskmaster::inline v0::detail
