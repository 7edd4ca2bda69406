#include "process/launcher.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include <taskmaster/error.hpp>

extern char** environ;

namespace taskmaster::inline v0::detail {
namespace {

std::string describe(int err) { return std::generic_category().message(err); }

// What the child was doing when it failed; travels with errno through the error pipe.
enum class Stage : int { setpgid, dup2, chdir, setgroups, setgid, setuid, exec };

struct ChildError {
  Stage stage;
  int err;
};

struct Credentials {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

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

// The inherited environment, with the program's env and TASKMASTER_* on top.
std::vector<std::string> buildEnvironment(const ProgramSpec& spec, const std::string& instance, int index) {
  std::map<std::string, std::string> extra(spec.env.begin(), spec.env.end());
  extra["TASKMASTER_PROGRAM"] = spec.name;
  extra["TASKMASTER_PROCESS"] = instance;
  extra["TASKMASTER_INSTANCE"] = std::to_string(index);
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (!extra.contains(std::string(kv.substr(0, kv.find('='))))) env.emplace_back(kv);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

// PATH search in the parent, with the child's PATH: execve does none.
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

UniqueFd openOutput(const std::optional<std::string>& path, std::string& error) {
  const char* p = path ? path->c_str() : "/dev/null";
  UniqueFd fd(::open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0666));
  if (!fd) error = fmt::format("cannot open {}: {}", p, describe(errno));
  return fd;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Closes every fd from `first` up, except `keep`. Async-signal-safe.
void closeFrom(int first, int keep) {
  if ((keep <= first || ::close_range(static_cast<unsigned>(first), static_cast<unsigned>(keep - 1), 0) == 0) &&
      ::close_range(static_cast<unsigned>(keep + 1), ~0U, 0) == 0)
    return;
  rlimit limit{};  // a kernel without close_range (before 5.9)
  ::getrlimit(RLIMIT_NOFILE, &limit);
  for (rlim_t fd = static_cast<rlim_t>(first); fd < limit.rlim_cur && fd < (1u << 20); ++fd)
    if (static_cast<int>(fd) != keep) ::close(static_cast<int>(fd));
}

// Runs in the forked child: async-signal-safe calls only, no allocation, no return.
[[noreturn]] void execChild(int errorPipe, const ProgramSpec& spec, const char* exe, char* const* argv,
                            char* const* envp, const int (&stdio)[3], const std::optional<Credentials>& creds) {
  auto fail = [errorPipe](Stage stage) {
    ChildError e{stage, errno};
    [[maybe_unused]] auto n = ::write(errorPipe, &e, sizeof e);
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

  if (::setpgid(0, 0) < 0) fail(Stage::setpgid);
  ::umask(static_cast<mode_t>(spec.umask));
  int moved[3];
  for (int i = 0; i < 3; ++i)  // first out of the way of 0-2, so no dup2 clobbers a later source
    if ((moved[i] = ::fcntl(stdio[i], F_DUPFD_CLOEXEC, 3)) < 0) fail(Stage::dup2);
  for (int i = 0; i < 3; ++i)
    if (::dup2(moved[i], i) < 0) fail(Stage::dup2);
  if (spec.workingdir && ::chdir(spec.workingdir->c_str()) < 0) fail(Stage::chdir);
  if (creds) {
    if (::setgroups(creds->groups.size(), creds->groups.data()) < 0) fail(Stage::setgroups);
    if (::setgid(creds->gid) < 0) fail(Stage::setgid);
    if (::setuid(creds->uid) < 0) fail(Stage::setuid);
  }
  // Every fd above 2 but the error pipe is closed now, not at exec. The parent, blocked on the pipe, resumes
  // the moment exec closes it, and may close its own fds right away; an fd still open here would keep its
  // file alive, and epoll would go on reporting a closed fd's events for whatever reuses its number.
  closeFrom(3, errorPipe);
  ::execve(exe, argv, envp);
  fail(Stage::exec);
  ::_exit(127);
}

std::string stageError(const ChildError& e, const ProgramSpec& spec, const std::string& exe) {
  switch (e.stage) {
    case Stage::setpgid: return fmt::format("setpgid: {}", describe(e.err));
    case Stage::dup2: return fmt::format("redirecting stdio: {}", describe(e.err));
    case Stage::chdir: return fmt::format("chdir {}: {}", spec.workingdir.value_or(""), describe(e.err));
    case Stage::setgroups: return fmt::format("setgroups for user '{}': {}", spec.user.value_or(""), describe(e.err));
    case Stage::setgid: return fmt::format("setgid for user '{}': {}", spec.user.value_or(""), describe(e.err));
    case Stage::setuid: return fmt::format("setuid for user '{}': {}", spec.user.value_or(""), describe(e.err));
    case Stage::exec: return fmt::format("{}: {}", exe, describe(e.err));
  }
  return describe(e.err);
}

// A step of a launch: its product, or why it failed in the words of Launched::error.
template <class T>
using Step = Expected<T, std::string>;  // as launch() returns

// Everything the child needs, computed in the parent: the child may only make async-signal-safe calls.
struct Prepared {
  std::string exe;                   // cmd[0] after the PATH search
  std::vector<std::string> args;     // argv
  std::vector<std::string> env;      // envp
  std::optional<Credentials> creds;  // set when privileges are to be dropped
};

Step<Prepared> prepare(const ProgramSpec& spec, const std::string& instance, int index) {
  if (spec.cmd.empty()) return std::string("empty command");
  Prepared p{.exe = {}, .args = spec.cmd, .env = buildEnvironment(spec, instance, index), .creds = {}};
  auto exe = findExecutable(spec.cmd.front(), lookupEnv(p.env, "PATH"));
  if (!exe) return fmt::format("{}: {}", spec.cmd.front(), describe(ENOENT));
  p.exe = std::move(*exe);
  if (spec.user) {
    std::string error;  // stays empty when already running as that user: nothing to drop
    p.creds = lookupUser(*spec.user, error);
    if (!error.empty()) return error;
  }
  return p;
}

// The child's fds 0-2: /dev/null in, the configured files (or /dev/null) out.
struct Stdio {
  UniqueFd in, out, err;
};

Step<Stdio> openStdio(const ProgramSpec& spec) {
  Stdio stdio;
  stdio.in = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!stdio.in) return fmt::format("cannot open /dev/null: {}", describe(errno));
  std::string error;
  stdio.out = openOutput(spec.stdoutPath, error);
  if (!stdio.out) return error;
  stdio.err = openOutput(spec.stderrPath, error);
  if (!stdio.err) return error;
  return stdio;
}

// A child between vfork and its first report: exec'd, or failing with a ChildError on the way.
struct Forked {
  pid_t pid;
  UniqueFd errorPipe;  // the read end: EOF once exec has closed the write end
};

Step<Forked> forkExec(const ProgramSpec& spec, Prepared& prepared, const Stdio& stdio) {
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) < 0) return fmt::format("pipe: {}", describe(errno));
  UniqueFd readEnd(pipeFds[0]), writeEnd(pipeFds[1]);
  if (writeEnd.get() < 3) {  // stdio closed in this process: keep the pipe out of the child's 0-2
    UniqueFd moved(::fcntl(writeEnd.get(), F_DUPFD_CLOEXEC, 3));
    if (!moved) return fmt::format("fcntl: {}", describe(errno));
    writeEnd = std::move(moved);
  }
  auto argv = pointers(prepared.args);
  auto envp = pointers(prepared.env);
  const int fds[3] = {stdio.in.get(), stdio.out.get(), stdio.err.get()};

