// Internal: how each kind of hook delivers an event (docs/hooks.md): exec and email run a command through
// AsioHost::runCommand, webhook POSTs through the HTTP client, syslog sends one datagram without blocking. And
// the texts they send: the JSON object, the syslog line, the mail.
#pragma once

#include "private.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>

#include <taskmaster/hooks.hpp>

#include "hooks/dispatcher.hpp"

namespace taskmaster::inline v0::detail {

class AsioHost;

// The event as one JSON object (docs/hooks.md lists the fields), on one line.
[[nodiscard]] std::string eventJson(const HookEvent& event, std::uint64_t suppressed, const std::string& host);
// TASKMASTER_EVENT, TASKMASTER_FROM... for an exec hook.
[[nodiscard]] std::map<std::string, std::string> eventEnvironment(const HookEvent& event, std::uint64_t suppressed);
// "<27>Dec  6 23:50:02 HOST taskmaster[812]: web:1 FATAL (from BACKOFF): ..." (RFC 3164).
[[nodiscard]] std::string syslogLine(const HookSpec& hook, const HookEvent& event, std::uint64_t suppressed,
                                     const std::string& host, WallTime now, int pid);
// The message for sendmail -t: headers (To, From, Subject) and the event's fields.
[[nodiscard]] std::string mailMessage(const HookSpec& hook, const HookEvent& event, std::uint64_t suppressed,
                                      const std::string& host);

class Deliverer {
 public:
  Deliverer(AsioHost& host, LogSink log);
  ~Deliverer();
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  // At each configure: a missing syslog socket is said once more.
  void reset() { warned_.clear(); }
  [[nodiscard]] std::unique_ptr<Delivery> deliver(const Job& job, DeliveryDone done);

 private:
  std::unique_ptr<Delivery> exec(const Job& job, DeliveryDone done);
  std::unique_ptr<Delivery> webhook(const Job& job, DeliveryDone done);
  std::unique_ptr<Delivery> email(const Job& job, DeliveryDone done);
  void syslog(const Job& job, const DeliveryDone& done);

  AsioHost& host_;
  LogSink log_;
  std::string hostname_;
  std::map<std::string, std::unique_ptr<SyslogWriter>> syslog_;  // by socket
  std::set<std::string> warned_;  // syslog sockets found missing since the last configure
};

}  // namespace taskmaster::inline v0::detail
