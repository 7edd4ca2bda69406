// The HTTP/1.1 endpoint of the metrics, with Boost.Beast on the supervisor's loop: every read and write is
// asynchronous and bounded in size and time, so a slow or hostile client only holds its own connection.
#include <taskmaster/metrics.hpp>

#include <charconv>
#include <optional>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

namespace taskmaster::inline v0::metrics {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
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

std::string format(const Tcp::endpoint& endpoint) {
  const auto host = endpoint.address().to_string();
  return endpoint.address().is_v6() ? fmt::format("[{}]:{}", host, endpoint.port())
                                    : fmt::format("{}:{}", host, endpoint.port());
}

constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

Result<std::string> parseAddress(std::string_view text) {
  auto endpoint = toEndpoint(text);
  if (!endpoint) return endpoint.error();
  return format(*endpoint);
}

namespace detail {

class Connection;

// What the connections share with the Endpoint; it outlives both (each connection holds it).
struct Core {
  asio::io_context& io;
  Collector* collector;  // null once the Endpoint is closed for good
  EndpointOptions options;
  std::shared_ptr<Tcp::acceptor> acceptor{};
  std::uint64_t scrapes = 0;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections{};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Core> core, Tcp::socket socket)
      : core_(std::move(core)), stream_(std::move(socket)), buffer_(core_->options.maxRequestBytes) {}
  ~Connection() { core_->connections.erase(this); }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_->options.maxRequestBytes));
    parser_->body_limit(core_->options.maxRequestBytes);
    stream_.expires_after(core_->options.requestTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(Tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || !core_->collector)
      return close();
    if (ec) return reply(http::status::bad_request, fmt::format("bad request: {}\n", ec.message()), false);
    const auto& request = parser_->get();
    std::string_view target = request.target();
    target = target.substr(0, target.find('?'));
    if (target != "/metrics") return reply(http::status::not_found, "not found: the metrics are at /metrics\n",
                                           request.keep_alive());
    const bool head = request.method() == http::verb::head;
    if (request.method() != http::verb::get && !head)
      return reply(http::status::method_not_allowed, "method not allowed: GET /metrics\n", request.keep_alive());
    ++core_->scrapes;
    reply(http::status::ok, core_->collector->render(), request.keep_alive(), head);
  }

  void reply(http::status status, std::string body, bool keepAlive, bool head = false) {
    response_ = {};
    response_.result(status);
    response_.version(11);
    response_.set(http::field::server, "taskmaster");
    response_.set(http::field::content_type, status == http::status::ok ? kContentType : "text/plain; charset=utf-8");
    if (status == http::status::method_not_allowed) response_.set(http::field::allow, "GET, HEAD");
    response_.content_length(body.size());
    if (!head) response_.body() = std::move(body);
    response_.keep_alive(keepAlive);
    stream_.expires_after(core_->options.writeTimeout);
    http::async_write(stream_, response_, [self = shared_from_this(), keepAlive](beast::error_code ec, std::size_t) {
      if (ec || !keepAlive || !self->core_->collector) return self->close();
      self->read();
    });
  }

  std::shared_ptr<Core> core_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

}  // namespace detail

using detail::Connection;
using detail::Core;

class Endpoint::Impl {
 public:
  Impl(asio::io_context& io, Collector& collector, EndpointOptions options)
      : core_(std::make_shared<Core>(Core{.io = io, .collector = &collector, .options = options})) {}

  Result<> listen(std::string_view text) {
    auto endpoint = toEndpoint(text);
    if (!endpoint) return endpoint.error();
    auto acceptor = std::make_shared<Tcp::acceptor>(core_->io);
    boost::system::error_code ec;
    acceptor->open(endpoint->protocol(), ec);
    if (!ec) acceptor->set_option(Tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(*endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Error{std::error_code(ec.value(), std::generic_category()),
                   fmt::format("cannot listen on {}: {}", format(*endpoint), ec.message())};
    }
    closeAcceptor();
    core_->acceptor = acceptor;
    accept(core_, acceptor);
    return {};
  }

  void closeAcceptor() {
    if (!core_->acceptor) return;
    boost::system::error_code ignored;
    core_->acceptor->close(ignored);
    core_->acceptor.reset();
  }

  void close() {
    closeAcceptor();
    auto connections = std::move(core_->connections);
    core_->connections.clear();
    for (auto& [raw, weak] : connections) {
      if (auto connection = weak.lock()) connection->close();
    }
  }

  void retire() {
    close();
    core_->collector = nullptr;
  }

  std::shared_ptr<Core> core_;

 private:
  // Accepts on `acceptor` until it is no longer the current one. A failure (out of descriptors) waits a
  // moment before the next accept instead of spinning.
  static void accept(const std::shared_ptr<Core>& core, const std::shared_ptr<Tcp::acceptor>& acceptor) {
    acceptor->async_accept([core, acceptor](boost::system::error_code ec, Tcp::socket socket) {
      if (core->acceptor != acceptor) return;
      if (ec) {
        auto timer = std::make_shared<asio::steady_timer>(core->io, std::chrono::milliseconds(100));
        timer->async_wait([core, acceptor, timer](boost::system::error_code) {
          if (core->acceptor == acceptor) accept(core, acceptor);
        });
        return;
      }
      if (core->connections.size() < core->options.maxClients) {
        auto connection = std::make_shared<Connection>(core, std::move(socket));
        core->connections.emplace(connection.get(), connection);
        connection->read();
      }
      accept(core, acceptor);
    });
  }
};

Endpoint::Endpoint(asio::io_context& io, Collector& collector, EndpointOptions options)
    : impl_(std::make_shared<Impl>(io, collector, options)) {
  collector.setScrapes([core = std::weak_ptr<Core>(impl_->core_)] {
    const auto shared = core.lock();
    return shared ? shared->scrapes : 0;
  });
}

Endpoint::~Endpoint() { impl_->retire(); }

Result<> Endpoint::listen(std::string_view address) { return impl_->listen(address); }
void Endpoint::close() { impl_->close(); }

std::string Endpoint::address() const {
  const auto& acceptor = impl_->core_->acceptor;
  if (!acceptor) return {};
  boost::system::error_code ec;
  const auto endpoint = acceptor->local_endpoint(ec);
  return ec ? std::string() : format(endpoint);
}

std::uint64_t Endpoint::scrapes() const { return impl_->core_->scrapes; }
std::size_t Endpoint::clients() const { return impl_->core_->connections.size(); }

}  // namespace taskmaster::inline v0::metrics
