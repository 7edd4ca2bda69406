#include "process/launcher.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <linux/close_range.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#if defined(__SANITIZE_ADDRESS__)
#define TASKMASTER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TASKMASTER_ASAN 1
#endif
#endif
#ifdef TASKMASTER_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include <taskmaster/util.hpp>

#include <taskmaster/error.hpp>
#include <taskmaster/supervisor.hpp>

extern char** environ;

namespace taskmaster::inline v0::detail {
namespace {

std::string describe(int err) { return std::generic_category().message(err); }

// What the child was doing when it failed; reported with errno.
enum class Stage : int { unshare, stdio, setpgid, setsid, terminal, chdir, setrlimit, setgroups, setgid, setuid, exec };

struct ChildError {
  Stage stage;
  int err;
  std::size_t limit = 0;  // setrlimit: which of the ChildLimits
};

// One of the spec's limits, as setrlimit() takes it.
struct ChildLimit {
  Resource resource;
  int native;  // RLIMIT_NOFILE...
  rlimit value;
};

int nativeResource(Resource resource) {
  switch (resource) {
    case Resource::nofile: return RLIMIT_NOFILE;
    case Resource::nproc: return RLIMIT_NPROC;
    case Resource::core: return RLIMIT_CORE;
    case Resource::as: return RLIMIT_AS;
    case Resource::memlock: return RLIMIT_MEMLOCK;
    case Resource::cpu: return RLIMIT_CPU;
    case Resource::fsize: return RLIMIT_FSIZE;
    case Resource::stack: return RLIMIT_STACK;
  }
  return -1;
}

rlim_t nativeLimit(std::uint64_t value) { return value == kUnlimited ? RLIM_INFINITY : static_cast<rlim_t>(value); }

struct Credentials {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

// The soft limit on open files that children get back (raiseFdLimit()); unset until it is called.
std::atomic<bool> gRestoreFdLimit{false};
rlimit gChildFdLimit{};

// fs.nr_open: the most any process may have open; 0 when unknown.
rlim_t systemFdMax() {
  UniqueFd fd(::open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC));
  char text[32] = {};
  if (!fd || ::read(fd.get(), text, sizeof text - 1) <= 0) return 0;
  return static_cast<rlim_t>(std::strtoull(text, nullptr, 10));
}

// Resolves `user` before the fork: the child may only make async-signal-safe calls.
std::optional<Credentials> lookupUser(const std::string& user, std::string& error) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found); rc != 0 || !found) {
    error = rc ? fmt::format("cannot look up user '{}': {}", user, describe(rc)) : fmt::format("no such user '{}'", user);
    return std::nullopt;
  }
  Credentials c{pw.pw_uid, pw.pw_gid, {}};
  if (::geteuid() != 0) {
    if (c.uid == ::geteuid()) return std::nullopt;  // already that user: nothing to drop
    error = fmt::format("cannot run as user '{}': taskmaster is not running as root", user);
    return std::nullopt;
  }
  int n = 64;
  c.groups.resize(static_cast<std::size_t>(n));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, c.groups.data(), &n) < 0) {
    c.groups.resize(static_cast<std::size_t>(n));
    ::getgrouplist(pw.pw_name, pw.pw_gid, c.groups.data(), &n);
  }
  c.groups.resize(static_cast<std::size_t>(n));
  return c;
}

std::string lookupEnv(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& kv : env)
    if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=')
      return kv.substr(key.size() + 1);
  return {};
}

}  // namespace

std::optional<std::string> findExecutable(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return name;
  std::string_view rest = path.empty() ? std::string_view("/usr/local/bin:/usr/bin:/bin") : std::string_view(path);
  while (true) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st{};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (colon == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(colon + 1);
  }
}

