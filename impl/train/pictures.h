#pragma once
// The pictures a trained VAE is judged by at a glance, as PNG files:
//   samples.png          8x8 decoder means for z ~ N(0, I)
//   reconstructions.png  test digits (odd rows) above their reconstructions decode(mu) (even rows)
//   interpolations.png   8 rows: decode of the straight line between the mu of two test digits
//   latent_scatter.png   (latent 2 only) mu of every test image, coloured by label
//   manifold.png         (latent 2 only) decoder means over a 20x20 grid of [-3, 3]^2
#include <string>
#include <vector>

#include "train/evaluator.h"

namespace vae {

// Writes the pictures into `dir` (which must exist); returns the file names written.
std::vector<std::string> write_pictures(const std::string& dir, const Evaluator& evaluator,
                                        const ModelState& state, const VaeConfig& config,
                                        const Split& test, Binarize binarize, uint64_t seed);

}  // namespace vae
