#include "shell/shell.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <editline/readline.h>
#include <fmt/format.h>

#include "attach/session.hpp"
#include "options.hpp"
#include "shell/descriptors.hpp"
#include "shell/line_reader.hpp"
#include "shell/output_stream.hpp"

namespace cli {
namespace asio = boost::asio;

namespace {

constexpr const char* kPrompt = "taskmaster> ";

// Terminal output, written at once, as libedit draws on the same terminal. A terminal write waits only
// when the user pauses output (Ctrl-S). Unchecked: a failed write must not stop supervision.
void put(FILE* stream, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

void putLines(FILE* stream, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + '\n';
  put(stream, text);
}

// The answer of tail -f: its text and a follower. Null for any other answer.
const taskmaster::OutputTail* followed(const taskmaster::CommandReply& reply) {
  const auto* tail = std::get_if<taskmaster::OutputTail>(&reply.data);
  return tail && tail->follow ? tail : nullptr;
}

// Runs a typed line: its words go to the backend; a blank line or a comment gets an empty answer, and a
// line that cannot be split into words an error. `done` is called once, later on the loop.
// attach is for a shell on a terminal (`atTerminal`).
void runLine(asio::io_context& io, ShellBackend& backend, std::string_view line, bool atTerminal,
             std::function<void(taskmaster::CommandReply)> done) {
  auto words = taskmaster::splitCommand(line);
  taskmaster::CommandReply reply;
  if (words && !atTerminal && isAttach(*words)) {
    reply.fail(fmt::format("{}: needs a terminal: type it at the taskmaster> prompt, or run 'taskmaster ctl attach'"
                           " from a terminal", words->front()));
  } else if (words && !words->empty() && !words->front().starts_with('#')) {
    return backend.run(*words, std::move(done));
  }
  if (!words) reply.fail("unterminated quote or trailing backslash");
  asio::post(io, [done = std::move(done), reply = std::move(reply)]() mutable { done(std::move(reply)); });
}

// Commands from a pipe or a file: no prompt, answers on stdout, notices on stderr so that the answers
// stay parseable, and the end of the input means quit. The next command is read once the answer to the
// previous one is written: a reader that stops reading holds up the commands, never supervision.
class ScriptShell final : public Shell {
 public:
  ScriptShell(asio::io_context& io, ShellBackend& backend, ShellSettings settings)
      : io_(io),
        backend_(backend),
        settings_(std::move(settings)),
        reader_(io, STDIN_FILENO),
        out_(io, STDOUT_FILENO),
        err_(io, STDERR_FILENO) {}

  void start() override { readNext(); }
  void close() override {
    closed_ = true;
    following_.reset();
    reader_.close();
  }
  void notice(std::string_view text) override {
    // Notices nobody reads must not pile up without end.
    if (err_.pending() < kMaxPendingNotices) err_.write(fmt::format("taskmaster: {}\n", text));
  }
  void output(std::string_view lines) override { print(lines); }
  void interrupt() override {}
  [[nodiscard]] bool interactive() const override { return false; }

 private:
  static constexpr std::size_t kMaxPendingNotices = 64 * 1024;
  static constexpr std::size_t kMaxPendingOutput = 4 << 20;

  // Program output (forwarded lines, tail -f) to stdout: what a reader that stopped reading cannot take is
  // dropped and counted, and said once it reads again.
  void print(std::string_view text) {
    if (closed_ || text.empty()) return;
    if (out_.pending() + text.size() > kMaxPendingOutput) {
      dropped_ += text.size();
      return;
    }
    if (dropped_ > 0 && out_.pending() == 0)
      notice(fmt::format("{} bytes of program output dropped: stdout was not read", std::exchange(dropped_, 0)));
    out_.write(std::string(text));
  }

  void readNext() {
    reader_.next([this](std::optional<std::string> line) {
      if (closed_) return;
      if (!line) return settings_.onQuit("end of input");
      runLine(io_, backend_, *line, false, [this](taskmaster::CommandReply result) {
        if (closed_) return;
        if (const auto* tail = followed(result)) {  // no Ctrl-C in a script: followed until the shell closes
          print(tail->text);
          following_ = tail->follow([this](std::string_view chunk) { print(chunk); });
          return;
        }
        std::string text;
        for (const auto& l : result.lines) text += l + '\n';
        if (result.quit) {
          out_.write(std::move(text));
          return settings_.onQuit("quit command");
        }
        out_.write(std::move(text), [this] {
          if (!closed_) readNext();
        });
      });
    });
  }

  asio::io_context& io_;
  ShellBackend& backend_;
  ShellSettings settings_;
  LineReader reader_;
  OutputStream out_;
  OutputStream err_;
  taskmaster::Subscription following_;
  std::uint64_t dropped_ = 0;
  bool closed_ = false;
};

// The prompt, on libedit's callback interface: the loop waits until stdin is readable, then libedit
// consumes what is there without blocking, and calls back with each complete line. While a command runs
// the line handler is removed, so the terminal is in its normal mode and nothing is read.
class InteractiveShell final : public Shell {
 public:
  InteractiveShell(asio::io_context& io, ShellBackend& backend, ShellSettings settings)
      : io_(io),
        backend_(backend),
        settings_(std::move(settings)),
        input_(io, watchableCopy(STDIN_FILENO, O_RDONLY)),
        terminalSignals_(io, SIGWINCH, SIGCONT),
        programOutput_(io, STDOUT_FILENO) {}

  ~InteractiveShell() override {
    close();
    if (instance_ == this) instance_ = nullptr;
  }

  void start() override {
    instance_ = this;
    rl_readline_name = "taskmaster";  // for ~/.editrc
    // Signals are taskmaster's, handled on the loop. libedit's own handlers would re-raise them to the
    // whole process group.
    rl_catch_signals = 0;
    rl_attempted_completion_function = &complete;
    using_history();
    stifle_history(1000);
    if (!settings_.historyFile.empty()) read_history(settings_.historyFile.c_str());
    waitForTerminalSignals();
    prompt();
    waitForInput();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    following_.reset();
    if (attached_) {  // taskmaster stops: the terminal comes back first
      session_->end(fmt::format("detached from {}: taskmaster is stopping", attachment_->name()));
      leaveAttachment();
    }
    if (editing_) {
      rl_callback_handler_remove();  // back to the terminal's normal mode
      editing_ = false;
      put(stdout, "\n");
    }
    boost::system::error_code ignored;
    input_.cancel(ignored);
    terminalSignals_.cancel(ignored);
  }

  void notice(std::string_view text) override {
    if (attached_) return hold(fmt::format("{}\n", text));
    if (closed_ || !editing_) return put(stdout, fmt::format("{}\n", text));
    // Below the half-typed line, then the prompt and that line again, cursor where it was.
    put(stdout, fmt::format("\n{}\n", text));
    rl_forced_update_display();
  }

  // Programs' output never waits for the terminal (a flood, or output stopped with Ctrl-S): it goes through
  // an OutputWriter, which queues and past its limit drops and counts. The prompt is drawn again once the
  // lines have reached the terminal, so that it comes after them.
  void output(std::string_view lines) override {
    if (lines.empty()) return;
    const std::string_view end = lines.back() == '\n' ? "" : "\n";
    if (attached_) return hold(fmt::format("{}{}", lines, end));
    if (closed_ || !editing_) return programOutput_.write(fmt::format("{}{}", lines, end));
    // In place of the prompt's line, then the prompt and the half-typed line again, cursor where it was.
    programOutput_.write(fmt::format("\r\033[K{}{}", lines, end), [this] {
      if (!closed_ && editing_ && programOutput_.pending() == 0) rl_forced_update_display();
    });
  }

  void interrupt() override {
    if (closed_) return;
    if (attached_) return session_->detach();  // not a key: Ctrl-C goes to the program as a byte
    if (isFollowing_) {  // tail -f: stop following; the prompt comes back below the ^C the terminal echoed,
      isFollowing_ = false;  // after what was still on its way to the terminal
      following_.reset();
      programOutput_.write("\n", [this] {
        if (closed_ || editing_) return;
        prompt();
        waitForInput();
      });
      return;
    }
    if (editing_) {
      // Removing and installing the handler empties libedit's line and draws a fresh prompt.
      put(stdout, "^C\n");
      rl_callback_handler_remove();
      rl_callback_handler_install(kPrompt, &onLine);
      return;
    }
    ++command_;  // its answer, when it comes, is dropped
    put(stdout, "\ninterrupted; the command goes on in the background\n");
    prompt();
    waitForInput();
  }

  [[nodiscard]] bool interactive() const override { return true; }

 private:
  // libedit's callbacks carry no user pointer; there is one terminal, so one shell at a time.
  static inline InteractiveShell* instance_ = nullptr;

  static void onLine(char* raw) {
    std::optional<std::string> line;
    if (raw) {
      line = raw;
      std::free(raw);
    }
    if (instance_) instance_->handle(std::move(line));
  }

  static char** complete(const char* text, int start, int) {
    rl_attempted_completion_over = 1;  // no fallback to file names
    if (!instance_) return nullptr;
    // The words before the one being completed decide what fits: a command, a name, a signal.
    const std::string before = rl_line_buffer ? std::string(rl_line_buffer, static_cast<std::size_t>(start)) : "";
    const auto words = taskmaster::splitCommand(before).value_or(std::vector<std::string>{});
    auto& matches = instance_->matches_;
    matches.clear();
    for (auto& candidate : instance_->backend_.completions(words))
      if (candidate.starts_with(text)) matches.push_back(std::move(candidate));
    return rl_completion_matches(text, &nextMatch);
  }

  static char* nextMatch(const char*, int state) {
    auto& self = *instance_;
    if (state == 0) self.nextMatch_ = 0;
    if (self.nextMatch_ >= self.matches_.size()) return nullptr;
    return ::strdup(self.matches_[self.nextMatch_++].c_str());  // libedit frees it
  }

  void handle(std::optional<std::string> line) {
    editing_ = false;
    rl_callback_handler_remove();
    if (!line) {  // Ctrl-D on an empty line
      put(stdout, "\n");
      return settings_.onQuit("Ctrl-D");
    }
    remember(*line);
    const unsigned id = ++command_;
    runLine(io_, backend_, *line, true, [this, id](taskmaster::CommandReply result) {
      if (closed_ || id != command_) return;
      if (const auto* tail = followed(result)) return follow(*tail);
      using AttachmentPointer = std::shared_ptr<taskmaster::Attachment>;
      if (auto* attachment = std::get_if<AttachmentPointer>(&result.data); attachment && *attachment)
        return attach(std::move(*attachment));
      putLines(stdout, result.lines);
      if (result.quit) return settings_.onQuit("quit command");
      prompt();
      waitForInput();
    });
  }

  // attach NAME: libedit and the prompt are away (the line handler is removed) until the session ends;
  // notices and forwarded lines wait until then.
  void attach(std::shared_ptr<taskmaster::Attachment> attachment) {
    attached_ = true;
    attachment_ = std::move(attachment);
    const auto name = attachment_->name();
    session_ = std::make_unique<AttachSession>(
        io_,
        AttachSettings{.name = name,
                       .mode = attachment_->mode(),
                       .keyboard = attachment_->keyboard(),
                       .detachKeys = settings_.detachKeys},
        AttachHooks{.input = [this](std::string bytes) { (void)attachment_->input(bytes); },
                    .resize = [this](unsigned short rows,
                                     unsigned short columns) { (void)attachment_->resize(rows, columns); },
                    .detached = [this, name](auto done) { detachedLine(name, std::move(done)); },
                    .finished = [this] { asio::post(io_, [this] { afterAttachment(); }); }});
    session_->start(attachment_->text());
    attachment_->onKeyboard([this] { session_->keyboard(true); });
    attachment_->onDetached([this](const taskmaster::Detached& d) { session_->end(d.line); });
    following_ = attachment_->follow([this](std::string_view chunk) { session_->output(chunk); });
  }

  // "detached from web (still RUNNING)": the state as status says it.
  void detachedLine(const std::string& name, std::function<void(std::string)> done) {
    backend_.run({"status", name}, [name, done = std::move(done)](taskmaster::CommandReply reply) {
      const auto* report = std::get_if<taskmaster::StatusReport>(&reply.data);
      const bool known = report && report->instances.size() == 1;
      done(cli::detachedLine(name, known ? taskmaster::to_string(report->instances.front().state) : ""));
    });
  }

  // The session has given the terminal back and written its last line.
  void afterAttachment() {
    if (!attached_) return;
    leaveAttachment();
    if (closed_) return;
    prompt();
    waitForInput();
  }

  void leaveAttachment() {
    attached_ = false;
    following_.reset();
    attachment_.reset();  // closes the attachment: another client may get the keyboard
    if (!held_.empty()) programOutput_.write(std::exchange(held_, {}));
  }

  // What came for the terminal while attached: shown after, within a bound (past it, the rest is dropped).
  void hold(std::string text) {
    static constexpr std::size_t kMaxHeld = 64 * 1024;
    if (held_.size() + text.size() <= kMaxHeld) held_ += text;
  }

  // tail -f: the text as it was written, then each chunk as it comes, until Ctrl-C (interrupt()).
  void follow(const taskmaster::OutputTail& tail) {
    if (!tail.text.empty()) programOutput_.write(tail.text);
    isFollowing_ = true;
    following_ = tail.follow([this](std::string_view chunk) { programOutput_.write(chunk); });
  }

  // Installing the handler puts the terminal in editing mode and draws the prompt. libedit needs it
  // again after every line, or the next prompt only appears after a key press.
  void prompt() {
    editing_ = true;
    rl_callback_handler_install(kPrompt, &onLine);
  }

  void waitForInput() {
    if (waiting_ || closed_) return;
    waiting_ = true;
    input_.async_wait(asio::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
      waiting_ = false;
      if (ec || closed_ || !editing_) return;
      rl_callback_read_char();
      if (editing_) waitForInput();  // else a command runs, and its answer brings the prompt back
    });
  }

  void waitForTerminalSignals() {
    terminalSignals_.async_wait([this](boost::system::error_code ec, int signal) {
      if (ec || closed_) return;
      if (attached_) {  // the session forwards the size; the prompt is redrawn at its end
      } else if (signal == SIGWINCH) {
        rl_resize_terminal();
      } else if (editing_) {  // SIGCONT after Ctrl-Z: the shell that ran fg reset the terminal
        rl_prep_terminal(1);
        rl_forced_update_display();
      }
      waitForTerminalSignals();
    });
  }

  // Adds the line to the history, saved at once so that a crash or SIGKILL loses nothing.
  void remember(const std::string& line) {
    if (line.find_first_not_of(" \t") == std::string::npos || line == lastLine_) return;
    lastLine_ = line;
    add_history(line.c_str());
    if (settings_.historyFile.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(settings_.historyFile).parent_path(), ec);
    write_history(settings_.historyFile.c_str());
  }

  asio::io_context& io_;
  ShellBackend& backend_;
  ShellSettings settings_;
  asio::posix::stream_descriptor input_;  // only waited on: libedit does the reading
  asio::signal_set terminalSignals_;
  taskmaster::OutputWriter programOutput_;  // forwarded lines and tail -f
  bool editing_ = false;  // the line handler is installed, a prompt is on screen
  bool waiting_ = false;  // an async_wait on stdin is pending
  bool closed_ = false;
  taskmaster::Subscription following_;  // tail -f, until Ctrl-C
  bool isFollowing_ = false;
  unsigned command_ = 0;  // numbers commands, so the answer of an interrupted one is dropped
  std::unique_ptr<AttachSession> session_;  // attach NAME: the last one, kept until the next
  std::shared_ptr<taskmaster::Attachment> attachment_;  // its output follows in following_; reset, it closes
  bool attached_ = false;
  std::string held_;  // notices and forwarded lines that came while attached
  std::string lastLine_;
  std::vector<std::string> matches_;
  std::size_t nextMatch_ = 0;
};

}  // namespace

std::unique_ptr<Shell> makeShell(asio::io_context& io, ShellBackend& backend, ShellSettings settings) {
  // Line editing needs a terminal on both sides: with stdout redirected, libedit would write its prompt
  // and redraws into the file.
  if (::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO))
    return std::make_unique<InteractiveShell>(io, backend, std::move(settings));
  return std::make_unique<ScriptShell>(io, backend, std::move(settings));
}

}  // namespace cli