namespace {

// Closes every fd from `first` up. Async-signal-safe.
void closeFrom(int first) {
  if (::close_range(static_cast<unsigned>(first), ~0U, 0) == 0) return;
  rlimit limit{};  // a kernel without close_range (before 5.9)
  ::getrlimit(RLIMIT_NOFILE, &limit);
  for (rlim_t fd = static_cast<rlim_t>(first); fd < limit.rlim_cur && fd < (1u << 20); ++fd) ::close(static_cast<int>(fd));
}

// Everything the child reads, prepared by the parent, and where it reports a failure. The child shares the
// parent's memory (CLONE_VM) and the parent is suspended until it execs or exits (CLONE_VFORK), so `failed`
// and `error` are read by the parent once clone() returns.
struct ChildArgs {
  const ProgramSpec* spec;
  const char* exe;
  char* const* argv;
  char* const* envp;
  int inSlot;                  // the fds (below keepBelow) that hold what becomes the child's stdin, stdout
  int outSlot;                 // and stderr
  int errSlot;
  int extraSlot;               // what becomes fd extraTarget (-1: none)
  int extraTarget;
  int keepBelow;
  bool terminal;               // its stdin is a terminal to make its controlling one, in a session of its own
  const Credentials* creds;    // null: no privileges to drop
  const rlimit* fdLimit;       // null: the inherited limit on open files stays
  const ChildLimit* limits;    // the spec's, set after fdLimit
  std::size_t limitCount;
  bool failed = false;
  ChildError error{};
};

// The child's fds: a table of its own holding 0-2 only. The parent's table is shared (CLONE_FILES), so it is
// not copied whole: close_range(keepBelow, ~0U, CLOSE_RANGE_UNSHARE) gives the child a table of its own with
// only the fds below keepBelow, whatever the number of fds the supervisor holds (a pidfd and pipes per live
// child). Below keepBelow are the slots (see StdioSlots), which hold the child's stdin, stdout and stderr; they
// are moved above, everything below is closed, and they land on 0, 1 and 2.
// Before the unshare nothing may touch the table: it is the parent's.
bool setUpFds(ChildArgs& a) {
  auto fail = [&a](Stage stage) {
    a.error = {stage, errno};
    return false;
  };
  const auto keep = static_cast<unsigned>(a.keepBelow);
  if (::close_range(keep, ~0U, CLOSE_RANGE_UNSHARE) < 0) {  // before Linux 5.9: a copy, then close the rest
    if (::unshare(CLONE_FILES) < 0) return fail(Stage::unshare);
    closeFrom(a.keepBelow);
  }
  const int in = ::fcntl(a.inSlot, F_DUPFD, a.keepBelow);
  const int out = ::fcntl(a.outSlot, F_DUPFD, a.keepBelow);
  const int err = ::fcntl(a.errSlot, F_DUPFD, a.keepBelow);
  const int extra = a.extraTarget >= 3 ? ::fcntl(a.extraSlot, F_DUPFD, a.keepBelow) : -1;
  if (in < 0 || out < 0 || err < 0 || (a.extraTarget >= 3 && extra < 0)) return fail(Stage::stdio);
  if (::close_range(0, keep - 1, 0) < 0) return fail(Stage::stdio);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) return fail(Stage::stdio);
  if (extra < 0) {
    closeFrom(3);
    return true;
  }
  if (extra != a.extraTarget && ::dup2(extra, a.extraTarget) < 0) return fail(Stage::stdio);
  if (a.extraTarget > 3 && ::close_range(3, static_cast<unsigned>(a.extraTarget - 1), 0) < 0) return fail(Stage::stdio);
  closeFrom(a.extraTarget + 1);
  return true;
}

