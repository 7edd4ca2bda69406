// Output (output.hpp): OutputLog's in-memory tail, rotation, reopening, clearing, dropped bytes on a full
// destination and followers; OutputWriter on a pipe nobody reads, a reader gone, a terminal, a file. Real
// files and pipes, no fork, no sleep.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <taskmaster/output.hpp>
#include <taskmaster/util.hpp>

#include "support.hpp"

using namespace std::chrono_literals;
using taskmaster::OutputLog;
using taskmaster::OutputWriter;
using taskmaster::Rotation;
using taskmaster::Subscription;
using taskmaster::UniqueFd;
namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void writeFile(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// The backups that exist, FILE.1 FILE.2 ..., by name.
std::vector<std::string> backups(const fs::path& file) {
  std::vector<std::string> names;
  for (int n = 1; fs::exists(file.string() + "." + std::to_string(n)); ++n)
    names.push_back(file.filename().string() + "." + std::to_string(n));
  return names;
}

// Everything kept, oldest first: FILE.N ... FILE.1, FILE.
std::string everything(const fs::path& file) {
  std::string all;
  for (auto n = backups(file).size(); n > 0; --n) all += readFile(file.string() + "." + std::to_string(n));
  return all + readFile(file);
}

// Sets a signal's disposition while it lives.
class SignalDisposition {
 public:
  SignalDisposition(int signal, void (*handler)(int)) : signal_(signal) { saved_ = std::signal(signal, handler); }
  ~SignalDisposition() { std::signal(signal_, saved_); }
  SignalDisposition(const SignalDisposition&) = delete;
  SignalDisposition& operator=(const SignalDisposition&) = delete;

 private:
  int signal_;
  void (*saved_)(int);
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

bool nonBlocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

// What a non-blocking read end has now.
std::string drain(int fd) {
  std::string out;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
  return out;
}

}  // namespace

TEST_SUITE("OutputLog: the in-memory tail") {
  TEST_CASE("the last bytes, before and after the ring wraps around") {
    OutputLog log(10);
    CHECK(log.lastBytes(5).empty());
    log.append("abc");
    CHECK(log.lastBytes(100) == "abc");
    CHECK(log.lastBytes(2) == "bc");
    log.append("defghij");  // exactly full
    CHECK(log.lastBytes(100) == "abcdefghij");
    log.append("klm");  // wraps
    CHECK(log.lastBytes(100) == "defghijklm");
    CHECK(log.lastBytes(4) == "jklm");
    for (int i = 0; i < 7; ++i) log.append("xy");  // wraps several times, at odd places
    CHECK(log.lastBytes(100) == "xyxyxyxyxy");
    log.append("0123456789abcdef");  // larger than the ring: its end only
    CHECK(log.lastBytes(100) == "6789abcdef");
    CHECK(log.lastBytes(0).empty());
  }

  TEST_CASE("the last lines: an unfinished last line counts, a final newline ends the last line") {
    OutputLog log(64);
    log.append("one\ntwo\nthree\n");
    CHECK(log.lastLines(1) == "three\n");
    CHECK(log.lastLines(2) == "two\nthree\n");
    CHECK(log.lastLines(3) == "one\ntwo\nthree\n");
    CHECK(log.lastLines(10) == "one\ntwo\nthree\n");
    CHECK(log.lastLines(0).empty());
    log.append("fo");
    log.append("ur");
    CHECK(log.lastLines(1) == "four");
    CHECK(log.lastLines(2) == "three\nfour");
    log.append("\n\n");
    CHECK(log.lastLines(1) == "\n");  // an empty line is a line
    CHECK(log.lastLines(2) == "four\n\n");
  }

  TEST_CASE("the last lines across the wrap-around, the oldest line cut by it") {
    OutputLog log(12);
    log.append("line1\nline2\n");  // full
    log.append("line3\n");         // wraps: "line2\nline3\n"
    CHECK(log.lastBytes(100) == "line2\nline3\n");
    CHECK(log.lastLines(1) == "line3\n");
    CHECK(log.lastLines(5) == "line2\nline3\n");
    log.append("ab");  // "ne2\nline3\nab": the oldest line lost its start
    CHECK(log.lastLines(2) == "line3\nab");
    CHECK(log.lastLines(3) == "ne2\nline3\nab");
  }

  TEST_CASE("setTailBytes keeps the most recent bytes, shrinking or growing") {
    OutputLog log(8);
    log.append("0123456789");
    CHECK(log.lastBytes(100) == "23456789");
    log.setTailBytes(4);
    CHECK(log.lastBytes(100) == "6789");
    log.setTailBytes(10);
    CHECK(log.lastBytes(100) == "6789");
    log.append("abcdefgh");
    CHECK(log.lastBytes(100) == "89abcdefgh");
    log.setTailBytes(0);
    log.append("more");
    CHECK(log.lastBytes(100).empty());
    CHECK(log.lastLines(3).empty());
  }

  TEST_CASE("a large tail sees every byte of a long stream in order") {
    OutputLog log(1000);
    std::string all;
    for (int i = 0; i < 500; ++i) {
      const std::string line = "line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 37), '.') + "\n";
      log.append(line);
      all += line;
    }
    CHECK(log.lastBytes(1000) == all.substr(all.size() - 1000));
    CHECK(log.lastLines(1) == "line 499" + std::string(499 % 37, '.') + "\n");
  }
}

TEST_SUITE("OutputLog: the file") {
  TEST_CASE("appends to the file, created 0644, and the path is kept") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    writeFile(file, "before\n");
    OutputLog log;
    REQUIRE(log.setFile(file.string()));
    CHECK(log.path() == file.string());
    log.append("after\n");
    CHECK(readFile(file) == "before\nafter\n");
    CHECK((fs::status(dir.path / "out.log").permissions() & fs::perms::others_write) == fs::perms::none);

    const fs::path fresh = dir.path / "fresh.log";
    REQUIRE(log.setFile(fresh.string()));
    CHECK((fs::status(fresh).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write |
                                                                   fs::perms::group_read | fs::perms::others_read));
    log.append("x");
    CHECK(readFile(fresh) == "x");
    CHECK(readFile(file) == "before\nafter\n");

    REQUIRE(log.setFile(""));  // memory only
    log.append("y");
    CHECK(readFile(fresh) == "x");
    CHECK(log.lastBytes(10) == "after\nxy");
  }

  TEST_CASE("a file that cannot be opened is an Error naming it, and the old file stays") {
    test::TempDir dir;
    OutputLog log;
    REQUIRE(log.setFile((dir.path / "a.log").string()));
    const std::string missing = (dir.path / "no/such/dir.log").string();
    auto result = log.setFile(missing);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == std::errc::no_such_file_or_directory);
    CHECK(result.error().str() == "cannot open " + missing + ": No such file or directory");
    CHECK(log.path() == (dir.path / "a.log").string());
    log.append("still\n");
    CHECK(readFile(dir.path / "a.log") == "still\n");
  }

  TEST_CASE("rotation: FILE.1 is the newest, exactly `backups` are kept, no file exceeds maxBytes") {
    test::TempDir dir;
    const fs::path file = dir.path / "web.log";
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 10, .backups = 2}));
    log.append("aaaa\n");
    log.append("bbbb\n");  // exactly 10: no rotation yet
    CHECK(backups(file).empty());
    CHECK(readFile(file) == "aaaa\nbbbb\n");
    log.append("cccc\n");
    CHECK(backups(file) == std::vector<std::string>{"web.log.1"});
    CHECK(readFile(file.string() + ".1") == "aaaa\nbbbb\n");
    CHECK(readFile(file) == "cccc\n");
    for (const char* line : {"dddd\n", "eeee\n", "ffff\n", "gggg\n", "hhhh\n"}) log.append(line);
    CHECK(backups(file) == std::vector<std::string>{"web.log.1", "web.log.2"});
    CHECK(readFile(file.string() + ".2") == "cccc\ndddd\n");
    CHECK(readFile(file.string() + ".1") == "eeee\nffff\n");
    CHECK(readFile(file) == "gggg\nhhhh\n");
    CHECK_FALSE(fs::exists(file.string() + ".3"));
    CHECK(log.lastBytes(100) == "aaaa\nbbbb\ncccc\ndddd\neeee\nffff\ngggg\nhhhh\n");  // the tail outlives rotation
  }

  TEST_CASE("rotation splits a chunk after its last newline that fits") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 10, .backups = 5}));
    log.append("abc\n");
    log.append("defg\nhijklm\n");  // "defg\n" fits, "h" would too but splits a line
    CHECK(readFile(file.string() + ".1") == "abc\ndefg\n");
    CHECK(readFile(file) == "hijklm\n");

    log.append("nopqrstu");  // no newline fits: the line starts the next file
    CHECK(readFile(file.string() + ".2") == "abc\ndefg\n");
    CHECK(readFile(file.string() + ".1") == "hijklm\n");
    CHECK(readFile(file) == "nopqrstu");
  }

  TEST_CASE("a chunk many times maxBytes makes several files, cut where each is full when it has no newline") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 10, .backups = 5}));
    log.append(std::string(25, 'x'));
    CHECK(backups(file).size() == 2);
    CHECK(readFile(file.string() + ".2") == std::string(10, 'x'));
    CHECK(readFile(file.string() + ".1") == std::string(10, 'x'));
    CHECK(readFile(file) == std::string(5, 'x'));
  }

  TEST_CASE("whatever the chunks, no file exceeds maxBytes but to finish its last line, and what is kept is the end of the stream, in order") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    OutputLog log(0);
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 64, .backups = 20}));
    std::string all;
    unsigned seed = 1;
    for (int i = 0; i < 300; ++i) {
      seed = seed * 1103515245 + 12345;
      std::string chunk;  // up to twice maxBytes, a newline now and then
      for (unsigned n = (seed >> 16) % 150; n > 0; --n) {
        seed = seed * 1103515245 + 12345;
        chunk += (seed >> 16) % 9 == 0 ? '\n' : static_cast<char>('a' + (seed >> 16) % 26);
      }
      log.append(chunk);
      all += chunk;
    }
    const auto names = backups(file);
    CHECK(names.size() == 20);
    // Past 64 bytes only by the end of the line the file ended with (these lines are short: under 150 bytes)
    for (const auto& name : names) {
      const std::string text = readFile(dir.path / name);
      CHECK((text.size() <= 64 || (text.ends_with('\n') && text.size() - text.rfind('\n', text.size() - 2) < 152 &&
                                   text.rfind('\n', text.size() - 2) < 64)));
    }
    CHECK(fs::file_size(file) <= 64 + 150);
    const std::string kept = everything(file);
    CHECK(kept.size() > 20 * 32);
    CHECK(all.ends_with(kept));
  }

  TEST_CASE("only regular files rotate: a FIFO (or /dev/null) is never renamed") {
    test::TempDir dir;
    const fs::path fifo = dir.path / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(reader);
    OutputLog log;
    REQUIRE(log.setFile(fifo.string(), Rotation{.maxBytes = 10, .backups = 2}));
    log.append(std::string(25, 'f'));
    CHECK(backups(fifo).empty());
    CHECK(drain(reader.get()) == std::string(25, 'f'));
  }

  TEST_CASE("no backups: the file is truncated when it would grow past maxBytes") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 10, .backups = 0}));
    log.append("aaaa\nbbbb\n");
    log.append("cccc\n");
    CHECK(readFile(file) == "cccc\n");
    CHECK(backups(file).empty());
    CHECK_FALSE(fs::exists(file.string() + ".1"));
  }

  TEST_CASE("maxBytes 0 never rotates; the size of an existing file counts") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    writeFile(file, "12345678\n");
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 0, .backups = 3}));
    log.append(std::string(1000, 'z') + "\n");
    CHECK(backups(file).empty());
    log.setRotation(Rotation{.maxBytes = 2000, .backups = 3});
    log.append(std::string(990, 'y') + "\n");  // 9 + 1001 + 991 = 2001 bytes: rotates first
    CHECK(backups(file).size() == 1);
    CHECK(fs::file_size(file) == 991);
  }

  TEST_CASE("reopen: after logrotate moved the file, writing goes on in a new one") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 20, .backups = 1}));
    log.append("one\n");
    fs::rename(file, dir.path / "out.log.old");
    log.append("two\n");  // still the open file, now under its new name
    REQUIRE(log.reopen());
    log.append("three\n");
    CHECK(readFile(dir.path / "out.log.old") == "one\ntwo\n");
    CHECK(readFile(file) == "three\n");
    log.append("0123456789abcd\n");  // the size counts from the new file: 6 + 15 > 20
    CHECK(readFile(file.string() + ".1") == "three\n");
  }

  TEST_CASE("reopen that fails keeps the old file") {
    test::TempDir dir;
    fs::create_directory(dir.path / "logs");
    const fs::path file = dir.path / "logs/out.log";
    OutputLog log;
    REQUIRE(log.setFile(file.string()));
    fs::rename(dir.path / "logs", dir.path / "moved");
    auto result = log.reopen();
    CHECK_FALSE(result);
    log.append("kept\n");
    CHECK(readFile(dir.path / "moved/out.log") == "kept\n");
  }

  TEST_CASE("clear truncates the file and forgets the tail; backups stay; followers are not told") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 10, .backups = 2}));
    log.append("aaaa\nbbbb\ncccc\n");
    int told = 0;
    auto sub = log.follow([&](std::string_view) { ++told; });
    log.clear();
    CHECK(told == 0);
    CHECK(readFile(file).empty());
    CHECK(readFile(file.string() + ".1") == "aaaa\nbbbb\n");
    CHECK(log.lastBytes(100).empty());
    log.append("0123456789");  // the size starts from 0 again: fits exactly
    CHECK(readFile(file) == "0123456789");
    CHECK(readFile(file.string() + ".1") == "aaaa\nbbbb\n");
    CHECK(told == 1);
  }
}

