#pragma once
// What one benchmark iteration does, counted from the model rather than measured: the FLOPs
// (model/flops.h, the dense math exactly) and the least memory traffic the work needs, so
// throughput can be read as TFLOP/s and bytes/s.
//
// Least traffic: every step must read the input images (in the dtype the backend keeps them
// resident in) and, for training, read and write the parameters and both Adam moments and
// write and read the gradient once (7 passes over the flat buffer); an evaluation reads the
// parameters once. Activations are not counted: a fused kernel may keep them on chip. At
// small batches this floor is what limits a step on a GPU; at large ones the FLOPs do.
#include <cstdint>
#include <string>

#include "model/config.h"
#include "model/flops.h"
#include "model/params.h"

namespace vae::bench {

enum class Kind { TrainStep, TrainEpoch, Eval };

inline std::string to_string(Kind k) {
  switch (k) {
    case Kind::TrainStep: return "train_step";
    case Kind::TrainEpoch: return "train_epoch";
    case Kind::Eval: return "eval";
  }
  return "?";
}

struct Work {
  double samples = 0, flops = 0, bytes = 0;
};

// One step (or forward) over `batch` images with elements of `element_bytes` bytes.
inline Work step_work(const VaeConfig& config, int64_t batch, bool training, double element_bytes) {
  const StepFlops f = count_flops(config, batch);
  const double params = double(ParamLayout(config).total());
  const double images = double(batch) * double(config.input_dim) * element_bytes;
  return {double(batch), training ? f.total() : f.forward, images + (training ? 7.0 : 1.0) * params * element_bytes};
}

// A whole epoch of `n` images in batches of `batch`, the last one smaller.
inline Work epoch_work(const VaeConfig& config, int64_t n, int64_t batch, double element_bytes) {
  Work w;
  for (int64_t first = 0; first < n; first += batch) {
    const Work s = step_work(config, std::min(batch, n - first), true, element_bytes);
    w.samples += s.samples;
    w.flops += s.flops;
    w.bytes += s.bytes;
  }
  return w;
}

}  // namespace vae::bench
