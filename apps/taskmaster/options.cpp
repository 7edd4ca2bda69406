#include "options.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <taskmaster/version.hpp>

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

void usageError(std::string_view message) {
  fmt::print(stderr, "taskmaster: {}\nTry 'taskmaster --help' for more information.\n", message);
}

}  // namespace

std::optional<int> parseCommandLine(int argc, char** argv, Options& options) {
  std::string level;
  po::options_description desc("Options");
  desc.add_options()
      ("config,c", po::value<std::string>()->value_name("FILE"), "configuration file (also -config FILE)")
      ("log", po::value<std::string>(&options.logPath)->value_name("FILE"), "event log file (default: taskmaster.log)")
      ("log-level", po::value<std::string>(&level)->value_name("LEVEL"), "debug, info (default), warn or error")
      ("socket", po::value<std::string>()->value_name("PATH"), "control socket (default: see taskmaster ctl --help)")
      ("daemon,d", po::bool_switch(&options.daemon), "detach and run in the background, without a shell")
      ("no-shell", po::bool_switch(&options.noShell), "stay in the foreground without a shell, logging to stderr")
      ("pidfile", po::value<std::string>()->value_name("FILE"), "with --daemon: where to write the pid")
      ("help,h", "show this help and exit")
      ("version,V", "show the version and exit");

  po::variables_map vm;
  try {
    using namespace po::command_line_style;
    // allow_long_disguise: the seed's `-config FILE` spelling, without turning it into `-c onfig`.
    // An empty positional description: a stray word is an error, not silently ignored.
    po::store(po::command_line_parser(argc, argv)
                  .options(desc)
                  .positional(po::positional_options_description{})
                  .style(default_style | allow_long_disguise)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    usageError(e.what());
    return kExitUsage;
  }

  if (vm.contains("help")) {
    std::ostringstream text;
    text << desc;
    fmt::print(
        "Usage: taskmaster [-c FILE] [--log FILE] [--log-level LEVEL] [--socket PATH] [--daemon | --no-shell]\n"
        "       taskmaster ctl [--socket PATH] [--json] [COMMAND [ARGS...]]\n"
        "Runs the programs of a configuration file under supervision, with a control shell on stdin and a\n"
        "control socket for `taskmaster ctl`.\n\n"
        "{}\n"
        "Without -c, the first of these files is used:\n",
        text.str());
    for (const auto& path : configCandidates()) fmt::print("  {}\n", path);
    fmt::print(
        "\nType 'help' at the taskmaster> prompt for the commands. When stdin is not a terminal, commands\n"
        "are read from it line by line, and its end stops every program and exits.\n"
        "Exit status: 0 ok, 1 could not run, 2 bad usage or invalid configuration.\n");
    return kExitOk;
  }
  if (vm.contains("version")) {
    fmt::print("taskmaster {}\n", taskmaster::kVersion);
    return kExitOk;
  }
  if (vm.contains("config")) options.config = vm["config"].as<std::string>();
  if (vm.contains("socket")) options.socket = vm["socket"].as<std::string>();
  if (vm.contains("pidfile")) options.pidfile = vm["pidfile"].as<std::string>();
  if (options.daemon && options.noShell) {
    usageError("--daemon and --no-shell exclude each other");
    return kExitUsage;
  }
  if (options.config && options.config->empty()) {
    usageError("the configuration file name is empty");
    return kExitUsage;
  }
  if (options.logPath.empty()) {
    usageError("the log file name is empty");
    return kExitUsage;
  }
  if (vm.contains("log-level")) {
    auto parsed = parseLogLevel(level);
    if (!parsed) {
      usageError(fmt::format("unknown log level '{}' (use debug, info, warn or error)", level));
      return kExitUsage;
    }
    options.logLevel = *parsed;
  }
  return std::nullopt;
}

std::vector<std::string> configCandidates() {
  std::vector<std::string> out{"./taskmaster.yml"};
  if (auto dir = xdgDir("XDG_CONFIG_HOME", ".config"); !dir.empty()) out.push_back(dir + "/taskmaster/taskmaster.yml");
  out.emplace_back("/etc/taskmaster/taskmaster.yml");
  return out;
}

std::string historyPath() {
  auto dir = xdgDir("XDG_STATE_HOME", ".local/state");
  return dir.empty() ? std::string{} : dir + "/taskmaster/history";
}

}  // namespace cli