TEST_SUITE("OutputLog: a full destination") {
  TEST_CASE("writes to a full device are dropped and counted; the next write that works says how many") {
    test::TempDir dir;
    OutputLog log;
    std::string followed;
    auto sub = log.follow([&](std::string_view chunk) { followed += chunk; });
    REQUIRE(log.setFile("/dev/full"));
    log.append("lost one\n");
    log.append("lost two\n");
    CHECK(log.dropped() == 18);
    CHECK(log.droppedTotal() == 18);
    CHECK(log.lastBytes(100) == "lost one\nlost two\n");  // memory keeps everything

    const fs::path file = dir.path / "out.log";
    REQUIRE(log.setFile(file.string()));
    log.append("back\n");
    const std::string line = "[taskmaster] 18 bytes dropped: No space left on device\n";
    CHECK(readFile(file) == line + "back\n");
    CHECK(log.lastBytes(1000) == "lost one\nlost two\n" + line + "back\n");
    CHECK(followed == "lost one\nlost two\n" + line + "back\n");
    CHECK(log.dropped() == 0);
    CHECK(log.droppedTotal() == 18);
    log.append("more\n");
    CHECK(readFile(file) == line + "back\nmore\n");
  }

  TEST_CASE("a file-size limit: the part that fits is written, the rest counted, a line on recovery") {
    test::TempDir dir;
    const fs::path file = dir.path / "out.log";
    const SignalDisposition ignoreXfsz(SIGXFSZ, SIG_IGN);
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    OutputLog log;
    REQUIRE(log.setFile(file.string(), Rotation{.maxBytes = 0, .backups = 0}));
    log.append("first\n");
    rlimit low = saved;
    low.rlim_cur = 20;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &low) == 0);
    log.append("0123456789abcdefghij\n");  // 6 + 21: 14 bytes fit
    log.append("after\n");
    const std::uint64_t dropped = log.dropped();
    ::setrlimit(RLIMIT_FSIZE, &saved);
    CHECK(dropped == 7 + 6);
    log.append("recovered\n");
    // The bytes before the gap end mid-line: the line about the gap starts a line of its own.
    CHECK(readFile(file) == "first\n0123456789abcd\n[taskmaster] 13 bytes dropped: File too large\nrecovered\n");
    CHECK(log.lastLines(2) == "[taskmaster] 13 bytes dropped: File too large\nrecovered\n");
  }
}

