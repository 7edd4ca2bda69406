// taskmaster: runs the programs of a configuration file under supervision (daemon/), with a control shell
// on stdin (shell/) and a control socket for `taskmaster ctl` (ctl/); the event log is in log/. `--check` and
// `convert` (convert.cpp) serve those who come from supervisord. The commands themselves are the library's
// (taskmaster/commands.hpp). See docs/cli.md.
#include <utility>
#include <variant>

#include "convert.hpp"
#include "ctl/ctl.hpp"
#include "daemon/supervise.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  auto line = cli::parseCommandLine(argc, argv);
  if (auto* code = std::get_if<int>(&line)) return *code;
  if (auto* ctl = std::get_if<cli::CtlOptions>(&line)) return cli::runCtl(*ctl);
  if (auto* convert = std::get_if<cli::ConvertOptions>(&line)) return cli::convert(*convert);
  auto& run = std::get<cli::RunOptions>(line);
  if (run.check) return cli::check(run);
  return cli::supervise(std::move(run));
}
