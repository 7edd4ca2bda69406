// The HTTP side of supervisord's control interface: one listener per [unix_http_server] or [inet_http_server],
// each with its own Basic authentication, over the connections of util/http.hpp. POST /RPC2 goes to the
// Interface; GET /logtail/NAME[/stdout|stderr] and /mainlogtail stream an output as supervisord does.
#include <taskmaster/xmlrpc.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <fmt/format.h>

#include "control/wire.hpp"
#include "util/http.hpp"
#include "xmlrpc/auth.hpp"
#include "xmlrpc/methods.hpp"
#include "xmlrpc/names.hpp"

namespace taskmaster::inline v0::xmlrpc {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = taskmaster::detail::http;
using beast::http::field;
using beast::http::verb;

namespace {

Error listenError(std::string_view where, const std::error_code& code, std::string_view why) {
  return Error{code, fmt::format("cannot listen on {}: {}", where, why)};
}

// An inet server's "HOST:PORT" (the configuration keeps "HOST:PORT" with an empty host for all interfaces, as
// supervisord's `port = 9001`, `:9001` or `*:9001`).
Result<asio::ip::tcp::endpoint> inetEndpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  std::string host = colon == std::string::npos ? std::string() : text.substr(0, colon);
  const std::string_view port = colon == std::string::npos ? std::string_view(text) : std::string_view(text).substr(colon + 1);
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number > 65535)
    return listenError(text, std::make_error_code(std::errc::invalid_argument), "the port must be from 0 to 65535");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code bad;
  const auto address = asio::ip::make_address(host, bad);
  if (bad) {
    return listenError(text, std::make_error_code(std::errc::invalid_argument),
                       fmt::format("'{}' is not an IP address (nor localhost)", host));
  }
  return asio::ip::tcp::endpoint(address, static_cast<unsigned short>(number));
}

// The owner of `chown` ("user" or "user:group", names or numbers): the user's primary group unless a group
// is given.
Result<std::pair<uid_t, gid_t>> owner(const std::string& where, const std::string& text) {
  const auto colon = text.find(':');
  const std::string user = text.substr(0, colon);
  std::vector<char> buffer(16384);
  passwd record{};
  passwd* found = nullptr;
  if (::getpwnam_r(user.c_str(), &record, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return listenError(where, std::make_error_code(std::errc::invalid_argument),
                       fmt::format("chown: no user named {}", user));
  }
  std::pair<uid_t, gid_t> ids{found->pw_uid, found->pw_gid};
  if (colon == std::string::npos) return ids;
  const std::string groupName = text.substr(colon + 1);
  group groupRecord{};
  group* groupFound = nullptr;
  gid_t number = 0;
  const auto [end, ec] = std::from_chars(groupName.data(), groupName.data() + groupName.size(), number);
  if (ec == std::errc{} && end == groupName.data() + groupName.size()) {
    ids.second = number;
  } else if (::getgrnam_r(groupName.c_str(), &groupRecord, buffer.data(), buffer.size(), &groupFound) == 0 &&
             groupFound) {
    ids.second = groupFound->gr_gid;
  } else {
    return listenError(where, std::make_error_code(std::errc::invalid_argument),
                       fmt::format("chown: no group named {}", groupName));
  }
  return ids;
}

// Whether a server answers on the socket file `path`: a connection is accepted (or waits in a full backlog).
bool answers(const std::string& path) {
  sockaddr_un address{};
  if (!control::detail::fillAddress(path, address)) return false;
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return false;
  const int rc = ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  return rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
}

// "%41" and the like decoded, as supervisord reads a logtail path; a malformed escape is left as it is.
std::string percentDecoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr == text.data() + i + 3) {
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// One listener: its settings, its socket, and for a Unix socket the file it made (removed on close if it is
// still that file).
struct Site {
  HttpServerConfig config;
  std::unique_ptr<http::Listener> listener;
  dev_t device = 0;
  ino_t inode = 0;

  ~Site() {
    if (listener) listener->close();
    removeSocketFile();
  }

  void removeSocketFile() {
    if (config.kind != HttpServerConfig::Kind::unix_socket || inode == 0) return;
    struct stat st{};
    if (::lstat(config.address.c_str(), &st) == 0 && st.st_ino == inode && st.st_dev == device)
      ::unlink(config.address.c_str());
    inode = 0;
  }
};

constexpr std::size_t kLogtailBytes = 1024;  // what /logtail sends first, as supervisord

}  // namespace

