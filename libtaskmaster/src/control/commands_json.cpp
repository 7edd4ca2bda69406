// A command's data as the JSON control protocol carries it (docs/protocol.md, "Commands").
#include <taskmaster/commands.hpp>

#include <charconv>
#include <map>

#include <boost/json.hpp>
#include <taskmaster/control.hpp>

#include <fmt/format.h>

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

json::value toJson(const Attachment& a, std::string text) {
  return json::object{{"name", a.name()}, {"mode", to_string(a.mode())}, {"keyboard", a.keyboard()},
                      {"text", std::move(text)}};
}

// The attachment of each connection that has one, for its input and resize requests.
using Attachments = std::map<std::uint64_t, std::weak_ptr<Attachment>>;

// attach over the protocol: the reply, then a stream of the program's output, "keyboard" lines and one
// "detached" line, for as long as the stream is open: the attachment ends (detaches) with it.
void respondAttached(const control::Responder& respond, CommandReply result, std::shared_ptr<Attachment> attachment,
                     std::shared_ptr<Attachments> attachments, std::uint64_t connection) {
  auto decoder = std::make_shared<control::Utf8Stream>();
  std::string text = decoder->feed(attachment->text());
  control::Reply reply{result.ok, std::move(result.lines), toJson(*attachment, std::move(text)), {}};
  control::StreamSource source = [attachment, decoder, attachments, connection](control::StreamSink sink) mutable {
    const std::string name = attachment->name();
    (*attachments)[connection] = attachment;
    attachment->onKeyboard([sink, name] { sink(std::make_shared<const std::string>(control::encodeKeyboard(name, true))); });
    attachment->onDetached([sink, name](const Detached& how) {
      sink(std::make_shared<const std::string>(control::encodeDetached(name, how.reason, how.line)));
    });
    auto lines = [sink, name](std::shared_ptr<control::Utf8Stream> utf8, std::string_view stream) {
      return [sink, name, utf8 = std::move(utf8), stream](std::string_view chunk) {
        const std::string data = utf8->feed(chunk);
        if (!data.empty()) sink(std::make_shared<const std::string>(control::encodeOutput(name, stream, data)));
      };
    };
    auto output = std::make_shared<Subscription>(
        attachment->follow(lines(decoder, "stdout"), lines(std::make_shared<control::Utf8Stream>(), "stderr")));
    return Subscription([held = std::move(attachment), output, attachments, connection]() mutable {
      output->reset();
      if (auto it = attachments->find(connection); it != attachments->end() && it->second.lock() == held)
        attachments->erase(it);
      held.reset();  // detaches: the keyboard goes to the next attachment
    });
  };
  respond(std::move(reply), std::move(source));
}

std::optional<unsigned short> terminalSize(std::string_view text) {
  unsigned short n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n == 0) return std::nullopt;
  return n;
}

// input and resize, on the connection of an attach: they act on its attachment, and are never logged (what
// is typed may be a password).
control::Reply typed(const control::Request& request, const CommandInfo& command, Attachments& attachments) {
  auto failed = [](std::string message, bool usage = false) {
    return control::Reply{false, {message}, nullptr, usage ? message : std::string{}};
  };
  const auto it = attachments.find(request.connection);
  const auto attachment = it == attachments.end() ? nullptr : it->second.lock();
  if (!attachment)
    return failed(fmt::format("'{}' goes with attach: send it on the connection of an attach", command.name), true);
  if (request.args.size() < command.minArgs || request.args.size() > command.maxArgs)
    return failed(fmt::format("usage: {}", command.usage), true);
  Result<> done;
  if (command.id == CommandId::input) {
    done = attachment->input(request.args.front());
  } else {
    const auto rows = terminalSize(request.args[0]);
    const auto columns = terminalSize(request.args[1]);
    if (!rows || !columns) return failed("resize: ROWS and COLUMNS are numbers from 1 to 65535", true);
    done = attachment->resize(*rows, *columns);
  }
  if (!done) return failed(done.error().str());
  return {};
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
    json::value operator()(const std::shared_ptr<Attachment>& a) const {
      return a ? toJson(*a, control::validUtf8(a->text())) : json::value(nullptr);
    }
  };
  return std::visit(Visit{reply.command}, reply.data);
}

control::Handler control::commandHandler(Interpreter& interpreter, std::function<void()> onShutdown) {
  auto attachments = std::make_shared<Attachments>();
  return [&interpreter, onShutdown = std::move(onShutdown), attachments](const Request& request, Responder respond) {
    if (const auto* command = findCommand(request.cmd); command && command->scope == CommandScope::attached)
      return respond(typed(request, *command, *attachments));
    std::vector<std::string> words{request.cmd};
    words.insert(words.end(), request.args.begin(), request.args.end());
    auto run = [respond, onShutdown, attachments, connection = request.connection](CommandReply result) {
      if (const auto* tail = std::get_if<OutputTail>(&result.data); tail && tail->follow)
        return respondFollowing(respond, result.ok, *tail);
      if (auto* attached = std::get_if<std::shared_ptr<Attachment>>(&result.data); attached && *attached) {
        auto attachment = std::move(*attached);
        return respondAttached(respond, std::move(result), std::move(attachment), attachments, connection);
      }
      std::string error = result.usage && !result.errors.empty() ? result.errors.front() : std::string{};
      respond({result.ok, std::move(result.lines), toJson(result), std::move(error)});
      if (result.quit && onShutdown) onShutdown();
    };
    interpreter.run(words, {.source = "socket", .shell = false}, std::move(run));
  };
}

}  // namespace taskmaster::inline v0
