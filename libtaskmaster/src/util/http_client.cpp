// One HTTP/1.1 request on the loop (util/http_client.hpp): resolve, connect, the TLS handshake for https, write,
// read, each asynchronous, all under one deadline that closes the socket. The exchange holds itself through
// its pending operations; the caller's PendingRequest only reaches it weakly, to cancel it.
#include "util/http_client.hpp"

#include <charconv>
#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <taskmaster/util.hpp>

namespace taskmaster::inline v0::detail::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kKeptBody = 4096;
constexpr std::size_t kMaxBody = 1024 * 1024;  // read (and dropped past kKeptBody) before giving up

struct Url {
  bool tls = false;
  std::string host;  // without the brackets of an IPv6 address
  std::string port;
  std::string target;
  std::string hostHeader;
};

// http://HOST[:PORT][/PATH] or https://...; an IPv6 HOST in brackets. nullopt for anything else.
std::optional<Url> parseUrl(std::string_view text) {
  Url url;
  if (text.starts_with("http://")) {
    text.remove_prefix(7);
  } else if (text.starts_with("https://")) {
    url.tls = true;
    text.remove_prefix(8);
  } else {
    return std::nullopt;
  }
  const auto slash = text.find_first_of("/?#");
  std::string_view authority = text.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "/" : text.substr(slash);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no credentials in URLs
  url.hostHeader = std::string(authority);
  std::string_view port;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && !authority.starts_with(":")) return std::nullopt;
    if (!authority.empty()) port = authority.substr(1);
  } else {
    const auto colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return std::nullopt;
  if (!port.empty()) {
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc{} || end != port.data() + port.size() || number == 0 || number > 65535) return std::nullopt;
  }
  url.port = port.empty() ? (url.tls ? "443" : "80") : std::string(port);
  url.target = path.starts_with("/") ? std::string(path.substr(0, path.find('#'))) : "/" + std::string(path);
  return url;
}

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(asio::io_context& io, ClientRequest request, Url url, std::function<void(ClientResponse)> done)
      : request_(std::move(request)), url_(std::move(url)), done_(std::move(done)), timer_(io), resolver_(io),
        socket_(io) {}

  void start() {
    timer_.expires_after(request_.timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->fail(fmt::format("timed out after {}", formatDuration(self->request_.timeout)));
    });
    resolver_.async_resolve(url_.host, url_.port, [self = shared_from_this()](auto ec, tcp::resolver::results_type found) {
      if (ec) return self->fail(fmt::format("resolve {}: {}", self->url_.host, ec.message()));
      self->connect(found);
    });
  }

  // No report from now on; whatever is pending ends with operation_aborted.
  void cancel() {
    done_ = {};
    close();
  }

 private:
  void connect(const tcp::resolver::results_type& found) {
    asio::async_connect(socket_, found, [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
      if (ec) return self->fail(fmt::format("connect to {}:{}: {}", self->url_.host, self->url_.port, ec.message()));
      if (!self->url_.tls) return self->write(self->socket_);
      self->handshake();
    });
  }

  // The peer's certificate is verified against the system's CA certificates and its name against the URL's.
  void handshake() {
    tlsContext_.emplace(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    tlsContext_->set_default_verify_paths(ec);
    if (ec) return fail(fmt::format("TLS: the system's CA certificates: {}", ec.message()));
    tls_.emplace(socket_, *tlsContext_);
    tls_->set_verify_mode(asio::ssl::verify_peer);
    tls_->set_verify_callback(asio::ssl::host_name_verification(url_.host));
    // SNI: the server picks its certificate by the name.
    if (!SSL_set_tlsext_host_name(tls_->native_handle(), url_.host.c_str()))
      return fail(fmt::format("TLS: the server name {}", url_.host));
    tls_->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->fail(fmt::format("TLS handshake with {}: {}", self->url_.host, ec.message()));
      self->write(*self->tls_);
    });
  }

  template <class Stream>
  void write(Stream& stream) {
    message_.method_string(request_.method);
    message_.target(url_.target);
    message_.version(11);
    message_.set(beast::http::field::host, url_.hostHeader);
    message_.set(beast::http::field::user_agent, "taskmaster");
    message_.set(beast::http::field::connection, "close");
    if (!request_.contentType.empty()) message_.set(beast::http::field::content_type, request_.contentType);
    message_.body() = request_.body;
    message_.prepare_payload();
    beast::http::async_write(stream, message_, [self = shared_from_this(), &stream](auto ec, std::size_t) {
      if (ec) return self->fail(fmt::format("send to {}: {}", self->url_.host, ec.message()));
      self->read(stream);
    });
  }

  template <class Stream>
  void read(Stream& stream) {
    parser_.body_limit(kMaxBody);
    beast::http::async_read(stream, buffer_, parser_, [self = shared_from_this()](auto ec, std::size_t) {
      if (ec && !(ec == beast::http::error::body_limit && self->parser_.is_header_done()))
        return self->fail(fmt::format("answer from {}: {}", self->url_.host, ec.message()));
      ClientResponse response;
      response.status = static_cast<int>(self->parser_.get().result_int());
      response.body = self->parser_.get().body().substr(0, kKeptBody);
      self->finish(std::move(response));
    });
  }

  void fail(std::string error) {
    ClientResponse response;
    response.error = std::move(error);
    finish(std::move(response));
  }

  void finish(ClientResponse response) {
    auto done = std::exchange(done_, {});
    close();
    if (done) done(std::move(response));
  }

  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    socket_.close(ignored);
  }

  ClientRequest request_;
  Url url_;
  std::function<void(ClientResponse)> done_;
  asio::steady_timer timer_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  std::optional<asio::ssl::context> tlsContext_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  beast::http::request<beast::http::string_body> message_;
  beast::flat_buffer buffer_;
  beast::http::response_parser<beast::http::string_body> parser_;
};

class Pending final : public PendingRequest {
 public:
  explicit Pending(std::weak_ptr<Exchange> exchange) : exchange_(std::move(exchange)) {}
  ~Pending() override {
    if (auto e = exchange_.lock()) e->cancel();
  }
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;

 private:
  std::weak_ptr<Exchange> exchange_;
};

// A request refused before it started (a bad URL): the report is posted, and withdrawn with the Pending.
class Refused final : public PendingRequest {
 public:
  explicit Refused(std::shared_ptr<std::function<void(ClientResponse)>> done) : done_(std::move(done)) {}
  ~Refused() override { *done_ = {}; }
  Refused(const Refused&) = delete;
  Refused& operator=(const Refused&) = delete;

 private:
  std::shared_ptr<std::function<void(ClientResponse)>> done_;
};

}  // namespace

std::unique_ptr<PendingRequest> request(asio::io_context& io, ClientRequest request,
                                        std::function<void(ClientResponse)> done) {
  auto url = parseUrl(request.url);
  if (!url) {
    auto handler = std::make_shared<std::function<void(ClientResponse)>>(std::move(done));
    asio::post(io, [handler, error = fmt::format("bad URL \"{}\": not http://HOST[:PORT]/PATH or https://...",
                                                 request.url)] {
      ClientResponse response;
      response.error = error;
      if (auto cb = std::exchange(*handler, {})) cb(std::move(response));
    });
    return std::make_unique<Refused>(handler);
  }
  auto exchange = std::make_shared<Exchange>(io, std::move(request), std::move(*url), std::move(done));
  exchange->start();
  return std::make_unique<Pending>(exchange);
}

}  // namespace taskmaster::inline v0::detail::http
