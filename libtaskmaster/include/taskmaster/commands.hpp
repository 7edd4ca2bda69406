// The command language: what a person or a program asks of a running supervisor (status, start, stop,
// restart, reload, pid, signal, tail, clear, maintail, attach, version, shutdown, help), in three parts:
//
// - the command table: the one list of commands, with their usage, help text, argument counts and what a
//   shell completes after them. Help, completion, the control protocol and docs/cli.md all follow it;
// - Service: the commands as typed calls that return data, free of any protocol or terminal. It owns the
//   current configuration, so that `reload` re-reads its file and keeps it when the new one is invalid;
// - Interpreter: words in, a CommandReply out: the text lines a shell prints (and the JSON socket sends as
//   `lines`), and the same answer as typed data (toJson() gives the socket's `data`).
//
// Threading: as Supervisor (supervisor.hpp); every call on the loop's thread, every callback from it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/fwd.hpp>

#include <taskmaster/config.hpp>
#include <taskmaster/error.hpp>
#include <taskmaster/log.hpp>
#include <taskmaster/output.hpp>
#include <taskmaster/state.hpp>
#include <taskmaster/supervisor.hpp>

namespace taskmaster::inline v0 {

namespace detail {
struct Keyboards;  // who holds the keyboard of each instance, and the attachments waiting for it
}

// --- the command table -----------------------------------------------------------------------------

enum class CommandId {
  help, status, start, stop, restart, reload, pid, signal, version, shutdown, quit, events, tail, clear, maintail,
  attach, input, resize
};

// Where a command can be given.
enum class CommandScope {
  everywhere,
  shell,   // quit: ends the shell it is typed in; refused over a protocol
  socket,  // events: a stream the control server answers itself; a shell says where to find it
  attached,  // input, resize: sent on a connection after its attach, refused elsewhere; not in help or completion
};

// What a shell offers for the next word after the command.
enum class CompletionKind { nothing, commands, names, signalThenNames, nameThenStream };

inline constexpr std::size_t kManyArgs = static_cast<std::size_t>(-1);

struct CommandInfo {
  CommandId id;
  std::string_view name;
  std::string_view usage;                 // "stop NAME..."
  std::string_view summary;               // one line, for the list of commands
  std::vector<std::string_view> details;  // more lines, for `help COMMAND`
  std::size_t minArgs = 0;                // the words after the command name
  std::size_t maxArgs = 0;                // kManyArgs: no limit
  CompletionKind completes = CompletionKind::nothing;
  CommandScope scope = CommandScope::everywhere;
};

// Every command, in the order `help` lists them.
[[nodiscard]] const std::vector<CommandInfo>& commandTable();
// The command called `name` ("exit" is quit); null when there is none.
[[nodiscard]] const CommandInfo* findCommand(std::string_view name);
// Every word a shell accepts as a command, "exit" and "fg" included.
[[nodiscard]] std::vector<std::string> commandNames();
// "unknown command 'stauts' (did you mean 'status'?)": the one did-you-mean for command names.
[[nodiscard]] std::string unknownCommandMessage(std::string_view name, std::string_view wording = "unknown command");

// What may come next on a command line after `words`, the complete words typed so far (none: a command
// name). `targetNames` gives the names of programs and instances, asked only when they may come next.
[[nodiscard]] std::vector<std::string> completeWords(const std::vector<std::string>& words,
                                                     const std::function<std::vector<std::string>()>& targetNames);

// --- the typed commands ----------------------------------------------------------------------------

// A name that is no program, instance or "all", with the closest existing name when one is close.
struct UnknownName {
  std::string name;
  std::optional<std::string> suggestion;
};

struct StatusReport {
  std::vector<InstanceStatus> instances;  // in the order of the names; every instance when none was given
  std::vector<UnknownName> unknown;
  [[nodiscard]] bool ok() const { return unknown.empty(); }
};

// start, stop, restart: one entry per instance, in the order of the names, an unknown name in its place.
// Other refusals (a start during shutdown) are an Outcome with ok false and the reason as its message.
struct ActionReport {
  std::vector<std::variant<Outcome, UnknownName>> outcomes;
  [[nodiscard]] bool ok() const;
};
using ActionDone = std::function<void(ActionReport)>;

struct SignalSent {
  std::string instance;
  int pid = 0;  // the process that got the signal; 0: the instance was not running, nothing was sent
};

struct SignalReport {
  int signal = 0;
  std::vector<std::variant<SignalSent, UnknownName>> results;  // in the order of the names
  [[nodiscard]] bool ok() const;
};

// How much of an output `tail` and `maintail` show: the last `bytes` bytes, or the last `lines` lines.
struct TailSize {
  std::size_t bytes = 1600;            // supervisorctl's default
  std::optional<std::size_t> lines{};  // set: lines, and `bytes` is ignored
};

// The arguments of `tail [-f] [-BYTES | -n LINES] NAME [stdout|stderr]` (maintail: the options only).
struct TailRequest {
  bool follow = false;
  TailSize size{};
  std::string name;  // empty for maintail
  StdStream stream = StdStream::out;
};
// Parses the words after `tail` (or `maintail`, with `named` false: no NAME, no stream). The Error's detail
// is the message for the user ("-n needs a number of lines").
[[nodiscard]] Result<TailRequest> parseTailArgs(const std::vector<std::string>& args, bool named = true);

// Follows an output: `sink` gets every chunk written after the tail that came with it, nothing missed in
// between, until the Subscription is reset. Call it at most once.
using OutputFollower = std::function<Subscription(std::function<void(std::string_view chunk)> sink)>;

// The answer of tail and maintail.
struct OutputTail {
  std::string name;         // the instance ("web:1"); empty for the event log
  std::string stream;       // "stdout", "stderr", or "log" for the event log
  std::string text;         // the last bytes, as the program wrote them: any bytes, maybe not whole lines
  OutputFollower follow{};  // set with -f: what comes next
};

// --- attach -----------------------------------------------------------------------------------------

// What a program's input is (ProgramSpec::tty, ProgramSpec::stdin): a terminal, a pipe on its stdin, or
// nothing (/dev/null).
enum class InputMode { none, stdin, tty };  // NOLINT: glibc's stdin macro expands to itself
[[nodiscard]] std::string_view to_string(InputMode mode) noexcept;  // "none", "stdin", "tty"

// How an attachment ended: the program's process ended ("exited"), it was stopped ("stopped"), its program
// was removed ("removed"), or taskmaster is shutting down ("shutdown").
struct Detached {
  std::string reason;
  std::string line;  // for people: "web exited with status 0", "web was stopped"
};

// One client's view of a running program's console (Service::attach): its recent output, what it writes
// next, and its keyboard. Several attachments may watch one instance; one types at a time: the first open
// one holds the keyboard until it is closed, then the oldest still open gets it. Destroying the attachment
// detaches (the program goes on). It ends by itself when the program's process ends.
class Attachment {
 public:
  struct State;
  explicit Attachment(std::shared_ptr<State> state);
  ~Attachment();
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  [[nodiscard]] const std::string& name() const;  // the instance: "web", "web:1"
  [[nodiscard]] InputMode mode() const;
  [[nodiscard]] bool keyboard() const;   // input() and resize() act only while it is true
  [[nodiscard]] const std::string& text() const;  // the recent output, as tail shows it
  [[nodiscard]] bool detached() const;   // the program's process has ended: nothing more comes
  // What the program writes after text(), nothing missed, until the Subscription is reset. Call it once.
  // A program with a stderr of its own (neither tty nor redirect_stderr) writes it to `errors`, or to `sink`
  // too when `errors` is empty: a terminal shows both.
  [[nodiscard]] Subscription follow(std::function<void(std::string_view chunk)> sink,
                                    std::function<void(std::string_view chunk)> errors = {});
  // Called when the keyboard comes to this attachment (another one that held it was closed).
  void onKeyboard(std::function<void()> handler);
  // Called once, later on the loop, when the attachment ends by itself; not when it is destroyed first.
  void onDetached(std::function<void(const Detached&)> handler);

