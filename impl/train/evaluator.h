#pragma once
// Held-out evaluation of a parameter buffer (and batch norm's running statistics, which
// evaluation normalises by, as nn.BatchNorm2d in eval mode), independent of the backend that trained it:
// the same LibTorch math (libtorch/vae_math) on the given device and dtype, so every
// backend's result is judged by one implementation, with fixed noise (counter RNG) so test
// losses are comparable across epochs and backends.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "data/dataset.h"
#include "data/pixels.h"
#include "model/config.h"
#include "libtorch/vae_math.h"
#include "model/params.h"

namespace vae {

struct TestMetrics {
  double loss = 0, recon = 0, kl = 0;  // nats per image (loss with the configured beta)
  double mu_mean = 0;      // mean over images and latent dimensions of mu
  double mu_rms = 0;       // sqrt(mean mu^2): how far the posteriors' means spread from the prior's 0
  double sigma_mean = 0;   // mean of sigma = exp(logvar / 2); the prior has 1
  int active_units = 0;    // latent dims with Cov_x(E_q[z_j]) > 0.01 (Burda et al.)
};

class Evaluator {
 public:
  // device "cpu"/"cuda[:N]"; dtype float32 or float64.
  Evaluator(const VaeConfig& config, const std::string& device, torch::Dtype dtype);

  // Over the whole split, in batches; images scaled or statically binarized as `binarize`
  // says (dynamic counts as static on held-out data). noise_seed fixes eps.
  TestMetrics test_metrics(const ModelState& state, const Split& split, Binarize binarize,
                           uint64_t binarize_seed, uint64_t noise_seed) const;

  // Importance-weighted estimate of -log p(x) in nats per image, S samples per image.
  double iw_nll(const ModelState& state, const Split& split, Binarize binarize, uint64_t binarize_seed,
                int samples, uint64_t noise_seed) const;

  // mu [n, Z] of the given images (row-major, float).
  std::vector<float> encode_mean(const ModelState& state, const Split& split,
                                 const std::vector<size_t>& indices, Binarize binarize, uint64_t binarize_seed) const;
  // Decoder means sigmoid(logits) [n, D] for latent codes z [n, Z].
  std::vector<float> decode_mean(const ModelState& state, const std::vector<float>& z) const;

 private:
  torch::Tensor images(const Split& split, const std::vector<size_t>& indices, Binarize binarize,
                       uint64_t binarize_seed) const;
  torch::Tensor flat(const std::vector<double>& values) const;
  // The parameter views of state.params (flat_params keeps their storage) and batch norm in
  // evaluation mode, by state.running_stats (refused when their count is not the model's).
  libtorch::ParamTensors views(const ModelState& state, torch::Tensor& flat_params, libtorch::BatchNormState& bn) const;

  VaeConfig config_;
  ParamLayout layout_;
  torch::Device device_;
  torch::Dtype dtype_;
};

}  // namespace vae
