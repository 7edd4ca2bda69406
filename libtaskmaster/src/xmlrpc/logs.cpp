// The methods on output: reading and tailing the programs' logs and the event log (supervisord's readFile and
// tailFile rules), and clearing them. A log is its file when it has one. An output kept in memory only is read
// from memory, the kept bytes standing for the file, when the configuration is taskmaster's YAML (no `stdout:`);
// a supervisord.conf's NONE is no log, as supervisord has it (NO_FILE). Reads are bounded
// (kMaxRead), and the text is cut at whole UTF-8 characters: supervisord fails on a character cut in two.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <taskmaster/control.hpp>

#include "util/text.hpp"
#include "xmlrpc/methods.hpp"

namespace taskmaster::inline v0::xmlrpc::detail {

namespace {

constexpr std::int64_t kMaxRead = 4 << 20;  // bytes one call reads at most

using Source = LogSource;

// The bytes [from, from + length) of a source, clipped to its size, and its size.
struct Slice {
  std::string bytes;
  std::int64_t size = 0;
};

Expected<Slice, Fault> readSlice(const Source& source, std::int64_t from, std::int64_t length) {
  const auto clip = [&](std::int64_t size) {
    from = std::clamp<std::int64_t>(from, 0, size);
    length = std::clamp<std::int64_t>(length, 0, std::min(size - from, kMaxRead));
  };
  Slice slice;
  if (source.memory) {
    const std::string all = source.memory->lastBytes(std::numeric_limits<std::size_t>::max());
    slice.size = static_cast<std::int64_t>(all.size());
    clip(slice.size);
    slice.bytes = all.substr(static_cast<std::size_t>(from), static_cast<std::size_t>(length));
    return slice;
  }
  const int fd = ::open(source.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st{};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) ::close(fd);
    return Fault(FaultCode::failed);
  }
  slice.size = st.st_size;
  clip(slice.size);
  slice.bytes.resize(static_cast<std::size_t>(length));
  const auto got = ::pread(fd, slice.bytes.data(), slice.bytes.size(), from);
  ::close(fd);
  if (got < 0) return Fault(FaultCode::failed);
  slice.bytes.resize(static_cast<std::size_t>(got));
  return slice;
}

// The bytes as text: a character cut at the start of a slice that does not start the log is dropped, one cut
// at its end is left out; the rest is made valid by the encoder.
std::string wholeCharacters(std::string bytes, bool cutStart) {
  std::size_t skip = 0;
  while (cutStart && skip < 3 && skip < bytes.size() && (static_cast<unsigned char>(bytes[skip]) & 0xC0) == 0x80) ++skip;
  control::Utf8Stream stream;
  return stream.feed(std::string_view(bytes).substr(skip));
}

// supervisord's readFile: offset < 0 is the last |offset| bytes (length must be 0); else `length` bytes from
// offset (0: to the end). BAD_ARGUMENTS and FAILED are bare.
Answer readLog(const Source& source, std::int64_t offset, std::int64_t length) {
  if ((offset < 0 && length != 0) || (offset >= 0 && length < 0)) return Fault(FaultCode::badArguments);
  Expected<Slice, Fault> slice = offset < 0 ? readSlice(source, 0, 0) : readSlice(source, offset, length ? length : kMaxRead);
  if (!slice) return slice.error();
  if (offset < 0) {
    const auto from = std::max({std::int64_t{0}, slice->size + offset, slice->size - kMaxRead});
    slice = readSlice(source, from, slice->size - from);
    if (!slice) return slice.error();
    return string(wholeCharacters(std::move(slice->bytes), from > 0));
  }
  return string(wholeCharacters(std::move(slice->bytes), offset > 0));
}

// supervisord's tailFile, quirks included: past offset + length, the last `length` bytes and overflow.
Answer tailLog(const Source& source, std::int64_t offset, std::int64_t length) {
  auto size = readSlice(source, 0, 0);
  if (!size) return array({string(""), integer(offset), boolean(false)});
  const std::int64_t sz = size->size;
  bool overflow = false;
  if (sz > offset + length) {
    overflow = true;
    offset = sz - 1;
  }
  if (offset + length > sz) {
    if (offset > sz - 1) length = 0;
    offset = sz - length;
  }
  offset = std::max<std::int64_t>(offset, 0);
  length = std::max<std::int64_t>(length, 0);
  std::string text;
  if (length > 0) {
    auto slice = readSlice(source, offset, length);
    if (slice) text = wholeCharacters(std::move(slice->bytes), offset > 0);
  }
  return array({string(std::move(text)), integer(sz), boolean(overflow)});
}

Expected<Source, Fault> mainLog(const ContextPtr& context) {
  OutputLog* log = context->service.eventLog();
  if (!log) return Fault(FaultCode::noFile, "None");
  if (log->path().empty()) return Source{{}, std::shared_ptr<OutputLog>(std::shared_ptr<OutputLog>{}, log)};
  struct stat st{};
  if (::stat(log->path().c_str(), &st) != 0) return Fault(FaultCode::noFile, log->path());
  return Source{log->path(), nullptr};
}

// The offset and length parameters from `first`.
Expected<std::pair<std::int64_t, std::int64_t>, Fault> range(const Params& params, std::size_t first) {
  auto offset = intParam(params, first);
  if (!offset) return offset.error();
  auto length = intParam(params, first + 1);
  if (!length) return length.error();
  return std::pair{*offset, *length};
}

template <Answer (*read)(const Source&, std::int64_t, std::int64_t), StdStream stream>
void processRead(const ContextPtr& context, const Params& params, Reply reply) {
  auto name = stringParam(params, 0);
  if (!name) return reply(name.error());
  auto r = range(params, 1);
  if (!r) return reply(r.error());
  auto source = processLog(context->service, *name, stream);
  if (!source) {
    // tail: a log that is not there is empty, not a fault
    if (read == tailLog && source.error().code == FaultCode::noFile)
      return reply(array({string(""), integer(0), boolean(false)}));
    return reply(source.error());
  }
  reply(read(*source, r->first, r->second));
}

void readMainLog(const ContextPtr& context, const Params& params, Reply reply) {
  auto r = range(params, 0);
  if (!r) return reply(r.error());
  auto source = mainLog(context);
  if (!source) return reply(source.error());
  reply(readLog(*source, r->first, r->second));
}

void clearLog(const ContextPtr& context, const Params&, Reply reply) {
  OutputLog* log = context->service.eventLog();
  if (!log) return reply(Fault(FaultCode::noFile));
  log->clear();
  reply(boolean(true));
}

// Clears one process's logs: true, or FAILED with its name.
Answer clearOne(const ContextPtr& context, const ProcessName& p, const std::string& name) {
  const auto report = context->service.clear({p.status.instance});
  if (!report.ok()) return Fault(FaultCode::failed, name);
  return boolean(true);
}

void clearProcessLogs(const ContextPtr& context, const Params& params, Reply reply) {
  auto process = oneProcess(context->service, params);
  if (!process) return reply(process.error());
  reply(clearOne(context, *process, *stringParam(params, 0)));
}

// supervisord clears one process per 50 ms tick; all at once here.
void clearAllProcessLogs(const ContextPtr& context, const Params&, Reply reply) {
  Value results = array();
  for (const auto& p : byPriority(processNames(context->service))) {
    const auto answer = clearOne(context, p, namespec(p));
    results.items.push_back(answer ? resultEntry(p, FaultCode::success, "OK")
                                   : resultEntry(p, answer.error().code, answer.error().text));
  }
  reply(std::move(results));
}

constexpr std::string_view kReadHelp =
    "Read length bytes from name's log (stdout or stderr, as the method says) starting at offset\n\n@param string name        the name of the process (or "
    "'group:name')\n@param int offset         offset to start reading from.\n@param int length         number of "
    "bytes to read from the log.\n@return string result     Bytes of log";

constexpr std::string_view kTailHelp =
    "Provides a more efficient way to tail the log than reading it. Requests (length) bytes from the (name)'s log, "
    "starting at (offset). If the total log size is greater than (offset + length), the overflow flag is set and the "
    "(offset) is automatically increased to position the buffer at the end of the log. If less than (length) bytes "
    "are available, the maximum number of available bytes will be returned. (offset) returned is always the last "
    "offset in the log +1.\n\n@param string name         the name of the process (or 'group:name')\n@param int offset "
    "         offset to start reading from\n@param int length          maximum number of bytes to return\n@return array "
    "result       [string bytes, int offset, bool overflow]";

constexpr std::string_view kMainReadHelp =
    "Read length bytes from the main log starting at offset\n\n@param int offset         offset to start reading "
    "from.\n@param int length         number of bytes to read from the log.\n@return string result     Bytes of log";

const std::vector<Method> kLogs{
    {"supervisor.readLog", readMainLog, 2, 2, "string int int", kMainReadHelp},
    {"supervisor.readMainLog", readMainLog, 2, 2, "string int int", kMainReadHelp},
    {"supervisor.clearLog", clearLog, 0, 0, "boolean",
     "Clear the main log.\n\n@return boolean result always returns True unless error"},
    {"supervisor.readProcessLog", processRead<readLog, StdStream::out>, 3, 3, "string string int int", kReadHelp},
    {"supervisor.readProcessStdoutLog", processRead<readLog, StdStream::out>, 3, 3, "string string int int", kReadHelp},
    {"supervisor.readProcessStderrLog", processRead<readLog, StdStream::err>, 3, 3, "string string int int", kReadHelp},
    {"supervisor.tailProcessLog", processRead<tailLog, StdStream::out>, 3, 3, "array string int int", kTailHelp},
    {"supervisor.tailProcessStdoutLog", processRead<tailLog, StdStream::out>, 3, 3, "array string int int", kTailHelp},
    {"supervisor.tailProcessStderrLog", processRead<tailLog, StdStream::err>, 3, 3, "array string int int", kTailHelp},
    {"supervisor.clearProcessLog", clearProcessLogs, 1, 1, "boolean string",
     "Clear the stdout and stderr logs for the named process and reopen them.\n\n@param string name   The name of the "
     "process (or 'group:name')\n@return boolean result      Always True unless error"},
    {"supervisor.clearProcessLogs", clearProcessLogs, 1, 1, "boolean string",
     "Clear the stdout and stderr logs for the named process and reopen them.\n\n@param string name   The name of the "
     "process (or 'group:name')\n@return boolean result      Always True unless error"},
    {"supervisor.clearAllProcessLogs", clearAllProcessLogs, 0, 0, "array",
     "Clear all process log files\n\n@return array result   An array of process status info structs"},
};

}  // namespace

Expected<LogSource, Fault> processLog(const Service& service, std::string_view name, StdStream stream) {
  auto process = oneProcess(service, name);
  if (!process) return process.error();
  const auto& instance = process->status;
  const ProgramSpec* program = process->spec;
  const bool redirected = program && stream == StdStream::err && program->redirectStderr;
  std::optional<std::string> path;
  if (program && !redirected) path = program->outputPath(stream, instance.index);
  if (path && !::taskmaster::detail::isSharedSink(*path)) {
    struct stat st{};
    if (::stat(path->c_str(), &st) != 0) return Fault(FaultCode::noFile, *path);
    return LogSource{*path, nullptr};
  }
  auto memory = service.output(instance.instance, stream);
  const bool supervisord = service.config().format == ConfigFormat::supervisord;
  if (!memory || redirected || supervisord) return Fault(FaultCode::noFile, path.value_or("None"));
  return LogSource{{}, std::move(*memory)};
}

std::span<const Method> logMethods() { return kLogs; }

}  // namespace taskmaster::inline v0::xmlrpc::detail
