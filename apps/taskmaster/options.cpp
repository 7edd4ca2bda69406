#include "options.hpp"

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <taskmaster/commands.hpp>
#include <taskmaster/metrics.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/version.hpp>

#include "attach/detach_keys.hpp"

namespace cli {
namespace po = boost::program_options;

namespace {

std::string home() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return {};
}

// $XDG_<NAME> when it is an absolute path (the spec says to ignore relative ones), else ~/<fallback>.
std::string xdgDir(const char* variable, std::string_view fallback) {
  if (const char* v = std::getenv(variable); v && v[0] == '/') return v;
  auto h = home();
  return h.empty() ? std::string{} : fmt::format("{}/{}", h, fallback);
}

int usageError(std::string_view program, std::string_view message) {
  fmt::print(stderr, "{0}: {1}\nTry '{0} --help' for more information.\n", program, message);
  return kExitUsage;
}

std::string describe(const po::options_description& desc) {
  std::ostringstream text;
  text << desc;
  return text.str();
}

// Commands whose own options (`tail -f -n 20 web`) come among taskmaster ctl's: an option unknown to ctl is
// theirs, in its place among the words.
bool takesOptions(const std::vector<std::string>& words) {
  const auto* command = words.empty() ? nullptr : taskmaster::findCommand(words.front());
  return command && (command->id == taskmaster::CommandId::tail || command->id == taskmaster::CommandId::maintail);
}

// The one parser of both commands. Options may come anywhere among the words, `--` ends them, and long
// options also take one dash (`-config FILE`, the seed's spelling; allow_long_disguise keeps it from being
// read as `-c onfig`). Options are never guessed from a prefix: `-c` would match both --check and --config
// in disguise. Fills `vm`; returns the other words in order (with the options of a command that takes
// some), or the exit code of a usage error.
std::variant<std::vector<std::string>, int> parse(const std::vector<std::string>& args,
                                                  const po::options_description& visible, po::variables_map& vm,
                                                  std::string_view program) {
  po::options_description all;
  all.add(visible).add_options()("words", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("words", -1);
  std::vector<std::string> words, unknown;
  try {
    using namespace po::command_line_style;
    auto parsed = po::command_line_parser(args)
                      .options(all)
                      .positional(positional)
                      .style((default_style & ~allow_guessing) | allow_long_disguise)
                      .allow_unregistered()
                      .run();
    for (const auto& option : parsed.options) {
      if (option.unregistered) unknown.push_back(option.original_tokens.front());
      if (option.unregistered || option.string_key == "words")
        words.insert(words.end(), option.original_tokens.begin(), option.original_tokens.end());
    }
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::invalid_command_line_syntax& e) {
    if (e.kind() == po::invalid_syntax::missing_parameter)
      return usageError(program, fmt::format("{} needs a value", e.get_option_name()));
    return usageError(program, e.what());
  } catch (const po::error& e) {
    return usageError(program, e.what());
  }
  if (!unknown.empty() && !takesOptions(words))
    return usageError(program, fmt::format("unknown option '{}'", unknown.front()));
  return words;
}

std::optional<std::string> optional(const po::variables_map& vm, const char* name) {
  if (!vm.contains(name)) return std::nullopt;
  return vm[name].as<std::string>();
}

void printRunHelp(const po::options_description& desc) {
  fmt::print(
      "Usage: taskmaster [-c FILE] [--log FILE] [--log-level LEVEL] [--logfile-maxbytes SIZE] [--logfile-backups N]\n"
      "                  [--socket PATH] [--metrics ADDR] [--pidfile FILE] [--daemon | --no-shell]\n"
      "                  [--init] [--subreaper] [--detach-keys KEYS]\n"
      "       taskmaster --check [-c FILE]\n"
      "       taskmaster convert FILE\n"
      "       taskmaster ctl [--socket PATH] [--json] [COMMAND [ARGS...]]\n"
      "Runs the programs of a configuration file under supervision, with a control shell on stdin and a\n"
      "control socket for `taskmaster ctl`. The file is taskmaster's YAML or supervisord's own format.\n"
      "--check validates it and lists its processes; convert prints it in taskmaster's YAML.\n\n"
      "{}\n"
      "Without -c, the first of these files is used:\n",
      describe(desc));
  for (const auto& path : configCandidates()) fmt::print("  {}\n", path);
  fmt::print(
      "\nType 'help' at the taskmaster> prompt for the commands. When stdin is not a terminal, commands\n"
      "are read from it line by line, and its end stops every program and exits.\n"
      "Exit status: 0 ok, 1 could not run, 2 bad usage or invalid configuration; when a critical program ends\n"
      "it: its exit code (128+N if killed by signal N), 3 if it became FATAL.\n");
}

// Everything that is not RunOptions' default is checked here, after parsing.
std::optional<std::string> validate(const RunOptions& options) {
  if (options.daemon && options.noShell) return "--daemon and --no-shell exclude each other";
  if (options.daemon && options.init) return "--daemon and --init exclude each other: PID 1 must stay in the foreground";
  if (options.check && (options.daemon || options.noShell))
    return fmt::format("--check runs nothing: it takes no {}", options.daemon ? "--daemon" : "--no-shell");
  if (options.config && options.config->empty()) return "the configuration file name is empty";
  if (options.logPath && options.logPath->empty()) return "the log file name is empty";
  return std::nullopt;
}

// "10": a number of backups, 0 to kMaxLogBackups.
std::optional<int> backupCount(const std::string& text) {
  int n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 0 || n > kMaxLogBackups) return std::nullopt;
  return n;
}

CommandLine parseRun(const std::vector<std::string>& args) {
  RunOptions options;
  std::string level;
  std::string maxBytes;
  std::string backups;
  po::options_description desc("Options");
  desc.add_options()
      ("config,c", po::value<std::string>()->value_name("FILE"), "configuration file (also -config FILE)")
      ("log", po::value<std::string>()->value_name("FILE"),
       "event log file, or syslog for the local syslog socket /dev/log (default: the configuration's logfile, "
       "else taskmaster.log)")
      ("log-level", po::value<std::string>(&level)->value_name("LEVEL"), "debug, info, warn or error (default: the configuration's loglevel, else info)")
      ("logfile-maxbytes", po::value<std::string>(&maxBytes)->value_name("SIZE"),
       "rotate the event log at this size: 50MB (default), 512KB, 0 never")
      ("logfile-backups", po::value<std::string>(&backups)->value_name("N"), "rotated event logs kept (default 10)")
      ("socket", po::value<std::string>()->value_name("PATH"), "control socket (default: see taskmaster ctl --help)")
      ("metrics", po::value<std::string>()->value_name("ADDR"),
       "serve Prometheus metrics at http://ADDR/metrics: HOST:PORT, or a port on 127.0.0.1 (default: the "
       "configuration's metrics, else none)")
      ("daemon,d", po::bool_switch(&options.daemon), "detach and run in the background, without a shell")
      ("no-shell", po::bool_switch(&options.noShell), "stay in the foreground without a shell, logging to stderr")
      ("pidfile", po::value<std::string>()->value_name("FILE"), "where to write the pid (a daemon's default: beside the socket)")
      ("check", po::bool_switch(&options.check), "validate the configuration, list its processes and exit")
      ("init", po::bool_switch(&options.init),
       "PID 1's duties (taken anyway as PID 1): reap orphans, stay up on internal errors; implies --no-shell")
      ("subreaper", po::bool_switch(&options.subreaper), "make orphans of programs come back to taskmaster, and reap them")
      ("detach-keys", po::value<std::string>()->value_name("KEYS"),
       "the keys that end the shell's attach, as ctrl-p,ctrl-q (default ctrl-])")
      ("help,h", "show this help and exit")
      ("version,V", "show the version and exit");
  po::variables_map vm;
  auto words = parse(args, desc, vm, "taskmaster");
  if (auto* code = std::get_if<int>(&words)) return *code;
  if (vm.contains("help")) {
    printRunHelp(desc);
    return kExitOk;
  }
  if (vm.contains("version")) {
    fmt::print("taskmaster {}\n", taskmaster::kVersion);
    return kExitOk;
  }
  if (const auto& stray = std::get<0>(words); !stray.empty())
    return usageError("taskmaster", fmt::format("unexpected argument '{}'", stray.front()));
  options.config = optional(vm, "config");
  options.socket = optional(vm, "socket");
  options.pidfile = optional(vm, "pidfile");
  if (auto metrics = optional(vm, "metrics")) {
    auto address = taskmaster::metrics::parseAddress(*metrics);
    if (!address) return usageError("taskmaster", fmt::format("--metrics: {}", address.error().str()));
    options.metrics = std::move(*address);
  }
  options.logPath = optional(vm, "log");
  if (auto keys = optional(vm, "detach-keys")) {
    std::string problem;
    auto sequence = parseDetachKeys(*keys, &problem);
    if (!sequence) return usageError("taskmaster", fmt::format("--detach-keys: {}", problem));
    options.detachKeys = std::move(*sequence);
  }
  options.init = options.init || ::getpid() == 1;  // a container's PID 1 has its duties, asked or not
  if (auto problem = validate(options)) return usageError("taskmaster", *problem);
  // PID 1 of a container rarely has a terminal, and the end of a script on stdin would stop everything.
  if (options.init && !options.check) options.noShell = true;
  if (vm.contains("log-level")) {
    auto parsed = taskmaster::parseLogLevel(level);
    if (!parsed) return usageError("taskmaster", fmt::format("unknown log level '{}' (use debug, info, warn or error)", level));
    options.logLevel = *parsed;
  }
  if (vm.contains("logfile-maxbytes")) {
    options.logMaxBytes = taskmaster::parseSize(maxBytes);
    if (!options.logMaxBytes)
      return usageError("taskmaster",
                        fmt::format("--logfile-maxbytes: expected a size such as 50MB, 512KB or 0, got '{}'", maxBytes));
  }
  if (vm.contains("logfile-backups")) {
    options.logBackups = backupCount(backups);
    if (!options.logBackups)
      return usageError("taskmaster", fmt::format("--logfile-backups: expected a number from 0 to {}, got '{}'",
                                                  kMaxLogBackups, backups));
  }
  return options;
}

void printCtlHelp(const po::options_description& desc) {
  std::string commands;
  for (const auto& c : taskmaster::commandTable())
    // input and resize are parts of attach, on its connection: not commands of their own here.
    if (c.scope != taskmaster::CommandScope::shell && c.scope != taskmaster::CommandScope::attached)
      commands += fmt::format("{}, ", c.name);
  fmt::print(
      "Usage: taskmaster ctl [--socket PATH | -c FILE] [--json] [COMMAND [ARGS...]]\n"
      "       taskmaster ctl attach NAME [--detach-keys KEYS]\n"
      "Runs COMMAND against the taskmaster listening on the control socket; without COMMAND, opens a shell.\n"
      "Options may also follow the command; `--` ends them.\n\n"
      "{}\n"
      "The socket by default: $XDG_RUNTIME_DIR/taskmaster.sock, else /tmp/taskmaster-UID/taskmaster.sock.\n"
      "COMMAND: {}as in the shell ('help COMMAND' there); events follows state changes until interrupted.\n"
      "attach shows a program's output and sends it what is typed, until the detach keys (Ctrl-] by default).\n"
      "Exit status: 0 ok, 1 the command failed, 2 bad usage, 3 no taskmaster is running.\n",
      describe(desc), commands);
}

CommandLine parseConvert(const std::vector<std::string>& args) {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help and exit");
  po::variables_map vm;
  auto words = parse(args, desc, vm, "taskmaster convert");
  if (auto* code = std::get_if<int>(&words)) return *code;
  if (vm.contains("help")) {
    fmt::print(
        "Usage: taskmaster convert FILE\n"
        "Prints the configuration FILE (supervisord's format, or taskmaster's YAML) in taskmaster's YAML on\n"
        "stdout. What the YAML cannot say, and every warning about FILE, become comments at the top.\n\n"
        "{}\n"
        "Exit status: 0 converted, 2 bad usage or an invalid configuration (every problem on stderr).\n",
        describe(desc));
    return kExitOk;
  }
  auto& files = std::get<0>(words);
  if (files.empty()) return usageError("taskmaster convert", "which file? (taskmaster convert FILE)");
  if (files.size() > 1) return usageError("taskmaster convert", fmt::format("unexpected argument '{}'", files[1]));
  if (files.front().empty()) return usageError("taskmaster convert", "the configuration file name is empty");
  return ConvertOptions{.file = files.front()};
}

CommandLine parseCtl(const std::vector<std::string>& args) {
  CtlOptions options;
  po::options_description desc("Options");
  desc.add_options()
      ("socket", po::value<std::string>()->value_name("PATH"), "the control socket")
      ("config,c", po::value<std::string>()->value_name("FILE"), "take the socket from this configuration's `socket:`")
      ("json", po::bool_switch(&options.json), "print the reply (or each event) as JSON, for scripts")
      ("detach-keys", po::value<std::string>()->value_name("KEYS"),
       "attach: the keys that detach, as ctrl-p,ctrl-q (default ctrl-])")
      ("help,h", "show this help and exit");
  po::variables_map vm;
  auto words = parse(args, desc, vm, "taskmaster ctl");
  if (auto* code = std::get_if<int>(&words)) return *code;
  if (vm.contains("help")) {
    printCtlHelp(desc);
    return kExitOk;
  }
  options.socket = optional(vm, "socket");
  options.config = optional(vm, "config");
  options.words = std::move(std::get<0>(words));
  const std::string keys = optional(vm, "detach-keys").value_or(std::string(kDefaultDetachKeys));
  std::string problem;
  auto sequence = parseDetachKeys(keys, &problem);
  if (!sequence) return usageError("taskmaster ctl", fmt::format("--detach-keys: {}", problem));
  if (vm.contains("detach-keys") && !isAttach(options.words))
    return usageError("taskmaster ctl", "--detach-keys is for attach");
  options.detachKeys = std::move(*sequence);
  return options;
}

}  // namespace