class Server::Impl {
 public:
  Impl(asio::io_context& io, Service& service, Interface& interface, ServerOptions options)
      : io_(io), service_(service), interface_(interface), options_(options) {}
  ~Impl() { close(); }

  std::vector<Error> configure(const std::vector<HttpServerConfig>& servers);
  void close() { sites_.clear(); }
  [[nodiscard]] std::vector<std::string> addresses() const;
  [[nodiscard]] std::size_t clients() const {
    std::size_t total = 0;
    for (const auto& site : sites_) total += site->listener->clients();
    return total;
  }

 private:
  Result<std::unique_ptr<Site>> open(const HttpServerConfig& config);
  Result<> bindUnix(Site& site);
  static Result<> adjust(Site& site, const HttpServerConfig& config);
  static Result<> setOwnerAndMode(const std::string& file, const HttpServerConfig& config);
  void serve(const Site& site, const std::shared_ptr<http::Connection>& connection);
  void call(const std::shared_ptr<http::Connection>& connection);
  void logtail(const std::shared_ptr<http::Connection>& connection, std::string_view path);

  asio::io_context& io_;
  Service& service_;
  Interface& interface_;
  ServerOptions options_;
  std::vector<std::unique_ptr<Site>> sites_;
};

// A listener is known by its kind and its rank among those of that kind (supervisord has one of each, and
// named ones after): the same settings keep it as it is, other settings replace it if they can be applied.
std::vector<Error> Server::Impl::configure(const std::vector<HttpServerConfig>& servers) {
  std::vector<Error> errors;
  std::vector<std::unique_ptr<Site>> next;
  std::size_t rank[2] = {0, 0};
  std::vector<std::unique_ptr<Site>*> old[2];
  for (auto& site : sites_) old[static_cast<int>(site->config.kind)].push_back(&site);
  for (const auto& config : servers) {
    const int kind = static_cast<int>(config.kind);
    std::unique_ptr<Site>* previous = rank[kind] < old[kind].size() ? old[kind][rank[kind]] : nullptr;
    ++rank[kind];
    // The same address: kept, with its clients; other credentials, mode or owner are changed in place.
    if (previous && (*previous)->config.address == config.address) {
      if (auto changed = adjust(**previous, config); !changed) errors.push_back(changed.error());
      next.push_back(std::move(*previous));
      continue;
    }
    auto site = open(config);
    if (site) {
      next.push_back(std::move(*site));
      continue;
    }
    errors.push_back(site.error());
    if (previous && *previous) next.push_back(std::move(*previous));
  }
  sites_ = std::move(next);  // what is left of the old ones closes here
  return errors;
}

Result<std::unique_ptr<Site>> Server::Impl::open(const HttpServerConfig& config) {
  auto site = std::make_unique<Site>();
  site->config = config;
  const http::Limits limits{.maxHeaderBytes = options_.maxHeaderBytes,
                            .maxBodyBytes = options_.maxBodyBytes,
                            .requestTimeout = options_.requestTimeout,
                            .writeTimeout = options_.writeTimeout,
                            .maxClients = options_.maxClients};
  site->listener = std::make_unique<http::Listener>(
      io_, limits, [this, raw = site.get()](const std::shared_ptr<http::Connection>& c) { serve(*raw, c); });
  if (config.kind == HttpServerConfig::Kind::unix_socket) {
    if (auto bound = bindUnix(*site); !bound) return bound.error();
    return site;
  }
  auto endpoint = inetEndpoint(config.address);
  if (!endpoint) return endpoint.error();
  if (const auto ec = site->listener->listen(http::Protocol::endpoint(*endpoint)))
    return listenError(config.address, {ec.value(), std::generic_category()}, ec.message());
  return site;
}

