#pragma once
// What the fused training step keeps on the device between host reads: the running loss sums
// (take_train_sums) and the first non-finite step (first_nonfinite). Plain C++ layouts, shared
// by the likelihood family (losses) and the adam family (gradient), and read back by the
// backend with one copy each.
#include <cstdint>

namespace vae::kernels {

// std::int64_t record[kNonFiniteSlots] in device memory: per quantity, the first optimizer
// step (1-based, the step count after that step's increment, as LibTorch records it) at which
// it was not finite; -1 while it has been finite. Slots in LibTorch's order.
enum NonFiniteSlot : int {
  kNonFiniteLoss = 0,
  kNonFiniteRecon = 1,
  kNonFiniteKl = 2,
  kNonFiniteGradient = 3,
  kNonFiniteSlots = 4,
};

// Sums over the images since the last reset (zero the struct), in nats. The kernels add one
// batch at a time in a fixed order, in double.
struct RunningSums {
  std::int64_t images = 0;
  double recon = 0, kl = 0, loss = 0;
};

}  // namespace vae::kernels
