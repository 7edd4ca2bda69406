// The HTTP/1.1 endpoint of the metrics: GET /metrics over the connections of util/http.hpp (Boost.Beast on the
// supervisor's loop, every read and write bounded in size and time).
#include <taskmaster/metrics.hpp>

#include <charconv>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>

#include "util/http.hpp"

namespace taskmaster::inline v0::metrics {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = detail::http;
using Tcp = asio::ip::tcp;

namespace {

Error badAddress(std::string_view text, std::string_view why) {
  return Error{std::make_error_code(std::errc::invalid_argument), fmt::format("metrics address '{}': {}", text, why)};
}

// parseAddress(), as the endpoint to bind.
Result<Tcp::endpoint> toEndpoint(std::string_view text) {
  std::string_view host = "127.0.0.1";
  std::string_view port = text;
  if (text.find_first_not_of("0123456789") != std::string_view::npos) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return badAddress(text, "expected HOST:PORT or a port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host == "localhost") host = "127.0.0.1";
  }
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number > 65535)
    return badAddress(text, "the port must be a number from 0 to 65535");
  boost::system::error_code bad;
  const auto address = asio::ip::make_address(std::string(host), bad);
  if (bad) return badAddress(text, fmt::format("'{}' is not an IP address (nor localhost)", host));
  return Tcp::endpoint(address, static_cast<unsigned short>(number));
}

std::string format(const Tcp::endpoint& endpoint) { return http::describe(http::Protocol::endpoint(endpoint)); }

constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

Result<std::string> parseAddress(std::string_view text) {
  auto endpoint = toEndpoint(text);
  if (!endpoint) return endpoint.error();
  return format(*endpoint);
}

class Endpoint::Impl {
 public:
  Impl(asio::io_context& io, Collector& collector, EndpointOptions options)
      : collector_(&collector),
        listener_(io,
                  {.maxHeaderBytes = options.maxRequestBytes,
                   .maxBodyBytes = options.maxRequestBytes,
                   .requestTimeout = options.requestTimeout,
                   .writeTimeout = options.writeTimeout,
                   .maxClients = options.maxClients},
                  [this](const std::shared_ptr<http::Connection>& connection) { serve(*connection); }) {}

  Result<> listen(std::string_view text) {
    auto endpoint = toEndpoint(text);
    if (!endpoint) return endpoint.error();
    if (const auto ec = listener_.listen(http::Protocol::endpoint(*endpoint))) {
      return Error{std::error_code(ec.value(), std::generic_category()),
                   fmt::format("cannot listen on {}: {}", format(*endpoint), ec.message())};
    }
    return {};
  }

  void close() { listener_.close(); }

  std::string address() const {
    const auto local = listener_.local();
    return local ? http::describe(*local) : std::string();
  }

  std::size_t clients() const { return listener_.clients(); }
  // Shared with the Collector, which may outlive the Endpoint.
  std::shared_ptr<std::uint64_t> scrapes_ = std::make_shared<std::uint64_t>(0);

 private:
  void serve(http::Connection& connection) {
    const auto& request = connection.request();
    std::string_view target = request.target();
    target = target.substr(0, target.find('?'));
    if (target != "/metrics") return connection.reply(http::Status::not_found, "not found: the metrics are at /metrics\n");
    const bool head = request.method() == beast::http::verb::head;
    if (request.method() != beast::http::verb::get && !head) {
      auto response = http::textResponse(http::Status::method_not_allowed, "method not allowed: GET /metrics\n");
      response.set(beast::http::field::allow, "GET, HEAD");
      return connection.reply(std::move(response));
    }
    ++*scrapes_;
    http::Response response{http::Status::ok, 11};
    response.set(beast::http::field::content_type, kContentType);
    response.body() = collector_->render();
    response.content_length(response.body().size());
    if (head) response.body().clear();
    connection.reply(std::move(response));
  }

  Collector* collector_;
  http::Listener listener_;  // last: closed before the rest goes
};

Endpoint::Endpoint(asio::io_context& io, Collector& collector, EndpointOptions options)
    : impl_(std::make_shared<Impl>(io, collector, options)) {
  collector.setScrapes([scrapes = std::weak_ptr<std::uint64_t>(impl_->scrapes_)] {
    const auto shared = scrapes.lock();
    return shared ? *shared : 0;
  });
}

Endpoint::~Endpoint() { impl_->close(); }

Result<> Endpoint::listen(std::string_view address) { return impl_->listen(address); }
void Endpoint::close() { impl_->close(); }
std::string Endpoint::address() const { return impl_->address(); }
std::uint64_t Endpoint::scrapes() const { return *impl_->scrapes_; }
std::size_t Endpoint::clients() const { return impl_->clients(); }

}  // namespace taskmaster::inline v0::metrics
