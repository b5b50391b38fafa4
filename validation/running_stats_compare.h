#pragma once
// Batch norm's running statistics after a training step against the expected ones, judged the
// same way by every check (backend, training path, external results): one row per batch-norm
// layer, "<prefix>.<layer>.bn" (e.g. "running.enc.0.bn").
//
// The running mean is judged against sqrt(||mean||^2 + ||m * sigma||^2), sigma the batch's
// standard deviation per channel (recovered from the expected update of the variance): a batch
// mean near zero is the cancellation of values of size sigma, so its rounding error is a share
// of sigma, not of itself. The running variance is judged against what the step added to it,
// sqrt(||m * sigma^2||^2 + (0.01 ||var||)^2): against ||var|| alone the (1 - m) share carried
// over would hide a wrong batch variance (the biased one differs by m sigma^2 / N: 1.4e-5 of a
// running variance near 0.9 in conv-bn's first layer at batch 2, inside fp32-running-stats);
// the 1% of the variance itself covers rounding the stored value (fp32: u |var| per entry,
// 6e-6 of that scale at most). num_batches_tracked must be equal. The row's norm-wise error is
// the larger of the mean's and the variance's.
#include <string>
#include <vector>

#include "compare.h"
#include "model/layers.h"

namespace vae {

// got, want: the running statistics after the step; before: the ones the step started from
// (each in the BufferLayout's order).
std::vector<Comparison> compare_running_stats(const std::string& prefix, const BufferLayout& buffers,
                                              const std::vector<double>& got, const std::vector<double>& want,
                                              const std::vector<double>& before, const tol::Tolerance& tol);

// The rows of compare_running_stats over successive training steps, reported as the worst
// step per layer: "<row> (worst of N steps)".
class RunningStatsOverSteps {
 public:
  void add(const std::vector<Comparison>& step_rows);
  // One row per layer, named with `suffix` appended; none for a model without batch norm.
  std::vector<Comparison> worst(const std::string& suffix) const;

 private:
  std::vector<std::vector<Comparison>> layers_;
};

}  // namespace vae
