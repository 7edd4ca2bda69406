// Prometheus metrics (docs/metrics.md): what a Supervisor counts, rendered in the text exposition format 0.0.4,
// and an HTTP/1.1 endpoint that serves it at /metrics on the Supervisor's io_context.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <taskmaster/error.hpp>
#include <taskmaster/state.hpp>
#include <taskmaster/supervisor.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::metrics {

inline constexpr int kDefaultPort = 9102;

// An endpoint's address as configured: "HOST:PORT", "[IPv6]:PORT", or a port alone, which means loopback
// (9102 is 127.0.0.1:9102). HOST is an IP address or "localhost". The normalized "HOST:PORT", or an Error
// whose detail says what is wrong.
[[nodiscard]] Result<std::string> parseAddress(std::string_view text);

// supervisord's numeric code of a state (STOPPED 0, STARTING 10, RUNNING 20, BACKOFF 30, STOPPING 40,
// EXITED 100, FATAL 200), the value of taskmaster_process_state.
[[nodiscard]] int stateCode(ProcessState state) noexcept;

// A label value as the exposition format writes it between quotes: backslash, double quote and newline escaped.
[[nodiscard]] std::string escapeLabelValue(std::string_view value);

// What the Supervisor's observer counts: state changes, and exits by instance. Counts from construction on.
class Collector {
 public:
  explicit Collector(Supervisor& supervisor);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // What only the embedding program knows: its control clients (taskmaster_control_clients, left out when
  // unset) and the scrapes served (taskmaster_metrics_scrapes_total, left out when unset).
  void setControlClients(std::function<std::size_t()> count);
  void setScrapes(std::function<std::uint64_t()> count);

  // Every metric, in the text exposition format 0.0.4.
  [[nodiscard]] std::string render() const;
  [[nodiscard]] std::uint64_t eventsPublished() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct EndpointOptions {
  std::size_t maxRequestBytes = 8 * 1024;           // request line, headers and body; larger is a 400
  std::chrono::milliseconds requestTimeout{10000};  // a started request must be complete within this
  std::chrono::milliseconds writeTimeout{30000};    // a client that reads nothing for this long is dropped
  std::size_t maxClients = 1024;                    // connections past it are closed at once
};

// The HTTP/1.1 server: GET /metrics answers the Collector's render(), other paths 404, other methods 405,
// malformed requests 400. Keep-alive, any number of clients up to maxClients; nothing it does blocks the
// loop (a client that stops reading only holds its own connection). Loop thread only. It counts the scrapes for
// the Collector (taskmaster_metrics_scrapes_total), and must be destroyed before it.
class Endpoint {
 public:
  Endpoint(boost::asio::io_context& io, Collector& collector, EndpointOptions options = {});
  ~Endpoint();  // closes the listening socket and every connection
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // Listens on `address` (parseAddress()). Already listening: the new socket replaces the old one only once it
  // is bound (connections open stay), and a failure leaves the old one as it was (the address it listens on
  // already is such a failure: compare first). The Error's detail names the address ("cannot listen on
  // 127.0.0.1:9102: Address already in use").
  [[nodiscard]] Result<> listen(std::string_view address);
  void close();
  // The address it listens on, the port as bound (a port 0 in listen() is chosen by the system); empty when
  // closed.
  [[nodiscard]] std::string address() const;
  [[nodiscard]] std::uint64_t scrapes() const;
  [[nodiscard]] std::size_t clients() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace taskmaster::inline v0::metrics
