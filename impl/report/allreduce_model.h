#pragma once
// A model of data-parallel scaling, stated as a model: the time of one all-reduce (sum) of the
// flat gradient over N GPUs on a ring,
//   T(N) = 2 (N - 1) / N x bytes / bus bandwidth + 2 (N - 1) x step latency,
// against a measured step time t of one device at its per-GPU batch (weak scaling: each GPU
// keeps its batch, the global batch grows with N). Our backends all-reduce between the
// backward and the Adam step, not overlapped with the backward, so the predicted efficiency is
//   t / (t + T(N)).
// The bandwidth term is nccl-tests' definition of bus bandwidth for all-reduce (busBw = algBw x
// 2(n-1)/n, NVIDIA/nccl-tests doc/PERFORMANCE.md); the latency term counts a ring's 2(N-1)
// steps. For N > 8 the ring leaves each node of 8 GPUs through its InfiniBand adapters, so
// the slowest link, one NIC per GPU, bounds the bus bandwidth. NCCL picks trees for small
// messages at large N (latency ~log N instead), so the ring's latency term is pessimistic there;
// the figures are a ceiling on bandwidth and a floor on nothing else.
#include <cstdint>

namespace vae::report {

struct Interconnect {
  const char* name;
  double bus_gbps;    // GB/s per GPU, one direction
  double step_us;     // latency per ring step, microseconds
  const char* source;
};

// NVLink 4 within a node of 8 GPUs (H100/H200 SXM: 900 GB/s per GPU, both directions
// together, so 450 GB/s each way).
inline constexpr Interconnect kNvlink4{
    "NVLink 4 (8 GPUs per node)", 450.0, 1.0,
    "NVIDIA H100 / H200 Tensor Core GPU datasheets: NVLink 900 GB/s per GPU (bidirectional); the 1 us "
    "per ring step is assumed (the order of NCCL's small-message latency), not sourced"};
// InfiniBand NDR across nodes: one 400 Gb/s adapter per GPU (DGX H100: eight ConnectX-7).
inline constexpr Interconnect kInfinibandNdr{
    "InfiniBand NDR (400 Gb/s per GPU)", 50.0, 3.0,
    "NVIDIA ConnectX-7 / Quantum-2 NDR: 400 Gb/s per port = 50 GB/s each way; NVIDIA DGX H100 user guide: one "
    "ConnectX-7 per GPU; the 3 us per ring step is assumed, not sourced"};

inline constexpr int kGpusPerNode = 8;

// The interconnect a ring over n GPUs is limited by.
inline const Interconnect& ring_link(int n) { return n <= kGpusPerNode ? kNvlink4 : kInfinibandNdr; }

// Seconds for one ring all-reduce of `bytes` over n GPUs (0 for one GPU).
inline double ring_allreduce_seconds(double bytes, int n) {
  if (n <= 1) return 0.0;
  const Interconnect& link = ring_link(n);
  const double steps = 2.0 * (n - 1);
  return steps / n * bytes / (link.bus_gbps * 1e9) + steps * link.step_us * 1e-6;
}

// The predicted weak-scaling efficiency of a step of `step_seconds` on one device.
inline double predicted_efficiency(double step_seconds, double bytes, int n) {
  return step_seconds / (step_seconds + ring_allreduce_seconds(bytes, n));
}

}  // namespace vae::report
