// A command's data as the JSON control protocol carries it (docs/protocol.md, "Commands").
#include <taskmaster/commands.hpp>

#include <boost/json.hpp>
#include <taskmaster/control.hpp>

#include "util/text.hpp"

namespace taskmaster::inline v0 {
namespace json = boost::json;

namespace {

json::array names(const std::vector<std::string>& list) {
  json::array out;
  for (const auto& n : list) out.emplace_back(n);
  return out;
}

json::value toJson(CommandId command, const StatusReport& report) {
  if (command == CommandId::pid) {  // {"web:0": 4242, "web:1": 0}
    json::object pids;
    for (const auto& s : report.instances) pids[s.instance] = s.pid;
    return pids;
  }
  json::array out;
  for (const auto& s : report.instances) out.push_back(control::toJson(s));
  return out;
}

json::value toJson(const ActionReport& report) {
  json::array out;
  for (const auto& entry : report.outcomes) {
    if (const auto* u = std::get_if<UnknownName>(&entry)) {
      out.push_back(json::object{{"instance", u->name}, {"ok", false}, {"message", "no such program"}});
      continue;
    }
    const auto& o = std::get<Outcome>(entry);
    out.push_back(json::object{{"instance", o.instance}, {"ok", o.ok}, {"message", o.message}});
  }
  return out;
}

json::value toJson(const ApplyReport& r) {
  return json::object{{"added", names(r.added)},     {"changed", names(r.changed)},
                      {"updated", names(r.updated)}, {"removed", names(r.removed)},
                      {"unchanged", names(r.unchanged)}, {"invalid", names(r.invalid)}};
}

// What changed, and the warnings about the file as `file:line: program 'web': message` strings: only when
// there are some, so that the reply of a file without any stays as it always was.
json::value toJson(const ReloadReport& r) {
  auto out = toJson(r.applied);
  if (r.warnings.empty()) return out;
  json::array warnings;
  for (const auto& warning : r.warnings) warnings.emplace_back(warning.str());
  out.as_object()["warnings"] = std::move(warnings);
  return out;
}

json::value toJson(const OutputTail& tail, std::string text) {
  return json::object{{"name", tail.name}, {"stream", tail.stream}, {"text", std::move(text)},
                      {"follow", static_cast<bool>(tail.follow)}};
}

// tail -f over the protocol: the reply carries the text up to its last whole character, and the output
// lines go on from there, each chunk converted once for this client.
void respondFollowing(const control::Responder& respond, bool ok, const OutputTail& tail) {
  auto decoder = std::make_shared<control::Utf8Stream>();
  std::string text = decoder->feed(tail.text);
  control::Reply reply{ok, detail::splitLines(text), toJson(tail, text), {}};
  control::StreamSource source = [follow = tail.follow, decoder, name = tail.name,
                                  stream = tail.stream](control::StreamSink sink) {
    return follow([sink = std::move(sink), decoder, name, stream](std::string_view chunk) {
      const std::string data = decoder->feed(chunk);
      if (!data.empty()) sink(std::make_shared<const std::string>(control::encodeOutput(name, stream, data)));
    });
  };
  respond(std::move(reply), std::move(source));
}

}  // namespace

json::value toJson(const CommandReply& reply) {
  struct Visit {
    CommandId command;
    json::value operator()(std::monostate) const { return nullptr; }
    json::value operator()(const StatusReport& r) const { return toJson(command, r); }
    json::value operator()(const ActionReport& r) const { return toJson(r); }
    json::value operator()(const ReloadReport& r) const { return toJson(r); }
    json::value operator()(int pid) const { return pid; }
    json::value operator()(const std::string& text) const { return json::string(text); }
    json::value operator()(const OutputTail& tail) const { return toJson(tail, control::validUtf8(tail.text)); }
  };
  return std::visit(Visit{reply.command}, reply.data);
}

control::Handler control::commandHandler(Interpreter& interpreter, std::function<void()> onShutdown) {
  return [&interpreter, onShutdown = std::move(onShutdown)](const Request& request, Responder respond) {
    std::vector<std::string> words{request.cmd};
    words.insert(words.end(), request.args.begin(), request.args.end());
    interpreter.run(words, {.source = "socket", .shell = false}, [respond, onShutdown](CommandReply result) {
      if (const auto* tail = std::get_if<OutputTail>(&result.data); tail && tail->follow)
        return respondFollowing(respond, result.ok, *tail);
      std::string error = result.usage && !result.errors.empty() ? result.errors.front() : std::string{};
      respond({result.ok, std::move(result.lines), toJson(result), std::move(error)});
      if (result.quit && onShutdown) onShutdown();
    });
  };
}

}  // namespace taskmaster::inline v0