// Runs in the cloned child: async-signal-safe calls only, no allocation, no return.
[[noreturn]] void execChild(ChildArgs& a) {
  auto fail = [&a](Stage stage) {
    a.error.stage = stage;
    a.error.err = errno;
    a.failed = true;
    ::_exit(127);
  };
  // Default dispositions for every signal, glibc's own 32 and 33 included (its sigaction() refuses them): the
  // raw system call, with the kernel's struct. EINVAL for KILL and STOP, which cannot change anyway.
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    unsigned long mask;
  } dfl{SIG_DFL, 0, nullptr, 0};
  for (int s = 1; s < NSIG; ++s) ::syscall(SYS_rt_sigaction, s, &dfl, nullptr, sizeof dfl.mask);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (!setUpFds(a)) {
    a.failed = true;
    ::_exit(127);
  }
  if (a.fdLimit) ::setrlimit(RLIMIT_NOFILE, a.fdLimit);  // lowering the soft limit cannot fail
  if (a.terminal) {
    // A session of its own (and so a process group: killasgroup still reaches it), with the terminal on 0-2
    // as its controlling terminal: job control, ^C as SIGINT, SIGWINCH on a resize, as under a terminal.
    if (::setsid() < 0) fail(Stage::setsid);
    if (::ioctl(0, TIOCSCTTY, 0) < 0) fail(Stage::terminal);
  } else if (::setpgid(0, 0) < 0) {
    fail(Stage::setpgid);
  }
  ::umask(static_cast<mode_t>(a.spec->umask));
  if (a.spec->workingdir && ::chdir(a.spec->workingdir->c_str()) < 0) fail(Stage::chdir);
  // Before dropping privileges: root may raise a hard limit, the user it becomes may not.
  for (std::size_t i = 0; i < a.limitCount; ++i) {
    if (::setrlimit(a.limits[i].native, &a.limits[i].value) < 0) {
      a.error.limit = i;
      fail(Stage::setrlimit);
    }
  }
  if (a.creds) {
    if (::setgroups(a.creds->groups.size(), a.creds->groups.data()) < 0) fail(Stage::setgroups);
    if (::setgid(a.creds->gid) < 0) fail(Stage::setgid);
    if (::setuid(a.creds->uid) < 0) fail(Stage::setuid);
  }
  ::execve(a.exe, a.argv, a.envp);
  fail(Stage::exec);
  ::_exit(127);
}

int childMain(void* args) { execChild(*static_cast<ChildArgs*>(args)); }

// "limits: nofile 2000000 is above the hard limit taskmaster has (524288): Operation not permitted".
std::string limitError(const ChildLimit& limit, int err) {
  const auto name = to_string(limit.resource);
  const auto wanted = [&](rlim_t value) {
    return formatLimit(limit.resource, value == RLIM_INFINITY ? kUnlimited : static_cast<std::uint64_t>(value));
  };
  const auto asked = limit.value.rlim_cur == limit.value.rlim_max
                         ? wanted(limit.value.rlim_max)
                         : fmt::format("{} (soft {})", wanted(limit.value.rlim_max), wanted(limit.value.rlim_cur));
  rlimit own{};
  if (err == EPERM && ::getrlimit(limit.native, &own) == 0 && own.rlim_max != RLIM_INFINITY &&
      (limit.value.rlim_max == RLIM_INFINITY || limit.value.rlim_max > own.rlim_max)) {
    return fmt::format("limits: {} {} is above the hard limit taskmaster has ({}): {}", name, asked,
                       wanted(own.rlim_max), describe(err));
  }
  return fmt::format("limits: {} {}: setrlimit: {}", name, asked, describe(err));
}

std::string stageError(const ChildError& e, const ChildArgs& a) {
  const ProgramSpec& spec = *a.spec;
  switch (e.stage) {
    case Stage::unshare: return fmt::format("unshare: {}", describe(e.err));
    case Stage::stdio: return fmt::format("setting up stdin, stdout and stderr: {}", describe(e.err));
    case Stage::setpgid: return fmt::format("setpgid: {}", describe(e.err));
    case Stage::setsid: return fmt::format("setsid: {}", describe(e.err));
    case Stage::terminal: return fmt::format("making the terminal the controlling one: {}", describe(e.err));
    case Stage::chdir: return fmt::format("chdir {}: {}", spec.workingdir.value_or(""), describe(e.err));
    case Stage::setrlimit: return limitError(a.limits[e.limit], e.err);
    case Stage::setgroups: return fmt::format("setgroups for user '{}': {}", spec.user.value_or(""), describe(e.err));
    case Stage::setgid: return fmt::format("setgid for user '{}': {}", spec.user.value_or(""), describe(e.err));
    case Stage::setuid: return fmt::format("setuid for user '{}': {}", spec.user.value_or(""), describe(e.err));
    case Stage::exec: return fmt::format("{}: {}", a.exe, describe(e.err));
  }
  return describe(e.err);
}

