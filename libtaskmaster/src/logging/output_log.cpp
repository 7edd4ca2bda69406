// OutputLog: one output's file, its recent bytes in memory and its followers (output.hpp).
//
// append() is on the path of every byte a program prints (a gigabyte a second when one floods), so it does
// one write(2) per chunk while the file does not rotate, and never allocates once the in-memory tail is full.
//
// Failed writes. A write that fails (ENOSPC on a full disk, EFBIG past RLIMIT_FSIZE, EIO) drops the rest of
// the chunk; the bytes are counted, and the first write that works again is preceded by one line
// "[taskmaster] N bytes dropped: <reason>". That line goes to the file, and also to the in-memory tail and the
// followers, so `tail` and `tail -f` show where the file has a gap (the tail itself keeps every byte: only the
// file lost them). A write past RLIMIT_FSIZE also raises SIGXFSZ, whose default action ends the process with
// a core dump: an embedding program that wants such a limit to be survivable must ignore SIGXFSZ, as it
// ignores SIGPIPE; write(2) then fails with EFBIG and the bytes are counted like any other failure.
#include <taskmaster/output.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

namespace taskmaster::inline v0 {
namespace {

// How far past maxBytes a file may go to finish the line it ends with (a longer line is cut at maxBytes).
constexpr std::uint64_t kLineSlack = 64 * 1024;

// The most recent bytes, at most `capacity`. The storage grows with the output up to the capacity (10,000
// programs that print little do not cost 64 KiB a stream each), then stays: from then on appending copies
// with at most two memcpy and never allocates. Until the storage is full the bytes lie in order from index 0.
class Ring {
 public:
  explicit Ring(std::size_t capacity) : capacity_(capacity) {}

  void append(std::string_view bytes) {
    const std::size_t n = bytes.size();
    if (capacity_ == 0 || n == 0) return;
    if (n >= capacity_) {
      reserve(capacity_);
      std::memcpy(storage_.get(), bytes.data() + (n - capacity_), capacity_);
      head_ = 0;
      size_ = capacity_;
      return;
    }
    if (size_ + n <= capacity_) {  // not full yet: in order from 0 (head_ is 0)
      reserve(size_ + n);
      std::memcpy(storage_.get() + size_, bytes.data(), n);
      size_ += n;
      return;
    }
    reserve(capacity_);
    const std::size_t end = (head_ + size_) % capacity_;
    const std::size_t first = std::min(n, capacity_ - end);
    std::memcpy(storage_.get() + end, bytes.data(), first);
    std::memcpy(storage_.get(), bytes.data() + first, n - first);
    head_ = (head_ + size_ + n - capacity_) % capacity_;
    size_ = capacity_;
  }

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool endsLine() const { return size_ == 0 || at(size_ - 1) == '\n'; }

  [[nodiscard]] std::string last(std::size_t bytes) const {
    const std::size_t n = std::min(bytes, size_);
    std::string out(n, '\0');
    if (n == 0) return out;
    const std::size_t start = (head_ + size_ - n) % capacity_;
    const std::size_t first = std::min(n, capacity_ - start);
    std::memcpy(out.data(), storage_.get() + start, first);
    std::memcpy(out.data() + first, storage_.get(), n - first);
    return out;
  }

  // A '\n' ends a line; the bytes after the last one are a line too.
  [[nodiscard]] std::string lastLines(std::size_t lines) const {
    if (lines == 0 || size_ == 0) return {};
    std::size_t begin = size_;
    if (at(begin - 1) == '\n') --begin;  // the end of the last line, not a line of its own
    for (std::size_t found = 0; begin > 0; --begin)
      if (at(begin - 1) == '\n' && ++found == lines) break;
    return last(size_ - begin);
  }

  void clear() {
    head_ = 0;
    size_ = 0;
  }

  void setCapacity(std::size_t capacity) {
    const std::string kept = last(capacity);
    storage_.reset();
    allocated_ = 0;
    capacity_ = capacity;
    clear();
    append(kept);
  }

 private:
  [[nodiscard]] char at(std::size_t index) const { return storage_[(head_ + index) % capacity_]; }

  // Room for `bytes` (at most the capacity), doubling: called before the storage is full only, while the
  // bytes are in order from 0.
  void reserve(std::size_t bytes) {
    if (allocated_ >= bytes) return;
    const std::size_t grown = std::min(capacity_, std::max({bytes, allocated_ * 2, std::size_t{4096}}));
    auto storage = std::make_unique_for_overwrite<char[]>(grown);
    if (size_ > 0) std::memcpy(storage.get(), storage_.get(), size_);
    storage_ = std::move(storage);
    allocated_ = grown;
  }