TEST_SUITE("OutputLog: followers") {
  TEST_CASE("followers get every chunk until their Subscription is reset") {
    OutputLog log;
    std::vector<std::string> got;
    auto sub = log.follow([&](std::string_view chunk) { got.emplace_back(chunk); });
    CHECK(log.followers() == 1);
    log.append("a");
    log.append("bc\n");
    sub.reset();
    CHECK(log.followers() == 0);
    log.append("d");
    CHECK(got == std::vector<std::string>{"a", "bc\n"});
  }

  TEST_CASE("a follower may unsubscribe itself and others while being called") {
    OutputLog log;
    std::string first;
    std::string second;
    std::string third;
    Subscription subFirst;
    Subscription subSecond;
    Subscription subThird;
    subFirst = log.follow([&](std::string_view chunk) {
      first += chunk;
      subFirst.reset();   // itself
      subSecond.reset();  // the next one, before it is called
    });
    subSecond = log.follow([&](std::string_view chunk) { second += chunk; });
    subThird = log.follow([&](std::string_view chunk) { third += chunk; });
    log.append("x");
    log.append("y");
    CHECK(first == "x");
    CHECK(second.empty());
    CHECK(third == "xy");
    CHECK(log.followers() == 1);
  }

  TEST_CASE("a follower may destroy the log, and a Subscription may outlive it") {
    auto log = std::make_unique<OutputLog>();
    std::string got;
    Subscription kill = log->follow([&](std::string_view chunk) {
      got += chunk;
      log.reset();
    });
    Subscription late = log->follow([&](std::string_view chunk) { got += chunk; });
    log->append("z");
    CHECK(log == nullptr);
    CHECK(got == "zz");
    kill.reset();
    late.reset();
  }
}

