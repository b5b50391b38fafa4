#pragma once
// The training path of a backend against the reference backend's: set_train_data, N steps of
// train_batch, take_train_sums after each, first_nonfinite, and eval_batch -- where the
// backend gathers its own images (resident on its device), binarizes them, draws its own
// noise from the counter RNG keyed by the step, applies the KL weight of the step and, on a
// GPU, replays a captured step. The validation path (check_backend) sees none of that: there
// the images and the noise come from outside.
//
// Judged step by step along the backend's own trajectory, as check_backend judges its Adam
// steps (tolerances.h says why a free-running float trajectory cannot be judged): before step
// s the backend stands at p0 with Adam state st0; it trains on the step's images and reports
// its sums and the gradient it used; the reference backend is put at p0 and st0 and trains on
// the same images with the same options. Judged: the step's loss, recon and KL sums and image
// count, each gradient tensor (median of the steps, as in check_backend), and the reference
// Adam applied to p0, st0 and the backend's gradient against the backend's p1 and st1.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "data/dataset.h"
#include "data/pixels.h"
#include "reference_checks.h"

namespace vae {

struct TrainingStep {
  int epoch = 0;  // selects the shuffle and the dynamic binarization draw
  int batch = 0;  // images, taken in order from the epoch's shuffle where the last step left off
  double kl_weight = 1.0;
};

struct TrainingCase {
  std::string name;  // "train-..." (file-name safe)
  VaeConfig config;
  Binarize binarize = Binarize::None;
  uint64_t binarize_seed = 0, shuffle_seed = 0, noise_seed = 0;
  std::vector<TrainingStep> steps;
  // Hand each epoch's order to the backend first (set_epoch_order), as the trainer does, so
  // that a backend keeping it on its device trains from there; else every step names
  // indices the backend has not seen.
  bool hand_over_epoch_order = true;
};

// The built-in cases: every binarization (none, static, dynamic across two epochs), a KL
// warm-up, a batch size that changes and comes back (a second captured step, then the
// first replayed), batch 1, tanh/gaussian with K = 3 and beta 4 -- on small models, so the
// CPU executor runs them in seconds.
std::vector<TrainingCase> training_cases();

// One case for the configuration `vaebench validate` was given: `batch`-sized steps over two
// epochs with a smaller last batch, dynamic binarization and a KL warm-up.
TrainingCase training_case_for(const VaeConfig& config, int batch, const std::string& name);

// The images of a case's steps: the next `batch` of the epoch's shuffle (the trainer's order).
class TrainingStepImages {
 public:
  TrainingStepImages(size_t count, uint64_t seed) : count_(count), seed_(seed) {}
  // Throws vae::Error when the epoch has fewer images left than `batch`.
  std::vector<size_t> next(int epoch, int batch);

 private:
  struct Order {
    std::vector<size_t> indices;
    size_t next = 0;
  };
  size_t count_;
  uint64_t seed_;
  std::map<int, Order> orders_;
};

// `backend` must have been created for c.config on a device that can train on `train`; its
// parameters, optimizer state and training data are overwritten.
CaseResult check_training_path(Backend& backend, const TrainingCase& c, const Split& train);

}  // namespace vae
