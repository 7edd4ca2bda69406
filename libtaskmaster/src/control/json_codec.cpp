// The messages of the protocol, to and from JSON lines (docs/protocol.md).
#include "control/wire.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace taskmaster::inline v0::control {
namespace json = boost::json;

namespace {

json::value exitJson(const std::optional<ExitStatus>& e) {
  if (!e) return nullptr;
  return json::object{{"code", e->code}, {"signal", e->signal}, {"core_dumped", e->coreDumped},
                      {"text", e->str()}};
}

// False when a number in the value is infinite: Boost.JSON parses 1e999 so, and would write it as Infinity.
bool finite(const json::value& v) {
  if (v.is_double()) return std::isfinite(v.as_double());
  if (const auto* a = v.if_array()) return std::ranges::all_of(*a, [](const json::value& e) { return finite(e); });
  if (const auto* o = v.if_object())
    return std::ranges::all_of(*o, [](const json::key_value_pair& kv) { return finite(kv.value()); });
  return true;
}

Error badMessage(std::string detail) { return {std::make_error_code(std::errc::bad_message), std::move(detail)}; }

// The "args" of a request: an array of strings, or absent.
Result<std::vector<std::string>> readArgs(const json::object& request) {
  std::vector<std::string> out;
  const auto* args = request.if_contains("args");
  if (!args) return out;
  if (!args->is_array()) return badMessage("\"args\" must be an array of strings");
  for (const auto& a : args->as_array()) {
    if (!a.is_string()) return badMessage("\"args\" must be an array of strings");
    out.emplace_back(a.as_string());
  }
  return out;
}

std::string formatUtc(WallTime t) { return formatTime(t, TimeZone::utc); }

}  // namespace

Result<Request> parseRequest(std::string_view line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) return badMessage(fmt::format("malformed JSON: {}", ec.message()));
  const auto* obj = v.if_object();
  if (!obj) return badMessage("a request must be a JSON object");
  Request r;
  if (const auto* id = obj->if_contains("id")) {
    if (!finite(*id)) return badMessage("\"id\" must be a finite number, a string or null");  // it could not be echoed
    r.id = *id;
  }
  if (const auto* ver = obj->if_contains("v"); ver && !(ver->is_int64() && ver->as_int64() == kVersion))
    return badMessage(
        fmt::format("unsupported protocol version {} (this server speaks {})", json::serialize(*ver), kVersion));
  const auto* cmd = obj->if_contains("cmd");
  if (!cmd || !cmd->is_string() || cmd->as_string().empty())
    return badMessage("missing \"cmd\": a request names its command, e.g. {\"cmd\":\"status\"}");
  r.cmd = std::string(cmd->as_string());
  auto args = readArgs(*obj);
  if (!args) return args.error();
  r.args = std::move(*args);
  if (const auto* data = obj->if_contains("data")) {
    if (!data->is_bool()) return badMessage("\"data\" must be true or false");
    r.withData = data->as_bool();
  }
  return r;
}

std::string encodeRequest(const Request& r) {
  json::array args;
  for (const auto& a : r.args) args.emplace_back(a);
  json::object o{{"v", kVersion}, {"id", r.id}, {"cmd", r.cmd}, {"args", std::move(args)}};
  if (!r.withData) o["data"] = false;
  return json::serialize(o) + "\n";
}

std::string encodeReply(const json::value& id, const Reply& reply) {
  // Lines may quote what programs wrote (tail): JSON strings are UTF-8.
  json::array lines;
  for (const auto& l : reply.lines) lines.emplace_back(validUtf8(l));
  json::object o{{"v", kVersion}, {"id", id}, {"ok", reply.ok}, {"lines", std::move(lines)}};
  if (!reply.data.is_null()) o["data"] = reply.data;
  if (!reply.error.empty()) o["error"] = validUtf8(reply.error);
  return json::serialize(o) + "\n";
}

Result<Reply> parseReply(std::string_view line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) return badMessage(fmt::format("malformed JSON: {}", ec.message()));
  if (const auto* o = v.if_object()) return detail::replyFromJson(*o);
  return badMessage("a reply must be a JSON object");
}

