#pragma once
// The order of the training images in an epoch: Fisher-Yates driven by the counter RNG, so it
// depends only on (seed, epoch) -- a resumed run shuffles exactly as an uninterrupted one, and
// the train_epoch benchmark shuffles exactly as training does.
#include <cstdint>
#include <utility>
#include <vector>

#include "common/counter_rng.h"

namespace vae {

inline std::vector<size_t> epoch_order(size_t n, uint64_t seed, int epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  for (size_t i = n; i > 1; --i) {
    const size_t j = counter_bits(seed, kStreamShuffleBase + uint64_t(epoch), i) % i;
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

}  // namespace vae
