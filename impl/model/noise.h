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
//
// A data-parallel rank trains on a slice of the step's global batch (BatchSlice) and draws the
// noise of its images' global positions: eps[k, b, z] of the slice is element
// (k*G + first + b)*Z + z of the step's stream, G the global batch. The ranks together thus
// draw exactly what one process draws for the whole batch.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/counter_rng.h"

namespace vae {

// The images a call trains on within the step's global batch: positions first .. first+batch-1
// of `global` images. global 0: the call's batch is the whole batch.
struct BatchSlice {
  int64_t first = 0;
  int64_t global = 0;
};

// The counter index of eps element i (row-major over [K, batch, Z]) of a slice; host and kernels.
constexpr uint64_t eps_counter_index(uint64_t i, int batch, int latent, BatchSlice slice) {
  const uint64_t per_sample = uint64_t(batch) * uint64_t(latent);
  const uint64_t global = slice.global > 0 ? uint64_t(slice.global) : uint64_t(batch);
  return (i / per_sample) * global * uint64_t(latent) + uint64_t(slice.first) * uint64_t(latent) + i % per_sample;
}

template <typename T>
void fill_eps(uint64_t seed, uint64_t step, int samples, int batch, int latent, T* out, BatchSlice slice = {}) {
  const size_t n = size_t(samples) * size_t(batch) * size_t(latent);
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<T>(counter_normal(seed, kStreamEpsStepBase + step, eps_counter_index(i, batch, latent, slice)));
}

inline std::vector<double> make_eps(uint64_t seed, uint64_t step, int samples, int batch, int latent,
                                    BatchSlice slice = {}) {
  std::vector<double> eps(size_t(samples) * size_t(batch) * size_t(latent));
  fill_eps(seed, step, samples, batch, latent, eps.data(), slice);
  return eps;
}

}  // namespace vae