bool isAttach(const std::vector<std::string>& words) {
  const auto* command = words.empty() ? nullptr : taskmaster::findCommand(words.front());  // fg too
  return command && command->id == taskmaster::CommandId::attach;
}

CommandLine parseCommandLine(int argc, char** argv) {
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (!args.empty() && args.front() == "ctl") return parseCtl({args.begin() + 1, args.end()});
  if (!args.empty() && args.front() == "convert") return parseConvert({args.begin() + 1, args.end()});
  return parseRun(args);
}

std::vector<std::string> configCandidates() {
  std::vector<std::string> out{"./taskmaster.yml"};
  if (auto dir = xdgDir("XDG_CONFIG_HOME", ".config"); !dir.empty()) out.push_back(dir + "/taskmaster/taskmaster.yml");
  out.emplace_back("/etc/taskmaster/taskmaster.yml");
  // supervisord's own places, for those who switch: its files are read as they are.
  out.emplace_back("./supervisord.conf");
  out.emplace_back("/etc/supervisor/supervisord.conf");
  return out;
}

std::optional<std::string> findConfig() {
  const auto candidates = configCandidates();
  for (const auto& path : candidates) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return path;
  }
  fmt::print(stderr, "taskmaster: no configuration file found. Looked for:\n");
  for (const auto& path : candidates) fmt::print(stderr, "  {}\n", path);
  fmt::print(stderr, "Name one with -c FILE.\n");
  return std::nullopt;
}

std::string historyPath() {
  auto dir = xdgDir("XDG_STATE_HOME", ".local/state");
  return dir.empty() ? std::string{} : dir + "/taskmaster/history";
}

}  // namespace cli
