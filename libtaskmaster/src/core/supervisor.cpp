// The public facade: a Registry (the core, on the Host seam) on an AsioHost (timers, spawning, pidfd
// watchers on the io_context).
#include <taskmaster/error.hpp>
#include <taskmaster/supervisor.hpp>

#include <array>

#include <boost/asio/io_context.hpp>
#include <taskmaster/output.hpp>

#include "core/registry.hpp"
#include "core/supervisor_access.hpp"
#include "process/asio_host.hpp"

namespace taskmaster::inline v0 {
namespace asio = boost::asio;

class Supervisor::Impl {
 public:
  Impl(asio::io_context* io, std::unique_ptr<asio::io_context> owned)
      : owned_(std::move(owned)), host_(io ? *io : *owned_), registry_(host_) {
    setForwardSink({});
  }
  // Pipes still being read (on an io_context that outlives the Supervisor) forward nothing from now on.
  ~Impl() { registry_.setForwardSink([](StdStream, std::string_view) {}); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // None: taskmaster's own fd 1 and 2, each through an OutputWriter made at its first line.
  void setForwardSink(ForwardSink sink) {
    if (!sink) {
      sink = [this](StdStream target, std::string_view lines) {
        const int fd = target == StdStream::out ? 1 : 2;
        auto& writer = writers_[static_cast<std::size_t>(fd - 1)];
        if (!writer) writer = std::make_unique<OutputWriter>(host_.io(), fd);
        writer->write(lines);
      };
    }
    registry_.setForwardSink(std::move(sink));
  }

  // Destroyed in reverse: the registry (killing what still runs) before the host and the io_context.
  std::unique_ptr<asio::io_context> owned_;
  std::array<std::unique_ptr<OutputWriter>, 2> writers_;
  detail::AsioHost host_;
  detail::Registry registry_;
};

Supervisor::Supervisor() : impl_(std::make_unique<Impl>(nullptr, std::make_unique<asio::io_context>())) {}
Supervisor::Supervisor(asio::io_context& io) : impl_(std::make_unique<Impl>(&io, nullptr)) {}
Supervisor::~Supervisor() = default;

asio::io_context& Supervisor::context() { return impl_->host_.io(); }

std::error_code Supervisor::add(ProgramSpec spec) {
  if (impl_->registry_.shuttingDown()) return Errc::shutting_down;
  return impl_->registry_.add(std::move(spec));
}

std::error_code Supervisor::remove(std::string_view program) { return impl_->registry_.remove(program); }

ApplyReport Supervisor::apply(const Config& config) { return impl_->registry_.apply(config); }

std::error_code Supervisor::start(std::string_view target, Completion done) {
  return impl_->registry_.control(target, detail::Registry::Op::start, std::move(done));
}

std::error_code Supervisor::stop(std::string_view target, Completion done) {
  return impl_->registry_.control(target, detail::Registry::Op::stop, std::move(done));
}

std::error_code Supervisor::restart(std::string_view target, Completion done) {
  return impl_->registry_.control(target, detail::Registry::Op::restart, std::move(done));
}

std::error_code Supervisor::signal(std::string_view target, int sig) { return impl_->registry_.signal(target, sig); }

std::vector<InstanceStatus> Supervisor::status() const {
  std::vector<InstanceStatus> out;
  (void)status("all", out);
  return out;
}

std::error_code Supervisor::status(std::string_view target, std::vector<InstanceStatus>& out) const {
  return impl_->registry_.status(target, out);
}

std::vector<std::string> Supervisor::programNames() const { return impl_->registry_.programNames(); }
std::vector<std::string> Supervisor::instanceNames() const { return impl_->registry_.instanceNames(); }
std::shared_ptr<const ProgramSpec> Supervisor::spec(std::string_view name) const { return impl_->registry_.spec(name); }

void Supervisor::shutdown(std::function<void()> done) { impl_->registry_.shutdown(std::move(done)); }
bool Supervisor::shuttingDown() const { return impl_->registry_.shuttingDown(); }

Subscription Supervisor::onStateChange(std::function<void(const StateChange&)> handler) {
  return impl_->registry_.subscribe(std::move(handler));
}

Subscription Supervisor::onDetailChange(std::function<void(const DetailChange&)> handler) {
  return impl_->registry_.subscribeDetails(std::move(handler));
}

detail::AsioHost& detail::SupervisorAccess::host(Supervisor& supervisor) { return supervisor.impl_->host_; }

std::error_code Supervisor::reapOrphans() { return impl_->host_.reapOrphans(); }

void Supervisor::setLogSink(LogSink sink) { impl_->registry_.setLogSink(std::move(sink)); }

std::shared_ptr<OutputLog> Supervisor::output(std::string_view name, StdStream stream) const {
  return impl_->registry_.output(name, stream);
}

std::error_code Supervisor::clearOutput(std::string_view target) { return impl_->registry_.clearOutput(target); }

void Supervisor::reopenOutputs() { impl_->registry_.reopenOutputs(); }

void Supervisor::setForwardSink(ForwardSink sink) { impl_->setForwardSink(std::move(sink)); }

Result<> Supervisor::sendInput(std::string_view name, std::string_view bytes) {
  return impl_->registry_.sendInput(name, bytes);
}

Result<> Supervisor::resizeTerminal(std::string_view name, unsigned short rows, unsigned short columns) {
  return impl_->registry_.resizeTerminal(name, rows, columns);
}

}  // namespace taskmaster::inline v0
