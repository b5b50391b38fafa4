#pragma once
// The objective: what the loss does with the decoder's output, as public VAE code writes it.
// The model (model/layers.h) computes the output o; the likelihood (VaeConfig::likelihood)
// and this objective say how o becomes a per-pixel negative log-likelihood, how pixels and
// images are reduced, and how the KL is weighted. The default is the ELBO every case meant
// before objectives existed: BCE with logits (or the unit-variance Gaussian with its constant)
// summed over pixels and over the batch, KL weighted by beta. Derivations of every term and
// its gradient: reference/README.md, "Objectives".
//
// Per pixel, with s = sigmoid(o) and, where a clamp c > 0 is declared, p = clamp(s, c, 1-c)
// (torch.clamp: zero gradient outside [c, 1-c]):
//   bernoulli, input logits   max(o,0) - o x + log(1 + exp(-|o|))        (BCE with logits)
//   bernoulli, input probs    -(x log p + (1-x) log(1-p))                 (F.binary_cross_entropy)
//   continuous-bernoulli      the same minus log C(p), C the normaliser of Loaiza-Ganem &
//                             Cunningham (2019), Taylor-expanded for |p - 0.5| < 0.001 as
//                             torch.distributions.ContinuousBernoulli does
//   gaussian                  h (x - s)^2 / sigma^2 [+ log sigma + 0.5 log 2 pi], h = 0.5
//                             (gaussian_half) or 1 (plain squared error, F.mse_loss)
// Per image: recon_b = (1/K) sum_k sum_d nll (pixels "mean": divided by D), kl_b the closed-form
// KL summed over the latent dimensions, loss_b = recon_b + beta * w * kl_b with w the KL weight
// (a number, or B / N_train: PyTorch-VAE's M_N). The batch objective is sum_b loss_b (batch
// "sum") or its mean over the B images (batch "mean"); every gradient is of that scalar.
//
// Text forms (command line): --batch-reduction sum|mean, --pixel-reduction sum|mean,
// --bernoulli-input logits|probs, --prob-clamp C, --gaussian-constant on|off,
// --gaussian-half on|off, --sigma S, --kl-weight W|batch/N. JSON (a config's "objective"):
// {"batch", "pixels", ["bernoulli_input",] ["clamp",] ["gaussian_constant", "gaussian_half",
// "sigma",] "kl_weight"} with only the keys that apply to the likelihood; unknown keys, keys
// that do not apply (a clamp on a Gaussian) and values out of range are refused naming them.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace vae {

enum class Likelihood;  // model/config.h

enum class Reduction { Sum, Mean };
enum class BernoulliInput { Logits, Probs };

struct Objective {
  Reduction batch = Reduction::Sum;
  Reduction pixels = Reduction::Sum;
  BernoulliInput bernoulli_input = BernoulliInput::Logits;  // bernoulli only
  double clamp = 0;              // bernoulli on probs, continuous-bernoulli: p in [c, 1-c]; 0: none
  bool gaussian_constant = true;  // gaussian: + log sigma + 0.5 log 2 pi per pixel
  bool gaussian_half = true;      // gaussian: 0.5 (x - mean)^2 / sigma^2, else (x - mean)^2 / sigma^2
  double sigma = 1;               // gaussian: the fixed standard deviation
  double kl_weight = 1;           // w in loss = recon + beta * w * KL ...
  int64_t kl_weight_train_size = 0;  // ... or, when > 0, w = B / this (PyTorch-VAE's M_N)

  bool operator==(const Objective& o) const;
  bool operator!=(const Objective& o) const { return !(*this == o); }
  bool is_default() const { return *this == Objective{}; }

  // The KL weight w for a batch of `batch` images.
  double kl_weight_for(int batch) const;
  // The factor the batch reduction puts on every image's loss: 1 or 1/B.
  double batch_factor(int images) const { return batch == Reduction::Mean ? 1.0 / images : 1.0; }
  // The factor the pixel reduction puts on each pixel's NLL: 1 or 1/D.
  double pixel_factor(int values) const { return pixels == Reduction::Mean ? 1.0 / values : 1.0; }

  // Throws vae::Error naming the option (as spelled on the command line) when a value is out of
  // range or the option does not apply to `likelihood` (a clamp on a Gaussian, sigma on a Bernoulli).
  void validate(Likelihood likelihood) const;
};

Reduction parse_reduction(const std::string& s, const std::string& option);
BernoulliInput parse_bernoulli_input(const std::string& s);
std::string to_string(Reduction r);
std::string to_string(BernoulliInput b);
// "W" or "batch/N" into o.kl_weight / o.kl_weight_train_size; throws naming --kl-weight.
void parse_kl_weight(const std::string& text, Objective& o);
std::string kl_weight_text(const Objective& o);  // "1", "0.5", "batch/60000"
// "on" | "off" (and "true"/"false", "1"/"0"); `option` names the flag in errors.
bool parse_switch(const std::string& s, const std::string& option);

// The objective's non-default parts for one-line summaries: "" for the default, else e.g.
// " batch=mean pixels=mean gaussian(no-constant, sigma=1) kl_weight=batch/60000".
std::string summary(const Objective& o, Likelihood likelihood);

nlohmann::json to_json(const Objective& o, Likelihood likelihood);
// Validates against `likelihood` (see above); errors name "objective JSON: <key>".
Objective objective_from_json(const nlohmann::json& j, Likelihood likelihood);

}  // namespace vae
