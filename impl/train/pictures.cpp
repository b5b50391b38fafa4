#include "train/pictures.h"

#include <algorithm>
#include <filesystem>

#include "common/counter_rng.h"
#include "common/error.h"
#include "pictures/canvas.h"
#include "pictures/png.h"

namespace vae {

namespace {

constexpr uint64_t kStreamPictures = 9000;  // counter-RNG stream for the prior samples

std::string write(const std::string& dir, const std::string& name, const Image& image) {
  write_png((std::filesystem::path(dir) / name).string(), image);
  return name;
}

}  // namespace

std::vector<std::string> write_pictures(const std::string& dir, const Evaluator& evaluator,
                                        const ModelState& state, const VaeConfig& config,
                                        const Split& test, Binarize binarize, uint64_t seed) {
  const TileShape shape{int(test.channels), int(test.rows), int(test.cols)};  // grey or RGB, as the data
  const int z = config.latent;
  std::vector<std::string> written;

  std::vector<float> prior(size_t(64) * size_t(z));
  for (size_t i = 0; i < prior.size(); ++i) prior[i] = float(counter_normal(seed, kStreamPictures, i));
  written.push_back(write(dir, "samples.png", image_grid(evaluator.decode_mean(state, prior).data(), 64, shape, 8)));

  // A small image folder's test split may hold fewer images than a grid shows: its images,
  // then (interpolations) the same ones again.
  if (test.count == 0) throw Error("write_pictures: the test split is empty");
  std::vector<size_t> first(std::min<size_t>(32, test.count));
  for (size_t i = 0; i < first.size(); ++i) first[i] = i;
  std::vector<float> originals(first.size() * test.dim());
  gather_scaled(test, first, originals.data());
  const std::vector<float> recon = evaluator.decode_mean(state, evaluator.encode_mean(state, test, first, binarize, seed));
  written.push_back(
      write(dir, "reconstructions.png", comparison_grid(originals.data(), recon.data(), int(first.size()), shape, 8)));

  // Pairs of consecutive test digits (different classes, as the test set is shuffled).
  constexpr int kRows = 8, kSteps = 10;
  std::vector<size_t> ends;
  const size_t from = test.count >= 100 + 2 * kRows ? 100 : 0;
  for (int r = 0; r < 2 * kRows; ++r) ends.push_back((from + size_t(r)) % test.count);
  const std::vector<float> mu = evaluator.encode_mean(state, test, ends, binarize, seed);
  std::vector<float> path;
  for (int r = 0; r < kRows; ++r)
    for (int s = 0; s < kSteps; ++s) {
      const float t = float(s) / float(kSteps - 1);
      for (int j = 0; j < z; ++j)
        path.push_back((1 - t) * mu[size_t(2 * r) * size_t(z) + size_t(j)] + t * mu[size_t(2 * r + 1) * size_t(z) + size_t(j)]);
    }
  written.push_back(write(dir, "interpolations.png",
                          image_grid(evaluator.decode_mean(state, path).data(), kRows * kSteps, shape, kSteps)));

  if (z == 2) {
    std::vector<size_t> all(test.count);
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    const std::vector<float> xy = evaluator.encode_mean(state, test, all, binarize, seed);
    written.push_back(write(dir, "latent_scatter.png",
                            scatter_plot(xy.data(), test.labels.data(), int(test.count), -3.f, 3.f, 512)));
    constexpr int kGrid = 20;
    std::vector<float> grid;
    for (int r = 0; r < kGrid; ++r)      // top row = largest z2, as on a plot
      for (int c = 0; c < kGrid; ++c) {
        grid.push_back(-3.f + 6.f * float(c) / float(kGrid - 1));
        grid.push_back(3.f - 6.f * float(r) / float(kGrid - 1));
      }
    written.push_back(write(dir, "manifold.png",
                            image_grid(evaluator.decode_mean(state, grid).data(), kGrid * kGrid, shape, kGrid, 0)));
  }
  return written;
}

}  // namespace vae
