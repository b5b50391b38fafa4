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
// layers, odd sizes (latent 7, hidden [33,17]), batch 1, 5 and 128.
std::vector<ValidationCase> reference_matrix();

struct CaseInputs {
  std::vector<double> x;       // [B, D]
  std::vector<double> eps;     // [K, B, Z]
  std::vector<double> params;  // initial parameters from config.seed
  std::string x_source;        // "MNIST test images #..." or "synthetic U[0,1)"
};

// x: B test images chosen by a seeded shuffle of the test split (binarized as asked) when
// the dataset's image size matches the model's input, else synthetic values in [0, 1).
CaseInputs make_inputs(const ValidationCase& c, const Dataset* data, Binarize binarize);

}  // namespace vae