// As supervisord: bound to a temporary name, given its mode and owner, then linked to its path (atomic: a
// live server's socket is never replaced, a stale one is).
Result<> Server::Impl::bindUnix(Site& site) {
  const std::string& path = site.config.address;
  const std::string temporary = fmt::format("{}.{}", path, ::getpid());
  ::unlink(temporary.c_str());
  if (const auto ec = site.listener->listen(http::Protocol::endpoint(asio::local::stream_protocol::endpoint(temporary))))
    return listenError(path, {ec.value(), std::generic_category()}, ec.message());
  auto fail = [&](Error error) -> Result<> {
    site.listener->close();
    ::unlink(temporary.c_str());
    return error;
  };
  if (auto set = setOwnerAndMode(temporary, site.config); !set) return fail(set.error());
  while (::link(temporary.c_str(), path.c_str()) != 0) {
    if (errno != EEXIST) return fail(control::detail::systemError(fmt::format("cannot listen on {}: link", path)));
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
      return fail(listenError(path, std::make_error_code(std::errc::file_exists), "it exists and is not a socket"));
    if (answers(path))
      return fail(listenError(path, std::make_error_code(std::errc::address_in_use), "another program listens there"));
    ::unlink(path.c_str());  // stale: its server is gone
  }
  ::unlink(temporary.c_str());
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    site.device = st.st_dev;
    site.inode = st.st_ino;
  }
  return {};
}

// `chown` (when set) and `chmod` of the socket file `file`, the errors named after the configured path.
Result<> Server::Impl::setOwnerAndMode(const std::string& file, const HttpServerConfig& config) {
  const std::string& path = config.address;
  if (config.chown) {
    auto ids = owner(path, *config.chown);
    if (!ids) return ids.error();
    if (::chown(file.c_str(), ids->first, ids->second) != 0)
      return control::detail::systemError(fmt::format("cannot listen on {}: chown", path));
  }
  if (::chmod(file.c_str(), config.chmod) != 0)
    return control::detail::systemError(fmt::format("cannot listen on {}: chmod", path));
  return {};
}

// New settings for a listener that stays on its address; on failure it keeps the old ones.
Result<> Server::Impl::adjust(Site& site, const HttpServerConfig& config) {
  if (config.kind == HttpServerConfig::Kind::unix_socket &&
      (config.chmod != site.config.chmod || config.chown != site.config.chown)) {
    if (auto set = setOwnerAndMode(config.address, config); !set) return set.error();
  }
  site.config = config;
  return {};
}

std::vector<std::string> Server::Impl::addresses() const {
  std::vector<std::string> out;
  for (const auto& site : sites_) {
    if (site->config.kind == HttpServerConfig::Kind::unix_socket) {
      out.push_back("unix://" + site->config.address);
    } else if (const auto local = site->listener->local()) {
      out.push_back("http://" + http::describe(*local));
    }
  }
  return out;
}