  // The program's keyboard (Supervisor::sendInput, resizeTerminal), while this attachment holds it: an
  // Error with Errc::keyboard_elsewhere ("another client has the keyboard") otherwise, or the Supervisor's
  // (no input, not running, input not read...).
  [[nodiscard]] Result<> input(std::string_view bytes);
  [[nodiscard]] Result<> resize(unsigned short rows, unsigned short columns);

 private:
  std::shared_ptr<State> state_;
};

struct ReloadReport {
  std::string path;                   // the file read
  std::vector<Diagnostic> problems;   // not empty: the file was invalid and nothing changed
  ApplyReport applied;                // what changed, when the file was valid
  std::vector<Diagnostic> warnings;   // about the valid file: read, but ignored or not supported
  [[nodiscard]] bool ok() const { return problems.empty(); }
};

// What reread() found, by group: supervisord's groups (a program "GROUP:PROCESS" is in group GROUP, any other
// program is a group of its own), each list in the order of the configuration it comes from.
struct RereadReport {
  std::string path;                  // the file read
  std::vector<Diagnostic> problems;  // not empty: the file was invalid, and nothing was kept
  std::vector<std::string> added;    // in the file, not running
  std::vector<std::string> changed;  // in both, and some program of the group differs in any option, or in number
  std::vector<std::string> removed;  // running, not in the file
  std::vector<Diagnostic> warnings;  // about the valid file
  [[nodiscard]] bool ok() const { return problems.empty(); }
};

// What addGroup() and removeGroup() did.
enum class GroupChange {
  done,
  unknown,        // add: not in the configuration last read; remove: not running
  alreadyActive,  // add: the group runs already
  stillRunning,   // remove: an instance of the group is not STOPPED, EXITED or FATAL
};

// The commands of one Supervisor, typed. Names are resolved as the Supervisor does (a program, an instance
// such as "web:1", or "all"); an unknown one never stops the others of the same call.
class Service {
 public:
  // `config` is the configuration the supervisor is to run: apply() runs it, reload() replaces it.
  // `eventLog`, when given, is what `maintail` shows; it must outlive the Service.
  Service(Supervisor& supervisor, Config config, OutputLog* eventLog = nullptr);
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  [[nodiscard]] Supervisor& supervisor() { return supervisor_; }
  [[nodiscard]] const Config& config() const { return config_; }

