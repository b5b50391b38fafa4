#pragma once
// The reparameterization noise eps[K, B, Z] of training/validation step `step`: N(0, 1) draws
// from the counter RNG, so every backend that trains with the same seed sees the same noise
// (on the host or, drawn by a kernel, on the device), and a resumed run sees what an
// uninterrupted one would have.
//
// Each step has a stream of its own (kStreamEpsStepBase + step) and element i of eps is index
// i of it. The step is thereby keyed into the counter independently of the batch size: with
// index step*K*B*Z + i, the smaller last batch of an epoch reused an earlier step's draws
// (epoch 1, batch 128: step 468's 96-image batch reused step 351's first 1920 values).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/counter_rng.h"

namespace vae {

template <typename T>
void fill_eps(uint64_t seed, uint64_t step, int samples, int batch, int latent, T* out) {
  const size_t n = size_t(samples) * size_t(batch) * size_t(latent);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(counter_normal(seed, kStreamEpsStepBase + step, i));
}

inline std::vector<double> make_eps(uint64_t seed, uint64_t step, int samples, int batch, int latent) {
  std::vector<double> eps(size_t(samples) * size_t(batch) * size_t(latent));
  fill_eps(seed, step, samples, batch, latent, eps.data());
  return eps;
}

}  // namespace vae
