// A child program for the process tests: each option is an action, run in order.
//   --exit N          exit with code N
//   --sleep MS        sleep MS milliseconds
//   --forever         sleep until killed
//   --ignore-term     ignore SIGTERM from now on
//   --print-env NAME  print NAME=value (or NAME unset)
//   --print-cwd       print the working directory
//   --print-umask     print the umask in octal
//   --print-fds       print the open fds, from /proc/self/fd
//   --print-ids       print uid, gid and supplementary groups
//   --print-sigstate  print the blocked and ignored signal masks
//   --print-pgid      print "pid pgid"
//   --grandchild FILE fork a child that writes its pid to FILE and sleeps until killed
//   --spam BYTES      write BYTES bytes to stdout
//   --stderr TEXT     write TEXT and a newline to stderr
//   --kill-self SIG   raise signal SIG
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void sleepForever() {
  for (;;) ::pause();
}

void printStatusField(const char* field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field, 0) == 0) std::cout << line << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        std::cerr << "tm_helper: " << a << " needs a value\n";
        std::exit(100);
      }
      return args[++i];
    };
    if (a == "--exit") {
      std::cout.flush();
      std::exit(std::stoi(next()));
    } else if (a == "--sleep") {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(next())));
    } else if (a == "--forever") {
      std::cout.flush();
      sleepForever();
    } else if (a == "--ignore-term") {
      std::signal(SIGTERM, SIG_IGN);
    } else if (a == "--print-env") {
      auto name = next();
      const char* v = std::getenv(name.c_str());
      std::cout << name << (v ? std::string("=") + v : std::string(" unset")) << "\n";
    } else if (a == "--print-cwd") {
      std::cout << std::filesystem::current_path().string() << "\n";
    } else if (a == "--print-umask") {
      mode_t m = ::umask(0);
      ::umask(m);
      std::printf("%04o\n", static_cast<unsigned>(m));
      std::fflush(stdout);
    } else if (a == "--print-fds") {
      std::vector<int> fds;
      for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) fds.push_back(std::stoi(e.path().filename()));
      std::sort(fds.begin(), fds.end());
      std::cout << "fds";
      for (int fd : fds) std::cout << " " << fd;  // includes the directory fd of the iteration itself
      std::cout << "\n";
    } else if (a == "--print-ids") {
      printStatusField("Uid:");
      printStatusField("Gid:");
      printStatusField("Groups:");
    } else if (a == "--print-sigstate") {
      printStatusField("SigBlk:");
      printStatusField("SigIgn:");
    } else if (a == "--print-pgid") {
      std::cout << ::getpid() << " " << ::getpgid(0) << "\n";
    } else if (a == "--grandchild") {
      auto file = next();
      std::cout.flush();
      if (::fork() == 0) {
        std::ofstream(file) << ::getpid() << "\n";
        sleepForever();
      }
    } else if (a == "--spam") {
      long long left = std::stoll(next());
      std::string block(65536, 'x');
      while (left > 0) {
        auto n = static_cast<std::size_t>(std::min<long long>(left, static_cast<long long>(block.size())));
        std::cout.write(block.data(), static_cast<std::streamsize>(n));
        left -= static_cast<long long>(n);
      }
    } else if (a == "--stderr") {
      std::cerr << next() << "\n";
    } else if (a == "--kill-self") {
      std::cout.flush();
      std::raise(std::stoi(next()));
    } else {
      std::cerr << "tm_helper: unknown option " << a << "\n";
      return 100;
    }
  }
  return 0;
}