  // All signals blocked across fork, so no handler of the embedding program runs in the child.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  // vfork: no copy of the address space (most of a spawn's cost with fork). The child only runs execChild(),
  // which makes system calls on its own stack and reads the prepared arguments, then execs or _exits.
  const pid_t pid = ::vfork();
  if (pid == 0) execChild(writeEnd.get(), spec, prepared.exe.c_str(), argv.data(), envp.data(), fds, prepared.creds);
  const int forkErrno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return fmt::format("fork: {}", describe(forkErrno));
  return Forked{pid, std::move(readEnd)};  // writeEnd closes here, so only the child holds it
}

// Waits for the child's report: a failure before exec (the child is exiting: reaped here), or EOF, and then
// a pidfd to watch it by.
Step<Launched> collect(const ProgramSpec& spec, const std::string& exe, Forked& child) {
  ChildError childError{};
  const ssize_t n = retryOnEintr([&] { return ::read(child.errorPipe.get(), &childError, sizeof childError); });
  if (n == sizeof childError) {
    reap(child.pid);
    return stageError(childError, spec, exe);
  }
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0)));
  if (!pidfd) {  // cannot watch it (EMFILE...): do not leave it unsupervised
    auto error = fmt::format("pidfd_open: {}", describe(errno));
    killAndReap(child.pid);
    return error;
  }
  return Launched{.pid = child.pid, .pidfd = std::move(pidfd)};
}

}  // namespace

void reap(int pid) noexcept {
  retryOnEintr([pid] { return ::waitpid(pid, nullptr, 0); });
}

void killAndReap(int pid) noexcept {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);  // it may have left its group: reaping must not wait for it
  reap(pid);
}

Step<Launched> launch(const ProgramSpec& spec, const std::string& instance, int index) {
  auto prepared = prepare(spec, instance, index);
  if (!prepared.ok()) return std::move(prepared.error());
  auto stdio = openStdio(spec);
  if (!stdio.ok()) return std::move(stdio.error());
  auto child = forkExec(spec, *prepared, *stdio);
  if (!child.ok()) return std::move(child.error());
  return collect(spec, prepared->exe, *child);
}

}  // namespace taskmaster::inline v0::detail