// Three fds that hand the child its stdin, stdout and stderr, at numbers fixed for the thread's life: they
// hold /dev/null, and each spawn points them at its pipes or terminal (dup3) and back. Being opened once, early, they are low
// numbers, and the child copies only the fds below them (setUpFds); fds of the supervisor opened meanwhile
// come after them and are never copied. Per thread, since spawns on two threads would fill them at once.
// A fourth slot holds the notification fd (`ready: {fd: N}`) when there is one.
struct StdioSlots {
  UniqueFd null, in, out, err, extra;

  [[nodiscard]] int keepBelow() const { return std::max({in.get(), out.get(), err.get(), extra.get()}) + 1; }
  // -1 stands for /dev/null.
  bool fill(const ChildStdio& stdio) {
    auto point = [this](int fd, const UniqueFd& slot) {
      return ::dup3(fd < 0 ? null.get() : fd, slot.get(), O_CLOEXEC) >= 0;
    };
    return point(stdio.in, in) && point(stdio.out, out) && point(stdio.err, err) && point(stdio.extra, extra);
  }
  void empty() {
    for (const UniqueFd* slot : {&in, &out, &err, &extra}) ::dup3(null.get(), slot->get(), O_CLOEXEC);  // cannot fail
  }
};

// The thread's slots, opened at its first spawn; null (with errno) when they cannot be opened.
StdioSlots* stdioSlots() {
  thread_local std::unique_ptr<StdioSlots> slots;
  if (!slots) {
    auto open = [] { return UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC)); };
    StdioSlots fresh{open(), open(), open(), open(), open()};
    if (!fresh.null || !fresh.in || !fresh.out || !fresh.err || !fresh.extra) return nullptr;
    slots = std::make_unique<StdioSlots>(std::move(fresh));  // noexcept is the caller's: bad_alloc ends it
  }
  return slots.get();
}

// The child's own stack (CLONE_VM with a stack of its own, unlike vfork): one per thread, reused, since the
// parent thread is suspended while its child runs. The child's frames are small: no allocation, no stdio.
constexpr std::size_t kChildStack = 64 * 1024;

// Clones a child that execs `a`, and returns once it has exec'd or failed (its pid either way), or -1 with
// errno. All signals are blocked across, so no handler of the embedding program runs in the child.
pid_t cloneExec(ChildArgs& a) {
  thread_local std::unique_ptr<char[]> stack;  // allocated at a thread's first spawn: other threads pay nothing
  if (!stack) stack = std::make_unique_for_overwrite<char[]>(kChildStack);
#ifdef TASKMASTER_ASAN
  // A child never returns from its frames (it execs or _exits), so under AddressSanitizer their redzones stay
  // poisoned in the reused stack, and the next child would trip on them.
  ASAN_UNPOISON_MEMORY_REGION(stack.get(), kChildStack);
#endif
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  // CLONE_VM|CLONE_VFORK: no copy of the address space, as with vfork; CLONE_FILES: no copy of the fd table
  // either (see setUpFds), which vfork makes and which grows with the number of live children.
  const pid_t pid = ::clone(childMain, stack.get() + kChildStack, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &a);
  const int cloneErrno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = cloneErrno;
  return pid;
}

}  // namespace

// argv, the environment and the PATH search, with two slots of the environment left for each instance.
struct PreparedLaunch {
  std::string exe;                  // cmd[0] after the PATH search
  std::vector<std::string> args;    // argv
  std::vector<std::string> env;     // envp, with TASKMASTER_PROCESS and TASKMASTER_INSTANCE at their slots
  std::size_t processSlot = 0;
  std::size_t instanceSlot = 0;
  std::optional<std::size_t> notifySlot;  // NOTIFY_SOCKET, with `ready: {notify: true}`
  std::optional<Credentials> creds;  // set when privileges are to be dropped
  std::vector<ChildLimit> limits;
};