  // Makes the supervisor run the current configuration (at start-up).
  ApplyReport apply();
  // Reads config().path again. A valid file becomes the configuration and is applied; an invalid one
  // changes nothing, and its problems are reported.
  [[nodiscard]] ReloadReport reload();

  // supervisord's two-step update (reread, then add and remove by group), which reload() does in one step.
  // reread() reads config().path and says which groups differ from the configuration running, changing
  // nothing; a valid file becomes the configuration last read. addGroup() runs a group of the configuration
  // last read (starting its autostart programs); removeGroup() forgets a running group whose instances are all
  // down. Both change config() to match. The configuration last read is config() until reread() succeeds.
  [[nodiscard]] RereadReport reread();
  [[nodiscard]] GroupChange addGroup(std::string_view group);
  [[nodiscard]] GroupChange removeGroup(std::string_view group);
  [[nodiscard]] const Config& lastRead() const { return read_; }

  // No names: every instance.
  [[nodiscard]] StatusReport status(const std::vector<std::string>& names) const;
  // `done` is called once, on the loop and never from inside the call, when every instance has settled.
  void start(const std::vector<std::string>& names, ActionDone done);
  void stop(const std::vector<std::string>& names, ActionDone done);
  void restart(const std::vector<std::string>& names, ActionDone done);
  // Sends `signal` to the main process of each instance that runs.
  [[nodiscard]] SignalReport signal(int signal, const std::vector<std::string>& names);
  // Stops every program (stopsignal, then SIGKILL after stoptime) and refuses starts; `done` when all are down.
  void shutdown(std::function<void()> done);

  // The output of one instance (a program of one instance, or "web:1"). An Error that says why not: an
  // unknown name (its detail as describe(UnknownName) words it), or a program of several instances
  // ("web has 3 instances: name one of them (web:0, web:1, web:2)").
  [[nodiscard]] Result<std::shared_ptr<OutputLog>> output(std::string_view name, StdStream stream) const;
  // The end of an instance's output (request.name, request.stream), with a follower when request.follow.
  [[nodiscard]] Result<OutputTail> tail(const TailRequest& request) const;
  // The same of the event log given to the constructor; an Error when there is none.
  [[nodiscard]] Result<OutputTail> maintail(const TailRequest& request) const;
  // Truncates the output files and forgets the recent output of every instance of each name.
  [[nodiscard]] ActionReport clear(const std::vector<std::string>& names);
  [[nodiscard]] OutputLog* eventLog() const { return eventLog_; }
  // Attaches to the console of one running instance (a program of one instance, or "web:1"): its recent
  // output (`size`, tail's default), then what it writes, and its keyboard when no other attachment holds it.
  // An Error as output() gives, or Errc::not_running ("web is not running").
  [[nodiscard]] Result<std::unique_ptr<Attachment>> attach(std::string_view name, TailSize size = {});

