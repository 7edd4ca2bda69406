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
//   --print-limits    print "RESOURCE SOFT HARD" for nofile, nproc, core, as, memlock, cpu, fsize and stack
//                     ("unlimited" for no limit)
//   --grandchild FILE fork a child that writes its pid to FILE and sleeps until killed
//   --orphan MS FILE  fork twice, so that a grandchild is left behind orphaned: it writes its pid to FILE,
//                     sleeps MS milliseconds and exits (the middle child exits at once and is reaped)
//   --spam BYTES      write BYTES bytes to stdout
//   --stderr TEXT     write TEXT and a newline to stderr
//   --kill-self SIG   raise signal SIG
//   --lines N LEN TAG      write N lines "TAG i" (i from 0) to stdout, each padded with '.' to LEN bytes with its
//                          newline, one write(2) per line
//   --alternate N          write N lines, "seq i stdout" and "seq i stderr" in turn, one write(2) per line
//   --usr1-lines N LEN TAG from now on, write N lines as --lines on each SIGUSR1 (numbered on from the last
//                          batch) and sleep in between, until killed
//   --flood SECONDS LEN TAG write lines "TAG <12-digit number> ..." of LEN bytes (newline included) as fast as
//                          possible for SECONDS (0: until killed), through a 64 KiB buffer so that writes end
//                          mid-line; the last line is whole
//   --flood-count N LEN TAG as --flood, N lines
//   --partial N            write N bytes 'p' to stdout, no newline, in one write(2)
//   --tty-info             print "isatty I O E leader L size ROWS COLUMNS": isatty() of fds 0-2, whether it
//                          leads its session with a controlling terminal (1 or 0), and its window size (0 0: none)
//   --watch-size           from now on print "size ROWS COLUMNS" on each SIGWINCH, until killed
//   --echo                 read stdin and print "echo: LINE" for each line, until end of input
//   --say TEXT             print TEXT and a newline to stdout
//   --write-fd FD TEXT     write TEXT and a newline to fd FD (the notification fd of `ready: {fd: N}`)
//   --sd-notify MESSAGE    send MESSAGE ("READY=1", "STATUS=...") as one datagram to $NOTIFY_SOCKET
//   --listen PORT          accept TCP connections on 127.0.0.1:PORT and close them, until killed
//   --http PORT N          answer HTTP requests on 127.0.0.1:PORT: 200 to the first N, 503 to the others,
//                          until killed
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
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

void printLimits() {
  const std::pair<const char*, int> resources[] = {{"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},
                                                   {"core", RLIMIT_CORE},     {"as", RLIMIT_AS},
                                                   {"memlock", RLIMIT_MEMLOCK}, {"cpu", RLIMIT_CPU},
                                                   {"fsize", RLIMIT_FSIZE},   {"stack", RLIMIT_STACK}};
  auto show = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
  for (const auto& [name, resource] : resources) {
    rlimit limit{};
    ::getrlimit(resource, &limit);
    std::cout << name << " " << show(limit.rlim_cur) << " " << show(limit.rlim_max) << "\n";
  }
}

// Writes all of `text` to fd, one write(2) when the pipe takes it at once.
void writeAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      std::exit(101);
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Exits 101 with the reason: a helper that cannot do what it was asked must not pass for one that did.
[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(101);
}

void sdNotify(const std::string& message) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) die("NOTIFY_SOCKET unset");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t length = std::strlen(path);
  if (length >= sizeof addr.sun_path) die("NOTIFY_SOCKET too long");
  std::memcpy(addr.sun_path, path, length);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  if (::sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&addr), size) < 0) die("sendto");
  ::close(fd);
}

int listenOn(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
  if (::listen(fd, 64) < 0) die("listen");
  return fd;
}

