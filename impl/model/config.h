#pragma once
// VaeConfig: everything that defines the model's math (not how it is trained or timed).
// This is the contract shared by the reference and every backend; see README "The math".
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/objective.h"

namespace vae {

struct ModelSpec;  // model/layers.h

enum class Activation { Relu, Tanh };
// ContinuousBernoulli: Loaiza-Ganem & Cunningham (2019), on p = sigmoid(o) (model/objective.h).
enum class Likelihood { Bernoulli, Gaussian, ContinuousBernoulli };
enum class InitScheme { Torch, Xavier };

Activation parse_activation(const std::string& s);
Likelihood parse_likelihood(const std::string& s);
InitScheme parse_init(const std::string& s);
std::string to_string(Activation a);
std::string to_string(Likelihood l);
std::string to_string(InitScheme i);

struct VaeConfig {
  int input_dim = 784;                      // D: pixels per image
  std::vector<int> encoder_hidden{400};     // hidden widths, input side first
  std::optional<std::vector<int>> decoder_hidden_override;  // unset: the encoder's, mirrored
  int latent = 20;                          // Z
  Activation activation = Activation::Relu;
  Likelihood likelihood = Likelihood::Bernoulli;
  double beta = 1.0;                        // weight of the KL term in the loss
  // How the loss reduces pixels and images, what the likelihood reads (logits or clamped
  // probabilities), the Gaussian's form and the KL weight (model/objective.h). The default is the
  // summed ELBO every case meant before objectives existed.
  Objective objective;
  int samples = 1;                          // K Monte-Carlo samples of z per image
  InitScheme init = InitScheme::Torch;
  uint64_t seed = 0;                        // parameter init (and, by default, noise)
  // The model as layers (model/layers.h) when it is not the MLP of encoder_hidden,
  // decoder_hidden() and activation: a preset (--model conv-mnist) or stacks given as layers
  // (--encoder, --decoder). Null: that MLP. input_dim is the layers' input C*H*W and latent
  // their Z (validate() checks both). Immutable once set, so copies may share it.
  std::shared_ptr<const ModelSpec> layers;
  std::string model = "mlp";                // the preset's name, or "custom" for stacks as layers

  bool is_mlp() const { return layers == nullptr; }

  // Decoder widths, latent side first: the override, or encoder_hidden reversed.
  std::vector<int> decoder_hidden() const;

  // Throws vae::Error naming the option (as spelled on the command line) and the problem.
  void validate() const;

  // The ELBO every case meant before objectives existed: the default objective on a Bernoulli
  // or Gaussian likelihood. Backends without BackendInfo::runs_objectives run only this, and the
  // importance-weighted NLL is computed for it only.
  bool default_objective() const;
  // What makes the objective another, for messages: "" for the default, else e.g. " batch=mean"
  // or " --likelihood continuous-bernoulli".
  std::string objective_summary() const;
  // beta times the objective's KL weight for a batch of `batch` images: the coefficient of kl_b
  // in loss_b = recon_b + coefficient * kl_b (model/objective.h).
  double kl_coefficient(int batch) const;

  // One line such as "784-[400]-20-[400] relu bernoulli beta=1 K=1", or for layers
  // "conv-mnist 1x28x28 | conv32k4s2p1:relu,... | z20 | dense128x3x3:none,... bernoulli beta=1 K=1".
  std::string summary() const;
};

// JSON with keys: input_dim, hidden, decoder_hidden, latent, activation, likelihood,
// beta, samples, init, seed, and "objective" (model/objective.h) unless it is the default
// (absent reads as the default, so every file written before objectives keeps its meaning); a model given as layers adds "model" (its name) and "layers"
// (model/layers.h's JSON) and has no hidden/decoder_hidden/activation (an MLP's JSON is
// unchanged). from_json validates.
nlohmann::json to_json(const VaeConfig& c);
VaeConfig config_from_json(const nlohmann::json& j);

// Parses "400" or "512,256" (a comma list of positive integers); `option` names the flag in errors.
std::vector<int> parse_int_list(const std::string& text, const std::string& option);

}  // namespace vae
