#pragma once
// Validation cases: a configuration, a batch size, and deterministic inputs for it.
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/pixels.h"
#include "model/config.h"
#include "model/noise.h"

namespace vae {

struct ValidationCase {
  std::string name;  // file-name safe, e.g. "default-b128"
  VaeConfig config;
  int batch = 5;
};

// The reference's own matrix: both activations, both likelihoods, beta != 1, K > 1, two hidden
// layers, odd sizes (latent 7, hidden [33,17]), batch 1, 5 and 128; and convolutional models
// (conv_models below) at small batches.
std::vector<ValidationCase> reference_matrix();

// The convolutional models the matrices run, by name: "conv-mnist" (the preset), "conv-odd"
// (k3 s1 p0 and k5 s2 p2, output padding, tanh, Gaussian, K = 3, beta 0.5, latent 7),
// "conv-dense-between" (an odd 1x13x11 input, a dense layer reshaped between two convs),
// "conv-bn" (batch norm in encoder and decoder), "conv-bn-k3" (the same with K = 3: the
// decoder's batch norm normalises over all K*B samples), "conv-celeba64" (the preset, 3x64x64).
VaeConfig conv_model(const std::string& name);

// A matrix case on data of input_dim values per image: an MLP takes the data's image size;
// a model given as layers keeps its input shape (make_inputs then draws synthetic images when
// the data's size differs).
void fit_to_data(VaeConfig& config, int input_dim);

struct CaseInputs {
  std::vector<double> x;       // [B, D]
  std::vector<double> eps;     // [K, B, Z]
  std::vector<double> params;  // initial parameters from config.seed
  std::string x_source;        // "MNIST test images #..." or "synthetic U[0,1)"
};

// The continuous Bernoulli's log-normaliser has two branches (exact, and a Taylor form for
// |p - 0.5| < 0.001, reference/pixel_loss.h); random logits almost never reach the second. For a
// dense output layer this pins every 4th pixel there: its weight row zero, its bias +-3.2e-3
// (p = 0.5 +- 8e-4), the others as drawn. A conv output layer is left as drawn (its weights are
// shared by every pixel), so its cases exercise the exact branch only.
void place_pixels_in_taylor_window(const VaeConfig& config, std::vector<double>& params);

// x: B test images chosen by a seeded shuffle of the test split (binarized as asked) when
// the dataset's image size matches the model's input, else synthetic values in [0, 1).
CaseInputs make_inputs(const ValidationCase& c, const Dataset* data, Binarize binarize);

}  // namespace vae