// A connection's request is read up to its blank line, then answered and closed.
[[noreturn]] void serveHttp(int port, long long healthy) {
  const int server = listenOn(port);
  for (long long served = 0;; ++served) {
    const int client = ::accept4(server, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::string request;
    char buffer[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(client, buffer, sizeof buffer);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    const bool ok = served < healthy;
    const std::string body = ok ? "ok\n" : "failing\n";
    const std::string answer = std::string(ok ? "HTTP/1.1 200 OK" : "HTTP/1.1 503 Service Unavailable") +
                               "\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + body;
    writeAll(client, answer);
    ::close(client);
  }
}

[[noreturn]] void acceptForever(int port) {
  const int server = listenOn(port);
  for (;;) {
    const int client = ::accept4(server, nullptr, nullptr, SOCK_CLOEXEC);
    if (client >= 0) ::close(client);
  }
}

// "TAG i" padded with '.' to `length` bytes, the newline included (never shorter than the text and newline).
std::string numberedLine(const std::string& tag, long long i, std::size_t length) {
  std::string line = tag + " " + std::to_string(i);
  if (line.size() + 1 < length) line.append(length - line.size() - 1, '.');
  line += '\n';
  return line;
}

void writeLines(long long first, long long count, std::size_t length, const std::string& tag) {
  for (long long i = first; i < first + count; ++i) writeAll(STDOUT_FILENO, numberedLine(tag, i, length));
}

[[noreturn]] void linesOnSignal(long long count, std::size_t length, const std::string& tag) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  long long next = 0;
  for (;;) {
    int received = 0;
    if (::sigwait(&set, &received) != 0) continue;
    writeLines(next, count, length, tag);
    next += count;
  }
}

// Fixed-size lines as fast as the pipe takes them, so that a reader sees writes that end anywhere in a line.
// Stops after `seconds` (0: never) or `count` lines (negative: no limit), whichever comes first.
void flood(double seconds, long long count, std::size_t length, const std::string& tag) {
  constexpr std::size_t kBuffer = 64 * 1024;
  std::string buffer;
  buffer.reserve(kBuffer + length);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  char number[32];
  for (long long i = 0; count < 0 || i < count; ++i) {
    std::snprintf(number, sizeof number, " %012lld ", i);
    std::size_t start = buffer.size();
    buffer += tag;
    buffer += number;
    std::size_t used = buffer.size() - start;
    buffer.append(length > used + 1 ? length - used - 1 : 0, 'x');
    buffer += '\n';
    if (buffer.size() >= kBuffer) {
      writeAll(STDOUT_FILENO, std::string_view(buffer).substr(0, kBuffer));
      buffer.erase(0, kBuffer);
      if (seconds > 0 && std::chrono::steady_clock::now() >= deadline) break;
    }
  }
  writeAll(STDOUT_FILENO, buffer);
}

void printSize() {
  winsize size{};
  if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &size) < 0) size = {};
  std::cout << "size " << size.ws_row << " " << size.ws_col << std::endl;
}

void printTtyInfo() {
  const bool leader = ::getsid(0) == ::getpid() && ::tcgetsid(STDIN_FILENO) == ::getpid();
  std::cout << "isatty " << ::isatty(0) << " " << ::isatty(1) << " " << ::isatty(2) << " leader " << leader << " ";
  printSize();
}

[[noreturn]] void watchSize() {
  sigset_t winch;
  sigemptyset(&winch);
  sigaddset(&winch, SIGWINCH);
  ::sigprocmask(SIG_BLOCK, &winch, nullptr);
  std::cout << "watching" << std::endl;
  for (;;) {
    int sig = 0;
    if (::sigwait(&winch, &sig) == 0) printSize();
  }
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
    } else if (a == "--orphan") {
      const int ms = std::stoi(next());
      auto file = next();
      std::cout.flush();
      if (pid_t middle = ::fork(); middle == 0) {
        if (::fork() == 0) {
          std::ofstream(file) << ::getpid() << "\n";
          std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        }
        ::_exit(0);
      } else {
        ::waitpid(middle, nullptr, 0);
      }
    } else if (a == "--print-limits") {
      printLimits();
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
    } else if (a == "--lines") {
      long long count = std::stoll(next());
      auto length = static_cast<std::size_t>(std::stoul(next()));
      std::cout.flush();
      writeLines(0, count, length, next());
    } else if (a == "--partial") {
      std::cout.flush();
      writeAll(STDOUT_FILENO, std::string(std::stoul(next()), 'p'));
    } else if (a == "--alternate") {
      long long count = std::stoll(next());
      std::cout.flush();
      for (long long i = 0; i < count; ++i) {
        bool out = i % 2 == 0;
        writeAll(out ? STDOUT_FILENO : STDERR_FILENO, "seq " + std::to_string(i) + (out ? " stdout\n" : " stderr\n"));
      }
    } else if (a == "--usr1-lines") {
      long long count = std::stoll(next());
      auto length = static_cast<std::size_t>(std::stoul(next()));
      std::cout.flush();
      linesOnSignal(count, length, next());
    } else if (a == "--flood") {
      double seconds = std::stod(next());
      auto length = static_cast<std::size_t>(std::stoul(next()));
      std::cout.flush();
      flood(seconds, -1, length, next());
    } else if (a == "--flood-count") {
      long long count = std::stoll(next());
      auto length = static_cast<std::size_t>(std::stoul(next()));
      std::cout.flush();
      flood(0, count, length, next());
    } else if (a == "--tty-info") {
      printTtyInfo();
    } else if (a == "--watch-size") {
      watchSize();
    } else if (a == "--echo") {
      std::cout << "ready" << std::endl;
      for (std::string line; std::getline(std::cin, line);) std::cout << "echo: " << line << std::endl;
    } else if (a == "--say") {
      std::cout << next() << std::endl;
    } else if (a == "--write-fd") {
      const int fd = std::stoi(next());
      writeAll(fd, next() + "\n");
    } else if (a == "--sd-notify") {
      sdNotify(next());
    } else if (a == "--listen") {
      acceptForever(std::stoi(next()));
    } else if (a == "--http") {
      const int port = std::stoi(next());
      serveHttp(port, std::stoll(next()));
    } else {
      std::cerr << "tm_helper: unknown option " << a << "\n";
      return 100;
    }
  }
  return 0;
}