TEST_SUITE("OutputWriter") {
  TEST_CASE("a pipe nobody reads: write returns at once, the queue is bounded, the drop is reported in place") {
    const SignalDisposition ignorePipe(SIGPIPE, SIG_IGN);
    boost::asio::io_context io;
    Pipe pipe;
    REQUIRE(::fcntl(pipe.write.get(), F_SETPIPE_SZ, 4096) >= 0);
    REQUIRE(::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) == 0);
    std::string sent;
    std::string lines;
    {
      OutputWriter writer(io, pipe.write.get(), 16 * 1024);
      CHECK_FALSE(nonBlocking(pipe.write.get()));  // the caller's descriptor stays blocking
      int written = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 2000; ++i) {
        std::string line = fmt::format("line {:04} {}\n", i, std::string(89, '.'));  // 100 bytes
        writer.write(line, [&] { ++written; });
        lines += line;
        CHECK(writer.pending() <= 16 * 1024);
      }
      CHECK(std::chrono::steady_clock::now() - start < 2s);
      CHECK(written == 0);  // never from inside write()
      io.poll();
      CHECK(written > 0);  // the ones written at once and the dropped ones
      CHECK(written < 2000);
      const std::uint64_t dropped = writer.droppedTotal();
      CHECK(dropped > 100'000);
      CHECK(dropped % 100 == 0);  // whole texts only (every line here is 100 bytes)

      // The reader comes back: the queue drains, and the next text comes after the line about the gap.
      for (int round = 0; round < 10'000 && writer.pending() > 0; ++round) {
        sent += drain(pipe.read.get());
        io.run_one_for(5s);  // the writer finds room, writes, and waits again
      }
      CHECK(writer.pending() == 0);
      writer.write("later\n");
      io.poll();
      sent += drain(pipe.read.get());
      CHECK(writer.droppedTotal() == dropped);
      CHECK(written == 2000);  // each callback once, when its text went out or was dropped

      const std::string gap = "[taskmaster] " + std::to_string(dropped) + " bytes dropped: the reader is not reading\n";
      const auto at = sent.find(gap);
      REQUIRE(at != std::string::npos);
      CHECK(sent.substr(0, at) == lines.substr(0, at));  // what went out is the beginning, whole
      CHECK(at + dropped == lines.size());
      CHECK(sent.substr(at + gap.size()) == "later\n");
    }
    CHECK_FALSE(nonBlocking(pipe.write.get()));
  }

  TEST_CASE("a reader gone for good: everything is dropped silently from then on") {
    const SignalDisposition ignorePipe(SIGPIPE, SIG_IGN);
    boost::asio::io_context io;
    Pipe pipe;
    REQUIRE(::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) == 0);
    OutputWriter writer(io, pipe.write.get());
    writer.write("seen\n");
    CHECK(drain(pipe.read.get()) == "seen\n");
    pipe.read.reset();
    int written = 0;
    writer.write("gone\n", [&] { ++written; });
    writer.write("also gone\n", [&] { ++written; });
    io.poll();
    CHECK(written == 2);
    CHECK(writer.droppedTotal() == 15);
    CHECK(writer.pending() == 0);
  }

  TEST_CASE("the destructor writes what is queued, but never waits long for a reader that stopped") {
    const SignalDisposition ignorePipe(SIGPIPE, SIG_IGN);
    boost::asio::io_context io;
    Pipe pipe;
    REQUIRE(::fcntl(pipe.write.get(), F_SETPIPE_SZ, 4096) >= 0);
    REQUIRE(::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) == 0);
    std::string all;
    auto writer = std::make_unique<OutputWriter>(io, pipe.write.get(), 1 << 20);
    for (int i = 0; i < 100; ++i) {
      const std::string line = std::to_string(i) + std::string(99, '-') + "\n";
      writer->write(line);
      all += line;
    }
    CHECK(writer->pending() > 0);
    const auto start = std::chrono::steady_clock::now();
    writer.reset();
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 900ms);
    CHECK(took < 5s);
    const std::string got = drain(pipe.read.get());
    CHECK(got == all.substr(0, got.size()));
    io.poll();  // the cancelled wait finds the writer gone
  }

  TEST_CASE("a regular file is written directly") {
    test::TempDir dir;
    boost::asio::io_context io;
    const fs::path file = dir.path / "out";
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    REQUIRE(fd);
    OutputWriter writer(io, fd.get());
    bool written = false;
    writer.write("hello\n", [&] { written = true; });
    CHECK(writer.pending() == 0);
    CHECK(readFile(file) == "hello\n");
    CHECK_FALSE(written);
    io.poll();
    CHECK(written);
  }

  TEST_CASE("a terminal is written through an open file of its own, which the caller's stays blocking") {
    int master = -1;
    int slave = -1;
    REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    UniqueFd masterFd(master);
    UniqueFd slaveFd(slave);
    termios mode{};
    REQUIRE(::tcgetattr(slave, &mode) == 0);
    ::cfmakeraw(&mode);
    REQUIRE(::tcsetattr(slave, TCSANOW, &mode) == 0);
    REQUIRE(::fcntl(master, F_SETFL, O_NONBLOCK) == 0);
    boost::asio::io_context io;
    {
      OutputWriter writer(io, slave);
      writer.write("on the terminal\n");
      io.poll();
      CHECK_FALSE(nonBlocking(slave));
      std::string got;
      for (int round = 0; round < 100 && got.size() < 16; ++round) {
        pollfd readable{master, POLLIN, 0};
        REQUIRE(::poll(&readable, 1, 5000) == 1);
        got += drain(master);
      }
      CHECK(got == "on the terminal\n");
    }
    CHECK_FALSE(nonBlocking(slave));
  }
}
