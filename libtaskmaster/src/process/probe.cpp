#include "process/probe.hpp"

#include <cctype>
#include <charconv>
#include <chrono>
#include <functional>
#include <utility>

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <taskmaster/util.hpp>

namespace taskmaster::inline v0::detail {
namespace asio = boost::asio;
namespace {

// "Connection refused" as the reasons read: "connection refused".
std::string describe(const boost::system::error_code& ec) {
  std::string text = ec.message();
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

class TcpProbe final : public std::enable_shared_from_this<TcpProbe> {
 public:
  TcpProbe(asio::io_context& io, Duration timeout, ProbeHandler done)
      : resolver_(io), socket_(io), timer_(io), timeout_(timeout), done_(std::move(done)) {}

  void start(const std::string& host, const std::string& port) {
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->finish({false, "timed out after " + formatDuration(self->timeout_)});
    });
    // An address needs no resolver (whose work runs on a thread of its own): connect at once.
    boost::system::error_code notAddress;
    const auto address = asio::ip::make_address(host, notAddress);
    unsigned short number = 0;
    const auto [end, bad] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (!notAddress && bad == std::errc{} && end == port.data() + port.size()) {
      socket_.async_connect({address, number}, [self = shared_from_this()](boost::system::error_code error) {
        self->finish(error ? ProbeResult{false, describe(error)} : ProbeResult{true, {}});
      });
      return;
    }
    resolver_.async_resolve(host, port, [self = shared_from_this(), host](boost::system::error_code ec,
                                                                        asio::ip::tcp::resolver::results_type found) {
      if (ec) return self->finish({false, fmt::format("cannot resolve {}: {}", host, describe(ec))});
      asio::async_connect(self->socket_, found, [self](boost::system::error_code error, const asio::ip::tcp::endpoint&) {
        self->finish(error ? ProbeResult{false, describe(error)} : ProbeResult{true, {}});
      });
    });
  }

  // Once: the first of the answer, the timeout and the cancellation.
  void finish(ProbeResult result) {
    auto done = std::exchange(done_, {});
    cancel();
    if (done) done(std::move(result));
  }

  void cancel() {
    done_ = {};
    boost::system::error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    socket_.close(ignored);
  }

 private:
  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  Duration timeout_;
  ProbeHandler done_;
};

class PendingTcpProbe final : public PendingProbe {
 public:
  explicit PendingTcpProbe(std::shared_ptr<TcpProbe> probe) : probe_(std::move(probe)) {}
  ~PendingTcpProbe() override { probe_->cancel(); }
  PendingTcpProbe(const PendingTcpProbe&) = delete;
  PendingTcpProbe& operator=(const PendingTcpProbe&) = delete;

 private:
  std::shared_ptr<TcpProbe> probe_;
};

}  // namespace

std::optional<std::pair<std::string, std::string>> splitHostPort(std::string_view target) {
  const auto colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size()) return std::nullopt;
  std::string_view host = target.substr(0, colon);
  const std::string_view port = target.substr(colon + 1);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return std::nullopt;
  return std::pair{std::string(host), std::string(port)};
}

std::unique_ptr<PendingProbe> probeTcp(asio::io_context& io, const std::string& target, Duration timeout,
                                       ProbeHandler done) {
  auto probe = std::make_shared<TcpProbe>(io, timeout, std::move(done));
  if (auto where = splitHostPort(target)) {
    probe->start(where->first, where->second);
  } else {  // validate() refuses it; reported from the loop all the same
    probe->start(target, "0");
  }
  return std::make_unique<PendingTcpProbe>(std::move(probe));
}

ProbeResult probeResult(const CommandResult& result) {
  return {result.ok(), result.failure()};
}

ProbeResult probeResult(const http::ClientResponse& response) {
  if (response.success()) return {true, {}};
  if (response.status == 0) return {false, response.error};
  return {false, fmt::format("HTTP {}", response.status)};
}

}  // namespace taskmaster::inline v0::detail