  std::unique_ptr<char[]> storage_;
  std::size_t allocated_ = 0;
  std::size_t capacity_;
  std::size_t head_ = 0;  // index of the oldest byte
  std::size_t size_ = 0;
};

// The file opened for appending, and its size; errno says why when it is not open.
struct OpenedFile {
  UniqueFd fd;
  std::uint64_t size = 0;
  bool regular = false;
};

OpenedFile openForAppend(const std::string& path) {
  OpenedFile file;
  UniqueFd fd(retryOnEintr(
      [&] { return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644); }));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) return file;
  file.fd = std::move(fd);
  file.regular = S_ISREG(st.st_mode);
  file.size = file.regular ? static_cast<std::uint64_t>(st.st_size) : 0;
  return file;
}

std::string droppedLine(bool atLineStart, std::uint64_t bytes, int error) {
  return fmt::format("{}[taskmaster] {} bytes dropped: {}\n", atLineStart ? "" : "\n", bytes,
                     error != 0 ? std::strerror(error) : "short write");
}

}  // namespace

struct OutputLog::Impl {
  using Sink = std::function<void(std::string_view)>;

  explicit Impl(std::size_t tailBytes) : ring(tailBytes) {}

  void adopt(OpenedFile opened) {
    file = std::move(opened.fd);
    size = opened.size;
    regular = opened.regular;
    fileEndsLine = true;  // as far as can be known without reading it
  }

  // Whether `path` is open, opening it when a rotation could not (errno says why not).
  bool ensureOpen() {
    if (file) return true;
    OpenedFile opened = openForAppend(path);
    if (!opened.fd) return false;
    adopt(std::move(opened));
    return true;
  }

  // Writes `bytes` as one or more write(2), removing what was written from it. False on a failure (errno).
  bool writeFully(std::string_view& bytes) {
    while (!bytes.empty()) {
      const ssize_t n = retryOnEintr([&] { return ::write(file.get(), bytes.data(), bytes.size()); });
      if (n <= 0) {
        if (n == 0) errno = 0;  // a write that takes nothing and says nothing: "short write"
        return false;
      }
      const auto written = static_cast<std::size_t>(n);
      size += written;
      fileEndsLine = bytes[written - 1] == '\n';
      bytes.remove_prefix(written);
    }
    return true;
  }

  // FILE.(N-1) -> FILE.N ... FILE -> FILE.1 and a new FILE; with no backups, FILE is truncated. The rename
  // onto FILE.N replaces the oldest backup. False on a failure (errno): the file is left as it was, or closed
  // when the new one could not be created (the next write tries again).
  bool rotate() {
    if (rotation.backups <= 0) {
      if (::ftruncate(file.get(), 0) != 0) return false;
      size = 0;
      fileEndsLine = true;
      return true;
    }
    for (int n = rotation.backups - 1; n >= 1; --n)
      ::rename(fmt::format("{}.{}", path, n).c_str(), fmt::format("{}.{}", path, n + 1).c_str());  // gaps: ENOENT
    if (::rename(path.c_str(), fmt::format("{}.1", path).c_str()) != 0 && errno != ENOENT) return false;
    file.reset();
    return ensureOpen();
  }

  // Writes all of `bytes`, rotating when the file would grow past maxBytes: what fits goes first, up to its
  // last newline (a line that does not fit starts the next file; one longer than a whole file is cut where
  // the file is full), then the rotation, then the rest, as often as it takes. Removes what was written from
  // `bytes`; false on a failure (errno).
  bool writeRotating(std::string_view& bytes) {
    while (!bytes.empty()) {
      if (!ensureOpen()) return false;
      const std::uint64_t limit = regular ? rotation.maxBytes : 0;  // /dev/null and FIFOs never rotate
      if (limit == 0 || size + bytes.size() <= limit) return writeFully(bytes);
      const std::uint64_t room = size < limit ? limit - size : 0;
      // A line the file ends with is finished in it, even past maxBytes (by kLineSlack at most): a line that
      // arrives in pieces is never cut between two files.
      const auto end = bytes.find('\n');
      const std::size_t lineRest = end == std::string_view::npos ? bytes.size() : end + 1;
      if (!fileEndsLine && lineRest > room && size + lineRest <= limit + kLineSlack) {
        if (end == std::string_view::npos) return writeFully(bytes);  // the line goes on in the next chunk
        std::string_view line = bytes.substr(0, end + 1);
        const bool ok = writeFully(line);
        bytes.remove_prefix(end + 1 - line.size());
        if (!ok || !rotate()) return false;
        continue;
      }
      std::size_t take = bytes.substr(0, room).rfind('\n');
      if (take != std::string_view::npos) {
        ++take;
      } else {
        take = size == 0 ? room : 0;
      }
      std::string_view part = bytes.substr(0, take);
      const bool ok = writeFully(part);
      bytes.remove_prefix(take - part.size());
      if (!ok || !rotate()) return false;
    }
    return true;
  }

