#pragma once
// The reparameterization noise eps[K, B, Z] of training/validation step `step`: N(0, 1) draws
// from the counter RNG (stream kStreamEps), so every CPU backend that trains with the same
// seed sees the same noise, and a resumed run sees what an uninterrupted one would have.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/counter_rng.h"

namespace vae {

template <typename T>
void fill_eps(uint64_t seed, uint64_t step, int samples, int batch, int latent, T* out) {
  const size_t n = size_t(samples) * size_t(batch) * size_t(latent);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(counter_normal(seed, kStreamEps, step * n + i));
}

inline std::vector<double> make_eps(uint64_t seed, uint64_t step, int samples, int batch, int latent) {
  std::vector<double> eps(size_t(samples) * size_t(batch) * size_t(latent));
  fill_eps(seed, step, samples, batch, latent, eps.data());
  return eps;
}

}  // namespace vae
