// The Interpreter: commands as words in, answers as text lines and typed data out.
#include <taskmaster/commands.hpp>

#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join
#include <taskmaster/program_spec.hpp>

#include "util/text.hpp"

namespace taskmaster::inline v0 {

namespace {

using Args = std::vector<std::string>;
using Done = std::function<void(CommandReply)>;

CommandReply replyTo(CommandId command) {
  CommandReply reply;
  reply.command = command;
  return reply;
}

std::string outcomeLine(const Outcome& o) {
  return o.ok ? fmt::format("{}: {}", o.instance, o.message) : fmt::format("{}: ERROR ({})", o.instance, o.message);
}

CommandReply help(const Args& args) {
  CommandReply reply = replyTo(CommandId::help);
  if (args.empty()) {
    reply.lines.emplace_back("Commands:");
    // The usages in a column; a longer one pushes its summary along, one line per command all the same.
    for (const auto& c : commandTable()) {
      if (c.scope == CommandScope::attached) continue;  // requests of attach's protocol, typed by nobody
      reply.lines.push_back(
          fmt::format("  {:<{}}{}", c.usage, std::max<std::size_t>(22, c.usage.size() + 1), c.summary));
    }
    reply.lines.emplace_back("NAME is a program (all its instances), an instance such as web:1, or all.");
    reply.lines.emplace_back("Type 'help COMMAND' for more about one command.");
    return reply;
  }
  const CommandInfo* command = findCommand(args.front());
  if (!command) {
    reply.fail(unknownCommandMessage(args.front(), "no command"));
    return reply;
  }
  reply.lines.push_back(fmt::format("usage: {}", command->usage));
  reply.lines.push_back(fmt::format("  {}", command->summary));
  for (auto line : command->details) reply.lines.push_back(fmt::format("  {}", line));
  return reply;
}

CommandReply status(const Service& service, const Args& args, bool colour) {
  CommandReply reply = replyTo(CommandId::status);
  auto report = service.status(args);
  reply.lines = formatStatus(report.instances, std::chrono::system_clock::now(), colour);
  if (args.empty() && report.instances.empty()) reply.lines.emplace_back("no programs");
  for (const auto& u : report.unknown) reply.fail(describe(u));
  reply.data = std::move(report);
  return reply;
}

CommandReply pid(const Service& service, const Args& args) {
  CommandReply reply = replyTo(CommandId::pid);
  if (args.empty()) {
    reply.lines.push_back(std::to_string(Service::ownPid()));
    reply.data = Service::ownPid();
    return reply;
  }
  auto report = service.status(args);
  // One instance: the bare number, for scripts ($(taskmaster ... pid web)); several: name and pid.
  if (report.instances.size() == 1 && report.unknown.empty()) {
    reply.lines.push_back(std::to_string(report.instances.front().pid));
  } else {
    for (const auto& s : report.instances) reply.lines.push_back(fmt::format("{} {}", s.instance, s.pid));
  }
  for (const auto& u : report.unknown) reply.fail(describe(u));
  reply.data = std::move(report);
  return reply;
}

CommandReply signal(Service& service, const Args& args) {
  CommandReply reply = replyTo(CommandId::signal);
  auto number = parseSignal(args.front());
  if (!number) {
    reply.fail(fmt::format("unknown signal '{}'", args.front()));
    return reply;
  }
  const std::string name = "SIG" + signalName(*number);
  const auto report = service.signal(*number, {args.begin() + 1, args.end()});
  for (const auto& result : report.results) {
    if (const auto* u = std::get_if<UnknownName>(&result)) reply.fail(describe(*u));
    else if (const auto& sent = std::get<SignalSent>(result); sent.pid > 0)
      reply.lines.push_back(fmt::format("{}: sent {} to pid {}", sent.instance, name, sent.pid));
    else reply.fail(fmt::format("{}: ERROR (not running)", sent.instance));
  }
  return reply;
}

// attach: the Attachment, for the front end to follow; its line says whether it has the keyboard.
CommandReply attach(Service& service, const Args& args) {
  CommandReply reply = replyTo(CommandId::attach);
  auto attachment = service.attach(args.front());
  if (!attachment) {
    reply.fail(attachment.error().detail);
    return reply;
  }
  const Attachment& a = **attachment;
  reply.lines.push_back(fmt::format("attached to {} (input: {}{})", a.name(), to_string(a.mode()),
                                    a.keyboard() ? "" : "; another client has the keyboard"));
  reply.data = std::shared_ptr<Attachment>(std::move(*attachment));
  return reply;
}

// tail and maintail: a wrong option is a usage error, said with the usage.
CommandReply tail(const Service& service, const CommandInfo& command, const Args& args) {
  CommandReply reply = replyTo(command.id);
  const bool main = command.id == CommandId::maintail;
  auto request = parseTailArgs(args, !main);
  if (!request) {
    reply.usage = true;
    reply.fail(fmt::format("{}: {}", command.name, request.error().detail));
    reply.lines.push_back(fmt::format("usage: {}", command.usage));
    return reply;
  }
  auto tail = main ? service.maintail(*request) : service.tail(*request);
  if (!tail) {
    reply.fail(main ? fmt::format("maintail: {}", tail.error().detail) : tail.error().detail);
    return reply;
  }
  reply.lines = detail::splitLines(tail->text);
  reply.data = std::move(*tail);
  return reply;
}

CommandReply actionReply(CommandId id, ActionReport report) {
  CommandReply reply = replyTo(id);
  for (const auto& entry : report.outcomes) {
    if (const auto* u = std::get_if<UnknownName>(&entry)) reply.fail(describe(*u));
    else if (const auto& o = std::get<Outcome>(entry); o.ok) reply.lines.push_back(outcomeLine(o));
    else reply.fail(outcomeLine(o));
  }
  reply.data = std::move(report);
  return reply;
}

}  // namespace

void CommandReply::fail(std::string line) {
  ok = false;
  errors.push_back(line);
  lines.push_back(std::move(line));
}

std::vector<std::string> describe(const ApplyReport& report) {
  std::vector<std::string> lines;
  auto part = [&](std::string_view label, const std::vector<std::string>& names) {
    if (!names.empty()) lines.push_back(fmt::format("{}: {}", label, fmt::join(names, ", ")));
  };
  part("added", report.added);
  part("changed (restarted)", report.changed);
  part("updated", report.updated);
  part("removed", report.removed);
  part("unchanged", report.unchanged);
  part("invalid (left as they were)", report.invalid);
  if (lines.empty()) lines.emplace_back("no programs");
  return lines;
}

std::string describe(const UnknownName& unknown) {
  std::string message = fmt::format("{}: ERROR (no such program", unknown.name);
  if (unknown.suggestion) message += fmt::format("; did you mean '{}'?", *unknown.suggestion);
  return message + ")";
}

Interpreter::Interpreter(Service& service, LogSink log) : service_(service), log_(std::move(log)) {}

void Interpreter::log(LogLevel level, std::string_view message) const {
  if (log_) log_(level, message);
}

void Interpreter::finish(Done done, CommandReply reply) const {
  boost::asio::post(service_.supervisor().context(),
                    [done = std::move(done), reply = std::move(reply)]() mutable { done(std::move(reply)); });
}

std::vector<std::string> Interpreter::completions(const std::vector<std::string>& words) const {
  return completeWords(words, [this] { return service_.targetNames(); });
}

void Interpreter::run(const std::vector<std::string>& words, const RunContext& context, Done done) {
  if (words.empty()) return finish(std::move(done), CommandReply{});
  const std::string text = fmt::format("{}", fmt::join(words, " "));
  log(LogLevel::info, fmt::format("command from {}: {}", context.source, text));
  // Failures go to the log too, whatever the front end does with them.
  Done logged = [this, source = context.source, text, done = std::move(done)](CommandReply reply) {
    for (const auto& e : reply.errors) log(LogLevel::warn, fmt::format("command from {} failed: {}: {}", source, text, e));
    done(std::move(reply));
  };
  const CommandInfo* command = findCommand(words.front());
  CommandReply refused;
  refused.usage = true;
  if (!command) {
    refused.fail(unknownCommandMessage(words.front()) + "; type 'help' for the list");
  } else if (command->scope == CommandScope::shell && !context.shell) {
    // Only the error: there is no shell to print a line in.
    refused.ok = false;
    refused.errors.push_back(fmt::format("'{}' ends a shell; 'shutdown' stops taskmaster", words.front()));
  } else if (command->scope == CommandScope::socket) {  // the control server answers it before any interpreter
    refused.fail(fmt::format("'{}' follows the control socket: run 'taskmaster ctl {}'", words.front(), words.front()));
  } else if (command->scope == CommandScope::attached) {
    refused.fail(fmt::format("'{}' goes with attach: type into the program after 'attach NAME'", words.front()));
  } else if (const std::size_t n = words.size() - 1; n < command->minArgs || n > command->maxArgs) {
    refused.fail(fmt::format("usage: {}", command->usage));
  } else {
    return dispatch(*command, {words.begin() + 1, words.end()}, context, std::move(logged));
  }
  finish(std::move(logged), std::move(refused));
}

void Interpreter::dispatch(const CommandInfo& command, const Args& args, const RunContext& context, Done done) {
  auto act = [&](void (Service::*action)(const Args&, ActionDone)) {
    (service_.*action)(args, [id = command.id, done = std::move(done)](ActionReport report) {
      done(actionReply(id, std::move(report)));  // already on the loop, after the call returned
    });
  };
  switch (command.id) {
    case CommandId::help: return finish(std::move(done), help(args));
    case CommandId::status: return finish(std::move(done), status(service_, args, context.colour));
    case CommandId::start: return act(&Service::start);
    case CommandId::stop: return act(&Service::stop);
    case CommandId::restart: return act(&Service::restart);
    case CommandId::reload: return finish(std::move(done), reload(context));
    case CommandId::pid: return finish(std::move(done), pid(service_, args));
    case CommandId::signal: return finish(std::move(done), signal(service_, args));
    case CommandId::version: {
      CommandReply reply = replyTo(CommandId::version);
      reply.lines.push_back(fmt::format("taskmaster {}", Service::version()));
      reply.data = std::string(Service::version());
      return finish(std::move(done), std::move(reply));
    }
    case CommandId::shutdown:
    case CommandId::quit: {
      CommandReply reply = replyTo(command.id);
      if (command.id == CommandId::shutdown) reply.lines.emplace_back("stopping every program, then exiting");
      reply.quit = true;
      return finish(std::move(done), std::move(reply));
    }
    case CommandId::tail:
    case CommandId::maintail: return finish(std::move(done), tail(service_, command, args));
    case CommandId::clear: return finish(std::move(done), actionReply(command.id, service_.clear(args)));
    case CommandId::attach: return finish(std::move(done), attach(service_, args));
    case CommandId::events:
    case CommandId::input:
    case CommandId::resize: return;  // refused in run(): never dispatched
  }
}

CommandReply Interpreter::reload(const RunContext& context) {
  CommandReply reply = replyTo(CommandId::reload);
  const std::string path = service_.config().path;
  log(LogLevel::info, fmt::format("reloading the configuration from {} (asked by {})", path, context.source));
  auto report = service_.reload();
  if (!report.ok()) {
    for (const auto& d : report.problems) reply.fail(d.str());
    reply.fail(fmt::format("reload failed: {} problem{} in {}; nothing changed", report.problems.size(),
                           report.problems.size() == 1 ? "" : "s", path));
    return reply;
  }
  reply.lines = describe(report.applied);
  log(LogLevel::info, fmt::format("configuration reloaded from {}: {}", path, fmt::join(reply.lines, "; ")));
  // After what changed: "file:line: warning: program 'web': message", as taskmaster prints them at start.
  for (const auto& warning : report.warnings) {
    auto line = warning;
    line.message = fmt::format("warning: {}{}", warning.program.empty() ? "" : fmt::format("program '{}': ", warning.program),
                               warning.message);
    line.program.clear();
    reply.lines.push_back(line.str());
    log(LogLevel::warn, line.str());
  }
  reply.data = std::move(report);
  return reply;
}

}  // namespace taskmaster::inline v0
