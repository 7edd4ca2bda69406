// Attachments (Service::attach): a program's console for several watchers, one of whom types at a time.
#include <taskmaster/commands.hpp>

#include <algorithm>
#include <map>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace taskmaster::inline v0 {

struct Attachment::State {
  std::string name;
  InputMode mode = InputMode::none;
  std::string text;
  OutputFollower follow;
  OutputFollower followErrors;  // a stderr of its own: neither tty nor redirect_stderr
  Supervisor* supervisor = nullptr;
  std::weak_ptr<detail::Keyboards> keyboards;
  bool keyboard = false;
  bool detached = false;
  bool over = false;  // the end was told: output after it is the next process's, not this attachment's
  std::function<void()> onKeyboard;
  std::function<void(const Detached&)> onDetached;
};

namespace detail {

// The open attachments of each instance, oldest first: the first holds the keyboard. The supervisor's
// state changes are observed while there are some, to end them when their process ends.
struct Keyboards : std::enable_shared_from_this<Keyboards> {
  using State = Attachment::State;

  explicit Keyboards(Supervisor& s) : supervisor(s) {}

  void open(const std::shared_ptr<State>& state) {
    const bool first = attached.empty();
    auto& list = attached[state->name];
    state->keyboard = list.empty();
    list.push_back(state);
    if (first) {
      observer = supervisor.onStateChange([weak = weak_from_this()](const StateChange& change) {
        if (auto self = weak.lock()) self->changed(change);
      });
    }
  }

  // An attachment closed: the keyboard goes to the oldest one still open, told later on the loop.
  void close(const State* state) {
    auto it = attached.find(state->name);
    if (it == attached.end()) return;
    auto& list = it->second;
    std::erase_if(list, [state](const auto& weak) { return weak.expired() || weak.lock().get() == state; });
    if (list.empty()) {
      attached.erase(it);
      if (attached.empty()) observer.reset();  // allowed inside the observer's own call
      return;
    }
    if (!state->keyboard) return;
    auto next = list.front().lock();
    if (!next || next->keyboard) return;
    next->keyboard = true;
    boost::asio::post(supervisor.context(), [weak = std::weak_ptr(next)] {
      auto s = weak.lock();
      if (s && s->keyboard && !s->detached && s->onKeyboard) s->onKeyboard();
    });
  }

  // The process of an instance ended: every attachment to it ends, told later on the loop, so that what
  // the process wrote last is read first when it is already there.
  void changed(const StateChange& change) {
    using enum ProcessState;
    if (change.to == starting || change.to == running || change.to == stopping) return;
    auto it = attached.find(change.instance);
    if (it == attached.end()) return;
    auto list = std::move(it->second);
    attached.erase(it);
    if (attached.empty()) observer.reset();
    const Detached how = describe(change);
    for (const auto& weak : list) {
      auto state = weak.lock();
      if (!state) continue;
      state->detached = true;
      state->keyboard = false;
      boost::asio::post(supervisor.context(), [weak, how] {
        auto s = weak.lock();
        if (!s) return;
        s->over = true;
        if (s->onDetached) std::exchange(s->onDetached, {})(how);
      });
    }
  }

  [[nodiscard]] Detached describe(const StateChange& change) const {
    const auto& name = change.instance;
    if (supervisor.shuttingDown()) return {"shutdown", fmt::format("{} was stopped: taskmaster is shutting down", name)};
    std::vector<InstanceStatus> still;
    if (supervisor.status(name, still)) return {"removed", fmt::format("{} was removed from the configuration", name)};
    if (change.to == ProcessState::stopped) return {"stopped", fmt::format("{} was stopped", name)};
    if (!change.exit) return {"exited", fmt::format("{} exited (its exit status is unknown)", name)};
    if (change.exit->exited()) return {"exited", fmt::format("{} exited with status {}", name, change.exit->code)};
    return {"exited", fmt::format("{} was {}", name, change.exit->str())};
  }

  Supervisor& supervisor;
  std::map<std::string, std::vector<std::weak_ptr<State>>, std::less<>> attached;
  Subscription observer;
};

}  // namespace detail