namespace {

// The inherited environment, with the program's env and TASKMASTER_* on top; the instance's own two
// variables are placeholders, filled in at each spawn.
void buildEnvironment(const ProgramSpec& spec, PreparedLaunch& p) {
  std::map<std::string, std::string> extra(spec.env.begin(), spec.env.end());
  // On a terminal of taskmaster's, the terminal type is not taskmaster's own (it may have none, as a
  // daemon): xterm-256color, what most terminal emulators are, unless the program's env says otherwise.
  if (spec.tty && !extra.contains("TERM")) extra["TERM"] = "xterm-256color";
  extra["TASKMASTER_PROGRAM"] = spec.name;
  extra["TASKMASTER_PROCESS"] = {};
  extra["TASKMASTER_INSTANCE"] = {};
  const bool notify = spec.ready && spec.ready->kind == Readiness::Kind::notify;
  if (notify) extra["NOTIFY_SOCKET"] = {};  // the supervisor's, not one taskmaster itself may have inherited
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (!extra.contains(std::string(kv.substr(0, kv.find('='))))) p.env.emplace_back(kv);
  }
  for (const auto& [k, v] : extra) {
    if (k == "TASKMASTER_PROCESS") p.processSlot = p.env.size();
    if (k == "TASKMASTER_INSTANCE") p.instanceSlot = p.env.size();
    if (k == "NOTIFY_SOCKET" && notify) p.notifySlot = p.env.size();
    p.env.push_back(k + "=" + v);
  }
}

std::vector<char*> pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));  // execve does not write them
  out.push_back(nullptr);
  return out;
}

// Waits for the child's report: a failure before exec (the child has exited: reaped here), or exec'd, and then
// a pidfd to watch it by.
Expected<Launched, std::string> collect(pid_t pid, const ChildArgs& a) {
  if (a.failed) {
    reap(pid);
    return stageError(a.error, a);
  }
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {  // cannot watch it (EMFILE...): do not leave it unsupervised
    auto error = fmt::format("pidfd_open: {}", describe(errno));
    killAndReap(pid);
    return error;
  }
  return Launched{.pid = pid, .pidfd = std::move(pidfd)};
}

}  // namespace

bool openStdioSlots() noexcept { return stdioSlots() != nullptr; }

void reap(int pid) noexcept {
  retryOnEintr([pid] { return ::waitpid(pid, nullptr, 0); });
}

void killAndReap(int pid) noexcept {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);  // it may have left its group: reaping must not wait for it
  reap(pid);
}

Expected<Terminal, std::string> openTerminal(unsigned short rows, unsigned short columns) {
  auto failed = [](std::string_view call) { return fmt::format("{}: {}", call, describe(errno)); };
  Terminal t;
  t.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!t.master) return failed("posix_openpt");
  if (::grantpt(t.master.get()) < 0) return failed("grantpt");
  if (::unlockpt(t.master.get()) < 0) return failed("unlockpt");
  char name[128];
  if (int rc = ::ptsname_r(t.master.get(), name, sizeof name); rc != 0) return fmt::format("ptsname: {}", describe(rc));
  t.slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!t.slave) return fmt::format("open {}: {}", name, describe(errno));
  const winsize size{rows, columns, 0, 0};
  if (::ioctl(t.master.get(), TIOCSWINSZ, &size) < 0) return failed("TIOCSWINSZ");
  if (::fcntl(t.master.get(), F_SETFL, O_NONBLOCK) < 0) return failed("fcntl");
  return t;
}

Expected<std::shared_ptr<const PreparedLaunch>, std::string> prepareLaunch(const ProgramSpec& spec) {
  if (spec.cmd.empty()) return std::string("empty command");
  auto p = std::make_shared<PreparedLaunch>();
  p->args = spec.cmd;
  buildEnvironment(spec, *p);
  auto exe = findExecutable(spec.cmd.front(), lookupEnv(p->env, "PATH"));
  if (!exe) return fmt::format("{}: {}", spec.cmd.front(), describe(ENOENT));
  p->exe = std::move(*exe);
  for (const auto& [resource, limit] : spec.limits)
    p->limits.push_back({resource, nativeResource(resource), {nativeLimit(limit.soft), nativeLimit(limit.hard)}});
  if (spec.user) {
    std::string error;  // stays empty when already running as that user: nothing to drop
    p->creds = lookupUser(*spec.user, error);
    if (!error.empty()) return error;
  }
  return std::shared_ptr<const PreparedLaunch>(std::move(p));
}