std::string encodeEvent(const StateChange& change) {
  json::object e{{"v", kVersion}, {"event", "state"}};
  for (auto& kv : toJson(change)) e.emplace(kv.key(), std::move(kv.value()));
  return json::serialize(e) + "\n";
}

std::string encodeEvent(const DetailChange& change) {
  json::object e{{"v", kVersion}, {"event", "detail"}};
  for (auto& kv : toJson(change)) e.emplace(kv.key(), std::move(kv.value()));
  return json::serialize(e) + "\n";
}

std::string encodeOutput(std::string_view name, std::string_view stream, std::string_view data) {
  return json::serialize(json::object{
             {"v", kVersion}, {"event", "output"}, {"name", name}, {"stream", stream}, {"data", data}}) +
         "\n";
}

std::string encodeKeyboard(std::string_view name, bool keyboard) {
  return json::serialize(json::object{{"v", kVersion}, {"event", "keyboard"}, {"name", name}, {"keyboard", keyboard}}) +
         "\n";
}

std::string encodeDetached(std::string_view name, std::string_view reason, std::string_view line) {
  return json::serialize(json::object{
             {"v", kVersion}, {"event", "detached"}, {"name", name}, {"reason", reason}, {"line", line}}) +
         "\n";
}

json::object toJson(const StateChange& c) {
  return {{"program", c.program},      {"instance", c.instance}, {"index", c.index},
          {"from", to_string(c.from)}, {"to", to_string(c.to)},  {"pid", c.pid},
          {"exit", exitJson(c.exit)},  {"expected", c.expected}, {"reason", c.reason},
          {"time", formatUtc(c.time)}, {"retries", c.retries},   {"retry_in_ms", c.retryIn.count()}};
}

json::object toJson(const DetailChange& d) {
  return {{"detail", to_string(d.kind)}, {"program", d.program},          {"instance", d.instance},
          {"index", d.index},            {"pid", d.pid},                  {"health", to_string(d.health)},
          {"text", validUtf8(d.text)},   {"time", formatUtc(d.time)}};
}

// The details (waiting, health, health_text, status_text) only when set: most instances have none.
json::object toJson(const InstanceStatus& s) {
  json::object o{{"program", s.program},
          {"instance", s.instance},
          {"index", s.index},
          {"state", to_string(s.state)},
          {"pid", s.pid},
          {"start_time", formatUtc(s.startTime)},
          {"uptime_ms", s.uptime.count()},
          {"last_exit", exitJson(s.lastExit)},
          {"last_exit_time", formatUtc(s.lastExitTime)},
          {"restarts", s.restarts},
          {"reason", s.reason}};
  if (!s.waiting.empty()) o["waiting"] = s.waiting;
  if (s.health != Health::none) o["health"] = to_string(s.health);
  if (!s.healthText.empty()) o["health_text"] = validUtf8(s.healthText);
  if (!s.statusText.empty()) o["status_text"] = validUtf8(s.statusText);
  return o;
}

std::string defaultSocketPath() {
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run) return std::string(run) + "/taskmaster.sock";
  return fmt::format("/tmp/taskmaster-{}/taskmaster.sock", ::geteuid());
}

namespace detail {

Result<Reply> replyFromJson(const json::object& o) {
  const auto* ok = o.if_contains("ok");
  if (!ok) return badMessage("a reply must have \"ok\"");
  Reply r;
  r.ok = ok->is_bool() && ok->as_bool();
  if (const auto* lines = o.if_contains("lines"); lines && lines->is_array())
    for (const auto& l : lines->as_array())
      if (l.is_string()) r.lines.emplace_back(l.as_string());
  if (const auto* d = o.if_contains("data")) r.data = *d;
  if (const auto* e = o.if_contains("error"); e && e->is_string()) r.error = std::string(e->as_string());
  return r;
}

std::string encodeLagged(std::uint64_t dropped) {
  return json::serialize(json::object{{"v", kVersion}, {"event", "lagged"}, {"dropped", dropped}}) + "\n";
}

}  // namespace detail
}  // namespace taskmaster::inline v0::control
