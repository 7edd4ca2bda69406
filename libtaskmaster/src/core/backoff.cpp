#include "core/backoff.hpp"

#include <algorithm>
#include <chrono>

namespace taskmaster::inline v0::detail {

Duration crashDelay(const ProgramSpec& spec, int youngExits) {
  const int beyondBurst = youngExits - spec.restartBurst;
  if (beyondBurst <= 0) return Duration::zero();
  // Multiplied step by step in double and stopped at the cap: no pow() overflow however long the loop lasts.
  const auto cap = static_cast<double>(spec.restartDelayMax.count());
  auto delay = static_cast<double>(spec.restartDelay.count());
  for (int i = 1; i < beyondBurst && delay < cap; ++i) delay *= spec.restartDelayFactor;
  return std::min(Duration(static_cast<Duration::rep>(delay)), spec.restartDelayMax);
}

Duration failedStartDelay(const ProgramSpec& spec, int retries) {
  const Duration linear = std::chrono::seconds(std::max(retries, 1));
  // The cap lengthens nothing, and never makes a retry sooner than supervisord's first, 1 s.
  return std::min(linear, std::max<Duration>(spec.restartDelayMax, std::chrono::seconds(1)));
}

}  // namespace taskmaster::inline v0::detail
