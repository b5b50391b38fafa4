#pragma once
// The double-precision reference VAE: the executable form of the math in README "The math".
// Every backend is judged against this. Forward and backward are written out by hand,
// step by step (no autodiff), so each line can be checked against the derivation in
// reference/README.md; tests prove the gradients by finite differences and by LibTorch
// float64 autograd.
//
// Shapes: x is [B, D] row-major; eps is [K, B, Z] contiguous (sample k of image b is row
// k*B + b of a [K*B, Z] matrix); params is the flat buffer of model/params.h.
#include <vector>

#include <Eigen/Core>

#include "model/config.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae::ref {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Per-image quantities, in nats.
struct Losses {
  Eigen::VectorXd recon;  // (1/K) sum_k -log p(x_b | z_bk), summed over pixels
  Eigen::VectorXd kl;     // KL(q(z|x_b) || N(0, I)), closed form
  Eigen::VectorXd loss;   // recon + beta * kl
  Eigen::VectorXd elbo;   // -(recon + kl)
};

class VaeReference {
 public:
  explicit VaeReference(const VaeConfig& config);

  const VaeConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }

  // Batch norm (models that have it) normalises by the batch's statistics, as a training-mode
  // forward does, or with `running_stats` (the model's buffer layout, ModelLayers::buffers())
  // by those, as evaluation does.
  Losses forward(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps,
                 const std::vector<double>* running_stats = nullptr) const;

  // Forward plus the gradient of sum_b loss_b with respect to every parameter (flat layout).
  // kl_weight scales beta for this call (KL annealing: loss = recon + beta * kl_weight * KL).
  // With `running_stats`, batch norm's running statistics are updated as a training step does
  // (momentum 0.1, the batch's unbiased variance, num_batches_tracked + 1).
  Losses forward_backward(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps,
                          std::vector<double>& grad, double kl_weight = 1.0,
                          std::vector<double>* running_stats = nullptr) const;

  // Importance-weighted log-likelihood per image (Burda et al., IWAE):
  //   log p(x) ~= logmeanexp_s [log p(x|z_s) + log p(z_s) - log q(z_s|x)],  z_s = mu + sigma*eps_s.
  // eps is [S, B, Z]. With S = 1 this is a one-sample ELBO; it rises towards log p(x) with S.
  Eigen::VectorXd iw_log_likelihood(const std::vector<double>& params, const Matrix& x,
                                    const std::vector<double>& eps, int num_samples) const;

 private:
  struct Cache;
  struct LayerPass;
  // How batch norm runs in a forward: by the running statistics (evaluate), or by the batch's,
  // updating the running ones (update) or not.
  struct BatchNormUse {
    const std::vector<double>* evaluate = nullptr;
    std::vector<double>* update = nullptr;
  };
  void check(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps, int k) const;
  void check_running_stats(const std::vector<double>* stats) const;
  void run_forward(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps, int k,
                   Cache& cache, const BatchNormUse& bn) const;
  void layer_forward(const std::vector<double>& params, const DerivedLayer& layer, LayerPass& pass,
                     const BatchNormUse& bn) const;
  // Per-image outputs of a forward pass; loss weighs KL by beta * kl_weight.
  Losses losses(const Cache& cache, const Matrix& x, double kl_weight) const;

  VaeConfig config_;
  ParamLayout layout_;
};

// Numerically stable log(mean(exp(v))) of one row of values.
double log_mean_exp(const Eigen::Ref<const Eigen::VectorXd>& v);

}  // namespace vae::ref
