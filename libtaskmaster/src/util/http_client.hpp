// Internal: one HTTP/1.1 request on the loop, with Boost.Beast: http:// on TCP, https:// with OpenSSL (the
// system's CA certificates, the host name verified). Resolving, connecting, writing and reading are all
// asynchronous and bounded by one timeout. For webhooks (POST) and HTTP probes (GET).
#pragma once

#include "private.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // http://HOST[:PORT]/PATH or https://...
  std::string body{};
  std::string contentType{};  // sent when not empty
  std::chrono::milliseconds timeout{2000};
};

struct ClientResponse {
  int status = 0;     // 0: no answer (see error)
  std::string error;  // "connection refused", "timed out after 2s", "bad URL ..."
  std::string body;   // the first 4 KiB
  [[nodiscard]] bool success() const { return status >= 200 && status < 300; }
};

// Destroying it before the answer cancels the request: no report.
class PendingRequest {
 public:
  virtual ~PendingRequest() = default;
};

// The answer comes once through `done`, never from inside request().
[[nodiscard]] std::unique_ptr<PendingRequest> request(boost::asio::io_context& io, ClientRequest request,
                                                      std::function<void(ClientResponse)> done);

}  // namespace taskmaster::inline v0::detail::http