void Server::Impl::serve(const Site& site, const std::shared_ptr<http::Connection>& connection) {
  const auto& request = connection->request();
  const auto& config = site.config;
  if (config.username && config.password) {
    const auto access = detail::authorize(request[field::authorization], *config.username, *config.password);
    if (access == detail::Access::malformed)
      return connection->reply(http::Status::bad_request, "bad request: malformed Authorization\n", true);
    if (access == detail::Access::denied) {
      auto response = http::textResponse(http::Status::unauthorized, "unauthorized\n");
      response.set(field::www_authenticate, "Basic realm=\"default\"");
      return connection->reply(std::move(response), true);
    }
  }
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  if (target == "/RPC2") {
    if (request.method() != verb::post) {
      auto response = http::textResponse(http::Status::method_not_allowed, "method not allowed: POST /RPC2\n");
      response.set(field::allow, "POST");
      return connection->reply(std::move(response));
    }
    if (!request.has_content_length() && !request.chunked())
      return connection->reply(http::Status::length_required, "length required\n", true);
    return call(connection);
  }
  if (target == "/mainlogtail" || target.starts_with("/logtail/")) {
    if (request.method() != verb::get) {
      auto response = http::textResponse(http::Status::method_not_allowed, "method not allowed: GET\n");
      response.set(field::allow, "GET");
      return connection->reply(std::move(response));
    }
    return logtail(connection, target);
  }
  connection->reply(http::Status::not_found, "not found: XML-RPC is at POST /RPC2\n");
}

// The answer goes to the connection if it is still there; faults come in a 200 as well.
void Server::Impl::call(const std::shared_ptr<http::Connection>& connection) {
  interface_.call(connection->request().body(), [weak = std::weak_ptr<http::Connection>(connection)](std::string xml) {
    const auto alive = weak.lock();
    if (!alive || !alive->open()) return;
    http::Response response{http::Status::ok, 11};
    response.set(field::content_type, "text/xml");
    response.body() = std::move(xml);
    alive->reply(std::move(response));
  });
}

// supervisord's /logtail/NAME[/CHANNEL] ("group:process" or "process") and /mainlogtail: the last 1024 bytes,
// then whatever is written, one chunk each, until the client leaves.
void Server::Impl::logtail(const std::shared_ptr<http::Connection>& connection, std::string_view path) {
  TailRequest request;
  request.follow = true;
  request.size.bytes = kLogtailBytes;
  Result<OutputTail> tail = Error{std::make_error_code(std::errc::no_such_file_or_directory), "no such log"};
  if (path == "/mainlogtail") {
    tail = service_.maintail(request);
  } else {
    std::string spec = percentDecoded(path.substr(std::string_view("/logtail/").size()));
    if (const auto slash = spec.rfind('/'); slash != std::string::npos) {
      const std::string channel = spec.substr(slash + 1);
      spec.resize(slash);
      if (channel == "stderr") request.stream = StdStream::err;
      else if (channel != "stdout") spec.clear();
    }
    // supervisord's name of one process (names.hpp), as taskmaster's instance; a log the read methods answer
    // NO_FILE for (NONE, a redirected stderr) is a 404, as supervisord's.
    auto instance = detail::instanceOf(service_, spec);
    if (instance && detail::processLog(service_, spec, request.stream)) {
      request.name = std::move(*instance);
      tail = service_.tail(request);
    }
  }
  if (!tail) return connection->reply(http::Status::not_found, fmt::format("not found: {}\n", tail.error().str()));
  http::StreamHeader header{http::Status::ok, 11};
  header.set(field::content_type, "text/plain;charset=utf-8");
  if (path != "/mainlogtail") header.set("X-Accel-Buffering", "no");
  connection->stream(std::move(header));
  connection->send(tail->text);
  if (tail->follow) {
    connection->hold(tail->follow([weak = std::weak_ptr<http::Connection>(connection)](std::string_view chunk) {
      if (const auto alive = weak.lock()) alive->send(chunk);
    }));
  }
}

Server::Server(asio::io_context& io, Service& service, Interface& interface, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, service, interface, options)) {}
Server::~Server() { impl_->close(); }
std::vector<Error> Server::configure(const std::vector<HttpServerConfig>& servers) { return impl_->configure(servers); }
void Server::close() { impl_->close(); }
std::vector<std::string> Server::addresses() const { return impl_->addresses(); }
std::size_t Server::clients() const { return impl_->clients(); }

}  // namespace taskmaster::inline v0::xmlrpc