std::string_view to_string(InputMode mode) noexcept {
  switch (mode) {
    case InputMode::none: return "none";
    case InputMode::stdin: return "stdin";
    case InputMode::tty: return "tty";
  }
  return "none";
}

Attachment::Attachment(std::shared_ptr<State> state) : state_(std::move(state)) {}

Attachment::~Attachment() {
  state_->onKeyboard = {};
  state_->onDetached = {};
  if (auto keyboards = state_->keyboards.lock()) keyboards->close(state_.get());
  state_->keyboard = false;
}

const std::string& Attachment::name() const { return state_->name; }
InputMode Attachment::mode() const { return state_->mode; }
bool Attachment::keyboard() const { return state_->keyboard; }
const std::string& Attachment::text() const { return state_->text; }
bool Attachment::detached() const { return state_->detached; }

Subscription Attachment::follow(std::function<void(std::string_view chunk)> sink,
                                std::function<void(std::string_view chunk)> errors) {
  if (!state_->follow) return {};
  // Until the end is told: a program restarted after it writes into the same log.
  auto untilOver = [weak = std::weak_ptr(state_)](std::function<void(std::string_view)> to) {
    return [weak, to = std::move(to)](std::string_view chunk) {
      if (auto s = weak.lock(); s && !s->over) to(chunk);
    };
  };
  if (!state_->followErrors) return state_->follow(untilOver(std::move(sink)));
  auto err = std::make_shared<Subscription>(state_->followErrors(untilOver(errors ? std::move(errors) : sink)));
  auto out = std::make_shared<Subscription>(state_->follow(untilOver(std::move(sink))));
  return Subscription([out, err] {
    out->reset();
    err->reset();
  });
}

void Attachment::onKeyboard(std::function<void()> handler) { state_->onKeyboard = std::move(handler); }
void Attachment::onDetached(std::function<void(const Detached&)> handler) { state_->onDetached = std::move(handler); }

namespace {

// Why this attachment may not type now; nothing when it may.
std::optional<Error> refusal(const Attachment::State& state) {
  if (state.detached)
    return Error{make_error_code(Errc::not_running), fmt::format("{} is not running", state.name)};
  if (!state.keyboard)
    return Error{make_error_code(Errc::keyboard_elsewhere), "another client has the keyboard"};
  return std::nullopt;
}

}  // namespace

Result<> Attachment::input(std::string_view bytes) {
  if (auto refused = refusal(*state_)) return *refused;
  return state_->supervisor->sendInput(state_->name, bytes);
}

Result<> Attachment::resize(unsigned short rows, unsigned short columns) {
  if (auto refused = refusal(*state_)) return *refused;
  return state_->supervisor->resizeTerminal(state_->name, rows, columns);
}

Result<std::unique_ptr<Attachment>> Service::attach(std::string_view name, TailSize size) {
  auto tailed = tail({.follow = true, .size = size, .name = std::string(name), .stream = StdStream::out});
  if (!tailed) return tailed.error();
  std::vector<InstanceStatus> instance;
  (void)supervisor_.status(tailed->name, instance);  // one: tail() just found it
  if (instance.empty() || instance.front().pid == 0)
    return Error{make_error_code(Errc::not_running), fmt::format("{} is not running", tailed->name)};
  if (!keyboards_) keyboards_ = std::make_shared<detail::Keyboards>(supervisor_);
  const auto spec = supervisor_.spec(instance.front().instance);
  auto state = std::make_shared<Attachment::State>();
  state->name = std::move(tailed->name);
  state->text = std::move(tailed->text);
  state->follow = std::move(tailed->follow);
  state->supervisor = &supervisor_;
  state->keyboards = keyboards_;
  if (spec && !spec->oneStream()) {
    auto errors = tail({.follow = true, .size = {.bytes = 0}, .name = state->name, .stream = StdStream::err});
    if (errors) state->followErrors = std::move(errors->follow);
  }
  state->mode = !spec ? InputMode::none : spec->tty ? InputMode::tty : spec->stdin ? InputMode::stdin : InputMode::none;
  keyboards_->open(state);
  return std::make_unique<Attachment>(std::move(state));
}

}  // namespace taskmaster::inline v0