  // The chunk to the file, preceded by the line about earlier drops when there were some. Returns that line's
  // count of bytes when it went out (0 otherwise), for the tail and the followers.
  std::uint64_t writeFile(std::string_view bytes) {
    std::uint64_t reported = 0;
    if (dropped > 0) {
      const std::string line = droppedLine(fileEndsLine, dropped, dropError);
      std::string_view rest = line;
      if (!writeRotating(rest)) {
        drop(bytes.size(), errno);
        return 0;
      }
      reported = std::exchange(dropped, 0);
    }
    if (!writeRotating(bytes)) drop(bytes.size(), errno);
    return reported;
  }

  void drop(std::uint64_t bytes, int error) {
    dropped += bytes;
    droppedTotal += bytes;
    dropError = error;
  }

  // Every sink, walking by id: a sink may unsubscribe itself or others, and each is held while it runs.
  void publish(std::string_view chunk) {
    for (auto it = followers.begin(); it != followers.end();) {
      const std::uint64_t id = it->first;
      const auto sink = it->second;
      (*sink)(chunk);
      it = followers.upper_bound(id);
    }
  }

  Ring ring;
  std::string path;  // empty: memory only
  Rotation rotation{};
  UniqueFd file;  // closed with a path set: a rotation could not create the new file
  std::uint64_t size = 0;
  bool regular = false;
  bool fileEndsLine = true;  // the last byte written was a '\n' (the dropped line starts a line of its own)
  std::uint64_t dropped = 0;
  std::uint64_t droppedTotal = 0;
  int dropError = 0;
  std::map<std::uint64_t, std::shared_ptr<Sink>> followers;
  std::uint64_t nextFollower = 0;
};

OutputLog::OutputLog(std::size_t tailBytes) : impl_(std::make_shared<Impl>(tailBytes)) {}

OutputLog::~OutputLog() = default;

Result<> OutputLog::setFile(const std::string& path, Rotation rotation) {
  Impl& s = *impl_;
  if (path.empty()) {
    s.file.reset();
    s.path.clear();
    s.rotation = rotation;
    return {};
  }
  OpenedFile opened = openForAppend(path);
  if (!opened.fd) {
    const int error = errno;
    return Error{{error, std::generic_category()}, fmt::format("cannot open {}: {}", path, std::strerror(error))};
  }
  s.adopt(std::move(opened));
  s.path = path;
  s.rotation = rotation;
  return {};
}

void OutputLog::setRotation(Rotation rotation) { impl_->rotation = rotation; }

void OutputLog::setTailBytes(std::size_t bytes) { impl_->ring.setCapacity(bytes); }

const std::string& OutputLog::path() const { return impl_->path; }

void OutputLog::append(std::string_view bytes) {
  if (bytes.empty()) return;
  Impl& s = *impl_;
  const std::uint64_t reported = s.path.empty() ? 0 : s.writeFile(bytes);
  const auto keep = s.followers.empty() ? nullptr : impl_;  // a sink may destroy this OutputLog
  if (reported > 0) {
    const std::string line = droppedLine(s.ring.endsLine(), reported, s.dropError);
    s.ring.append(line);
    if (keep) s.publish(line);
  }
  s.ring.append(bytes);
  if (keep) s.publish(bytes);
}

Result<> OutputLog::reopen() {
  Impl& s = *impl_;
  if (s.path.empty()) return {};
  OpenedFile opened = openForAppend(s.path);
  if (!opened.fd) {
    const int error = errno;
    return Error{{error, std::generic_category()}, fmt::format("cannot open {}: {}", s.path, std::strerror(error))};
  }
  s.adopt(std::move(opened));
  return {};
}

void OutputLog::clear() {
  Impl& s = *impl_;
  if (s.file && s.regular && ::ftruncate(s.file.get(), 0) == 0) {
    s.size = 0;
    s.fileEndsLine = true;
  }
  s.ring.clear();
}

std::string OutputLog::lastBytes(std::size_t bytes) const { return impl_->ring.last(bytes); }

std::string OutputLog::lastLines(std::size_t lines) const { return impl_->ring.lastLines(lines); }

Subscription OutputLog::follow(std::function<void(std::string_view chunk)> sink) {
  Impl& s = *impl_;
  const std::uint64_t id = s.nextFollower++;
  s.followers.emplace(id, std::make_shared<Impl::Sink>(std::move(sink)));
  return Subscription([weak = std::weak_ptr(impl_), id] {
    if (auto impl = weak.lock()) impl->followers.erase(id);
  });
}

std::size_t OutputLog::followers() const { return impl_->followers.size(); }

std::uint64_t OutputLog::dropped() const { return impl_->dropped; }

std::uint64_t OutputLog::droppedTotal() const { return impl_->droppedTotal; }

}  // namespace taskmaster::inline v0