Expected<Launched, std::string> launch(const ProgramSpec& spec, const PreparedLaunch& prepared,
                                       const std::string& instance, int index, const ChildStdio& stdio,
                                       std::string_view notifySocket) {
  StdioSlots* slots = stdioSlots();
  if (!slots) return fmt::format("cannot open /dev/null: {}", describe(errno));
  const std::string process = "TASKMASTER_PROCESS=" + instance;
  const std::string instanceVar = "TASKMASTER_INSTANCE=" + std::to_string(index);
  auto argv = pointers(prepared.args);
  auto envp = pointers(prepared.env);
  envp[prepared.processSlot] = const_cast<char*>(process.c_str());
  envp[prepared.instanceSlot] = const_cast<char*>(instanceVar.c_str());
  const std::string notifyVar = fmt::format("NOTIFY_SOCKET={}", notifySocket);
  if (prepared.notifySlot) envp[*prepared.notifySlot] = const_cast<char*>(notifyVar.c_str());
  const bool restoreLimit = gRestoreFdLimit.load(std::memory_order_acquire);
  if (!slots->fill(stdio)) {
    auto error = fmt::format("dup3: {}", describe(errno));
    slots->empty();
    return error;
  }
  ChildArgs a{.spec = &spec,
              .exe = prepared.exe.c_str(),
              .argv = argv.data(),
              .envp = envp.data(),
              .inSlot = slots->in.get(),
              .outSlot = slots->out.get(),
              .errSlot = slots->err.get(),
              .extraSlot = slots->extra.get(),
              .extraTarget = stdio.extra >= 0 ? stdio.extraTarget : -1,
              .keepBelow = slots->keepBelow(),
              .terminal = stdio.terminal,
              .creds = prepared.creds ? &*prepared.creds : nullptr,
              .fdLimit = restoreLimit ? &gChildFdLimit : nullptr,
              .limits = prepared.limits.data(),
              .limitCount = prepared.limits.size()};
  const pid_t pid = cloneExec(a);
  const int cloneErrno = errno;
  slots->empty();  // the parent must not hold the pipes' write ends: their readers would never see the end
  if (pid < 0) return fmt::format("fork: {}", describe(cloneErrno));
  return collect(pid, a);
}

}  // namespace taskmaster::inline v0::detail

namespace taskmaster::inline v0 {

Result<std::uint64_t> raiseFdLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) < 0)
    return Error{{errno, std::generic_category()}, fmt::format("getrlimit(RLIMIT_NOFILE): {}", detail::describe(errno))};
  // A privileged process may go past its hard limit, up to the system's (fs.nr_open), as systemd does for
  // itself: a supervisor holds three fds per child (its pidfd and two pipes), so 10,000 processes need more
  // than the hard limits distributions set (often 4096 to 20,000). Others stop at their hard limit.
  rlimit raised{limit.rlim_max, limit.rlim_max};
  if (const rlim_t system = detail::systemFdMax(); system > limit.rlim_max) {
    raised = {system, system};
    if (limit.rlim_cur >= system) return static_cast<std::uint64_t>(limit.rlim_cur);
    if (::setrlimit(RLIMIT_NOFILE, &raised) < 0) raised = {limit.rlim_max, limit.rlim_max};  // unprivileged
  }
  if (limit.rlim_cur >= raised.rlim_cur) return static_cast<std::uint64_t>(limit.rlim_cur);
  if (::setrlimit(RLIMIT_NOFILE, &raised) < 0)
    return Error{{errno, std::generic_category()}, fmt::format("cannot raise the limit on open files to {}: {}",
                                                               raised.rlim_cur, detail::describe(errno))};
  if (!detail::gRestoreFdLimit.load(std::memory_order_relaxed)) {  // a second call keeps the first original
    detail::gChildFdLimit = limit;
    detail::gRestoreFdLimit.store(true, std::memory_order_release);
  }
  return static_cast<std::uint64_t>(raised.rlim_cur);
}

}  // namespace taskmaster::inline v0
