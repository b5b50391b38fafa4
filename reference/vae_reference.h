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
#include "pixel_loss.h"

namespace vae::ref {

// The reference with one known mistake switched on: what a mistaken implementation computes,
// so the diagnosis (validation/diagnosis.h) can name it. Each field is one mistake of public
// VAE code; the default is the spec. Every gradient is that of the mistaken loss (derived in
// reference/README.md, "Known mistakes"; proven by finite differences like the spec's).
// Mistakes of the objective (a batch mean where the sum is declared, beta missing, ...) and of
// the noise are not here: they are another objective, config or eps given to the spec.
struct Deviation {
  // How the log-variance head's output l becomes sigma (and what the KL reads):
  //   Spec         sigma = exp(l / 2),  KL of logvar = l
  //   StdExpLogvar sigma = exp(l),      KL of logvar = l      ("std = exp(logvar)")
  //   HeadIsSigma  sigma = l,           KL of logvar = l      (logvar taken as sigma)
  //   HeadIsLogSigma sigma = exp(l),    KL of logvar = 2 l    (the head read as log sigma throughout)
  enum class Sampling { Spec, StdExpLogvar, HeadIsSigma, HeadIsLogSigma };
  Sampling sampling = Sampling::Spec;
  bool relu_on_logvar = false;   // l = relu(head output): an activation on a head
  bool sigmoid_twice = false;    // the loss reads sigmoid(o) for o (sigmoid before BCE with logits)
  // The KL per image as reported and as weighted in the loss:
  //   Spec KL_b; MeanOverLatent KL_b / Z; BatchPerImage sum_b' KL_b' for every image; SignFlipped -KL_b.
  enum class Kl { Spec, MeanOverLatent, BatchPerImage, SignFlipped };
  Kl kl = Kl::Spec;
  // The gradient of one term only (the outputs stay the spec's).
  enum class Gradient { Both, ReconOnly, KlOnly };
  Gradient gradient = Gradient::Both;
  bool batch_norm_eval = false;  // batch norm normalises by the running statistics while training
  bool decoder_reshape_channels_last = false;  // the decoder's dense-to-shape output viewed H x W x C

  bool is_spec() const;
};

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
  explicit VaeReference(const VaeConfig& config, const Deviation& deviation = {});

  const VaeConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }

  // Batch norm (models that have it) normalises by the batch's statistics, as a training-mode
  // forward does, or with `running_stats` (the model's buffer layout, ModelLayers::buffers())
  // by those, as evaluation does.
  Losses forward(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps,
                 const std::vector<double>* running_stats = nullptr) const;

  // Forward plus the gradient of the batch objective (sum_b loss_b, or its mean over the batch
  // under a batch-mean objective) with respect to every parameter (flat layout).
  // kl_weight scales beta for this call (KL annealing: loss = recon + beta * w * kl_weight * KL,
  // w the objective's KL weight).
  // With `running_stats`, batch norm's running statistics are updated as a training step does
  // (momentum 0.1, the batch's unbiased variance, num_batches_tracked + 1).
  Losses forward_backward(const std::vector<double>& params, const Matrix& x, const std::vector<double>& eps,
                          std::vector<double>& grad, double kl_weight = 1.0,
                          std::vector<double>* running_stats = nullptr) const;

  // Per image, the terms whose sum is the scalar forward_backward differentiates: loss_b times
  // the batch reduction's factor (under Deviation::gradient, the recon or the KL part alone).
  Eigen::VectorXd differentiated_terms(const Losses& losses) const;

  // Importance-weighted log-likelihood per image (Burda et al., IWAE); for the default objective
  // only (a mean over pixels or a Gaussian without its constant is no log-likelihood):
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
  // Per-image outputs of a forward pass; loss weighs KL by beta * w * kl_weight.
  Losses losses(const Cache& cache, const Matrix& x, double kl_weight) const;
  // beta * w * kl_weight for a batch of `batch` images (w: the objective's KL weight).
  double kl_factor(Eigen::Index batch, double kl_weight) const;
  PixelLoss pixel_loss() const;

  VaeConfig config_;
  Deviation deviation_;
  ParamLayout layout_;
  std::vector<double> initial_stats_;  // batch norm's initial running statistics (Deviation::batch_norm_eval)
};

// Numerically stable log(mean(exp(v))) of one row of values.
double log_mean_exp(const Eigen::Ref<const Eigen::VectorXd>& v);

}  // namespace vae::ref
