#pragma once

#include <chrono>
#include <cstdint>

namespace vigie {

// Milliseconds since the Unix epoch (wall clock), as Matrix timestamps are.
inline std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace vigie