  [[nodiscard]] static int ownPid();
  [[nodiscard]] static std::string_view version();

  // "all", every program and every instance, sorted: what a NAME may be.
  [[nodiscard]] std::vector<std::string> targetNames() const;
  [[nodiscard]] UnknownName unknown(std::string_view name) const;

 private:
  using Action = std::error_code (Supervisor::*)(std::string_view, Completion);
  void act(Action action, const std::vector<std::string>& names, ActionDone done);

  Supervisor& supervisor_;
  Config config_;
  Config read_;  // the configuration last read: config_ until a reread()
  OutputLog* eventLog_ = nullptr;
  std::shared_ptr<detail::Keyboards> keyboards_;  // made at the first attach
};

// --- the text layer --------------------------------------------------------------------------------

// Who asks, and how the answer is shown.
struct RunContext {
  std::string source = "shell";  // for the log: "shell", "socket", "SIGHUP", ...
  bool colour = false;           // ANSI colours in the lines (a terminal)
  bool shell = true;             // false over a protocol: shell-only commands (quit) are refused
};

// A command's answer: text for people and the same answer as data for programs.
struct CommandReply {
  CommandId command = CommandId::help;
  bool ok = true;
  std::vector<std::string> lines;   // what to show, one line each, without newlines
  std::vector<std::string> errors;  // the failures among `lines`
  bool usage = false;               // the request itself was wrong: unknown command, wrong arguments
  bool quit = false;                // the asker's front end is to stop every program and leave
  // The data: StatusReport (status, pid with names), ActionReport (start, stop, restart, clear), ReloadReport
  // (a reload that worked), int (pid of taskmaster), std::string (version), OutputTail (tail, maintail), an
  // Attachment (attach), or nothing.
  // For tail, `lines` is the text cut at its newlines: a front end that must show the bytes exactly (or
  // follow them) takes the OutputTail.
  std::variant<std::monostate, StatusReport, ActionReport, ReloadReport, int, std::string, OutputTail,
               std::shared_ptr<Attachment>>
      data;

  void fail(std::string line);
};

// The data of a reply as the control protocol carries it (docs/protocol.md); null when it has none.
[[nodiscard]] boost::json::value toJson(const CommandReply& reply);

// Runs commands given as words, and logs each one and its failures to the sink. It must outlive the
// commands still running: their answers are logged on the way out.
class Interpreter {
 public:
  explicit Interpreter(Service& service, LogSink log = {});

  // words: the command name, then its arguments. `done` is called exactly once, later on the loop (never
  // from inside run()), after the command has finished: start, stop and restart wait for their instances.
  void run(const std::vector<std::string>& words, const RunContext& context, std::function<void(CommandReply)> done);

  [[nodiscard]] std::vector<std::string> completions(const std::vector<std::string>& words) const;

 private:
  void dispatch(const CommandInfo& command, const std::vector<std::string>& args, const RunContext& context,
                std::function<void(CommandReply)> done);
  void finish(std::function<void(CommandReply)> done, CommandReply reply) const;
  [[nodiscard]] CommandReply reload(const RunContext& context);
  void log(LogLevel level, std::string_view message) const;

  Service& service_;
  LogSink log_;
};

// --- text ------------------------------------------------------------------------------------------

// "web:0    RUNNING    pid 4242, uptime 0:03:12": one line per instance, in aligned columns. With colour,
// the state name carries an ANSI colour; the padding is computed on the plain text.
[[nodiscard]] std::vector<std::string> formatStatus(const std::vector<InstanceStatus>& instances, WallTime now,
                                                    bool colour = false);
// "0:03:12", or "2 days, 3:04:05".
[[nodiscard]] std::string formatUptime(std::chrono::milliseconds uptime);
// The state name, coloured when asked: green RUNNING, yellow for the transient states, red FATAL.
[[nodiscard]] std::string stateLabel(ProcessState state, bool colour);
// "added: a, b", "changed (restarted): c" ...: one line per non-empty part; "no programs" when all are.
[[nodiscard]] std::vector<std::string> describe(const ApplyReport& report);
// "wbe: ERROR (no such program; did you mean 'web'?)"
[[nodiscard]] std::string describe(const UnknownName& unknown);

}  // namespace taskmaster::inline v0
