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
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

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

// The batch sizes of an epoch of `n` images in batches of `batch`, in order: full ones, then
// the last, smaller one (n mod batch).
inline std::vector<int64_t> epoch_batch_sizes(int64_t n, int64_t batch) {
  std::vector<int64_t> sizes;
  for (int64_t first = 0; first < n; first += batch) sizes.push_back(std::min(batch, n - first));
  return sizes;
}

// The distinct batch sizes a benchmark's iterations run, to warm up before the first timed one:
// a backend that captures a graph per batch size captures it then, not inside the timing (an
// epoch's last partial batch would otherwise be captured in the first timed epoch).
inline std::vector<int64_t> timed_batch_sizes(Kind kind, int64_t n, int64_t batch) {
  if (kind != Kind::TrainEpoch) return {batch};
  std::vector<int64_t> sizes;
  for (int64_t b : epoch_batch_sizes(n, batch))
    if (std::find(sizes.begin(), sizes.end(), b) == sizes.end()) sizes.push_back(b);
  return sizes;
}

// A whole epoch of `n` images in batches of `batch`, the last one smaller.
inline Work epoch_work(const VaeConfig& config, int64_t n, int64_t batch, double element_bytes) {
  Work w;
  for (int64_t size : epoch_batch_sizes(n, batch)) {
    const Work s = step_work(config, size, true, element_bytes);
    w.samples += s.samples;
    w.flops += s.flops;
    w.bytes += s.bytes;
  }
  return w;
}

}  // namespace vae::bench
